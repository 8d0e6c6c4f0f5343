package network

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth/berth/internal/filters"
)

// legacyRecords are network records as Berth wrote them before drivers (generated with that code: the default
// bridge with a container, host, none, an internal network with --subnet/--ip-range/--gateway and options, and
// a network with two containers, one with an alias), plus one whose bridge name is neither the option nor
// derived from its ID.
var legacyRecords = []string{
	`{"ID":"b1d9","Name":"bridge","Driver":"bridge","Created":"2026-01-02T03:04:05.000000006Z","Internal":false,"Attachable":false,"Labels":null,"Options":{"com.docker.network.bridge.name":"berth0"},"Bridge":"berth0","Pool":{"Subnet":"172.17.0.0/16","Gateway":"172.17.0.1","Allocated":["172.17.0.2"]},"Endpoints":{"c1":{"ID":"e1","ContainerID":"c1","Name":"web","Addr":"172.17.0.2/16","Gateway":"172.17.0.1","MAC":"02:42:ac:11:00:02","HostVeth":"veth1234567","Aliases":null}}}`,
	`{"ID":"h057","Name":"host","Driver":"host","Created":"2026-01-02T03:04:05.000000006Z","Internal":false,"Attachable":false,"Labels":null,"Options":null,"Endpoints":null}`,
	`{"ID":"n0ne","Name":"none","Driver":"null","Created":"2026-01-02T03:04:05.000000006Z","Internal":false,"Attachable":false,"Labels":null,"Options":null,"Endpoints":null}`,
	`{"ID":"f00d01","Name":"back","Driver":"bridge","Created":"2026-01-02T03:04:05.000000006Z","Internal":true,"Attachable":true,"Labels":{"com.docker.compose.project":"shop"},"Options":{"com.docker.network.driver.mtu":"1400"},"Bridge":"br-f00d01","Pool":{"Subnet":"10.231.7.0/24","IPRange":"10.231.7.128/25","Gateway":"10.231.7.254"},"Endpoints":null}`,
	`{"ID":"f00d02","Name":"front","Driver":"bridge","Created":"2026-01-02T03:04:05.000000006Z","Internal":false,"Attachable":false,"Labels":null,"Options":null,"Bridge":"br-f00d02","Pool":{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1","Allocated":["172.18.0.2","172.18.0.3"]},"Endpoints":{"c2":{"ID":"e2","ContainerID":"c2","Name":"db","Addr":"172.18.0.2/16","Gateway":"172.18.0.1","MAC":"02:42:ac:12:00:02","HostVeth":"veth2345678","Aliases":["database"]},"c3":{"ID":"e3","ContainerID":"c3","Name":"api","Addr":"172.18.0.3/16","Gateway":"172.18.0.1","MAC":"02:42:ac:12:00:03","HostVeth":"veth3456789","Aliases":null}}}`,
	`{"ID":"0dd0dd","Name":"odd","Driver":"bridge","Created":"2026-01-02T03:04:05Z","Internal":false,"Attachable":false,"Labels":null,"Options":null,"Bridge":"oddbr0","Pool":{"Subnet":"10.77.0.0/24","Gateway":"10.77.0.1"},"Endpoints":null}`,
}

// TestLoadLegacyRecords: a daemon upgraded in place loads the networks the previous version wrote, hands their
// addresses to its IPAM, and goes on: new containers get free addresses, old ones leave with their veths.
func TestLoadLegacyRecords(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	for _, r := range legacyRecords {
		var id struct{ ID string }
		if err := json.Unmarshal([]byte(r), &id); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, id.ID+".json"), []byte(r), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	drv := &fakeDriver{}
	open := func() *Manager {
		// The IPAM is the default one: its state file under the root, empty before the upgrade.
		m, err := New(ctx, Config{Root: root, ExecRoot: filepath.Join(root, "exec"), DefaultBridge: "berth0"}, WithDriver(DriverBridge, drv))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := open()

	calls := drv.take()
	slices.Sort(calls)
	wantCalls := []string{
		"create back 10.231.7.0/24 gw 10.231.7.254 opts map[com.docker.network.driver.mtu:1400] internal=true",
		"create bridge 172.17.0.0/16 gw 172.17.0.1 opts map[com.docker.network.bridge.name:berth0] internal=false",
		"create front 172.18.0.0/16 gw 172.18.0.1 opts map[] internal=false",
		"create odd 10.77.0.0/24 gw 10.77.0.1 opts map[com.docker.network.bridge.name:oddbr0] internal=false",
	}
	if !slices.Equal(calls, wantCalls) {
		t.Fatalf("driver calls\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(wantCalls, "\n"))
	}

	list, err := m.List(filters.NewArgs())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range list {
		var eps []string
		for id, ep := range n.Endpoints {
			eps = append(eps, fmt.Sprintf("%s=%s/%s/%s/%s/%v", id, ep.Name, ep.Addr, ep.MAC, ep.HostIfName, ep.Aliases))
		}
		slices.Sort(eps)
		got = append(got, fmt.Sprintf("%s %s %s %s ipv4=%v internal=%v labels=%v ipam=%s%v eps=%v", n.ID, n.Name, n.Driver, n.Scope, n.EnableIPv4, n.Internal, n.Labels, n.IPAM.Driver, n.IPAM.Config, eps))
	}
	want := []string{
		"f00d01 back bridge local ipv4=true internal=true labels=map[com.docker.compose.project:shop] ipam=default[{10.231.7.0/24 10.231.7.128/25 10.231.7.254}] eps=[]",
		"b1d9 bridge bridge local ipv4=true internal=false labels=map[] ipam=default[{172.17.0.0/16 invalid Prefix 172.17.0.1}] eps=[c1=web/172.17.0.2/16/02:42:ac:11:00:02/veth1234567/[]]",
		"f00d02 front bridge local ipv4=true internal=false labels=map[] ipam=default[{172.18.0.0/16 invalid Prefix 172.18.0.1}] eps=[c2=db/172.18.0.2/16/02:42:ac:12:00:02/veth2345678/[database] c3=api/172.18.0.3/16/02:42:ac:12:00:03/veth3456789/[]]",
		"h057 host host local ipv4=false internal=false labels=map[] ipam=default[] eps=[]",
		"n0ne none null local ipv4=false internal=false labels=map[] ipam=default[] eps=[]",
		"0dd0dd odd bridge local ipv4=true internal=false labels=map[] ipam=default[{10.77.0.0/24 invalid Prefix 10.77.0.1}] eps=[]",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("networks\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The IPAM holds the old pools with the old addresses.
	pools, err := m.ipam.ListPools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gotPools []string
	for _, p := range pools {
		addrs, _ := m.ipam.Allocated(ctx, p.ID)
		gotPools = append(gotPools, fmt.Sprintf("%s %s %v", p.ID, p.Gateway, addrs))
	}
	wantPools := []string{"10.77.0.0/24 10.77.0.1 []", "10.231.7.0/24 10.231.7.254 []", "172.17.0.0/16 172.17.0.1 [172.17.0.2]", "172.18.0.0/16 172.18.0.1 [172.18.0.2 172.18.0.3]"}
	if !slices.Equal(gotPools, wantPools) {
		t.Fatalf("pools\n%s\nwant\n%s", strings.Join(gotPools, "\n"), strings.Join(wantPools, "\n"))
	}

	// The DNS knows the old containers again once the containers service restores them.
	m.Restore("c2")
	if a := m.reg.Lookup([]string{"front"}, "database"); !slices.Equal(a, []netip.Addr{netip.MustParseAddr("172.18.0.2")}) {
		t.Errorf("database resolves to %v", a)
	}

	// A new container gets the next free address and the first interface name; an old one leaves through its veth.
	ep, err := m.Attach(ctx, Sandbox{ContainerID: "c4", Name: "new", NetNSPath: "/ns/c4"}, "front", EndpointOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ep.Addr != netip.MustParsePrefix("172.18.0.4/16") || ep.IfName != "eth0" {
		t.Errorf("new endpoint %s %s, want 172.18.0.4/16 eth0", ep.Addr, ep.IfName)
	}
	m.DetachAll(ctx, "c2")
	if len(drv.left) != 1 || drv.left[0].HostIfName != "veth2345678" || drv.left[0].ID != "e2" {
		t.Fatalf("left %+v, want c2's endpoint e2 through veth2345678", drv.left)
	}

	// The records are rewritten in the new form; a second start reads them as they are now.
	b, _ := os.ReadFile(filepath.Join(root, "f00d02.json"))
	if strings.Contains(string(b), `"Pool"`) || strings.Contains(string(b), `"Bridge"`) || !strings.Contains(string(b), `"PoolID":"172.18.0.0/16"`) {
		t.Errorf("front's record after the upgrade: %s", b)
	}
	m2 := open()
	front, err := m2.Get("front")
	if err != nil {
		t.Fatal(err)
	}
	if len(front.Endpoints) != 2 || front.Endpoints["c4"].Addr != ep.Addr || front.Endpoints["c3"].HostIfName != "veth3456789" {
		t.Errorf("front after a second start: %+v", front.Endpoints)
	}
	if addrs, _ := m2.ipam.Allocated(ctx, "172.18.0.0/16"); !slices.Equal(addrs, []netip.Addr{netip.MustParseAddr("172.18.0.3"), netip.MustParseAddr("172.18.0.4")}) {
		t.Errorf("front's addresses after a second start: %v", addrs)
	}
}

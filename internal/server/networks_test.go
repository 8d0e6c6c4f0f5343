package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"

	"github.com/berth/berth/client"
	"github.com/berth/berth/internal/filters"
	berthnet "github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/network/ipam"
)

// The network routes through Berth's client: what docker's requests become in Berth's terms, and the answers.
func TestNetworkRoutes(t *testing.T) {
	e := newFakeEngine()
	_, c := e.serve(t)
	ctx := context.Background()
	f := e.networks

	yes := true
	resp, err := c.NetworkCreate(ctx, "back", client.NetworkCreateOptions{
		Driver: "bridge", Internal: true, Attachable: true, EnableIPv6: &yes,
		IPAM: &network.IPAM{Driver: "default", Options: map[string]string{"o": "1"}, Config: []network.IPAMConfig{
			{Subnet: netip.MustParsePrefix("10.5.0.0/24"), IPRange: netip.MustParsePrefix("10.5.0.128/25"), Gateway: netip.MustParseAddr("10.5.0.254")}}},
		Options: map[string]string{"com.docker.network.driver.mtu": "1400"}, Labels: map[string]string{"tier": "db"},
	})
	if err != nil || resp.ID != "id-back" || resp.Warning != "" {
		t.Fatalf("create: %+v, %v", resp, err)
	}
	want := `create back driver="bridge" internal=true attachable=true ipv6=true labels=map[tier:db] options=map[com.docker.network.driver.mtu:1400] ipam={Driver:default Options:map[o:1] Config:[{Subnet:10.5.0.0/24 IPRange:10.5.0.128/25 Gateway:10.5.0.254}]}`
	if got := f.lastCall(); got != want {
		t.Errorf("create passed\n%s\nwant\n%s", got, want)
	}

	f.err = errdefs.ErrNotFound.WithMessage(`plugin "macvlan" not found`)
	if _, err := c.NetworkCreate(ctx, "lan", client.NetworkCreateOptions{Driver: "macvlan"}); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), `plugin "macvlan" not found`) {
		t.Errorf("create with an unknown driver: %v, want 404 plugin not found", err)
	}

	err = c.NetworkConnect(ctx, "back", "web", &network.EndpointSettings{
		IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.5.0.9")}, Aliases: []string{"db"},
		Links: []string{"cache"}, DriverOpts: map[string]string{"k": "v"}, GwPriority: 5, MacAddress: network.HardwareAddr{2, 0x42, 0, 0, 0, 9},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.lastCall(), "connect back web aliases=[db] ip=10.5.0.9 ip6=invalid IP mac=02:42:00:00:00:09 links=[cache] driveropts=map[k:v] gwprio=5"; got != want {
		t.Errorf("connect passed\n%s\nwant\n%s", got, want)
	}
	if err := c.NetworkConnect(ctx, "back", "web2", nil); err != nil || f.lastCall() != "connect back web2 aliases=[] ip=invalid IP ip6=invalid IP mac= links=[] driveropts=map[] gwprio=0" {
		t.Errorf("connect without settings: %v, passed %q", err, f.lastCall())
	}
	if err := c.NetworkDisconnect(ctx, "back", "web", true); err != nil || f.lastCall() != "disconnect back web force=true" {
		t.Errorf("disconnect: %v, passed %q", err, f.lastCall())
	}
	f.err = errdefs.ErrPermissionDenied.WithMessage("error while removing network: network back has active endpoints")
	if err := c.NetworkRemove(ctx, "back"); !errdefs.IsPermissionDenied(err) {
		t.Errorf("remove with endpoints: %v, want 403", err)
	}
	if report, err := c.NetworksPrune(ctx, client.Filters{"label": {"tier"}}); err != nil || len(report.NetworksDeleted) != 1 || report.NetworksDeleted[0] != "old" {
		t.Errorf("prune: %+v, %v", report, err)
	}

	list, err := c.NetworkList(ctx, client.Filters{"name": {"back"}})
	if err != nil || len(list) != 1 || list[0].Name != "back" || list[0].Driver != "bridge" || list[0].Scope != "local" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if _, err := c.NetworkInspect(ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("inspect of a missing network: %v, want 404", err)
	}
}

// noDriver is a driver that makes nothing: the JSON test needs records, not kernel objects.
type noDriver struct{}

func (noDriver) Capability() berthnet.Capability {
	return berthnet.Capability{Scope: berthnet.ScopeLocal}
}
func (noDriver) CreateNetwork(context.Context, berthnet.NetworkInfo) error {
	return nil
}
func (noDriver) DeleteNetwork(context.Context, berthnet.NetworkInfo) error {
	return nil
}
func (noDriver) Join(context.Context, berthnet.NetworkInfo, berthnet.EndpointInfo, berthnet.Sandbox) error {
	return nil
}
func (noDriver) Leave(context.Context, berthnet.NetworkInfo, berthnet.EndpointInfo) error {
	return nil
}

// managerNetworks serves a real network manager's List and Inspect.
type managerNetworks struct {
	NetworkBackend
	m *berthnet.Manager
}

func (n managerNetworks) List(ctx context.Context, f filters.Args) ([]berthnet.Network, error) {
	return n.m.List(f)
}

func (n managerNetworks) Inspect(ctx context.Context, ref string) (berthnet.Network, error) {
	return n.m.Get(ref)
}

// TestNetworkJSONUnchanged: networks recorded by the Berth before drivers (testdata/legacy-networks, written by
// that code), loaded by today's manager, are described byte for byte as that Berth described them
// (legacy-networks.inspect.golden, its output): what the docker CLI and docker-compose read does not change.
func TestNetworkJSONUnchanged(t *testing.T) {
	root := t.TempDir()
	files, _ := filepath.Glob("testdata/legacy-networks/*.json")
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, filepath.Base(f)), b, 0o600)
	}
	m, err := berthnet.New(context.Background(), berthnet.Config{Root: root, ExecRoot: filepath.Join(root, "exec"), DefaultBridge: "berth0"},
		berthnet.WithDriver(berthnet.DriverBridge, noDriver{}), berthnet.WithIPAM(ipam.NewAllocator(&ipam.MemoryStore{})))
	if err != nil {
		t.Fatal(err)
	}
	e := newFakeEngine()
	b := e.backends()
	b.Networks = managerNetworks{m: m}
	srv := httptest.NewServer(New(b))
	t.Cleanup(srv.Close)
	get := func(path string) []byte {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return bytes.TrimSpace(body)
	}
	golden, err := os.ReadFile("testdata/legacy-networks.inspect.golden")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSpace(string(golden)), "\n")
	for _, w := range want {
		var n struct{ Name string }
		json.Unmarshal([]byte(w), &n)
		if got := get("/networks/" + n.Name); string(got) != w {
			t.Errorf("GET /networks/%s\n%s\nwant\n%s", n.Name, got, w)
		}
	}
	if got, w := get("/networks"), "["+strings.Join(want, ",")+"]"; string(got) != w {
		t.Errorf("GET /networks\n%s\nwant\n%s", got, w)
	}
}

// A swarm network as docker shows it: scope swarm, its VXLAN ID among its options, the nodes it spans as Peers;
// and the cluster's refusals with docker's words and statuses.
func TestSwarmNetworkJSON(t *testing.T) {
	e := newFakeEngine()
	srv, c := e.serve(t)
	ctx := context.Background()
	e.networks.mu.Lock()
	e.networks.nets["ovl"] = berthnet.Network{Name: "ovl", ID: "qytxrqgp7pw1915tqhdnkd4si", Driver: "overlay", Scope: "swarm", EnableIPv4: true, Attachable: true,
		Options:   map[string]string{"com.docker.network.driver.overlay.vxlanid_list": "4097", "encrypted": ""},
		IPAM:      berthnet.IPAM{Driver: "default", Config: []berthnet.IPAMConfig{{Subnet: netip.MustParsePrefix("10.0.1.0/24"), Gateway: netip.MustParseAddr("10.0.1.1")}}},
		Endpoints: map[string]berthnet.Endpoint{"c1": {ID: "att1", Name: "web", Addr: netip.MustParsePrefix("10.0.1.2/24"), MAC: ipam.MAC(netip.MustParseAddr("10.0.1.2"))}},
		Peers:     []berthnet.Peer{{Name: "node1", IP: netip.MustParseAddr("10.250.1.11")}, {Name: "node2", IP: netip.MustParseAddr("10.250.1.12")}}}
	e.networks.mu.Unlock()
	n, err := c.NetworkInspect(ctx, "ovl")
	if err != nil {
		t.Fatal(err)
	}
	nw := n.Network
	if nw.Scope != "swarm" || nw.Driver != "overlay" || !nw.Attachable || nw.Options["com.docker.network.driver.overlay.vxlanid_list"] != "4097" {
		t.Fatalf("inspect: %+v", nw)
	}
	if len(nw.Peers) != 2 || nw.Peers[1].Name != "node2" || nw.Peers[1].IP != netip.MustParseAddr("10.250.1.12") {
		t.Fatalf("peers: %+v", nw.Peers)
	}
	if ep := n.Containers["c1"]; ep.Name != "web" || ep.IPv4Address != netip.MustParsePrefix("10.0.1.2/24") || ep.EndpointID != "att1" {
		t.Fatalf("containers: %+v", n.Containers)
	}
	// A local network shows no Peers at all (omitted, as docker's).
	resp, err := http.Get(srv.URL + "/networks/bridge")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), `"Peers"`) {
		t.Fatalf("a bridge network with Peers: %s", body)
	}
	for _, tc := range []struct {
		err    error
		status func(error) bool
	}{
		{errdefs.ErrPermissionDenied.WithMessage("Cannot create a multi-host network from a worker node. Please create the network from a manager node."), errdefs.IsPermissionDenied},
		{errdefs.ErrConflict.WithMessage("network with name ovl already exists"), errdefs.IsConflict},
		{errdefs.ErrPermissionDenied.WithMessage("invalid pool request: Pool overlaps with other one on this address space"), errdefs.IsPermissionDenied},
	} {
		e.networks.err = tc.err
		if _, err := c.NetworkCreate(ctx, "ovl", client.NetworkCreateOptions{Driver: "overlay"}); !tc.status(err) || !strings.Contains(err.Error(), tc.err.Error()) {
			t.Errorf("create refused with %q: got %v", tc.err, err)
		}
	}
	e.networks.err = errdefs.ErrFailedPrecondition.WithMessage("rpc error: code = FailedPrecondition desc = network qytxrqgp7pw1915tqhdnkd4si is in use by task att1")
	if err := c.NetworkRemove(ctx, "ovl"); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "is in use by task att1") {
		t.Errorf("remove in use: %v", err)
	}
}

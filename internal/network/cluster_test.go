package network

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/network/dns"
	"github.com/berth/berth/internal/network/ipam"
)

// fakeCluster is a cluster in memory: its networks, and the endpoints it gave, with words for what it is asked.
type fakeCluster struct {
	mu        sync.Mutex
	nets      map[string]Network
	endpoints map[string]string // endpoint ID -> container
	next      int
	calls     []string
}

func newFakeCluster(nets ...Network) *fakeCluster {
	c := &fakeCluster{nets: map[string]Network{}, endpoints: map[string]string{}}
	for _, n := range nets {
		c.nets[n.ID] = n
	}
	return c
}

func (c *fakeCluster) record(format string, args ...any) {
	c.calls = append(c.calls, fmt.Sprintf(format, args...))
}

func (c *fakeCluster) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

func (c *fakeCluster) Networks(ctx context.Context) ([]Network, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Network
	for _, n := range c.nets {
		out = append(out, n)
	}
	return out, nil
}

func (c *fakeCluster) Network(ctx context.Context, ref string) (Network, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nets {
		if n.ID == ref || n.Name == ref {
			return n, nil
		}
	}
	return Network{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", ref))
}

func (c *fakeCluster) CreateNetwork(ctx context.Context, opts CreateOptions) (Network, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record("create %s", opts.Name)
	n := clusterNet("id-"+opts.Name, opts.Name, "10.0.9.0/24", opts.Attachable)
	c.nets[n.ID] = n
	return n, nil
}

func (c *fakeCluster) RemoveNetwork(ctx context.Context, ref string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record("remove %s", ref)
	return nil
}

func (c *fakeCluster) Attach(ctx context.Context, networkID string, req ClusterAttach) (Network, ClusterEndpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nets[networkID]
	c.record("attach %s %s %s aliases=%v", n.Name, req.ContainerID, req.Name, req.Aliases)
	if !n.Attachable {
		return Network{}, ClusterEndpoint{}, errdefs.ErrPermissionDenied.WithMessage("rpc error: code = PermissionDenied desc = network " + n.Name + " not manually attachable")
	}
	c.next++
	addr := netip.AddrFrom4([4]byte{10, 0, 1, byte(c.next + 1)})
	id := fmt.Sprintf("att%d", c.next)
	c.endpoints[id] = req.ContainerID
	return n, ClusterEndpoint{ID: id, Addr: netip.PrefixFrom(addr, 24), MAC: ipam.MAC(addr)}, nil
}

func (c *fakeCluster) Detach(ctx context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record("detach %s", id)
	delete(c.endpoints, id)
	return nil
}

func clusterNet(id, name, subnet string, attachable bool) Network {
	p := netip.MustParsePrefix(subnet)
	return Network{ID: id, Name: name, Driver: "overlay", Scope: "swarm", Attachable: attachable, EnableIPv4: true,
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Options: map[string]string{"com.docker.network.driver.overlay.vxlanid_list": "4097"},
		IPAM:    IPAM{Driver: "default", Config: []IPAMConfig{{Subnet: p, Gateway: p.Addr().Next()}}}}
}

func TestClusterNetworks(t *testing.T) {
	ctx := context.Background()
	ov := &fakeDriver{scope: ScopeGlobal}
	cl := newFakeCluster(clusterNet("ovlid", "ovl", "10.0.1.0/24", true), clusterNet("closedid", "closed", "10.0.2.0/24", false))
	e := newEnv(t, WithDriver("overlay", ov), WithCluster(cl))
	m := e.open(t)
	e.bridge.take()

	// A manager lists the cluster's networks with the node's own; filters apply to both.
	list, err := m.List(filters.NewArgs(filters.Arg("driver", "overlay")))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range list {
		names = append(names, n.Name+" "+n.Scope)
	}
	if !slices.Equal(names, []string{"closed swarm", "ovl swarm"}) {
		t.Fatalf("overlay networks listed: %v", names)
	}
	if all, _ := m.List(filters.NewArgs()); len(all) != 5 {
		t.Fatalf("%d networks listed, want 5 (bridge, host, none, and the two of the cluster)", len(all))
	}
	if n, err := m.Get("ovl"); err != nil || n.ID != "ovlid" || n.Scope != "swarm" {
		t.Fatalf("get ovl: %+v, %v", n, err)
	}

	// Creating one goes to the cluster; a name a local network has is refused first.
	if _, err := m.Create(ctx, CreateOptions{Name: "new", Driver: "overlay", Attachable: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, CreateOptions{Name: "bridge2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, CreateOptions{Name: "bridge2", Driver: "overlay"}); !errdefs.IsConflict(err) || err.Error() != "network with name bridge2 already exists" {
		t.Fatalf("an overlay with a local network's name: %v", err)
	}
	if calls := cl.take(); !slices.Equal(calls, []string{"create new"}) {
		t.Fatalf("cluster calls: %q", calls)
	}

	// A network that is not attachable is refused in docker's words, and nothing is made on the node.
	sb := Sandbox{ContainerID: "c1", Name: "web", NetNSPath: "/ns/c1"}
	_, err = m.Attach(ctx, sb, "closed", EndpointOptions{})
	if err == nil || err.Error() != "Could not attach to network closed: rpc error: code = PermissionDenied desc = network closed not manually attachable" || !errdefs.IsPermissionDenied(err) {
		t.Fatalf("attach to a closed network: %v", err)
	}
	if calls := ov.take(); len(calls) != 0 {
		t.Fatalf("driver calls after a refused attach: %q", calls)
	}

	// The first container brings the network up on the node, with the cluster's address and no default route.
	ep, err := m.Attach(ctx, sb, "ovl", EndpointOptions{Aliases: []string{"www"}})
	if err != nil {
		t.Fatal(err)
	}
	if ep.ID != "att1" || ep.Addr != netip.MustParsePrefix("10.0.1.2/24") || ep.Gateway != netip.MustParseAddr("10.0.1.1") {
		t.Fatalf("endpoint %+v", ep)
	}
	if calls := ov.take(); !slices.Equal(calls, []string{
		"create ovl 10.0.1.0/24 gw 10.0.1.1 opts map[com.docker.network.driver.overlay.vxlanid_list:4097] internal=false",
		"join ovl c1 eth0 10.0.1.2/24 mac 02:42:0a:00:01:02 route=false ns /ns/c1",
	}) {
		t.Fatalf("driver calls: %q", calls)
	}
	if _, err := m.Attach(ctx, Sandbox{ContainerID: "c2", Name: "db", NetNSPath: "/ns/c2"}, "ovlid", EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	if calls := ov.take(); len(calls) != 1 || !strings.HasPrefix(calls[0], "join ovl c2") {
		t.Fatalf("a second container: %q", calls)
	}
	if got := m.reg.Lookup([]string{"ovl"}, "www"); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("10.0.1.2")}) {
		t.Fatalf("www resolves to %v", got)
	}
	// The cluster's view: peers, and names on other nodes.
	m.SetClusterView(map[string]ClusterView{"ovlid": {
		Peers:  []Peer{{Name: "node1", IP: netip.MustParseAddr("192.168.5.1")}, {Name: "node2", IP: netip.MustParseAddr("192.168.5.2")}},
		Remote: []dns.Endpoint{{ContainerID: "far", Name: "api", Addr: netip.MustParseAddr("10.0.1.9")}},
	}})
	if got := m.reg.Lookup([]string{"ovl"}, "api"); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("10.0.1.9")}) {
		t.Fatalf("a remote name resolves to %v", got)
	}
	n, _ := m.Get("ovl")
	if len(n.Peers) != 2 || len(n.Endpoints) != 2 || n.Scope != "swarm" {
		t.Fatalf("inspect: peers %v, endpoints %d, scope %s", n.Peers, len(n.Endpoints), n.Scope)
	}
	if got := m.ClusterAttachments(); !slices.Equal(got, []string{"att1", "att2"}) {
		t.Fatalf("the node's attachments: %v", got)
	}
	// Removing it goes to the cluster (which refuses it while in use); prune leaves cluster networks alone.
	if err := m.Remove(ctx, "ovl"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Prune(ctx, filters.NewArgs()); err != nil {
		t.Fatal(err)
	}
	if calls := cl.take(); !slices.Equal(calls, []string{"attach closed c1 web aliases=[]", "attach ovl c1 web aliases=[www]", "attach ovl c2 db aliases=[]", "remove ovlid"}) {
		t.Fatalf("cluster calls: %q", calls)
	}

	// A restart: the network comes back up from its record; the local IPAM holds nothing of it.
	m2 := e.open(t)
	if calls := ov.take(); len(calls) != 1 || !strings.HasPrefix(calls[0], "create ovl 10.0.1.0/24") {
		t.Fatalf("driver calls at restart: %q", calls)
	}
	pools, _ := e.ipam.ListPools(ctx)
	for _, p := range pools {
		if p.Subnet == netip.MustParsePrefix("10.0.1.0/24") {
			t.Fatal("the cluster network's subnet is in the local IPAM")
		}
	}
	m2.SetClusterView(map[string]ClusterView{"ovlid": {Remote: []dns.Endpoint{{ContainerID: "far", Name: "api", Addr: netip.MustParseAddr("10.0.1.9")}}}})

	// Containers leave: their endpoints go back to the cluster; the last one takes the network off the node.
	m2.DetachAll(ctx, "c1")
	if _, err := os.Stat(filepath.Join(e.root, "ovlid.json")); err != nil {
		t.Fatalf("the record went with one of two endpoints: %v", err)
	}
	m2.DetachAll(ctx, "c2")
	if calls := ov.take(); !slices.Equal(calls, []string{"leave ovl c1 eth0", "leave ovl c2 eth0", "delete ovl"}) {
		t.Fatalf("driver calls: %q", calls)
	}
	if calls := cl.take(); !slices.Equal(calls, []string{"detach att1", "detach att2"}) {
		t.Fatalf("cluster calls: %q", calls)
	}
	if _, err := os.Stat(filepath.Join(e.root, "ovlid.json")); !os.IsNotExist(err) {
		t.Fatalf("the record is still there: %v", err)
	}
	if got := m2.reg.Lookup([]string{"ovl"}, "api"); len(got) != 0 {
		t.Fatalf("a remote name still resolves after the network left the node: %v", got)
	}
	if n, err := m2.Get("ovl"); err != nil || len(n.Endpoints) != 0 || len(n.Peers) != 0 {
		t.Fatalf("after the last container: %+v, %v", n, err)
	}

	// A failed join gives the endpoint back and leaves nothing.
	ov.failJoin = errdefs.ErrUnavailable.WithMessage("no veth today")
	if _, err := m2.Attach(ctx, sb, "ovl", EndpointOptions{}); !errdefs.IsUnavailable(err) {
		t.Fatalf("a failing join: %v", err)
	}
	ov.failJoin = nil
	if calls := cl.take(); !slices.Equal(calls, []string{"attach ovl c1 web aliases=[]", "detach att3"}) {
		t.Fatalf("cluster calls: %q", calls)
	}
	if calls := ov.take(); !slices.Equal(calls, []string{"create ovl 10.0.1.0/24 gw 10.0.1.1 opts map[com.docker.network.driver.overlay.vxlanid_list:4097] internal=false", "delete ovl"}) {
		t.Fatalf("driver calls: %q", calls)
	}

	// Leaving the swarm takes every cluster network off the node, without asking the cluster.
	if _, err := m2.Attach(ctx, sb, "ovl", EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	cl.take()
	ov.take()
	m2.DropCluster(ctx)
	if calls := ov.take(); !slices.Equal(calls, []string{"leave ovl c1 eth0", "delete ovl"}) {
		t.Fatalf("driver calls: %q", calls)
	}
	if calls := cl.take(); len(calls) != 0 {
		t.Fatalf("cluster calls after leaving: %q", calls)
	}
	if eps := m2.Endpoints("c1"); len(eps) != 0 {
		t.Fatalf("endpoints left: %v", eps)
	}
}

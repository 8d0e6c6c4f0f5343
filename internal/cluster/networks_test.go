package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/dispatcher"
	"github.com/berth/berth/internal/cluster/store"
	"github.com/berth/berth/internal/network/ipam"
	"github.com/berth/berth/internal/network/ipam/ipamtest"
)

// The cluster IPAM's store passes the conformance suite every ipam.Store runs.
func TestIPAMStoreConformance(t *testing.T) {
	ipamtest.TestStore(t, func(t *testing.T) ipam.Store {
		return NewIPAMStore(store.New(store.NewMemoryBackend()))
	})
}

// netStore is a store holding a cluster object (with its default address pool) and nodes n1..n3.
func netStore(t *testing.T) *store.Store {
	t.Helper()
	s := store.New(store.NewMemoryBackend())
	ctx := context.Background()
	err := s.Update(ctx, func(tx *store.Tx) error {
		if err := store.Create(tx, &api.Cluster{ID: "cluster", Spec: api.DefaultClusterSpec()}); err != nil {
			return err
		}
		for i, id := range []string{"n1", "n2", "n3"} {
			n := &api.Node{ID: id, Role: api.RoleWorker, Status: api.NodeStatus{State: api.NodeStateReady, Addr: "192.168.5." + string(rune('1'+i))},
				Description: api.NodeDescription{Hostname: "host-" + id}}
			if err := store.Create(tx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func spec(name string, attachable bool, opts ...func(*api.NetworkSpec)) api.NetworkSpec {
	s := api.NetworkSpec{Annotations: api.Annotations{Name: name}, Driver: &api.Driver{Name: "overlay"}, Attachable: attachable}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func withSubnet(subnet, gw string) func(*api.NetworkSpec) {
	return func(s *api.NetworkSpec) { s.IPAM = []api.IPAMConfig{{Subnet: subnet, Gateway: gw}} }
}

func allocated(t *testing.T, s *store.Store, pool string) []netip.Addr {
	t.Helper()
	st, _, err := loadIPAM(context.Background(), s, ipamValue)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Allocated(pool)
	if err != nil {
		t.Fatalf("pool %s: %v", pool, err)
	}
	return got
}

func TestCreateNetwork(t *testing.T) {
	tests := []struct {
		name    string
		before  []api.NetworkSpec
		spec    api.NetworkSpec
		subnet  string
		gateway string
		vni     uint32
		err     string
		is      func(error) bool
	}{
		{name: "default pool", spec: spec("a", false), subnet: "10.0.0.0/24", gateway: "10.0.0.1", vni: 4097},
		{name: "next default subnet and VNI", before: []api.NetworkSpec{spec("a", false)}, spec: spec("b", true), subnet: "10.0.1.0/24", gateway: "10.0.1.1", vni: 4098},
		{name: "explicit subnet and gateway", spec: spec("a", false, withSubnet("192.168.40.0/24", "192.168.40.254")), subnet: "192.168.40.0/24", gateway: "192.168.40.254", vni: 4097},
		{name: "default subnet skips an explicit one", before: []api.NetworkSpec{spec("x", false, withSubnet("10.0.0.0/24", ""))}, spec: spec("a", false), subnet: "10.0.1.0/24", gateway: "10.0.1.1", vni: 4098},
		{name: "ingress takes the first VNI", spec: spec("ingress", false, func(s *api.NetworkSpec) { s.Ingress = true }), subnet: "10.0.0.0/24", gateway: "10.0.0.1", vni: 4096},
		{name: "ingress under another name, with a subnet", spec: spec("my-ingress", false, withSubnet("10.11.0.0/16", ""), func(s *api.NetworkSpec) { s.Ingress = true }),
			subnet: "10.11.0.0/16", gateway: "10.11.0.1", vni: 4096},
		{name: "a second ingress", before: []api.NetworkSpec{spec("ingress", false, func(s *api.NetworkSpec) { s.Ingress = true })},
			spec: spec("my-ingress", false, func(s *api.NetworkSpec) { s.Ingress = true }), err: "rpc error: code = AlreadyExists desc = ingress network (", is: errdefs.IsAlreadyExists},
		{name: "attachable ingress", spec: spec("my-ingress", true, func(s *api.NetworkSpec) { s.Ingress = true }),
			err: "rpc error: code = InvalidArgument desc = ingress network cannot be attachable", is: errdefs.IsInvalidArgument},
		{name: "duplicate name", before: []api.NetworkSpec{spec("a", false)}, spec: spec("a", true), err: "network with name a already exists", is: errdefs.IsConflict},
		{name: "overlapping subnet", before: []api.NetworkSpec{spec("x", false, withSubnet("10.9.0.0/16", ""))}, spec: spec("a", false, withSubnet("10.9.3.0/24", "")),
			err: "invalid pool request: Pool overlaps with other one on this address space", is: errdefs.IsPermissionDenied},
		{name: "gateway outside", spec: spec("a", false, withSubnet("10.9.0.0/24", "10.8.0.1")), err: "invalid gateway 10.8.0.1: parent subnet 10.9.0.0/24 doesn't contain this address", is: errdefs.IsInvalidArgument},
		{name: "bad subnet", spec: spec("a", false, withSubnet("10.9.0.0/33", "")), err: "invalid subnet 10.9.0.0/33: invalid CIDR block notation", is: errdefs.IsInvalidArgument},
		{name: "no name", spec: spec("", false), err: "rpc error: code = InvalidArgument desc = meta: name must be provided", is: errdefs.IsInvalidArgument},
		{name: "other driver", spec: spec("a", false, func(s *api.NetworkSpec) { s.Driver.Name = "bridge" }), err: `network driver "bridge" is not a cluster network driver`, is: errdefs.IsInvalidArgument},
		{name: "ipv6", spec: spec("a", false, func(s *api.NetworkSpec) { s.IPv6 = true }), err: "IPv6 networks are not supported", is: errdefs.IsNotImplemented},
		{name: "bad mtu", spec: spec("a", false, func(s *api.NetworkSpec) { s.Driver.Options = map[string]string{api.OptMTU: "20"} }), err: "invalid MTU number: 20", is: errdefs.IsInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := netStore(t)
			for _, b := range tc.before {
				if _, err := createNetwork(ctx, s, b); err != nil {
					t.Fatalf("creating %s first: %v", b.Name, err)
				}
			}
			before, _ := store.List[api.Network](ctx, s)
			n, err := createNetwork(ctx, s, tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !tc.is(err) {
					t.Fatalf("err = %v, want %q of the right category", err, tc.err)
				}
				if after, _ := store.List[api.Network](ctx, s); len(after) != len(before) {
					t.Fatalf("a refused create stored a network: %d networks, %d before", len(after), len(before))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.IPAM[0].Subnet != tc.subnet || n.IPAM[0].Gateway != tc.gateway || n.VNI() != tc.vni || n.DriverName() != "overlay" {
				t.Fatalf("network %+v: subnet %s gateway %s vni %d, want %s %s %d", n, n.IPAM[0].Subnet, n.IPAM[0].Gateway, n.VNI(), tc.subnet, tc.gateway, tc.vni)
			}
			got, err := store.Get[api.Network](ctx, s, n.ID)
			if err != nil || got.Spec.Name != tc.spec.Name {
				t.Fatalf("stored: %+v, %v", got, err)
			}
			if a := allocated(t, s, tc.subnet); len(a) != 0 {
				t.Fatalf("a new network's pool has addresses: %v", a)
			}
		})
	}
}

func TestAttachDetachRemove(t *testing.T) {
	ctx := context.Background()
	s := netStore(t)
	closed, err := createNetwork(ctx, s, spec("closed", false))
	if err != nil {
		t.Fatal(err)
	}
	ovl, err := createNetwork(ctx, s, spec("ovl", true))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := attach(ctx, s, "n1", AttachRequest{Network: "closed", ContainerID: "c0"}); err == nil ||
		err.Error() != "rpc error: code = PermissionDenied desc = network closed not manually attachable" || !errdefs.IsPermissionDenied(err) {
		t.Fatalf("attaching to a network that is not attachable: %v", err)
	}
	if _, _, err := attach(ctx, s, "n1", AttachRequest{Network: "nope", ContainerID: "c0"}); !errdefs.IsNotFound(err) || err.Error() != "network nope not found" {
		t.Fatalf("attaching to a missing network: %v", err)
	}
	a1, n, err := attach(ctx, s, "n1", AttachRequest{Network: "ovl", ContainerID: "c1", Name: "web", Aliases: []string{"www"}})
	if err != nil {
		t.Fatal(err)
	}
	if n.ID != ovl.ID || a1.Addr != netip.MustParsePrefix("10.0.1.2/24") || a1.MAC != "02:42:0a:00:01:02" || a1.NodeID != "n1" || a1.Name != "web" {
		t.Fatalf("attachment %+v on %s", a1, n.ID)
	}
	again, _, err := attach(ctx, s, "n1", AttachRequest{Network: ovl.ID[:6], ContainerID: "c1", Name: "web"})
	if err != nil || again.ID != a1.ID {
		t.Fatalf("a retried attach: %+v, %v; want %s", again, err, a1.ID)
	}
	a2, _, err := attach(ctx, s, "n2", AttachRequest{Network: "ovl", ContainerID: "c2", Addr: netip.MustParseAddr("10.0.1.77")})
	if err != nil || a2.Addr.Addr() != netip.MustParseAddr("10.0.1.77") {
		t.Fatalf("attach with --ip: %+v, %v", a2, err)
	}
	if _, _, err := attach(ctx, s, "n3", AttachRequest{Network: "ovl", ContainerID: "c3", Addr: netip.MustParseAddr("10.0.1.77")}); !errdefs.IsConflict(err) {
		t.Fatalf("an address in use: %v", err)
	}
	if got := allocated(t, s, "10.0.1.0/24"); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("10.0.1.2"), netip.MustParseAddr("10.0.1.77")}) {
		t.Fatalf("allocated %v", got)
	}
	_, err = removeNetwork(ctx, s, "ovl")
	if err == nil || !strings.HasPrefix(err.Error(), "rpc error: code = FailedPrecondition desc = network "+ovl.ID+" is in use by task ") || !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("removing a network in use: %v", err)
	}
	if err := detach(ctx, s, "n2", a1.ID); !errdefs.IsPermissionDenied(err) {
		t.Fatalf("a node detaching another's endpoint: %v", err)
	}
	for _, d := range []struct{ node, id string }{{"n1", a1.ID}, {"n2", a2.ID}, {"n2", a2.ID}} {
		if err := detach(ctx, s, d.node, d.id); err != nil {
			t.Fatalf("detach %s: %v", d.id, err)
		}
	}
	if got := allocated(t, s, "10.0.1.0/24"); len(got) != 0 {
		t.Fatalf("after the detaches: %v", got)
	}
	if _, err := removeNetwork(ctx, s, "ovl"); err != nil {
		t.Fatal(err)
	}
	if _, err := removeNetwork(ctx, s, "ovl"); !errdefs.IsNotFound(err) {
		t.Fatalf("removing it again: %v", err)
	}
	// Its subnet and VNI are free again.
	again2, err := createNetwork(ctx, s, spec("ovl2", true))
	if err != nil || again2.IPAM[0].Subnet != "10.0.1.0/24" || again2.VNI() != ovl.VNI() {
		t.Fatalf("after the removal: %+v, %v", again2, err)
	}
	if closed.VNI() == again2.VNI() {
		t.Fatal("two networks share a VNI")
	}
}

func TestSyncAndCollectAttachments(t *testing.T) {
	ctx := context.Background()
	s := netStore(t)
	if _, err := createNetwork(ctx, s, spec("ovl", true)); err != nil {
		t.Fatal(err)
	}
	att := func(node, ctr string) *api.Attachment {
		a, _, err := attach(ctx, s, node, AttachRequest{Network: "ovl", ContainerID: ctr})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	kept, gone := att("n1", "kept"), att("n1", "gone")
	other := att("n2", "other")
	v, _ := s.View(ctx)
	late := att("n1", "late") // made after the revision the node saw: the node may not have recorded it yet
	released, err := syncAttachments(ctx, s, "n1", v.Rev(), []string{kept.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(released, []string{gone.ID}) {
		t.Fatalf("released %v, want only %s", released, gone.ID)
	}
	for _, id := range []string{kept.ID, other.ID, late.ID} {
		if _, err := store.Get[api.Attachment](ctx, s, id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	// n2 leaves the swarm: the leader releases its endpoints (and its tunnel key).
	if _, err := registerNetworkNode(ctx, s, "n2", base64.StdEncoding.EncodeToString(make([]byte, 32))); err != nil {
		t.Fatal(err)
	}
	s.Update(ctx, func(tx *store.Tx) error {
		n, _ := store.Get[api.Node](ctx, tx, "n2")
		n.Status.State, n.Status.Message, n.Version = api.NodeStateDown, "node left the swarm", 0
		return store.Put(tx, n)
	})
	released, err = collectAttachments(ctx, s, nil)
	if err != nil || !slices.Equal(released, []string{other.ID}) {
		t.Fatalf("collected %v, %v; want %s", released, err, other.ID)
	}
	if _, err := store.Get[api.NetworkNode](ctx, s, "n2"); !errdefs.IsNotFound(err) {
		t.Fatalf("the key of a node that left: %v", err)
	}
	// A node merely down (heartbeats lost) keeps its endpoints: it may come back.
	s.Update(ctx, func(tx *store.Tx) error {
		n, _ := store.Get[api.Node](ctx, tx, "n1")
		n.Status.State, n.Status.Message, n.Version = api.NodeStateDown, "heartbeat failure", 0
		return store.Put(tx, n)
	})
	if released, err := collectAttachments(ctx, s, nil); err != nil || len(released) != 0 {
		t.Fatalf("collected %v, %v from a node that is only down", released, err)
	}
	// The leader's view of the nodes spares reading those it has; the store has the last word on the others.
	left := func(id string) (*api.Node, bool) {
		return &api.Node{ID: id, Status: api.NodeStatus{State: api.NodeStateDown, Message: "node left the swarm"}}, true
	}
	if released, err := collectAttachments(ctx, s, left); err != nil || len(released) != 0 {
		t.Fatalf("collected %v, %v from a node the view says left and the store says is only down", released, err)
	}
	s.Update(ctx, func(tx *store.Tx) error {
		n, _ := store.Get[api.Node](ctx, tx, "n1")
		n.Status.State, n.Status.Message, n.Version = api.NodeStateDown, "node left the swarm", 0
		return store.Put(tx, n)
	})
	here := func(id string) (*api.Node, bool) {
		return &api.Node{ID: id, Status: api.NodeStatus{State: api.NodeStateReady}}, true
	}
	if released, err := collectAttachments(ctx, s, here); err != nil || len(released) != 0 {
		t.Fatalf("collected %v, %v from a node the view still has ready", released, err)
	}
	released, err = collectAttachments(ctx, s, func(string) (*api.Node, bool) { return nil, false })
	if err != nil || len(released) != 2 {
		t.Fatalf("collected %v, %v once the view lost the node that left; want its 2 endpoints (kept and late)", released, err)
	}
}

func TestTaskAttachments(t *testing.T) {
	ctx := context.Background()
	s := netStore(t)
	a, err := createNetwork(ctx, s, spec("back", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createNetwork(ctx, s, spec("front", false)); err != nil {
		t.Fatal(err)
	}
	task := &api.Task{ID: "t1", ServiceID: "svc"}
	var atts []*api.Attachment
	err = s.Update(ctx, func(tx *store.Tx) error {
		var err error
		atts, err = AllocateTaskAttachments(ctx, tx, task, []api.NetworkAttachment{{Target: a.ID, Aliases: []string{"db"}}, {Target: "front"}, {Target: "back", Aliases: []string{"pg"}}})
		if err != nil {
			return err
		}
		return store.Create(tx, task)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 2 || len(task.Networks) != 2 || task.Networks[0].Addresses[0] != "10.0.0.2/24" || !slices.Equal(atts[0].Aliases, []string{"db", "pg"}) {
		t.Fatalf("attachments %+v, task networks %+v", atts, task.Networks)
	}
	// Placed on n2; the node claims its attachment with the container it made (a claim by another node is refused).
	if err := s.Update(ctx, func(tx *store.Tx) error { return PlaceTaskAttachments(ctx, tx, "t1", "n2") }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := attach(ctx, s, "n3", AttachRequest{Network: "back", ContainerID: "x", Attachment: atts[0].ID}); !errdefs.IsPermissionDenied(err) {
		t.Fatalf("another node's claim: %v", err)
	}
	claimed, _, err := attach(ctx, s, "n2", AttachRequest{Network: "back", ContainerID: "ctr", Attachment: atts[0].ID})
	if err != nil || claimed.ContainerID != "ctr" || claimed.Addr != atts[0].Addr {
		t.Fatalf("the claim: %+v, %v", claimed, err)
	}
	// A task's container stopping keeps the address: it is the task's.
	if err := detach(ctx, s, "n2", claimed.ID); err != nil {
		t.Fatal(err)
	}
	if got := allocated(t, s, "10.0.0.0/24"); len(got) != 1 {
		t.Fatalf("after the container's detach: %v", got)
	}
	if err := s.Update(ctx, func(tx *store.Tx) error { return ReleaseTaskAttachments(ctx, tx, "t1") }); err != nil {
		t.Fatal(err)
	}
	if got := allocated(t, s, "10.0.0.0/24"); len(got) != 0 {
		t.Fatalf("after the release: %v", got)
	}
	if left, _ := TaskAttachments(ctx, s, "t1"); len(left) != 0 {
		t.Fatalf("attachments left: %v", left)
	}
}

func TestRegisterNetworkNode(t *testing.T) {
	ctx := context.Background()
	s := netStore(t)
	k1 := base64.StdEncoding.EncodeToString(slices.Repeat([]byte{1}, 32))
	k2 := base64.StdEncoding.EncodeToString(slices.Repeat([]byte{2}, 32))
	nn, err := registerNetworkNode(ctx, s, "n1", k1)
	if err != nil {
		t.Fatal(err)
	}
	// The tunnels' pool is the last /16 of the default pool, away from the networks' subnets (its first
	// address is the pool's gateway, which no node takes).
	if nn.TunnelAddr != netip.MustParsePrefix("10.255.0.2/16") {
		t.Fatalf("tunnel address %s", nn.TunnelAddr)
	}
	again, err := registerNetworkNode(ctx, s, "n1", k1)
	if err != nil || again.TunnelAddr != nn.TunnelAddr {
		t.Fatalf("registering again: %+v, %v", again, err)
	}
	changed, err := registerNetworkNode(ctx, s, "n1", k2)
	if err != nil || changed.TunnelAddr != nn.TunnelAddr || changed.PublicKey != k2 {
		t.Fatalf("a new key: %+v, %v", changed, err)
	}
	other, err := registerNetworkNode(ctx, s, "n2", k1)
	if err != nil || other.TunnelAddr != netip.MustParsePrefix("10.255.0.3/16") {
		t.Fatalf("a second node: %+v, %v", other, err)
	}
	if _, err := registerNetworkNode(ctx, s, "n3", "short"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("a bad key: %v", err)
	}
	// A network asking for the tunnels' subnet cannot have it.
	if _, err := createNetwork(ctx, s, spec("x", false, withSubnet("10.255.3.0/24", ""))); !errdefs.IsPermissionDenied(err) {
		t.Fatalf("a network over the tunnels' pool: %v", err)
	}
}

func TestPresharedKey(t *testing.T) {
	ctx := context.Background()
	s := netStore(t)
	dk := slices.Repeat([]byte{7}, 32)
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], _ = presharedKey(ctx, s, dk)
		}()
	}
	wg.Wait()
	for _, k := range keys {
		if len(k) != 32 || !slices.Equal(k, keys[0]) {
			t.Fatalf("concurrent managers made different keys: %x", keys)
		}
	}
	sealed, _, _ := store.GetValue(ctx, s, pskValue)
	if strings.Contains(string(sealed), string(keys[0])) {
		t.Fatal("the preshared key is stored in the clear")
	}
	if _, err := presharedKey(ctx, s, nil); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("without the data key: %v", err)
	}
}

func TestMirror(t *testing.T) {
	st := &NetworkState{Rev: 10, Self: "n1", Networks: []*api.Network{{ID: "net1"}},
		Attachments: []*api.Attachment{{ID: "a1", NetworkID: "net1", NodeID: "n2"}},
		Nodes:       []NetworkPeer{{ID: "n2", Addr: netip.MustParseAddr("192.168.5.2")}}}
	m := newMirror(st)
	events := []*watchEvent{
		{Rev: 11, Attachment: &api.Attachment{ID: "a2", NetworkID: "net1", NodeID: "n3"}},
		{Rev: 12, Node: &NetworkPeer{ID: "n3", Addr: netip.MustParseAddr("192.168.5.3")}},
		{Rev: 13, Removed: true, Attachment: &api.Attachment{ID: "a1"}},
		{Rev: 14, Key: &api.NetworkNode{ID: "n3", PublicKey: "k"}},
		{Rev: 15, Network: &api.Network{ID: "net2"}},
		{Rev: 16, Removed: true, Network: &api.Network{ID: "net1"}},
	}
	for _, e := range events {
		m.apply(e)
	}
	got := m.state()
	var atts, nodes, nets []string
	for _, a := range got.Attachments {
		atts = append(atts, a.ID)
	}
	for _, n := range got.Nodes {
		nodes = append(nodes, n.ID)
	}
	for _, n := range got.Networks {
		nets = append(nets, n.ID)
	}
	if got.Rev != 16 || !slices.Equal(atts, []string{"a2"}) || !slices.Equal(nodes, []string{"n2", "n3"}) || !slices.Equal(nets, []string{"net2"}) || len(got.Keys) != 1 {
		t.Fatalf("state after the events: rev %d attachments %v nodes %v networks %v keys %d", got.Rev, atts, nodes, nets, len(got.Keys))
	}
}

// fakeSink records what the node's networks agent hands it.
type fakeSink struct {
	mu     sync.Mutex
	states []NetworkState
	left   int
	keep   []string
	key    string
}

func (f *fakeSink) ApplyNetworkState(ctx context.Context, st NetworkState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states = append(f.states, st)
}

func (f *fakeSink) LocalAttachments() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.keep)
}

func (f *fakeSink) PublicKey() string { return f.key }

func (f *fakeSink) LeftSwarm(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left++
}

func (f *fakeSink) last() (NetworkState, int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.states) == 0 {
		return NetworkState{}, 0, f.left
	}
	return f.states[len(f.states)-1], len(f.states), f.left
}

// A manager and a worker, in this process over loopback: the worker cannot create a network, finds an
// attachable one through the manager, gets an endpoint, follows the networks watch (its key registered, its
// endpoints reconciled), gives the endpoint back, and leaves.
func TestNetworksAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n1, n2 := newNode(t, 11), newNode(t, 12)
	cs := api.DefaultClusterSpec()
	cs.Dispatcher.HeartbeatPeriod = time.Second
	// The data-path port (the VXLAN port) is the swarm's, in IANA's registered range as dockerd checks it.
	for _, port := range []uint32{80, 49152} {
		_, err := n1.Init(ctx, InitRequest{ListenAddr: addr(11) + ":2377", AdvertiseAddr: addr(11), Spec: cs, DataPathPort: port})
		if want := fmt.Sprintf("Datapath port number is not in valid range (1024-49151) : %d", port); err == nil || err.Error() != want || !errdefs.IsInvalidArgument(err) {
			t.Fatalf("init with data-path port %d: %v, want %q", port, err, want)
		}
		if s, _ := n1.State(); s != StateInactive {
			t.Fatalf("a refused init left the node %v", s)
		}
	}
	if _, err := n1.Init(ctx, InitRequest{ListenAddr: addr(11) + ":2377", AdvertiseAddr: addr(11), Spec: cs, DataPathPort: 7789}); err != nil {
		t.Fatal(err)
	}
	sw, err := n1.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Join(ctx, JoinRequest{ListenAddr: addr(12) + ":2377", AdvertiseAddr: addr(12), RemoteAddrs: []string{addr(11) + ":2377"}, JoinToken: sw.JoinTokens.Worker,
		DataPathAddr: "127.0.2.12"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.CreateNetwork(ctx, spec("ovl", true)); err != ErrWorkerNetworkCreate {
		t.Fatalf("create on a worker: %v", err)
	}
	ovl, err := n1.CreateNetwork(ctx, spec("ovl", true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n1.CreateNetwork(ctx, spec("closed", false)); err != nil {
		t.Fatal(err)
	}
	if nets, _ := n2.Networks(ctx); len(nets) != 0 {
		t.Fatalf("a worker not yet following the networks watch lists %d cluster networks", len(nets))
	}
	nets, _ := n1.Networks(ctx)
	if len(nets) != 3 { // ovl, closed and swarm init's ingress
		t.Fatalf("the manager lists %d cluster networks", len(nets))
	}
	if i := slices.IndexFunc(nets, func(n *api.Network) bool { return n.Spec.Name == "ingress" }); i < 0 ||
		!nets[i].Spec.Ingress || nets[i].IPAM[0].Subnet != "10.0.0.0/24" || nets[i].VNI() != api.FirstVNI {
		t.Fatalf("swarm init's ingress network: %+v", nets)
	}
	found, err := n2.Network(ctx, "ovl")
	if err != nil || found.ID != ovl.ID {
		t.Fatalf("lookup from the worker: %+v, %v", found, err)
	}
	if _, err := n2.Network(ctx, "nope"); !errdefs.IsNotFound(err) || err.Error() != "network nope not found" {
		t.Fatalf("lookup of a missing network from the worker: %v", err)
	}
	if _, _, err := n2.AttachNetwork(ctx, AttachRequest{Network: "closed", ContainerID: "c"}); !errdefs.IsPermissionDenied(err) || !strings.Contains(err.Error(), "network closed not manually attachable") {
		t.Fatalf("attach to a closed network from the worker: %v", err)
	}
	a, _, err := n2.AttachNetwork(ctx, AttachRequest{Network: "ovl", ContainerID: "c1", Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	stale, _, err := n2.AttachNetwork(ctx, AttachRequest{Network: "ovl", ContainerID: "c-gone"})
	if err != nil {
		t.Fatal(err)
	}

	sink := &fakeSink{keep: []string{a.ID}, key: base64.StdEncoding.EncodeToString(slices.Repeat([]byte{9}, 32))}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); n2.RunNetworks(rctx, sink) }()
	defer func() { stop(); <-done }()
	id2 := n2.nodeState().NodeID
	eventually(t, "the worker's state: its key registered, its stale endpoint released", 20*time.Second, func() error {
		st, _, _ := sink.last()
		if st.Self != id2 || len(st.PresharedKey) != 32 || st.DataPathPort != 7789 {
			return fmt.Errorf("state self %q, psk %d bytes, data-path port %d", st.Self, len(st.PresharedKey), st.DataPathPort)
		}
		var ids []string
		for _, at := range st.Attachments {
			ids = append(ids, at.ID)
		}
		if !slices.Equal(ids, []string{a.ID}) {
			return fmt.Errorf("attachments %v, want only %s (not %s)", ids, a.ID, stale.ID)
		}
		if len(st.Keys) != 1 || st.Keys[0].ID != id2 || st.Keys[0].PublicKey != sink.key {
			return fmt.Errorf("keys %+v", st.Keys)
		}
		// The worker's data path is on its --data-path-addr, the manager's on its advertise address.
		peers := map[string]string{}
		for _, n := range st.Nodes {
			peers[n.ID] = n.Addr.String()
		}
		if id1 := n1.nodeState().NodeID; peers[id2] != "127.0.2.12" || peers[id1] != addr(11) {
			return fmt.Errorf("nodes' data-path addresses %v", peers)
		}
		return nil
	})
	// The worker tells the leader the revision its balancers are written from; a wait for it over the wire
	// names the nodes in session whose balancers are behind: here the manager, which follows no watch, until
	// the wait's bound passes. (Neither node runs an agent in this test: their sessions are opened for them.)
	id1 := n1.nodeState().NodeID
	var disp *dispatcher.Dispatcher
	eventually(t, "the leader's dispatcher", 10*time.Second, func() error {
		if disp = n1.leaderDispatcher(); disp == nil {
			return errors.New("not running yet")
		}
		return nil
	})
	for _, id := range []string{id1, id2} {
		s, err := disp.Open(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	applied, _, _ := sink.last()
	eventually(t, "the worker's balancers acknowledged at the leader", 10*time.Second, func() error {
		behind, err := dispatchClient{n2}.WaitApplied(ctx, applied.Rev, 200*time.Millisecond)
		if err != nil || !slices.Equal(behind, []string{id1}) {
			return fmt.Errorf("behind %v (%v), want the manager %s alone", behind, err, id1)
		}
		return nil
	})
	ahead := applied.Rev + 1000
	both := slices.Sorted(slices.Values([]string{id1, id2}))
	if behind, err := (dispatchClient{n2}).WaitApplied(ctx, ahead, 200*time.Millisecond); err != nil || !slices.Equal(behind, both) {
		t.Fatalf("a revision not reached yet: behind %v (%v), want both nodes", behind, err)
	}
	disp.NoteApplied(id1, ahead)
	if behind, err := (dispatchClient{n2}).WaitApplied(ctx, applied.Rev, time.Second); err != nil || len(behind) != 0 {
		t.Fatalf("once both are there: behind %v (%v)", behind, err)
	}
	// Following the watch, the worker lists the ingress network (docker's does from its join), not the others.
	if nets, _ := n2.Networks(ctx); len(nets) != 1 || nets[0].Spec.Name != "ingress" || !nets[0].Spec.Ingress {
		t.Fatalf("a worker in the swarm lists %+v, want the ingress network alone", nets)
	}
	if err := n2.DetachNetwork(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the detach reaches the worker's state", 10*time.Second, func() error {
		if st, _, _ := sink.last(); len(st.Attachments) != 0 {
			return fmt.Errorf("%d attachments", len(st.Attachments))
		}
		return nil
	})
	if err := n1.RemoveNetwork(ctx, "ovl"); err != nil {
		t.Fatal(err)
	}
	if err := n2.Leave(ctx, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the worker told it left", 10*time.Second, func() error {
		if _, _, left := sink.last(); left == 0 {
			return fmt.Errorf("not told")
		}
		return nil
	})
	if nets, _ := n2.Networks(ctx); len(nets) != 0 {
		t.Fatalf("a node that left lists %d cluster networks", len(nets))
	}
}

func TestResolveDataPathAddr(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{name: "none", in: "", want: ""},
		{name: "an address", in: "10.1.2.3", want: "10.1.2.3"},
		{name: "unspecified", in: "0.0.0.0", err: "data path address must be a non-zero IP address or network interface (without a port number)"},
		{name: "with a port", in: "10.1.2.3:4789", err: "data path address must be a non-zero IP address or network interface (without a port number)"},
		{name: "no such interface", in: "nosuchif0", err: "data path address must be a non-zero IP address or network interface (without a port number)"},
		{name: "an interface without a global address", in: "lo", err: "interface lo has no usable IPv4 address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := resolveDataPathAddr(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

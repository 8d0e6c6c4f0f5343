package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/network/ipam"
)

// fakeDriver records what the Manager asks of it, in words, and fails when told to.
type fakeDriver struct {
	scope string

	mu         sync.Mutex
	calls      []string
	left       []EndpointInfo
	failCreate error
	failJoin   error
}

func (d *fakeDriver) record(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, fmt.Sprintf(format, args...))
}

func (d *fakeDriver) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.calls
	d.calls = nil
	return c
}

func (d *fakeDriver) Capability() Capability {
	if d.scope == "" {
		return Capability{Scope: ScopeLocal}
	}
	return Capability{Scope: d.scope}
}

func (d *fakeDriver) CreateNetwork(ctx context.Context, n NetworkInfo) error {
	if d.failCreate != nil {
		return d.failCreate
	}
	d.record("create %s %s gw %s opts %v internal=%v", n.Name, n.Subnet, n.Gateway, n.Options, n.Internal)
	return nil
}

func (d *fakeDriver) DeleteNetwork(ctx context.Context, n NetworkInfo) error {
	d.record("delete %s", n.Name)
	return nil
}

func (d *fakeDriver) Join(ctx context.Context, n NetworkInfo, ep EndpointInfo, sb Sandbox) error {
	if d.failJoin != nil {
		return d.failJoin
	}
	d.record("join %s %s %s %s mac %s route=%v ns %s", n.Name, sb.ContainerID, ep.IfName, ep.Addr, ep.MAC, ep.DefaultRoute, sb.NetNSPath)
	return nil
}

func (d *fakeDriver) Leave(ctx context.Context, n NetworkInfo, ep EndpointInfo) error {
	d.record("leave %s %s %s", n.Name, ep.ContainerID, ep.IfName)
	d.mu.Lock()
	d.left = append(d.left, ep)
	d.mu.Unlock()
	return nil
}

func (d *fakeDriver) PublishPort(ctx context.Context, n NetworkInfo, ep EndpointInfo, p Port) error {
	d.record("publish %s %s:%d -> %s:%d", n.Name, p.Proto, p.HostPort, ep.Addr.Addr(), p.ContainerPort)
	return nil
}

func (d *fakeDriver) UnpublishPort(ctx context.Context, n NetworkInfo, ep EndpointInfo, p Port) error {
	d.record("unpublish %s %s:%d", n.Name, p.Proto, p.HostPort)
	return nil
}

// joinOnly is an endpoint driver without ports.
type joinOnly struct{ *fakeDriver }

func (j joinOnly) PublishPort() {}

// env is a Manager over fakes: a bridge driver that records its calls, an IPAM in memory, and a host whose
// only route is 172.17.0.0/16 (so the default bridge gets 172.18.0.0/16, the first free default pool).
type env struct {
	root   string
	bridge *fakeDriver
	ipam   *ipam.Allocator
	opts   []Option
}

func newEnv(t *testing.T, opts ...Option) *env {
	e := &env{root: t.TempDir(), bridge: &fakeDriver{}, ipam: ipam.NewAllocator(&ipam.MemoryStore{})}
	e.opts = append([]Option{
		WithDriver(DriverBridge, e.bridge), WithIPAM(e.ipam),
		WithHostPrefixes(func() ([]netip.Prefix, error) { return []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16")}, nil }),
	}, opts...)
	return e
}

func (e *env) open(t *testing.T) *Manager {
	t.Helper()
	m, err := New(context.Background(), Config{Root: e.root, ExecRoot: filepath.Join(e.root, "exec"), DefaultBridge: "berth0"}, e.opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestNewCreatesThePredefinedNetworks(t *testing.T) {
	e := newEnv(t)
	m := e.open(t)
	list, err := m.List(filters.NewArgs())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range list {
		got = append(got, fmt.Sprintf("%s %s %s ipv4=%v %v", n.Name, n.Driver, n.Scope, n.EnableIPv4, n.IPAM.Config))
	}
	want := []string{
		"bridge bridge local ipv4=true [{172.18.0.0/16 invalid Prefix 172.18.0.1}]",
		"host host local ipv4=false []",
		"none null local ipv4=false []",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("networks:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if calls := e.bridge.take(); !slices.Equal(calls, []string{"create bridge 172.18.0.0/16 gw 172.18.0.1 opts map[com.docker.network.bridge.name:berth0] internal=false"}) {
		t.Fatalf("driver calls = %q", calls)
	}
	// A restart finds them and brings the bridge up again; nothing new is created.
	m2 := e.open(t)
	if calls := e.bridge.take(); !slices.Equal(calls, []string{"create bridge 172.18.0.0/16 gw 172.18.0.1 opts map[com.docker.network.bridge.name:berth0] internal=false"}) {
		t.Fatalf("driver calls at restart = %q", calls)
	}
	list2, _ := m2.List(filters.NewArgs())
	for i := range list {
		if list[i].ID != list2[i].ID {
			t.Errorf("network %s has a new ID after a restart", list[i].Name)
		}
	}
}

func TestCreate(t *testing.T) {
	failing := errdefs.ErrUnavailable.WithMessage("the kernel said no")
	tests := []struct {
		name     string
		opts     CreateOptions
		failWith error
		want     string // "Name Driver Scope subnet gateway iprange"
		wantErr  func(error) bool
		wantMsg  string
	}{
		{name: "bridge by default, first free default pool", opts: CreateOptions{Name: "front"}, want: "front bridge local 172.19.0.0/16 172.19.0.1 invalid Prefix"},
		{name: "explicit subnet, range, gateway", opts: CreateOptions{Name: "back", Driver: "bridge", IPAM: IPAM{Config: []IPAMConfig{
			{Subnet: netip.MustParsePrefix("10.231.7.0/24"), IPRange: netip.MustParsePrefix("10.231.7.128/25"), Gateway: netip.MustParseAddr("10.231.7.254")}}}},
			want: "back bridge local 10.231.7.0/24 10.231.7.254 10.231.7.128/25"},
		{name: "IPAM driver default", opts: CreateOptions{Name: "front", IPAM: IPAM{Driver: "default"}}, want: "front bridge local 172.19.0.0/16 172.19.0.1 invalid Prefix"},
		{name: "unknown driver", opts: CreateOptions{Name: "x", Driver: "macvlan"}, wantErr: errdefs.IsNotFound, wantMsg: `plugin "macvlan" not found`},
		{name: "unknown IPAM driver", opts: CreateOptions{Name: "x", IPAM: IPAM{Driver: "infoblox"}}, wantErr: errdefs.IsNotFound, wantMsg: `plugin "infoblox" not found`},
		{name: "a second host network", opts: CreateOptions{Name: "x", Driver: "host"}, wantErr: errdefs.IsPermissionDenied, wantMsg: `only one instance of "host" network is allowed`},
		{name: "a second null network", opts: CreateOptions{Name: "x", Driver: "null"}, wantErr: errdefs.IsPermissionDenied, wantMsg: `only one instance of "null" network is allowed`},
		{name: "a cluster driver without a cluster", opts: CreateOptions{Name: "x", Driver: "overlay"}, wantErr: errdefs.IsUnavailable, wantMsg: "This node is not a swarm manager."},
		{name: "predefined name", opts: CreateOptions{Name: "host"}, wantErr: errdefs.IsPermissionDenied, wantMsg: "host is a pre-defined network and cannot be created"},
		{name: "name taken", opts: CreateOptions{Name: "taken"}, wantErr: errdefs.IsConflict, wantMsg: "network with name taken already exists"},
		{name: "no name", opts: CreateOptions{}, wantErr: errdefs.IsInvalidArgument, wantMsg: "network name must not be empty"},
		{name: "ingress on a local driver", opts: CreateOptions{Name: "x", Ingress: true}, wantErr: errdefs.IsPermissionDenied, wantMsg: "Ingress network can only be global scope network"},
		{name: "IPv6", opts: CreateOptions{Name: "x", EnableIPv6: true}, wantErr: errdefs.IsNotImplemented, wantMsg: "IPv6 networks are not supported"},
		{name: "subnet overlapping another network", opts: CreateOptions{Name: "x", IPAM: IPAM{Config: []IPAMConfig{{Subnet: netip.MustParsePrefix("10.99.1.0/24")}}}},
			wantErr: errdefs.IsPermissionDenied, wantMsg: "invalid pool request: Pool overlaps with other one on this address space"},
		{name: "bad IPAM config", opts: CreateOptions{Name: "x", IPAM: IPAM{Config: []IPAMConfig{{Subnet: netip.MustParsePrefix("10.98.0.0/24"), Gateway: netip.MustParseAddr("10.97.0.1")}}}},
			wantErr: errdefs.IsInvalidArgument, wantMsg: "invalid gateway 10.97.0.1: parent subnet 10.98.0.0/24 doesn't contain this address"},
		{name: "the driver fails", opts: CreateOptions{Name: "x"}, failWith: failing, wantErr: errdefs.IsUnavailable, wantMsg: "the kernel said no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, WithDriver("overlay", &fakeDriver{scope: ScopeGlobal}))
			m := e.open(t)
			ctx := context.Background()
			if _, err := m.Create(ctx, CreateOptions{Name: "taken", IPAM: IPAM{Config: []IPAMConfig{{Subnet: netip.MustParsePrefix("10.99.0.0/16")}}}}); err != nil {
				t.Fatal(err)
			}
			before, _ := e.ipam.ListPools(ctx)
			files, _ := os.ReadDir(e.root)
			e.bridge.take()
			e.bridge.failCreate = tt.failWith
			n, err := m.Create(ctx, tt.opts)
			if tt.wantErr != nil {
				if !tt.wantErr(err) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("err = %v, want %q of another category", err, tt.wantMsg)
				}
				// Nothing is left: no pool, no record, no network.
				if after, _ := e.ipam.ListPools(ctx); len(after) != len(before) {
					t.Errorf("pools %v after a failed create, had %v", after, before)
				}
				if after, _ := os.ReadDir(e.root); len(after) != len(files) {
					t.Errorf("%d entries in the root after a failed create, had %d", len(after), len(files))
				}
				if _, err := m.Get(tt.opts.Name); tt.opts.Name != "taken" && tt.opts.Name != "host" && err == nil {
					t.Errorf("network %q exists after a failed create", tt.opts.Name)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := n.IPAM.Config[0]
			if got := fmt.Sprintf("%s %s %s %s %s %s", n.Name, n.Driver, n.Scope, c.Subnet, c.Gateway, c.IPRange); got != tt.want {
				t.Fatalf("network = %q, want %q", got, tt.want)
			}
			if calls := e.bridge.take(); len(calls) != 1 || !strings.HasPrefix(calls[0], "create "+tt.opts.Name+" ") {
				t.Errorf("driver calls = %q", calls)
			}
			if _, err := os.Stat(filepath.Join(e.root, n.ID+".json")); err != nil {
				t.Errorf("no record: %v", err)
			}
		})
	}
}

// TestEndpoints walks containers through networks: addresses, interface names, the one default route, DNS
// names, docker's rules for the default bridge, and what a failed join leaves (nothing).
func TestEndpoints(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	m := e.open(t)
	for _, o := range []CreateOptions{
		{Name: "front", IPAM: IPAM{Config: []IPAMConfig{{Subnet: netip.MustParsePrefix("10.1.0.0/24")}}}},
		{Name: "back", Internal: true, IPAM: IPAM{Config: []IPAMConfig{{Subnet: netip.MustParsePrefix("10.2.0.0/24")}}}},
		{Name: "side", IPAM: IPAM{Config: []IPAMConfig{{Subnet: netip.MustParsePrefix("10.3.0.0/24")}}}},
	} {
		if _, err := m.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	e.bridge.take()
	sb := func(id string) Sandbox { return Sandbox{ContainerID: id, Name: "n-" + id, NetNSPath: "/ns/" + id} }
	steps := []struct {
		name      string
		do        func() error
		wantCalls []string
		wantErr   func(error) bool
		wantMsg   string
	}{
		{
			name:      "c1 on back (internal): eth0, no default route",
			do:        func() error { _, err := m.Attach(ctx, sb("c1"), "back", EndpointOptions{}); return err },
			wantCalls: []string{"join back c1 eth0 10.2.0.2/24 mac 02:42:0a:02:00:02 route=false ns /ns/c1"},
		},
		{
			name: "c1 on front: eth1 takes the default route",
			do: func() error {
				_, err := m.Attach(ctx, sb("c1"), "front", EndpointOptions{Aliases: []string{"www"}})
				return err
			},
			wantCalls: []string{"join front c1 eth1 10.1.0.2/24 mac 02:42:0a:01:00:02 route=true ns /ns/c1"},
		},
		{
			name: "c2 on front with --ip and --mac-address",
			do: func() error {
				_, err := m.Attach(ctx, sb("c2"), "front", EndpointOptions{IPv4Address: netip.MustParseAddr("10.1.0.50"), MacAddress: []byte{2, 0, 0, 0, 0, 0x50}})
				return err
			},
			wantCalls: []string{"join front c2 eth0 10.1.0.50/24 mac 02:00:00:00:00:50 route=true ns /ns/c2"},
		},
		{
			name:      "c2 on side as well: front gave the default route already",
			do:        func() error { _, err := m.Attach(ctx, sb("c2"), "side", EndpointOptions{}); return err },
			wantCalls: []string{"join side c2 eth1 10.3.0.2/24 mac 02:42:0a:03:00:02 route=false ns /ns/c2"},
		},
		{
			name: "c3 asks for c2's address",
			do: func() error {
				_, err := m.Attach(ctx, sb("c3"), "front", EndpointOptions{IPv4Address: netip.MustParseAddr("10.1.0.50")})
				return err
			},
			wantErr: errdefs.IsConflict, wantMsg: "Address already in use",
		},
		{
			name:    "c1 twice on front",
			do:      func() error { _, err := m.Attach(ctx, sb("c1"), "front", EndpointOptions{}); return err },
			wantErr: errdefs.IsConflict, wantMsg: "endpoint with name n-c1 already exists in network front",
		},
		{
			name: "--ip on the default bridge",
			do: func() error {
				_, err := m.Attach(ctx, sb("c3"), "bridge", EndpointOptions{IPv4Address: netip.MustParseAddr("172.18.0.9")})
				return err
			},
			wantErr: errdefs.IsInvalidArgument, wantMsg: "user specified IP address is supported on user defined networks only",
		},
		{
			name: "alias on the default bridge",
			do: func() error {
				_, err := m.Attach(ctx, sb("c3"), "bridge", EndpointOptions{Aliases: []string{"a"}})
				return err
			},
			wantErr: errdefs.IsInvalidArgument, wantMsg: "network-scoped alias is supported only for containers in user defined networks",
		},
		{
			name:    "the host network takes no endpoints",
			do:      func() error { _, err := m.Attach(ctx, sb("c3"), "host", EndpointOptions{}); return err },
			wantErr: errdefs.IsInvalidArgument, wantMsg: "container cannot be connected to network host",
		},
		{
			name: "a join the driver fails gives its address back",
			do: func() error {
				e.bridge.failJoin = errors.New("no veth")
				_, err := m.Attach(ctx, sb("c3"), "front", EndpointOptions{})
				return err
			},
			wantErr: func(err error) bool { return err != nil && err.Error() == "no veth" },
		},
		{
			name: "so the next container gets it",
			do: func() error {
				e.bridge.failJoin = nil
				_, err := m.Attach(ctx, sb("c3"), "front", EndpointOptions{})
				return err
			},
			wantCalls: []string{"join front c3 eth0 10.1.0.3/24 mac 02:42:0a:01:00:03 route=true ns /ns/c3"},
		},
		{
			name:      "c1 leaves back",
			do:        func() error { return m.Detach(ctx, "c1", "back") },
			wantCalls: []string{"leave back c1 eth0"},
		},
		{
			name:      "c1 rejoins back: eth0 is free again",
			do:        func() error { _, err := m.Attach(ctx, sb("c1"), "back", EndpointOptions{}); return err },
			wantCalls: []string{"join back c1 eth0 10.2.0.2/24 mac 02:42:0a:02:00:02 route=false ns /ns/c1"},
		},
		{
			name:    "front cannot go while containers are on it",
			do:      func() error { return m.Remove(ctx, "front") },
			wantErr: errdefs.IsPermissionDenied, wantMsg: `error while removing network: network front has active endpoints (name:"n-c1" id:"c1", name:"n-c2" id:"c2", name:"n-c3" id:"c3")`,
		},
		{
			name: "publish a port of c1",
			do: func() error {
				return m.PublishPort(ctx, "c1", "front", Port{Proto: "tcp", HostPort: 8080, ContainerPort: 80})
			},
			wantCalls: []string{"publish front tcp:8080 -> 10.1.0.2:80"},
		},
		{
			name: "a container not on the network has no port there",
			do: func() error {
				return m.PublishPort(ctx, "c9", "front", Port{Proto: "tcp", HostPort: 8080, ContainerPort: 80})
			},
			wantErr: errdefs.IsNotFound, wantMsg: "container c9 is not connected to network front",
		},
		{
			name:      "c1 stops: it leaves every network",
			do:        func() error { m.DetachAll(ctx, "c1"); return nil },
			wantCalls: []string{"leave back c1 eth0", "leave front c1 eth1"},
		},
	}
	for _, s := range steps {
		err := s.do()
		if s.wantErr != nil {
			if !s.wantErr(err) || !strings.Contains(fmt.Sprint(err), s.wantMsg) {
				t.Fatalf("%s: err = %v, want %q", s.name, err, s.wantMsg)
			}
		} else if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		calls := e.bridge.take()
		slices.Sort(calls)
		if !slices.Equal(calls, s.wantCalls) {
			t.Fatalf("%s: driver calls\n%q\nwant\n%q", s.name, calls, s.wantCalls)
		}
	}

	// What is left: c2 and c3 on front (and c2 on side), nothing of c1, and the IPAM agrees.
	if eps := m.Endpoints("c1"); len(eps) != 0 {
		t.Errorf("c1 still has endpoints: %v", eps)
	}
	front, _ := m.Get("front")
	var got []string
	for id, ep := range front.Endpoints {
		got = append(got, fmt.Sprintf("%s %s %s %s", id, ep.Name, ep.Addr, ep.IfName))
	}
	slices.Sort(got)
	if want := []string{"c2 n-c2 10.1.0.50/24 eth0", "c3 n-c3 10.1.0.3/24 eth0"}; !slices.Equal(got, want) {
		t.Errorf("front's endpoints = %q, want %q", got, want)
	}
	pool := m.nets[front.ID].IPAM.PoolID
	if addrs, _ := e.ipam.Allocated(ctx, pool); !slices.Equal(addrs, []netip.Addr{netip.MustParseAddr("10.1.0.3"), netip.MustParseAddr("10.1.0.50")}) {
		t.Errorf("front's allocated addresses = %v", addrs)
	}
	// DNS: names on user networks only; c1's went with it.
	if a := m.reg.Lookup([]string{"front"}, "n-c2"); !slices.Equal(a, []netip.Addr{netip.MustParseAddr("10.1.0.50")}) {
		t.Errorf("n-c2 resolves to %v", a)
	}
	if a := m.reg.Lookup([]string{"front"}, "www"); len(a) != 0 {
		t.Errorf("c1's alias still resolves: %v", a)
	}
}

func TestPortsNeedAPortDriver(t *testing.T) {
	ctx := context.Background()
	d := &fakeDriver{}
	e := newEnv(t, WithDriver("plain", joinOnlyDriver{d}))
	m := e.open(t)
	if _, err := m.Create(ctx, CreateOptions{Name: "p", Driver: "plain"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Attach(ctx, Sandbox{ContainerID: "c1", Name: "c1", NetNSPath: "/ns"}, "p", EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	err := m.PublishPort(ctx, "c1", "p", Port{Proto: "tcp", HostPort: 1, ContainerPort: 1})
	if !errdefs.IsNotImplemented(err) || err.Error() != "network p (driver plain) cannot publish ports" {
		t.Fatalf("err = %v", err)
	}
}

// joinOnlyDriver hides fakeDriver's port methods.
type joinOnlyDriver struct{ d *fakeDriver }

func (j joinOnlyDriver) Capability() Capability { return j.d.Capability() }
func (j joinOnlyDriver) CreateNetwork(ctx context.Context, n NetworkInfo) error {
	return j.d.CreateNetwork(ctx, n)
}
func (j joinOnlyDriver) DeleteNetwork(ctx context.Context, n NetworkInfo) error {
	return j.d.DeleteNetwork(ctx, n)
}
func (j joinOnlyDriver) Join(ctx context.Context, n NetworkInfo, ep EndpointInfo, sb Sandbox) error {
	return j.d.Join(ctx, n, ep, sb)
}
func (j joinOnlyDriver) Leave(ctx context.Context, n NetworkInfo, ep EndpointInfo) error {
	return j.d.Leave(ctx, n, ep)
}

func TestRemoveAndPrune(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	m := e.open(t)
	a, _ := m.Create(ctx, CreateOptions{Name: "a", Labels: map[string]string{"keep": "no"}})
	b, _ := m.Create(ctx, CreateOptions{Name: "b", Labels: map[string]string{"keep": "yes"}})
	e.bridge.take()
	for _, name := range []string{Bridge, Host, None} {
		if err := m.Remove(ctx, name); !errdefs.IsPermissionDenied(err) || err.Error() != name+" is a pre-defined network and cannot be removed" {
			t.Errorf("remove %s: %v", name, err)
		}
	}
	if err := m.Remove(ctx, a.ID[:6]); err != nil {
		t.Fatal(err)
	}
	if calls := e.bridge.take(); !slices.Equal(calls, []string{"delete a"}) {
		t.Errorf("driver calls = %q", calls)
	}
	if _, err := os.Stat(filepath.Join(e.root, a.ID+".json")); !os.IsNotExist(err) {
		t.Errorf("a's record is still there: %v", err)
	}
	// a's subnet is free for the next network.
	c, err := m.Create(ctx, CreateOptions{Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if c.IPAM.Config[0].Subnet != a.IPAM.Config[0].Subnet {
		t.Errorf("c got %s, want a's freed %s", c.IPAM.Config[0].Subnet, a.IPAM.Config[0].Subnet)
	}
	f, _ := filters.FromJSON(`{"label!":["keep=yes"]}`)
	removed, err := m.Prune(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{"c"}) {
		t.Fatalf("pruned %q, want [c]", removed)
	}
	if _, err := m.Get(b.Name); err != nil {
		t.Errorf("b was pruned: %v", err)
	}
}

func TestUnknownDriverAtLoad(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, WithDriver("overlay", &fakeDriver{scope: ScopeGlobal}))
	os.WriteFile(filepath.Join(e.root, "0ver1ay.json"), []byte(`{"ID":"0ver1ay","Name":"mesh","Driver":"overlay","Created":"2026-01-02T03:04:05Z","Endpoints":{}}`), 0o600)
	os.WriteFile(filepath.Join(e.root, "macv1an.json"), []byte(`{"ID":"macv1an","Name":"lan","Driver":"macvlan","Created":"2026-01-02T03:04:05Z","Endpoints":{}}`), 0o600)
	m := e.open(t)
	mesh, err := m.Get("mesh")
	if err != nil {
		t.Fatal(err)
	}
	if mesh.Scope != "swarm" || mesh.Driver != "overlay" {
		t.Errorf("mesh: driver %s scope %s, want overlay swarm", mesh.Driver, mesh.Scope)
	}
	lan, err := m.Get("lan")
	if err != nil {
		t.Fatal(err)
	}
	if lan.Scope != "local" || lan.EnableIPv4 {
		t.Errorf("lan (driver missing): scope %s ipv4 %v", lan.Scope, lan.EnableIPv4)
	}
	if _, err := m.Attach(ctx, Sandbox{ContainerID: "c1", Name: "c1"}, "lan", EndpointOptions{}); !errdefs.IsNotFound(err) || err.Error() != `plugin "macvlan" not found` {
		t.Errorf("attach to lan: %v", err)
	}
	f, _ := filters.FromJSON(`{"scope":["swarm"]}`)
	if list, _ := m.List(f); len(list) != 1 || list[0].Name != "mesh" {
		t.Errorf("scope=swarm lists %v", list)
	}
	f, _ = filters.FromJSON(`{"driver":["overlay"]}`)
	if list, _ := m.List(f); len(list) != 1 || list[0].Name != "mesh" {
		t.Errorf("driver=overlay lists %v", list)
	}
}

// TestReconcileIPAMAtStart: after a crash between the IPAM's write and the record's, the IPAM is made to
// agree with the records: an address without an endpoint and a pool without a network are released, an
// endpoint's address that was lost is taken again.
func TestReconcileIPAMAtStart(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	m := e.open(t)
	front, err := m.Create(ctx, CreateOptions{Name: "front", IPAM: IPAM{Config: []IPAMConfig{{Subnet: netip.MustParsePrefix("10.1.0.0/24")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Attach(ctx, Sandbox{ContainerID: "c1", Name: "c1", NetNSPath: "/ns"}, "front", EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	pool := m.nets[front.ID].IPAM.PoolID
	e.ipam.ReleaseAddress(ctx, pool, netip.MustParseAddr("10.1.0.2"))
	e.ipam.RequestAddress(ctx, pool, netip.MustParseAddr("10.1.0.9"))
	e.ipam.RequestPool(ctx, ipam.PoolRequest{Subnet: netip.MustParsePrefix("10.50.0.0/24")})

	e.open(t)
	pools, _ := e.ipam.ListPools(ctx)
	var got []string
	for _, p := range pools {
		addrs, _ := e.ipam.Allocated(ctx, p.ID)
		got = append(got, fmt.Sprintf("%s %v", p.ID, addrs))
	}
	if want := []string{"10.1.0.0/24 [10.1.0.2]", "172.18.0.0/16 []"}; !slices.Equal(got, want) {
		t.Fatalf("pools after the restart %q, want %q", got, want)
	}
}

package network

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/berth/berth/internal/network/firewall"
)

// fakeBalancer records what the Manager writes into namespaces' VIP tables.
type fakeBalancer struct {
	mu     sync.Mutex
	tables map[string][]string // namespace -> "vip service network backends"
	writes int
}

func (b *fakeBalancer) sync(ctx context.Context, nsPath string, vips []firewall.VIP) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	if len(vips) == 0 {
		delete(b.tables, nsPath)
		return nil
	}
	var out []string
	for _, v := range vips {
		out = append(out, fmt.Sprintf("%s %s %s %v", v.Addr, v.Service, v.Network, v.Backends))
	}
	b.tables[nsPath] = out
	return nil
}

func (b *fakeBalancer) table(ns string) ([]string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.tables[ns]), b.writes
}

func TestClusterServices(t *testing.T) {
	ctx := context.Background()
	a := netip.MustParseAddr
	bal := &fakeBalancer{tables: map[string][]string{}}
	ov := &fakeDriver{scope: ScopeGlobal}
	cl := newFakeCluster(clusterNet("ovlid", "ovl", "10.0.1.0/24", true))
	e := newEnv(t, WithDriver("overlay", ov), WithCluster(cl), WithVIPBalancer(bal.sync))
	m := e.open(t)
	if _, err := m.Attach(ctx, Sandbox{ContainerID: "c1", Name: "client"}, "ovl", EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	ns := m.SandboxPath("c1")
	view := func(web ServiceView, more ...ServiceView) {
		m.SetClusterView(map[string]ClusterView{"ovlid": {Services: append([]ServiceView{web}, more...)}})
	}
	lookup := func(name string) []netip.Addr {
		got := m.reg.Lookup([]string{"ovl"}, name)
		slices.SortFunc(got, netip.Addr.Compare)
		return got
	}
	web := ServiceView{Name: "web", Aliases: []string{"www"}, VIP: a("10.0.1.100"), Tasks: []netip.Addr{a("10.0.1.5"), a("10.0.1.6")}}
	rr := ServiceView{Name: "rr", Tasks: []netip.Addr{a("10.0.1.7"), a("10.0.1.8")}}
	for _, tc := range []struct {
		name   string
		svcs   []ServiceView
		dns    map[string][]netip.Addr
		table  []string
		writes int // table writes so far
	}{
		{name: "the first view writes every table, even an empty one (a table kept over a restart may be stale)", svcs: nil, writes: 1},
		{name: "vip and dnsrr services", svcs: []ServiceView{web, rr},
			dns: map[string][]netip.Addr{"web": {a("10.0.1.100")}, "www": {a("10.0.1.100")}, "tasks.web": web.Tasks, "tasks.www": web.Tasks,
				"rr": rr.Tasks, "tasks.rr": rr.Tasks},
			table: []string{"10.0.1.100 web ovl [10.0.1.5 10.0.1.6]"}, writes: 2},
		{name: "the same state writes nothing", svcs: []ServiceView{web, rr},
			table: []string{"10.0.1.100 web ovl [10.0.1.5 10.0.1.6]"}, writes: 2},
		{name: "a dnsrr task less changes no table", svcs: []ServiceView{web, {Name: "rr", Tasks: rr.Tasks[:1]}},
			dns: map[string][]netip.Addr{"rr": rr.Tasks[:1], "tasks.rr": rr.Tasks[:1]}, table: []string{"10.0.1.100 web ovl [10.0.1.5 10.0.1.6]"}, writes: 2},
		{name: "the names and backends follow the tasks", svcs: []ServiceView{{Name: "web", Aliases: []string{"www"}, VIP: web.VIP, Tasks: web.Tasks[1:]}},
			dns: map[string][]netip.Addr{"web": {a("10.0.1.100")}, "tasks.web": web.Tasks[1:], "rr": nil}, table: []string{"10.0.1.100 web ovl [10.0.1.6]"}, writes: 3},
		{name: "no task left: the VIP stays, with no backend", svcs: []ServiceView{{Name: "web", VIP: web.VIP}},
			dns: map[string][]netip.Addr{"web": {a("10.0.1.100")}, "tasks.web": nil}, table: []string{"10.0.1.100 web ovl []"}, writes: 4},
		{name: "the service gone takes the table", svcs: nil, dns: map[string][]netip.Addr{"web": nil}, writes: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m.SetClusterView(map[string]ClusterView{"ovlid": {Services: tc.svcs}})
			for name, want := range tc.dns {
				if got := lookup(name); !slices.Equal(got, want) {
					t.Errorf("%s resolves to %v, want %v", name, got, want)
				}
			}
			if got, writes := bal.table(ns); !slices.Equal(got, tc.table) || writes != tc.writes {
				t.Fatalf("table %q after %d writes, want %q after %d", got, writes, tc.table, tc.writes)
			}
		})
	}

	// A container joining later gets the table at once; leaving the network takes its table and the names.
	view(web)
	if _, err := m.Attach(ctx, Sandbox{ContainerID: "c2", Name: "late"}, "ovl", EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := bal.table(m.SandboxPath("c2")); len(got) != 1 {
		t.Fatalf("a container joining: table %q", got)
	}
	m.DetachAll(ctx, "c2")
	if got, _ := bal.table(m.SandboxPath("c2")); got != nil {
		t.Fatalf("a container leaving keeps %q", got)
	}
	if got, _ := bal.table(ns); len(got) != 1 {
		t.Fatalf("the other container's table: %q", got)
	}
	m.DetachAll(ctx, "c1") // the network leaves the node
	if got, _ := bal.table(ns); got != nil {
		t.Fatalf("the last container leaving keeps %q", got)
	}
	if got := lookup("web"); got != nil {
		t.Fatalf("web still resolves after the network left the node: %v", got)
	}
	if got := m.VIPs("c1"); got != nil {
		t.Fatalf("VIPs remembered: %v", got)
	}
}

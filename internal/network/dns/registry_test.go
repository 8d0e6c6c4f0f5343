package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
)

const (
	webID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	dbID  = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

var (
	webAddr = netip.MustParseAddr("10.0.0.5")
	dbAddr  = netip.MustParseAddr("10.0.0.6")
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// testRegistry holds web (alias frontend) on n1 and db on n2.
func testRegistry(t *testing.T) *Registry {
	t.Helper()
	reg := NewRegistry()
	must(t, reg.AddEndpoint("n1", Endpoint{ContainerID: webID, Name: "web", Aliases: []string{"frontend"}, Addr: webAddr}))
	must(t, reg.AddEndpoint("n2", Endpoint{ContainerID: dbID, Name: "db", Addr: dbAddr}))
	return reg
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRegistryLookup(t *testing.T) {
	tests := []struct {
		name     string
		networks []string
		query    string
		want     []netip.Addr
	}{
		{name: "container name", networks: []string{"n1"}, query: "web", want: addrs("10.0.0.5")},
		{name: "fqdn", networks: []string{"n1"}, query: "web.", want: addrs("10.0.0.5")},
		{name: "case-insensitive", networks: []string{"n1"}, query: "WeB.", want: addrs("10.0.0.5")},
		{name: "alias", networks: []string{"n1"}, query: "frontend", want: addrs("10.0.0.5")},
		{name: "short ID", networks: []string{"n1"}, query: webID[:12], want: addrs("10.0.0.5")},
		{name: "full ID is not a name", networks: []string{"n1"}, query: webID},
		{name: "other network is invisible", networks: []string{"n1"}, query: "db"},
		{name: "no networks", query: "web"},
		{name: "unknown network", networks: []string{"n9"}, query: "web"},
		{name: "both networks", networks: []string{"n1", "n2"}, query: "db", want: addrs("10.0.0.6")},
		{name: "name.network", networks: []string{"n1"}, query: "web.n1.", want: addrs("10.0.0.5")},
		{name: "name.network of unattached network", networks: []string{"n1"}, query: "db.n2"},
		{name: "name.wrongnetwork", networks: []string{"n1", "n2"}, query: "web.n2"},
		{name: "empty", networks: []string{"n1"}, query: ""},
		{name: "root", networks: []string{"n1"}, query: "."},
	}
	reg := testRegistry(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reg.Lookup(tt.networks, tt.query); !slices.Equal(got, tt.want) {
				t.Errorf("Lookup(%v, %q) = %v, want %v", tt.networks, tt.query, got, tt.want)
			}
		})
	}
}

func TestRegistryLookupAddr(t *testing.T) {
	tests := []struct {
		name     string
		networks []string
		addr     netip.Addr
		want     string
	}{
		{name: "container name dot network", networks: []string{"n1"}, addr: webAddr, want: "web.n1"},
		{name: "ipv4-mapped", networks: []string{"n1"}, addr: netip.AddrFrom16(webAddr.As16()), want: "web.n1"},
		{name: "other network is invisible", networks: []string{"n1"}, addr: dbAddr},
		{name: "unknown address", networks: []string{"n1", "n2"}, addr: netip.MustParseAddr("10.0.0.99")},
	}
	reg := testRegistry(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := reg.LookupAddr(tt.networks, tt.addr)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("LookupAddr(%v, %s) = %q, %v, want %q", tt.networks, tt.addr, got, ok, tt.want)
			}
		})
	}
}

func TestRegistrySharedAliasRoundRobin(t *testing.T) {
	reg := NewRegistry()
	must(t, reg.AddEndpoint("n1", Endpoint{ContainerID: "aaaa", Name: "api1", Aliases: []string{"api"}, Addr: netip.MustParseAddr("10.0.0.7")}))
	must(t, reg.AddEndpoint("n1", Endpoint{ContainerID: "bbbb", Name: "api2", Aliases: []string{"API."}, Addr: netip.MustParseAddr("10.0.0.8")}))

	first := reg.Lookup([]string{"n1"}, "api")
	second := reg.Lookup([]string{"n1"}, "api")
	third := reg.Lookup([]string{"n1"}, "api")
	if len(first) != 2 || first[0] == second[0] || !slices.Equal(first, third) {
		t.Fatalf("lookups = %v, %v, %v; want both addresses, rotating", first, second, third)
	}
	// An AAAA lookup of an IPv4-only name must not rotate the order for the next A lookup.
	if a, found := reg.resolve([]string{"n1"}, "api", netip.Addr.Is6); a != nil || !found {
		t.Fatalf("resolve IPv6 = %v, %v; want nil, true", a, found)
	}
	if got := reg.Lookup([]string{"n1"}, "api"); !slices.Equal(got, second) {
		t.Errorf("after an IPv6 lookup got %v, want %v", got, second)
	}

	reg.RemoveEndpoint("n1", "aaaa")
	if got := reg.Lookup([]string{"n1"}, "api"); !slices.Equal(got, addrs("10.0.0.8")) {
		t.Errorf("after removing one endpoint: %v", got)
	}
}

func TestRegistryFirstNetworkWins(t *testing.T) {
	reg := NewRegistry()
	must(t, reg.Add("n1", "cache", netip.MustParseAddr("10.1.0.2")))
	must(t, reg.Add("n2", "cache", netip.MustParseAddr("10.2.0.2")))
	if got := reg.Lookup([]string{"n2", "n1"}, "cache"); !slices.Equal(got, addrs("10.2.0.2")) {
		t.Errorf("got %v, want the first network's address", got)
	}
	if got := reg.Lookup([]string{"n2", "n1"}, "cache.n1"); !slices.Equal(got, addrs("10.1.0.2")) {
		t.Errorf("cache.n1: got %v", got)
	}
}

func TestRegistryRemoval(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Registry)
		query   string
		want    []netip.Addr
		wantPTR string
	}{
		{
			name:   "remove name",
			change: func(r *Registry) { r.Remove("n1", "WEB.", webAddr) },
			query:  "web", wantPTR: "frontend.n1", // the next name stands in until a new one is added
		},
		{
			name:   "remove name keeps aliases",
			change: func(r *Registry) { r.Remove("n1", "web", webAddr) },
			query:  "frontend", want: addrs("10.0.0.5"), wantPTR: "frontend.n1",
		},
		{
			name: "rename",
			change: func(r *Registry) {
				r.Remove("n1", "web", webAddr)
				must(t, r.Add("n1", "site", webAddr))
			},
			query: "site", want: addrs("10.0.0.5"), wantPTR: "site.n1",
		},
		{
			name: "rename then disconnect removes the new name",
			change: func(r *Registry) {
				r.Remove("n1", "web", webAddr)
				must(t, r.Add("n1", "site", webAddr))
				r.RemoveEndpoint("n1", webID)
			},
			query: "site",
		},
		{
			name:   "disconnect",
			change: func(r *Registry) { r.RemoveEndpoint("n1", webID) },
			query:  "frontend",
		},
		{
			name:   "disconnect removes the short ID",
			change: func(r *Registry) { r.RemoveEndpoint("n1", webID) },
			query:  webID[:12],
		},
		{
			name:   "disconnect from another network keeps this one",
			change: func(r *Registry) { r.RemoveEndpoint("n2", webID) },
			query:  "web", want: addrs("10.0.0.5"), wantPTR: "web.n1",
		},
		{
			name:   "container removal",
			change: func(r *Registry) { r.RemoveContainer(webID) },
			query:  "web",
		},
		{
			name: "re-adding an endpoint replaces it",
			change: func(r *Registry) {
				must(t, r.AddEndpoint("n1", Endpoint{ContainerID: webID, Name: "web", Addr: netip.MustParseAddr("10.0.0.9")}))
			},
			query: "web", want: addrs("10.0.0.9"),
		},
		{
			name: "removing what is not there",
			change: func(r *Registry) {
				r.Remove("n1", "nothing", webAddr)
				r.RemoveEndpoint("n3", "x")
				r.RemoveContainer("y")
			},
			query: "web", want: addrs("10.0.0.5"), wantPTR: "web.n1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := testRegistry(t)
			tt.change(reg)
			if got := reg.Lookup([]string{"n1", "n2"}, tt.query); !slices.Equal(got, tt.want) {
				t.Errorf("Lookup(%q) = %v, want %v", tt.query, got, tt.want)
			}
			if got, _ := reg.LookupAddr([]string{"n1"}, webAddr); got != tt.wantPTR {
				t.Errorf("LookupAddr(%s) = %q, want %q", webAddr, got, tt.wantPTR)
			}
			if got := reg.Lookup([]string{"n2"}, "db"); !slices.Equal(got, addrs("10.0.0.6")) {
				t.Errorf("db on n2 changed: %v", got)
			}
		})
	}
}

func TestRegistryEmptyNetworkIsDropped(t *testing.T) {
	reg := testRegistry(t)
	reg.RemoveContainer(webID)
	reg.RemoveContainer(dbID)
	if len(reg.nets) != 0 {
		t.Errorf("networks left: %v", reg.nets)
	}
}

func TestRegistryInvalid(t *testing.T) {
	tests := []struct {
		name string
		add  func(*Registry) error
	}{
		{name: "empty name", add: func(r *Registry) error { return r.Add("n1", "", webAddr) }},
		{name: "only a dot", add: func(r *Registry) error { return r.Add("n1", ".", webAddr) }},
		{name: "empty label", add: func(r *Registry) error { return r.Add("n1", "a..b", webAddr) }},
		{name: "space", add: func(r *Registry) error { return r.Add("n1", "a b", webAddr) }},
		{name: "empty network", add: func(r *Registry) error { return r.Add("", "web", webAddr) }},
		{name: "invalid address", add: func(r *Registry) error { return r.Add("n1", "web", netip.Addr{}) }},
		{name: "endpoint without ID", add: func(r *Registry) error {
			return r.AddEndpoint("n1", Endpoint{Name: "web", Addr: webAddr})
		}},
		{name: "endpoint with a bad alias", add: func(r *Registry) error {
			return r.AddEndpoint("n1", Endpoint{ContainerID: webID, Name: "web", Aliases: []string{"a..b"}, Addr: webAddr})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := NewRegistry()
			if err := tt.add(reg); !errdefs.IsInvalidArgument(err) {
				t.Fatalf("err = %v, want invalid argument", err)
			}
			if len(reg.nets) != 0 {
				t.Errorf("a failed add left records: %v", reg.nets)
			}
		})
	}
}

func TestRegistryConcurrent(t *testing.T) {
	reg := NewRegistry()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := fmt.Sprintf("container%02d", i)
			addr := netip.AddrFrom4([4]byte{10, 0, 1, byte(i + 1)})
			for range 200 {
				must(t, reg.AddEndpoint("n1", Endpoint{ContainerID: id, Name: id, Aliases: []string{"shared"}, Addr: addr}))
				reg.Lookup([]string{"n1"}, "shared")
				reg.LookupAddr([]string{"n1"}, addr)
				reg.RemoveEndpoint("n1", id)
			}
		})
	}
	wg.Wait()
	if got := reg.Lookup([]string{"n1"}, "shared"); got != nil {
		t.Errorf("left over: %v", got)
	}
}

func TestReverseAddr(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{name: "ipv4", query: "5.0.0.10.in-addr.arpa.", want: "10.0.0.5"},
		{name: "ipv4 upper case", query: "5.0.0.10.IN-ADDR.ARPA", want: "10.0.0.5"},
		{name: "ipv4 partial", query: "0.10.in-addr.arpa."},
		{name: "ipv4 bad octet", query: "300.0.0.10.in-addr.arpa."},
		{name: "ipv6", query: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", want: "2001:db8::1"},
		{name: "ipv6 short", query: "1.0.0.2.ip6.arpa."},
		{name: "not reverse", query: "web."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := reverseAddr(tt.query)
			if tt.want == "" {
				if ok {
					t.Errorf("reverseAddr(%q) = %s, want no address", tt.query, got)
				}
				return
			}
			if !ok || got != netip.MustParseAddr(tt.want) {
				t.Errorf("reverseAddr(%q) = %s, %v, want %s", tt.query, got, ok, tt.want)
			}
		})
	}
}

func TestRegistryServices(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	r := NewRegistry()
	if err := r.AddEndpoint("ovl", Endpoint{ContainerID: "c1", Name: "web.1.abc", Aliases: []string{"www"}, Addr: a("10.0.1.5")}); err != nil {
		t.Fatal(err)
	}
	r.SetServices("ovl", []ServiceRecord{
		{Names: []string{"web", "www"}, Addrs: []netip.Addr{a("10.0.1.2")}},
		{Names: []string{"tasks.web", "tasks.www"}, Addrs: []netip.Addr{a("10.0.1.5"), a("10.0.1.6")}},
		{Names: []string{"idle"}},
	})
	for _, tc := range []struct {
		name     string
		networks []string
		query    string
		want     []string
	}{
		{name: "service name is its VIP", networks: []string{"ovl"}, query: "web", want: []string{"10.0.1.2"}},
		{name: "a service alias answers before a task's own alias", networks: []string{"ovl"}, query: "WWW.", want: []string{"10.0.1.2"}},
		{name: "tasks.NAME", networks: []string{"ovl"}, query: "tasks.web", want: []string{"10.0.1.5", "10.0.1.6"}},
		{name: "name.network", networks: []string{"ovl"}, query: "web.ovl", want: []string{"10.0.1.2"}},
		{name: "the task's container name still answers", networks: []string{"ovl"}, query: "web.1.abc", want: []string{"10.0.1.5"}},
		{name: "not on another network", networks: []string{"other"}, query: "web"},
		{name: "a service without tasks has no address", networks: []string{"ovl"}, query: "idle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, x := range r.Lookup(tc.networks, tc.query) {
				got = append(got, x.String())
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Lookup(%v, %q) = %v, want %v", tc.networks, tc.query, got, tc.want)
			}
		})
	}
	if _, found := r.resolve([]string{"ovl"}, "idle", func(netip.Addr) bool { return true }); !found {
		t.Fatal("a service without tasks is not known")
	}
	// Names follow the tasks; no records drop the network's services.
	r.SetServices("ovl", []ServiceRecord{{Names: []string{"tasks.web"}, Addrs: []netip.Addr{a("10.0.1.6")}}})
	if got := r.Lookup([]string{"ovl"}, "tasks.web"); !slices.Equal(got, []netip.Addr{a("10.0.1.6")}) {
		t.Fatalf("after a scale-down: %v", got)
	}
	if got := r.Lookup([]string{"ovl"}, "www"); !slices.Equal(got, []netip.Addr{a("10.0.1.5")}) {
		t.Fatalf("the task's alias once the service went: %v", got)
	}
	r.SetServices("ovl", nil)
	if got := r.Lookup([]string{"ovl"}, "tasks.web"); got != nil {
		t.Fatalf("after the service went: %v", got)
	}
}

package firewall

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/nftables/expr"
)

var (
	net0  = Network{Bridge: "br0", Subnet: netip.MustParsePrefix("10.1.0.0/24"), ICC: true}
	net1  = Network{Bridge: "br1", Subnet: netip.MustParsePrefix("10.2.0.0/24"), Internal: true, ICC: true}
	port0 = Port{Proto: "tcp", HostPort: 8080, ContainerIP: netip.MustParseAddr("10.1.0.2"), ContainerPort: 80, Bridge: "br0"}
)

func strs(rs []rule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.chain+": "+r.String())
	}
	return out
}

func TestNetworkRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    Network
		want []string
	}{
		{
			name: "default",
			n:    net0,
			want: []string{
				`postrouting: ip saddr 10.1.0.0/24 oifname != "br0" masquerade comment "network bridge=br0 subnet=10.1.0.0/24 internal=false icc=true"`,
				`postrouting: oifname "br0" ip saddr 10.1.0.0/24 ct status dnat masquerade comment "network bridge=br0 subnet=10.1.0.0/24 internal=false icc=true"`,
				`postrouting: oifname "br0" ip saddr 127.0.0.0/8 masquerade comment "network bridge=br0 subnet=10.1.0.0/24 internal=false icc=true"`,
				`input: iifname "br0" ip daddr 127.0.0.0/8 ct state ! established,related drop comment "network bridge=br0 subnet=10.1.0.0/24 internal=false icc=true"`,
				`forward-bridges: iifname "br0" oifname "br0" accept comment "network bridge=br0 subnet=10.1.0.0/24 internal=false icc=true"`,
				`forward-bridges: oifname "br0" drop comment "network bridge=br0 subnet=10.1.0.0/24 internal=false icc=true"`,
			},
		},
		{
			name: "internal",
			n:    net1,
			want: []string{
				`forward-internal: iifname "br1" oifname != "br1" drop comment "network bridge=br1 subnet=10.2.0.0/24 internal=true icc=true"`,
				`forward-bridges: iifname "br1" oifname "br1" accept comment "network bridge=br1 subnet=10.2.0.0/24 internal=true icc=true"`,
				`forward-bridges: oifname "br1" drop comment "network bridge=br1 subnet=10.2.0.0/24 internal=true icc=true"`,
			},
		},
		{
			name: "no icc",
			n:    Network{Bridge: "br2", Subnet: netip.MustParsePrefix("10.3.0.0/16"), Internal: true},
			want: []string{
				`forward-internal: iifname "br2" oifname != "br2" drop comment "network bridge=br2 subnet=10.3.0.0/16 internal=true icc=false"`,
				`forward-bridges: iifname "br2" oifname "br2" drop comment "network bridge=br2 subnet=10.3.0.0/16 internal=true icc=false"`,
				`forward-bridges: oifname "br2" drop comment "network bridge=br2 subnet=10.3.0.0/16 internal=true icc=false"`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strs(networkRules(tc.n)); !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestPortRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Port
		want []string
	}{
		{
			name: "all addresses",
			p:    port0,
			want: []string{
				`ports: meta nfproto ipv4 tcp dport 8080 dnat ip to 10.1.0.2:80 comment "port proto=tcp host=*:8080 container=10.1.0.2:80 bridge=br0"`,
				`forward-ports: oifname "br0" ip daddr 10.1.0.2 tcp dport 80 ct status dnat accept comment "port proto=tcp host=*:8080 container=10.1.0.2:80 bridge=br0"`,
			},
		},
		{
			name: "one address udp",
			p:    Port{Proto: "udp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 53, ContainerIP: netip.MustParseAddr("10.1.0.3"), ContainerPort: 5353, Bridge: "br0"},
			want: []string{
				`ports: ip daddr 127.0.0.1 udp dport 53 dnat ip to 10.1.0.3:5353 comment "port proto=udp host=127.0.0.1:53 container=10.1.0.3:5353 bridge=br0"`,
				`forward-ports: oifname "br0" ip daddr 10.1.0.3 udp dport 5353 ct status dnat accept comment "port proto=udp host=127.0.0.1:53 container=10.1.0.3:5353 bridge=br0"`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strs(portRules(tc.p)); !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestRuleExprs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		r        rule
		nfproto  bool // starts with meta nfproto ipv4
		wantData [][]byte
	}{
		{
			name:     "interface names are padded to IFNAMSIZ",
			r:        rule{match: []match{ifname{name: "br0"}}, verdict: drop{}},
			wantData: [][]byte{[]byte("br0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
		},
		{
			name:     "a prefix is masked",
			r:        rule{match: []match{addr{prefix: netip.MustParsePrefix("10.1.0.0/20")}}, verdict: masquerade{}},
			nfproto:  true,
			wantData: [][]byte{{2}, {10, 1, 0, 0}},
		},
		{
			name:     "dnat needs ipv4",
			r:        rule{match: []match{dport{proto: "udp", port: 53}}, verdict: dnat{to: netip.MustParseAddrPort("10.0.0.2:5353")}},
			nfproto:  true,
			wantData: [][]byte{{2}, {17}, {0, 53}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := tc.r.exprs()
			meta, ok := es[0].(*expr.Meta)
			if got := ok && meta.Key == expr.MetaKeyNFPROTO; got != tc.nfproto {
				t.Errorf("starts with nfproto = %v, want %v", got, tc.nfproto)
			}
			var data [][]byte
			for _, e := range es {
				if c, ok := e.(*expr.Cmp); ok {
					data = append(data, c.Data)
				}
			}
			if !slices.EqualFunc(data, tc.wantData, slices.Equal) {
				t.Errorf("compared data %v, want %v", data, tc.wantData)
			}
		})
	}
}

func TestComments(t *testing.T) {
	for _, tc := range []struct {
		name string
		obj  any
	}{
		{name: "network", obj: net0},
		{name: "internal network without icc", obj: Network{Bridge: "br-x.1", Subnet: netip.MustParsePrefix("172.18.0.0/16"), Internal: true}},
		{name: "port", obj: port0},
		{name: "port on one address", obj: Port{Proto: "udp", HostIP: netip.MustParseAddr("192.0.2.1"), HostPort: 1, ContainerIP: netip.MustParseAddr("10.0.0.9"), ContainerPort: 65535, Bridge: "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch o := tc.obj.(type) {
			case Network:
				got, ok := parseNetworkComment(o.comment())
				if !ok || got != o {
					t.Errorf("parse(%q) = %+v, %v", o.comment(), got, ok)
				}
				if _, ok := parsePortComment(o.comment()); ok {
					t.Error("a network comment parses as a port")
				}
			case Port:
				got, ok := parsePortComment(o.comment())
				if !ok || got != o {
					t.Errorf("parse(%q) = %+v, %v", o.comment(), got, ok)
				}
			}
		})
	}
	for _, c := range []string{"", "static", "network bridge=x", "port proto=tcp host=nope:1 container=10.0.0.1:1 bridge=b"} {
		_, ok1 := parseNetworkComment(c)
		_, ok2 := parsePortComment(c)
		if ok1 || ok2 {
			t.Errorf("%q parsed", c)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func() error
		want error
	}{
		{name: "network ok", do: func() error { _, err := net0.normalize(); return err }},
		{name: "no bridge", do: func() error { _, err := Network{Subnet: net0.Subnet}.normalize(); return err }, want: errdefs.ErrInvalidArgument},
		{name: "long bridge", do: func() error {
			_, err := Network{Bridge: "a-very-long-name", Subnet: net0.Subnet}.normalize()
			return err
		}, want: errdefs.ErrInvalidArgument},
		{name: "no subnet", do: func() error { _, err := Network{Bridge: "b"}.normalize(); return err }, want: errdefs.ErrInvalidArgument},
		{name: "ipv6 subnet", do: func() error {
			_, err := Network{Bridge: "b", Subnet: netip.MustParsePrefix("fd00::/64")}.normalize()
			return err
		}, want: errdefs.ErrNotImplemented},
		{name: "port ok", do: func() error { _, err := port0.normalize(); return err }},
		{name: "bad proto", do: func() error { p := port0; p.Proto = "sctp"; _, err := p.normalize(); return err }, want: errdefs.ErrInvalidArgument},
		{name: "port 0", do: func() error { p := port0; p.HostPort = 0; _, err := p.normalize(); return err }, want: errdefs.ErrInvalidArgument},
		{name: "no container ip", do: func() error { p := port0; p.ContainerIP = netip.Addr{}; _, err := p.normalize(); return err }, want: errdefs.ErrInvalidArgument},
		{name: "ipv6 host", do: func() error { p := port0; p.HostIP = netip.MustParseAddr("::1"); _, err := p.normalize(); return err }, want: errdefs.ErrNotImplemented},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	n, _ := Network{Bridge: "b", Subnet: netip.MustParsePrefix("10.0.0.7/8")}.normalize()
	if n.Subnet.String() != "10.0.0.0/8" {
		t.Errorf("subnet not masked: %s", n.Subnet)
	}
	p := port0
	p.Proto, p.HostIP = "TCP", netip.MustParseAddr("0.0.0.0")
	if p, _ = p.normalize(); p != port0 {
		t.Errorf("normalize = %+v, want %+v", p, port0)
	}
}

// observed returns what the kernel would hold after installing rules, with handles from 1.
func observed(rules ...[]rule) observation {
	obs := observation{exists: true}
	for _, rs := range rules {
		for _, r := range rs {
			obs.rules = append(obs.rules, installed{chain: r.chain, handle: uint64(len(obs.rules) + 1), comment: r.comment})
		}
	}
	return obs
}

func handles(is []installed) []uint64 {
	var out []uint64
	for _, i := range is {
		out = append(out, i.handle)
	}
	return out
}

func TestPlan(t *testing.T) {
	static, n0, n1, p0 := staticRules(), networkRules(net0), networkRules(net1), portRules(port0)
	internalPort := port0
	internalPort.Bridge, internalPort.ContainerIP = "br1", netip.MustParseAddr("10.2.0.5")
	for _, tc := range []struct {
		name     string
		obs      observation
		plan     func(observation) (change, error)
		want     change
		wantErr  error
		wantAdds int // when want.add is not spelled out
	}{
		{
			name: "first network creates the table",
			obs:  observation{},
			plan: func(o observation) (change, error) { return planAddNetwork(o, net0) },
			want: change{ensureTable: true, add: append(slices.Clone(static), n0...)},
		},
		{
			name: "adding it again replaces its rules",
			obs:  observed(static, n0),
			plan: func(o observation) (change, error) { return planAddNetwork(o, net0) },
			want: change{ensureTable: true, del: observed(static, n0).rules[len(static):], add: n0},
		},
		{
			name: "missing static rules are rewritten",
			obs:  observed(static[:2], n0),
			plan: func(o observation) (change, error) { return planAddNetwork(o, net1) },
			want: change{ensureTable: true, del: observed(static[:2]).rules, add: append(slices.Clone(static), n1...)},
		},
		{
			name:    "same bridge, other settings",
			obs:     observed(static, n0),
			plan:    func(o observation) (change, error) { n := net0; n.ICC = false; return planAddNetwork(o, n) },
			wantErr: errdefs.ErrConflict,
		},
		{
			name: "overlapping subnet",
			obs:  observed(static, n0),
			plan: func(o observation) (change, error) {
				return planAddNetwork(o, Network{Bridge: "br9", Subnet: netip.MustParsePrefix("10.1.0.128/25")})
			},
			wantErr: errdefs.ErrConflict,
		},
		{
			name: "port",
			obs:  observed(static, n0),
			plan: func(o observation) (change, error) { return planAddPort(o, port0) },
			want: change{ensureTable: true, add: p0},
		},
		{
			name: "port again replaces its rules",
			obs:  observed(static, n0, p0),
			plan: func(o observation) (change, error) { return planAddPort(o, port0) },
			want: change{ensureTable: true, del: observed(static, n0, p0).rules[len(static)+len(n0):], add: p0},
		},
		{
			name:    "port without network",
			obs:     observed(static, n1),
			plan:    func(o observation) (change, error) { return planAddPort(o, port0) },
			wantErr: errdefs.ErrNotFound,
		},
		{
			name:    "port on internal network",
			obs:     observed(static, n1),
			plan:    func(o observation) (change, error) { return planAddPort(o, internalPort) },
			wantErr: errdefs.ErrInvalidArgument,
		},
		{
			name: "port outside the subnet",
			obs:  observed(static, n0),
			plan: func(o observation) (change, error) {
				p := port0
				p.ContainerIP = netip.MustParseAddr("10.9.0.2")
				return planAddPort(o, p)
			},
			wantErr: errdefs.ErrInvalidArgument,
		},
		{
			name: "host port taken on all addresses",
			obs:  observed(static, n0, p0),
			plan: func(o observation) (change, error) {
				p := port0
				p.HostIP, p.ContainerIP = netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.1.0.3")
				return planAddPort(o, p)
			},
			wantErr: errdefs.ErrConflict,
		},
		{
			name: "same host port, other protocol",
			obs:  observed(static, n0, p0),
			plan: func(o observation) (change, error) { p := port0; p.Proto = "udp"; return planAddPort(o, p) },
			want: change{ensureTable: true, add: portRules(Port{Proto: "udp", HostPort: 8080, ContainerIP: port0.ContainerIP, ContainerPort: 80, Bridge: "br0"})},
		},
		{
			name: "remove port",
			obs:  observed(static, n0, p0),
			plan: func(o observation) (change, error) {
				p := port0
				p.ContainerPort = 1 // only the key counts
				return planRemovePort(o, p), nil
			},
			want: change{del: observed(static, n0, p0).rules[len(static)+len(n0):]},
		},
		{
			name: "remove absent port",
			obs:  observed(static, n0),
			plan: func(o observation) (change, error) { return planRemovePort(o, port0), nil },
			want: change{},
		},
		{
			name: "remove a network and its ports",
			obs:  observed(static, n0, n1, p0),
			plan: func(o observation) (change, error) { return planRemoveNetwork(o, "br0"), nil },
			want: change{del: append(slices.Clone(observed(static, n0).rules[len(static):]), observed(static, n0, n1, p0).rules[len(static)+len(n0)+len(n1):]...)},
		},
		{
			name: "remove the last network",
			obs:  observed(static, n0, p0),
			plan: func(o observation) (change, error) { return planRemoveNetwork(o, "br0"), nil },
			want: change{deleteTable: true},
		},
		{
			name: "remove from nothing",
			obs:  observation{},
			plan: func(o observation) (change, error) { return planRemoveNetwork(o, "br0"), nil },
			want: change{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.plan(tc.obs)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ensureTable != tc.want.ensureTable || got.deleteTable != tc.want.deleteTable {
				t.Errorf("ensure/delete table = %v/%v, want %v/%v", got.ensureTable, got.deleteTable, tc.want.ensureTable, tc.want.deleteTable)
			}
			if !slices.Equal(handles(got.del), handles(tc.want.del)) {
				t.Errorf("deletes handles %v, want %v", handles(got.del), handles(tc.want.del))
			}
			if g, w := strs(got.add), strs(tc.want.add); !slices.Equal(g, w) {
				t.Errorf("adds\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
			}
		})
	}
}

func TestOwned(t *testing.T) {
	p1 := port0
	p1.HostPort = 443
	obs := observed(staticRules(), networkRules(net1), portRules(p1), networkRules(net0), portRules(port0))
	obs.rules = append(obs.rules, installed{chain: chainPorts, handle: 99, comment: "someone's"})
	w := obs.owned()
	if want := []Network{net0, net1}; !slices.Equal(w.networks, want) {
		t.Errorf("networks %v, want %v", w.networks, want)
	}
	if want := []Port{p1, port0}; !slices.Equal(w.ports, want) {
		t.Errorf("ports %v, want %v", w.ports, want)
	}
}

func TestForwardRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    Network
		want []string
	}{
		{name: "network", n: net0, want: []string{
			`-i br0 -m comment --comment berth:br0 -j ACCEPT`,
			`-o br0 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment berth:br0 -j ACCEPT`,
		}},
		{name: "internal", n: net1, want: []string{
			`-i br1 -o br1 -m comment --comment berth:br1 -j ACCEPT`,
			`-o br1 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment berth:br1 -j ACCEPT`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, r := range forwardRules("berth", tc.n) {
				got = append(got, strings.Join(r, " "))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParseRuleSpec(t *testing.T) {
	for _, tc := range []struct {
		name        string
		line        string
		wantSpec    []string
		wantComment string
		wantOK      bool
	}{
		{name: "policy", line: "-P FORWARD DROP"},
		{name: "docker", line: "-A FORWARD -j DOCKER-USER", wantSpec: []string{"-j", "DOCKER-USER"}, wantOK: true},
		{
			name:        "quoted comment",
			line:        `-A FORWARD -o br0 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment "berth:br0" -j ACCEPT`,
			wantSpec:    []string{"-o", "br0", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-m", "comment", "--comment", "berth:br0", "-j", "ACCEPT"},
			wantComment: "berth:br0",
			wantOK:      true,
		},
		{
			name:        "comment with spaces",
			line:        `-A FORWARD -m comment --comment "a b" -j ACCEPT`,
			wantSpec:    []string{"-m", "comment", "--comment", "a b", "-j", "ACCEPT"},
			wantComment: "a b",
			wantOK:      true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, comment, ok := parseRuleSpec(tc.line)
			if ok != tc.wantOK || comment != tc.wantComment || !slices.Equal(spec, tc.wantSpec) {
				t.Errorf("got %q %q %v, want %q %q %v", spec, comment, ok, tc.wantSpec, tc.wantComment, tc.wantOK)
			}
		})
	}
}

func TestRender(t *testing.T) {
	out := render("berth", observed(staticRules(), networkRules(net0), portRules(port0)).owned(), []string{"-A FORWARD -i br0 -j ACCEPT"})
	for _, want := range []string{
		"table inet berth {",
		"\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tfib daddr type local jump ports comment \"static\"\n",
		"\t\tmeta nfproto ipv4 tcp dport 8080 dnat ip to 10.1.0.2:80",
		"\t\ttype nat hook output priority -100; policy accept;\n",
		"-A FORWARD -i br0 -j ACCEPT",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q:\n%s", want, out)
		}
	}
	if got := render("berth", owned{}, nil); got != "" {
		t.Errorf("render of nothing = %q", got)
	}
}

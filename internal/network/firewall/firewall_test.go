package firewall

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/testutil"
)

// ruleset returns `nft list ruleset` and `iptables-save`.
func ruleset(t *testing.T) string {
	t.Helper()
	return run(t, "nft", "list", "ruleset") + "\n" + run(t, "iptables-save")
}

// assertNothingOf checks that the kernel holds no table, chain or rule of the Manager's table name.
func assertNothingOf(t *testing.T, table string) {
	t.Helper()
	rs := ruleset(t)
	for _, marker := range []string{"table inet " + table + " ", forwardComment(table, "")} {
		if strings.Contains(rs, marker) {
			t.Errorf("%q left behind:\n%s", marker, rs)
		}
	}
}

// check is one connection attempt and its expected outcome.
type check struct {
	name  string
	from  string // namespace; "" is the host
	proto string // "tcp" (default) or "udp"
	to    netip.AddrPort
	want  string // the server's answer; "" means the connection must fail
}

func runChecks(t *testing.T, checks []check) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			proto := c.proto
			if proto == "" {
				proto = "tcp"
			}
			timeout := 3 * time.Second
			if c.want == "" {
				timeout = time.Second
			}
			got, err := dial(c.from, proto, c.to, timeout)
			switch {
			case c.want == "" && err == nil:
				t.Errorf("%s %s from %q: connected (%q), want failure", proto, c.to, c.from, got)
			case c.want != "" && err != nil:
				t.Errorf("%s %s from %q: %v, want %q", proto, c.to, c.from, err, c.want)
			case c.want != "" && got != c.want:
				t.Errorf("%s %s from %q: got %q, want %q", proto, c.to, c.from, got, c.want)
			}
		})
	}
}

// TestEndToEnd builds bridges, container namespaces and an "outside" namespace on this host, installs Berth's
// rules under a private table name, and checks traffic with the filter FORWARD policy ACCEPT, then DROP (dockerd's).
// It needs root; it changes the host's ip_forward and FORWARD policy only while it runs.
func TestEndToEnd(t *testing.T) {
	testutil.RequiresRoot(t)
	for _, cmd := range []string{"ip", "nft", "iptables", "iptables-save"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("needs %s", cmd)
		}
	}
	ctx := context.Background()
	rnd := randHex(t, 2)
	table := "berth-test-" + rnd
	saveHostState(t)

	m, err := New(ctx, WithTableName(table), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Reset(ctx); err != nil {
			t.Errorf("Reset: %v", err)
		}
		assertNothingOf(t, table)
	})

	// Topology, in 10.x.0.0/16: networks A (10.x.1/24), B (.2), internal I (.3), N without ICC (.4); the outside
	// host is 10.x.5.2 behind the host's 10.x.5.1, with a route back to the subnets only through the host.
	base := freeSubnet(t)
	tp := &topo{t: t, prefix: "bt" + rnd}
	pfx := func(i, h byte, bits int) netip.Prefix { return netip.PrefixFrom(sub(base, i, h), bits) }
	gw := func(i byte) netip.Addr { return sub(base, i, 1) }
	brA, brB, brI, brN := tp.bridge("a", pfx(1, 1, 24)), tp.bridge("b", pfx(2, 1, 24)), tp.bridge("i", pfx(3, 1, 24)), tp.bridge("n", pfx(4, 1, 24))
	c1, c2, c3, c3b, c4, c5, c6, out := tp.netns("c1"), tp.netns("c2"), tp.netns("c3"), tp.netns("c3b"), tp.netns("c4"), tp.netns("c5"), tp.netns("c6"), tp.netns("out")
	// With br_netfilter (bridge-nf-call-iptables=1), a packet DNATed back to the bridge it came from is bridged, not
	// routed, out of the port it came in on: a container reaching its own published port needs hairpin mode on
	// its bridge port, which the link layer sets (as docker does without its userland proxy).
	v1 := tp.veth(c1, brA, pfx(1, 2, 24), netip.Prefix{}, gw(1))
	run(t, "ip", "link", "set", v1, "type", "bridge_slave", "hairpin", "on")
	tp.veth(c2, brA, pfx(1, 3, 24), netip.Prefix{}, gw(1))
	tp.veth(c4, brB, pfx(2, 2, 24), netip.Prefix{}, gw(2))
	tp.veth(c3, brI, pfx(3, 2, 24), netip.Prefix{}, gw(3))
	tp.veth(c3b, brI, pfx(3, 3, 24), netip.Prefix{}, gw(3))
	tp.veth(c5, brN, pfx(4, 2, 24), netip.Prefix{}, gw(4))
	tp.veth(c6, brN, pfx(4, 3, 24), netip.Prefix{}, gw(4))
	tp.veth(out, "", pfx(5, 2, 24), pfx(5, 1, 24), netip.Addr{})
	run(t, "ip", "-n", out, "route", "add", base.String(), "via", gw(5).String())

	ap := netip.AddrPortFrom
	serveTCP(t, c1, "c1", ap(sub(base, 1, 2), 80))
	serveUDP(t, c1, "c1", ap(sub(base, 1, 2), 53))
	serveTCP(t, c2, "c2", ap(sub(base, 1, 3), 80))
	serveTCP(t, c3b, "c3b", ap(sub(base, 3, 3), 80))
	serveTCP(t, c4, "c4", ap(sub(base, 2, 2), 80))
	serveTCP(t, c6, "c6", ap(sub(base, 4, 3), 80))
	serveTCP(t, out, "out", ap(sub(base, 5, 2), 80))

	netA := Network{Bridge: brA, Subnet: pfx(1, 0, 24), ICC: true}
	netB := Network{Bridge: brB, Subnet: pfx(2, 0, 24), ICC: true}
	netI := Network{Bridge: brI, Subnet: pfx(3, 0, 24), Internal: true, ICC: true}
	netN := Network{Bridge: brN, Subnet: pfx(4, 0, 24)}
	hp := uint16(20000 + rand.IntN(30000))
	// A service of the host on 127.0.0.2, and c2 routing 127.0.0.2 to the host as an attacker would: with
	// route_localnet on the bridge, only Berth's input rule keeps it out.
	loSvc := ap(netip.MustParseAddr("127.0.0.2"), hp+3)
	serveTCP(t, "", "host", loSvc)
	run(t, "ip", "netns", "exec", c2, "sysctl", "-qw", "net.ipv4.conf.eth0.route_localnet=1")
	run(t, "ip", "-n", c2, "route", "del", "127.0.0.0/8", "dev", "lo", "table", "local")
	run(t, "ip", "-n", c2, "route", "add", "127.0.0.2/32", "via", gw(1).String(), "dev", "eth0")
	p1 := Port{Proto: "tcp", HostPort: hp, ContainerIP: sub(base, 1, 2), ContainerPort: 80, Bridge: brA}
	p2 := Port{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: hp + 1, ContainerIP: sub(base, 1, 3), ContainerPort: 80, Bridge: brA}
	p3 := Port{Proto: "udp", HostPort: hp + 2, ContainerIP: sub(base, 1, 2), ContainerPort: 53, Bridge: brA}
	install := func() {
		t.Helper()
		for _, n := range []Network{netA, netB, netI, netN} {
			if err := m.AddNetwork(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []Port{p1, p2, p3} {
			if err := m.AddPort(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	install()
	installed := ruleset(t)
	rules, err := m.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Rules:\n%s", rules)
	t.Logf("nft list table inet %s:\n%s", table, run(t, "nft", "list", "table", "inet", table))

	t.Run("idempotent", func(t *testing.T) {
		install()
		if after := ruleset(t); countLines(after, table) != countLines(installed, table) {
			t.Errorf("adding again changed the number of rules: %d, was %d\n%s", countLines(after, table), countLines(installed, table), after)
		}
		// A new Manager (a restarted daemon) reads the same state from the kernel.
		m2, err := New(ctx, WithTableName(table))
		if err != nil {
			t.Fatal(err)
		}
		nets, err := m2.Networks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []Network{netA, netB, netI, netN}; !slices.Equal(nets, want) {
			t.Errorf("Networks = %v, want %v", nets, want)
		}
		ports, err := m2.Ports(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ports) != 3 {
			t.Errorf("Ports = %v, want 3", ports)
		}
		if r2, _ := m2.Rules(ctx); r2 != rules {
			t.Errorf("Rules differ after restart:\n%s\nwas\n%s", r2, rules)
		}
	})

	hostA := gw(1)
	checks := []check{
		{name: "a/outbound masquerade", from: c1, to: ap(sub(base, 5, 2), 80), want: "out " + gw(5).String()},
		{name: "a/same bridge", from: c1, to: ap(sub(base, 1, 3), 80), want: "c2 " + sub(base, 1, 2).String()},
		{name: "a/outside to unpublished port", from: out, to: ap(sub(base, 1, 2), 80)},
		{name: "b/internal cannot go out", from: c3, to: ap(sub(base, 5, 2), 80)},
		{name: "b/internal same bridge", from: c3, to: ap(sub(base, 3, 3), 80), want: "c3b " + sub(base, 3, 2).String()},
		{name: "b/internal to other network published port", from: c3, to: ap(gw(3), hp)},
		{name: "isolation/b to a", from: c4, to: ap(sub(base, 1, 2), 80)},
		{name: "isolation/a to b", from: c1, to: ap(sub(base, 2, 2), 80)},
		{name: "isolation/a to internal", from: c1, to: ap(sub(base, 3, 3), 80)},
		{name: "noicc/same bridge", from: c5, to: ap(sub(base, 4, 3), 80)},
		{name: "noicc/outbound", from: c5, to: ap(sub(base, 5, 2), 80), want: "out " + gw(5).String()},
		{name: "c/host loopback", from: "", to: ap(netip.MustParseAddr("127.0.0.1"), hp), want: "c1 " + hostA.String()},
		{name: "c/host bridge address", from: "", to: ap(hostA, hp), want: "c1 " + hostA.String()},
		{name: "c/host other address", from: "", to: ap(gw(5), hp), want: "c1 " + gw(5).String()},
		{name: "c/outside", from: out, to: ap(gw(5), hp), want: "c1 " + sub(base, 5, 2).String()},
		{name: "c/outside udp", from: out, proto: "udp", to: ap(gw(5), hp+2), want: "c1 " + sub(base, 5, 2).String()},
		{name: "c/hairpin own port", from: c1, to: ap(hostA, hp), want: "c1 " + hostA.String()},
		{name: "c/hairpin neighbour", from: c2, to: ap(hostA, hp), want: "c1 " + hostA.String()},
		{name: "c/other network", from: c4, to: ap(gw(2), hp), want: "c1 " + hostA.String()},
		{name: "c/loopback-only port", from: "", to: ap(netip.MustParseAddr("127.0.0.1"), hp+1), want: "c2 " + hostA.String()},
		{name: "c/loopback-only port elsewhere", from: out, to: ap(gw(5), hp+1)},
		{name: "c/container to host loopback service", from: c2, to: loSvc},
		{name: "c/host loopback service", from: "", to: loSvc, want: "host 127.0.0.1"},
	}
	t.Run("policy ACCEPT", func(t *testing.T) {
		run(t, "iptables", "-t", "filter", "-P", "FORWARD", "ACCEPT")
		runChecks(t, checks)
	})
	t.Run("policy DROP", func(t *testing.T) {
		run(t, "iptables", "-t", "filter", "-P", "FORWARD", "DROP")
		runChecks(t, checks)
	})
	t.Run("policy DROP without Berth's iptables rules", func(t *testing.T) {
		// The control: the DROP policy really drops Berth's traffic without the accept rules.
		run(t, "iptables", "-t", "filter", "-P", "FORWARD", "DROP")
		if err := m.fwd.remove(brA); err != nil {
			t.Fatal(err)
		}
		t.Run("removed", func(t *testing.T) {
			runChecks(t, []check{{name: "outbound", from: c1, to: ap(sub(base, 5, 2), 80)}})
		})
		if err := m.AddNetwork(ctx, netA); err != nil { // restores them
			t.Fatal(err)
		}
		t.Run("restored", func(t *testing.T) {
			runChecks(t, []check{{name: "outbound", from: c1, to: ap(sub(base, 5, 2), 80), want: "out " + gw(5).String()}})
		})
	})

	t.Run("remove", func(t *testing.T) {
		if err := m.RemovePort(ctx, p1); err != nil {
			t.Fatal(err)
		}
		if err := m.RemovePort(ctx, p1); err != nil { // again: not an error
			t.Fatal(err)
		}
		t.Run("port", func(t *testing.T) {
			runChecks(t, []check{{name: "removed", from: "", to: ap(hostA, hp)}})
		})
		if strings.Contains(ruleset(t), p1.comment()) {
			t.Errorf("port rules left behind")
		}
		if err := m.RemoveNetwork(ctx, brA); err != nil { // takes p2, p3 with it
			t.Fatal(err)
		}
		rs := ruleset(t)
		for _, s := range []string{"bridge=" + brA, forwardComment(table, brA)} {
			if strings.Contains(rs, s) {
				t.Errorf("%q left behind", s)
			}
		}
		for _, b := range []string{brB, brI, brN} {
			if err := m.RemoveNetwork(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		assertNothingOf(t, table)
		if err := m.RemoveNetwork(ctx, brB); err != nil {
			t.Fatalf("removing again: %v", err)
		}
	})
}

// countLines counts the lines of the ruleset that mention table (comments of iptables rules included).
func countLines(rs, table string) int {
	n := 0
	for _, l := range strings.Split(rs, "\n") {
		if strings.Contains(l, "bridge=") || strings.Contains(l, table) || strings.Contains(l, `"static"`) {
			n++
		}
	}
	return n
}

// TestConcurrentManagers checks that Managers with different tables do not disturb each other and that a Manager
// is safe for concurrent calls.
func TestConcurrentManagers(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	rnd := randHex(t, 2)
	saveHostState(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 2 {
		table := fmt.Sprintf("berth-test-%s-%d", rnd, i)
		m, err := New(ctx, WithTableName(table), WithLogger(slog.New(slog.DiscardHandler)), WithIPForward(false))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := m.Reset(ctx); err != nil {
				t.Error(err)
			}
			assertNothingOf(t, table)
		})
		for j := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Bridges need not exist for the rules; these names are never created.
				n := Network{Bridge: fmt.Sprintf("bt%sx%d%d", rnd, i, j), Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, byte(j), 0}), 24), ICC: true}
				errs <- m.AddNetwork(ctx, n)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

package firewall

import (
	"context"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/testutil"
)

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func vipStrs(rs []vipRule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

func TestVIPRules(t *testing.T) {
	web := VIP{Addr: netip.MustParseAddr("10.0.1.2"), Service: "web", Network: "ovl", Backends: addrs("10.0.1.7", "10.0.1.5", "10.0.1.5")}
	idle := VIP{Addr: netip.MustParseAddr("10.0.1.3"), Service: "idle", Network: "ovl"}
	for _, tc := range []struct {
		name string
		vips []VIP
		want []string
	}{
		{name: "none", vips: nil, want: nil},
		{name: "backends sorted and unique, a map picked by numgen", vips: []VIP{web}, want: []string{
			`nat-output: ip daddr 10.0.1.2 dnat ip to numgen random mod 2 map { 0 : 10.0.1.5, 1 : 10.0.1.7 } comment "vip service=web network=ovl addr=10.0.1.2 backends=2 sum=0ad79863"`,
		}},
		{name: "no backend rejects", vips: []VIP{idle, web}, want: []string{
			`nat-output: ip daddr 10.0.1.2 dnat ip to numgen random mod 2 map { 0 : 10.0.1.5, 1 : 10.0.1.7 } comment "vip service=web network=ovl addr=10.0.1.2 backends=2 sum=0ad79863"`,
			`filter-output: ip daddr 10.0.1.3 reject comment "vip service=idle network=ovl addr=10.0.1.3 backends=0"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var norm []VIP
			for _, v := range tc.vips {
				n, err := v.normalize()
				if err != nil {
					t.Fatal(err)
				}
				norm = append(norm, n)
			}
			if got := vipStrs(vipRules(norm)); !slices.Equal(got, tc.want) {
				t.Fatalf("rules:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	// Another backend set changes the comment, so that a sync replaces the rule.
	other := web
	other.Backends = addrs("10.0.1.5", "10.0.1.8")
	o, _ := other.normalize()
	w, _ := web.normalize()
	if vipRules([]VIP{o})[0].comment == vipRules([]VIP{w})[0].comment {
		t.Fatal("two backend sets, one comment")
	}
}

func TestVIPNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    VIP
		ok   bool
	}{
		{name: "ok", v: VIP{Addr: netip.MustParseAddr("10.0.1.2"), Service: "web", Network: "ovl"}, ok: true},
		{name: "IPv6", v: VIP{Addr: netip.MustParseAddr("fd00::2"), Service: "web", Network: "ovl"}},
		{name: "no address", v: VIP{Service: "web", Network: "ovl"}},
		{name: "no service", v: VIP{Addr: netip.MustParseAddr("10.0.1.2"), Network: "ovl"}},
		{name: "a quote in a name", v: VIP{Addr: netip.MustParseAddr("10.0.1.2"), Service: `w"b`, Network: "ovl"}},
		{name: "IPv6 backend", v: VIP{Addr: netip.MustParseAddr("10.0.1.2"), Service: "web", Network: "ovl", Backends: addrs("fd00::5")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.normalize()
			if tc.ok != (err == nil) || err != nil && !errdefs.IsInvalidArgument(err) {
				t.Fatalf("normalize: %v", err)
			}
		})
	}
}

func TestPlanVIPs(t *testing.T) {
	v := func(addr string, backends ...string) vipRule {
		n, _ := VIP{Addr: netip.MustParseAddr(addr), Service: "s" + addr, Network: "ovl", Backends: addrs(backends...)}.normalize()
		return vipRules([]VIP{n})[0]
	}
	a, a2, b := v("10.0.1.2", "10.0.1.5"), v("10.0.1.2", "10.0.1.5", "10.0.1.6"), v("10.0.1.3")
	obs := func(rs ...vipRule) observation {
		o := observation{exists: true}
		for i, r := range rs {
			o.rules = append(o.rules, installed{chain: r.chain, handle: uint64(i + 1), comment: r.comment})
		}
		return o
	}
	for _, tc := range []struct {
		name string
		obs  observation
		want []vipRule
		plan vipChange
	}{
		{name: "nothing, nothing wanted", obs: observation{}, plan: vipChange{}},
		{name: "first VIP makes the table", obs: observation{}, want: []vipRule{a},
			plan: vipChange{ensureTable: true, add: []vipRule{a}}},
		{name: "unchanged", obs: obs(a, b), want: []vipRule{a, b}, plan: vipChange{ensureTable: true}},
		{name: "a backend more replaces the rule", obs: obs(a, b), want: []vipRule{a2, b},
			plan: vipChange{ensureTable: true, del: obs(a).rules, add: []vipRule{a2}}},
		{name: "a VIP gone", obs: obs(a, b), want: []vipRule{a},
			plan: vipChange{ensureTable: true, del: obs(a, b).rules[1:]}},
		{name: "a duplicate goes", obs: obs(a, a), want: []vipRule{a},
			plan: vipChange{ensureTable: true, del: obs(a, a).rules[1:]}},
		{name: "nothing wanted takes the table", obs: obs(a, b), plan: vipChange{deleteTable: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := planVIPs(tc.obs, tc.want)
			if got.ensureTable != tc.plan.ensureTable || got.deleteTable != tc.plan.deleteTable ||
				!slices.Equal(handles(got.del), handles(tc.plan.del)) || !slices.Equal(vipStrs(got.add), vipStrs(tc.plan.add)) {
				t.Fatalf("plan %+v\nwant %+v", got, tc.plan)
			}
		})
	}
}

// TestVIPsInNamespace balances a VIP in a real namespace: three servers on addresses of the namespace answer
// their names; connections to the VIP reach several of them, follow the backends as they change, are refused
// with none, and the table goes with the last VIP. Needs root.
func TestVIPsInNamespace(t *testing.T) {
	testutil.RequiresRoot(t)
	for _, cmd := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("needs %s", cmd)
		}
	}
	tp := &topo{t: t, prefix: "bv" + randHex(t, 2)}
	ns := tp.netns("c")
	nsPath := "/run/netns/" + ns
	run(t, "ip", "-n", ns, "link", "add", "d0", "type", "bridge")
	run(t, "ip", "-n", ns, "link", "set", "d0", "up")
	run(t, "ip", "-n", ns, "addr", "add", "10.93.0.254/24", "dev", "d0")
	backends := addrs("10.93.0.5", "10.93.0.6", "10.93.0.7")
	for i, b := range backends {
		run(t, "ip", "-n", ns, "addr", "add", b.String()+"/32", "dev", "lo")
		serveTCP(t, ns, "task"+string(rune('1'+i)), netip.AddrPortFrom(b, 8080))
	}
	vip := netip.MustParseAddr("10.93.0.2")
	ctx := context.Background()
	sync := func(bs ...netip.Addr) {
		t.Helper()
		if err := SyncVIPs(ctx, nsPath, []VIP{{Addr: vip, Service: "web", Network: "ovl", Backends: bs}}); err != nil {
			t.Fatal(err)
		}
	}
	reached := func(n int) map[string]int {
		t.Helper()
		seen := map[string]int{}
		for range n {
			got, err := dial(ns, "tcp", netip.AddrPortFrom(vip, 8080), 2*time.Second)
			if err != nil {
				t.Fatalf("dial the VIP: %v\n%s", err, run(t, "nsenter", "--net="+nsPath, "nft", "list", "ruleset"))
			}
			seen[strings.Fields(got)[0]]++
		}
		return seen
	}

	sync(backends...)
	if seen := reached(30); len(seen) < 2 {
		t.Fatalf("30 connections reached %v: not balanced", seen)
	}
	// Twice is idempotent: one rule.
	sync(backends...)
	if got, err := ListVIPs(ctx, nsPath); err != nil || len(got) != 1 {
		t.Fatalf("rules after a second sync: %v, %v", got, err)
	}
	sync(backends[2])
	if seen := reached(10); len(seen) != 1 || seen["task3"] != 10 {
		t.Fatalf("one backend left, reached %v", seen)
	}
	sync()
	if _, err := dial(ns, "tcp", netip.AddrPortFrom(vip, 8080), 2*time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("a VIP without backends: %v, want connection refused", err)
	}
	if err := SyncVIPs(ctx, nsPath, nil); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "nsenter", "--net="+nsPath, "nft", "list", "ruleset"); strings.Contains(out, VIPTable) {
		t.Fatalf("left behind:\n%s", out)
	}
}

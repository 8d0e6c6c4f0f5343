package firewall

import (
	"reflect"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/nftables/expr"
)

var tun0 = Tunnel{VNI: 4097, Port: 4789, Device: "bwg0"}

func TestTunnelRules(t *testing.T) {
	got := strs(tunnelRules(tun0))
	want := []string{`input: iifname != "bwg0" udp dport 4789 @th,96,24 0x1001 drop comment "tunnel vni=4097 port=4789 device=bwg0"`}
	if !slices.Equal(got, want) {
		t.Fatalf("rules:\n%v\nwant\n%v", got, want)
	}
	// The VNI is compared as the three bytes after the VXLAN flags: 4097 is 0x001001.
	exprs := tunnelRules(tun0)[0].exprs()
	var cmp *expr.Cmp
	for i, e := range exprs {
		if p, ok := e.(*expr.Payload); ok && p.Offset == 12 && p.Len == 3 && p.Base == expr.PayloadBaseTransportHeader {
			cmp, _ = exprs[i+1].(*expr.Cmp)
		}
	}
	if cmp == nil || !reflect.DeepEqual(cmp.Data, []byte{0x00, 0x10, 0x01}) {
		t.Fatalf("no VNI match in %v", exprs)
	}
	if c, ok := parseTunnelComment(tun0.comment()); !ok || c != tun0 {
		t.Fatalf("comment round trip: %+v %t", c, ok)
	}
}

func TestTunnelNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    Tunnel
		ok   bool
	}{
		{name: "ok", t: tun0, ok: true},
		{name: "no VNI", t: Tunnel{Port: 4789, Device: "bwg0"}},
		{name: "VNI too big", t: Tunnel{VNI: 1 << 24, Port: 4789, Device: "bwg0"}},
		{name: "no port", t: Tunnel{VNI: 1, Device: "bwg0"}},
		{name: "bad device", t: Tunnel{VNI: 1, Port: 4789, Device: "a b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.t.normalize()
			if tc.ok != (err == nil) || (err != nil && !errdefs.IsInvalidArgument(err)) {
				t.Fatalf("normalize: %v", err)
			}
		})
	}
}

func TestTunnelPlan(t *testing.T) {
	static, n0, t0 := staticRules(), networkRules(net0), tunnelRules(tun0)
	t1 := tunnelRules(Tunnel{VNI: 4098, Port: 4789, Device: "bwg0"})
	for _, tc := range []struct {
		name string
		obs  observation
		plan func(observation) change
		want change
	}{
		{
			name: "first tunnel creates the table",
			obs:  observation{},
			plan: func(o observation) change { return planAddTunnel(o, tun0) },
			want: change{ensureTable: true, add: append(slices.Clone(static), t0...)},
		},
		{
			name: "again replaces its rule",
			obs:  observed(static, t0),
			plan: func(o observation) change { return planAddTunnel(o, tun0) },
			want: change{ensureTable: true, del: observed(static, t0).rules[len(static):], add: t0},
		},
		{
			name: "removing one of two",
			obs:  observed(static, t0, t1),
			plan: func(o observation) change { return planRemoveTunnel(o, tun0) },
			want: change{del: observed(static, t0).rules[len(static):]},
		},
		{
			name: "removing the last takes the table",
			obs:  observed(static, t0),
			plan: func(o observation) change { return planRemoveTunnel(o, tun0) },
			want: change{deleteTable: true},
		},
		{
			name: "removing the last tunnel keeps a network's table",
			obs:  observed(static, n0, t0),
			plan: func(o observation) change { return planRemoveTunnel(o, tun0) },
			want: change{del: observed(static, n0, t0).rules[len(static)+len(n0):]},
		},
		{
			name: "removing the last network keeps a tunnel's table",
			obs:  observed(static, n0, t0),
			plan: func(o observation) change { return planRemoveNetwork(o, "br0") },
			want: change{del: observed(static, n0).rules[len(static):]},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.plan(tc.obs)
			if got.ensureTable != tc.want.ensureTable || got.deleteTable != tc.want.deleteTable ||
				!slices.Equal(handles(got.del), handles(tc.want.del)) || !slices.Equal(strs(got.add), strs(tc.want.add)) {
				t.Fatalf("change %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

package cluster

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

func TestServiceVIPs(t *testing.T) {
	ctx := context.Background()
	s := netStore(t)
	front, err := createNetwork(ctx, s, spec("front", false, withSubnet("10.0.1.0/24", "")))
	must(t, err)
	back, err := createNetwork(ctx, s, spec("back", false, withSubnet("10.0.2.0/24", "")))
	must(t, err)
	get := func(id string) *api.Service {
		t.Helper()
		svc, err := store.Get[api.Service](ctx, s, id)
		must(t, err)
		return svc
	}
	vips := func(svc *api.Service) []string {
		var out []string
		if svc.Endpoint != nil {
			for _, v := range svc.Endpoint.VirtualIPs {
				out = append(out, v.NetworkID+"="+v.Addr.String())
			}
		}
		return out
	}
	update := func(id string, f func(*api.ServiceSpec)) *api.Service {
		t.Helper()
		cur := get(id)
		next := cur.Spec
		next.Task.Networks = slices.Clone(cur.Spec.Task.Networks)
		f(&next)
		_, err := updateService(ctx, s, id, cur.Version, next, ServiceUpdateOptions{})
		must(t, err)
		return get(id)
	}

	// vip mode (the default): one VIP per network, in the spec's order, the network named by name or ID.
	web := replicated("web", 2)
	web.Task.Networks = []api.NetworkAttachment{{Target: "front"}, {Target: back.ID, Aliases: []string{"www"}}}
	id, err := createService(ctx, s, web, "")
	must(t, err)
	want := []string{front.ID + "=10.0.1.2/24", back.ID + "=10.0.2.2/24"}
	if got := vips(get(id)); !slices.Equal(got, want) {
		t.Fatalf("VIPs %v, want %v", got, want)
	}
	if got := get(id).VIP(back.ID); got != netip.MustParsePrefix("10.0.2.2/24") {
		t.Fatalf("VIP on back: %v", got)
	}
	// dnsrr: none.
	rr := replicated("rr", 1)
	rr.Endpoint = &api.EndpointSpec{Mode: api.EndpointModeDNSRR}
	rr.Task.Networks = []api.NetworkAttachment{{Target: "front"}}
	rrID, err := createService(ctx, s, rr, "")
	must(t, err)
	if got := vips(get(rrID)); got != nil {
		t.Fatalf("dnsrr VIPs: %v", got)
	}

	for _, tc := range []struct {
		name   string
		id     string
		change func(*api.ServiceSpec)
		want   []string
		front  []string // addresses taken in front's pool afterwards
	}{
		{name: "an update keeps the VIPs", id: id, change: func(sp *api.ServiceSpec) { sp.Task.ForceUpdate++ },
			want: want, front: []string{"10.0.1.2"}},
		{name: "leaving a network releases its VIP", id: id, change: func(sp *api.ServiceSpec) { sp.Task.Networks = sp.Task.Networks[1:] },
			want: []string{back.ID + "=10.0.2.2/24"}, front: nil},
		{name: "joining one allocates one", id: id, change: func(sp *api.ServiceSpec) {
			sp.Task.Networks = append(sp.Task.Networks, api.NetworkAttachment{Target: front.ID})
		}, want: []string{back.ID + "=10.0.2.2/24", front.ID + "=10.0.1.2/24"}, front: []string{"10.0.1.2"}},
		{name: "dnsrr releases them", id: id, change: func(sp *api.ServiceSpec) { sp.Endpoint = &api.EndpointSpec{Mode: "dnsrr"} },
			want: nil, front: nil},
		{name: "vip again", id: id, change: func(sp *api.ServiceSpec) { sp.Endpoint = nil },
			want: []string{back.ID + "=10.0.2.2/24", front.ID + "=10.0.1.2/24"}, front: []string{"10.0.1.2"}},
		{name: "dnsrr to vip", id: rrID, change: func(sp *api.ServiceSpec) { sp.Endpoint.Mode = "vip" },
			want: []string{front.ID + "=10.0.1.3/24"}, front: []string{"10.0.1.2", "10.0.1.3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := vips(update(tc.id, tc.change)); !slices.Equal(got, tc.want) {
				t.Fatalf("VIPs %v, want %v", got, tc.want)
			}
			var got []string
			for _, a := range allocated(t, s, "10.0.1.0/24") {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.front) {
				t.Fatalf("front's pool holds %v, want %v", got, tc.front)
			}
		})
	}

	// A rollback goes back to the previous spec's VIPs (dnsrr: none).
	cur := get(rrID)
	if _, err := updateService(ctx, s, rrID, cur.Version, api.ServiceSpec{}, ServiceUpdateOptions{Rollback: "previous"}); err != nil {
		t.Fatal(err)
	}
	if got := vips(get(rrID)); got != nil {
		t.Fatalf("VIPs after the rollback to dnsrr: %v", got)
	}
	// Removing the services gives every address back.
	for _, sid := range []string{id, rrID} {
		if _, err := removeService(ctx, s, sid); err != nil {
			t.Fatal(err)
		}
	}
	for _, pool := range []string{"10.0.1.0/24", "10.0.2.0/24"} {
		if got := allocated(t, s, pool); len(got) != 0 {
			t.Fatalf("%s holds %v after the services went", pool, got)
		}
	}
}

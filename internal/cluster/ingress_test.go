package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

func TestIngressPorts(t *testing.T) {
	ctx := context.Background()
	s := netStore(t)
	ingressPort := func(published, target uint32) api.PortSpec {
		return api.PortSpec{Protocol: "tcp", TargetPort: target, PublishedPort: published, PublishMode: "ingress"}
	}
	withPorts := func(name string, ports ...api.PortSpec) api.ServiceSpec {
		sp := replicated(name, 2)
		sp.Endpoint = &api.EndpointSpec{Ports: ports}
		return sp
	}

	// Without an ingress network (removed, or never made), swarmkit's refusal.
	if _, err := createService(ctx, s, withPorts("early", ingressPort(8080, 80)), ""); !errors.Is(err, ErrIngressPublish) {
		t.Fatalf("ingress port without an ingress network: %v", err)
	}
	ingress, err := createNetwork(ctx, s, ingressSpec())
	must(t, err)
	if ingress.IPAM[0].Subnet != "10.0.0.0/24" || ingress.VNI() != api.FirstVNI {
		t.Fatalf("ingress network: %+v", ingress)
	}
	get := func(id string) *api.Service {
		t.Helper()
		svc, err := store.Get[api.Service](ctx, s, id)
		must(t, err)
		return svc
	}

	id, err := createService(ctx, s, withPorts("web", ingressPort(8080, 80), ingressPort(0, 443)), "")
	must(t, err)
	web := get(id)
	if web.Endpoint == nil || len(web.Endpoint.VirtualIPs) != 1 || web.Endpoint.VirtualIPs[0].NetworkID != ingress.ID ||
		web.Endpoint.VirtualIPs[0].Addr.String() != "10.0.0.2/24" {
		t.Fatalf("the service's VIP on ingress: %+v", web.Endpoint)
	}
	if got := web.Endpoint.Ports; len(got) != 2 || got[0].PublishedPort != 8080 || got[1].PublishedPort != 30000 || got[1].PublishMode != "ingress" {
		t.Fatalf("allocated ports: %+v", got)
	}
	if nets := taskNetworks(web); len(nets) != 1 || nets[0].Target != ingress.ID {
		t.Fatalf("a task's networks: %+v", nets)
	}
	if se := serviceEndpointOf(web); len(se.Ports) != 2 {
		t.Fatalf("the watch's service: %+v", se)
	}

	for _, tc := range []struct {
		name string
		spec api.ServiceSpec
		want string
	}{
		{name: "a port in use", spec: withPorts("other", ingressPort(8080, 81)), want: "port '8080' is already in use by service 'web'"},
		{name: "a dynamic port in use", spec: withPorts("other", ingressPort(30000, 81)), want: "port '30000' is already in use by service 'web'"},
		{name: "dnsrr", spec: func() api.ServiceSpec {
			sp := withPorts("rr", ingressPort(9090, 80))
			sp.Endpoint.Mode = api.EndpointModeDNSRR
			return sp
		}(), want: "port published with ingress mode can't be used with dnsrr mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := createService(ctx, s, tc.spec, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}

	// A second dynamic port skips the first's; the ingress network cannot go while published through.
	id2, err := createService(ctx, s, withPorts("api", ingressPort(0, 80)), "")
	must(t, err)
	if got := get(id2).Endpoint.Ports; got[0].PublishedPort != 30001 {
		t.Fatalf("second dynamic port: %+v", got)
	}
	if _, err := removeNetwork(ctx, s, "ingress"); err == nil || !strings.Contains(err.Error(), "is in use by service") {
		t.Fatalf("removing ingress while in use: %v", err)
	}

	// --publish-rm: the VIP and the ports go, the address goes back; an update keeps a dynamic port.
	cur := get(id)
	next := cur.Spec
	next.Endpoint = &api.EndpointSpec{Ports: []api.PortSpec{ingressPort(0, 443)}}
	_, err = updateService(ctx, s, id, cur.Version, next, ServiceUpdateOptions{})
	must(t, err)
	if got := get(id).Endpoint.Ports; len(got) != 1 || got[0].PublishedPort != 30000 {
		t.Fatalf("ports after removing one: %+v", got)
	}
	cur = get(id)
	next = cur.Spec
	next.Endpoint = nil
	_, err = updateService(ctx, s, id, cur.Version, next, ServiceUpdateOptions{})
	must(t, err)
	if ep := get(id).Endpoint; ep != nil {
		t.Fatalf("endpoint after --publish-rm: %+v", ep)
	}
	if got := allocated(t, s, "10.0.0.0/24"); len(got) != 1 {
		t.Fatalf("ingress pool holds %v, want api's VIP only", got)
	}
	must(t, func() error { _, err := removeService(ctx, s, id2); return err }())
	if got := allocated(t, s, "10.0.0.0/24"); len(got) != 0 {
		t.Fatalf("ingress pool holds %v after the services stopped publishing", got)
	}
	if _, err := removeNetwork(ctx, s, "ingress"); err != nil {
		t.Fatalf("removing ingress unused: %v", err)
	}
}

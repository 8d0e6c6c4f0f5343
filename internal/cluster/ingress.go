package cluster

import (
	"context"
	"fmt"
	"slices"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// The ingress routing mesh, the cluster's side. `swarm init` makes the `ingress` overlay network (docker's:
// Ingress set, the first subnet of the address pool — 10.0.0.0/24 by default —, VNI 4096). A service
// publishing a port in ingress mode (`-p 8080:80`, the default mode) gets a VIP on it, as on any of its
// networks, and each of its tasks an address on it; its ports, as allocated, travel to every node in the
// networks watch (ServiceEndpoint.Ports), where the node's ingress sandbox balances the node's published port
// over the running tasks' ingress addresses (docs/design.md, "The ingress routing mesh").

// IngressName is the ingress network's name, as docker's.
const IngressName = "ingress"

// IngressSandbox is the container ID under which a node attaches its ingress sandbox (docker's ingress_sbox)
// to the ingress network: the one endpoint on that network that is no task's.
const IngressSandbox = "ingress_sbox"

// dynamicPorts is swarmkit's range for ingress ports published as 0.
const dynamicPortFirst, dynamicPortLast = 30000, 32767

// ingressSpec is the ingress network swarm init makes.
func ingressSpec() api.NetworkSpec {
	return api.NetworkSpec{Annotations: api.Annotations{Name: IngressName}, Driver: &api.Driver{Name: api.DriverOverlay}, Ingress: true}
}

// isIngressPort reports whether p is published through the routing mesh (ingress, the default mode).
func isIngressPort(p api.PortSpec) bool { return p.PublishMode == "" || p.PublishMode == "ingress" }

// hasIngressPorts reports whether spec publishes a port in ingress mode.
func hasIngressPorts(spec *api.ServiceSpec) bool {
	return spec.Endpoint != nil && slices.ContainsFunc(spec.Endpoint.Ports, isIngressPort)
}

// ingressPorts are the ingress-mode ports of ps.
func ingressPorts(ps []api.PortSpec) []api.PortSpec {
	var out []api.PortSpec
	for _, p := range ps {
		if isIngressPort(p) {
			out = append(out, p)
		}
	}
	return out
}

// checkIngressSpec refuses what swarmkit refuses of ingress ports before looking at the store.
func checkIngressSpec(spec *api.ServiceSpec) error {
	if hasIngressPorts(spec) && spec.EndpointMode() == api.EndpointModeDNSRR {
		return api.RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "port published with ingress mode can't be used with dnsrr mode")
	}
	return nil
}

// ingressNetwork is the cluster's ingress network, nil when there is none (it was removed).
func ingressNetwork(ctx context.Context, r store.Reader) (*api.Network, error) {
	nets, err := store.List[api.Network](ctx, r)
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		if n.Spec.Ingress {
			return n, nil
		}
	}
	return nil, nil
}

// checkIngressNetwork refuses ingress ports in a swarm without an ingress network, in swarmkit's words.
func checkIngressNetwork(ctx context.Context, tx *store.Tx, spec *api.ServiceSpec) error {
	if !hasIngressPorts(spec) {
		return nil
	}
	n, err := ingressNetwork(ctx, tx)
	if err != nil {
		return err
	}
	if n == nil {
		return ErrIngressPublish
	}
	return nil
}

// ingressVIPNetwork is the ingress network's ID when svc publishes in ingress mode, "" otherwise.
func ingressVIPNetwork(ctx context.Context, tx *store.Tx, svc *api.Service) (string, error) {
	if !hasIngressPorts(&svc.Spec) {
		return "", nil
	}
	n, err := ingressNetwork(ctx, tx)
	if err != nil || n == nil {
		return "", err
	}
	return n.ID, nil
}

// withVIPs is ep with its VIPs replaced (nil when nothing is left).
func withVIPs(ep *api.Endpoint, vips []api.VirtualIP) *api.Endpoint {
	var out api.Endpoint
	if ep != nil {
		out = *ep
	}
	out.VirtualIPs = vips
	if len(out.VirtualIPs) == 0 && len(out.Ports) == 0 {
		return nil
	}
	return &out
}

// reconcileIngressPorts records svc's published ports as allocated on svc.Endpoint: as the spec says, except
// that an ingress port published as 0 keeps the port it had or gets the lowest free one of swarmkit's dynamic
// range (no other service's published port).
func reconcileIngressPorts(ctx context.Context, tx *store.Tx, svc *api.Service) error {
	var spec []api.PortSpec
	if svc.Spec.Endpoint != nil {
		spec = svc.Spec.Endpoint.Ports
	}
	var had []api.PortSpec
	if svc.Endpoint != nil {
		had = svc.Endpoint.Ports
	}
	var out []api.PortSpec
	var dynamic []int
	for i, p := range spec {
		if isIngressPort(p) && p.PublishedPort == 0 {
			if j := slices.IndexFunc(had, func(h api.PortSpec) bool {
				return isIngressPort(h) && h.TargetPort == p.TargetPort && protoOf(h) == protoOf(p) && h.PublishedPort >= dynamicPortFirst
			}); j >= 0 {
				p.PublishedPort = had[j].PublishedPort
			} else {
				dynamic = append(dynamic, i)
			}
		}
		if isIngressPort(p) {
			p.PublishMode = "ingress"
		}
		out = append(out, p)
	}
	if len(dynamic) > 0 {
		used := map[string]bool{}
		services, err := store.List[api.Service](ctx, tx)
		if err != nil {
			return err
		}
		for _, s := range services {
			if s.ID == svc.ID {
				continue
			}
			for _, p := range publishedPorts(s) {
				used[fmt.Sprintf("%d/%s", p.PublishedPort, protoOf(p))] = true
			}
		}
		for _, p := range out {
			used[fmt.Sprintf("%d/%s", p.PublishedPort, protoOf(p))] = true
		}
		for _, i := range dynamic {
			for port := dynamicPortFirst; port <= dynamicPortLast+1; port++ {
				if port > dynamicPortLast {
					return api.RPCError(errdefs.ErrUnavailable, "ResourceExhausted", "failed to allocate a published port: no port left in %d-%d", dynamicPortFirst, dynamicPortLast)
				}
				k := fmt.Sprintf("%d/%s", port, protoOf(out[i]))
				if !used[k] {
					used[k] = true
					out[i].PublishedPort = uint32(port)
					break
				}
			}
		}
	}
	ep := withVIPs(svc.Endpoint, nil)
	var vips []api.VirtualIP
	if svc.Endpoint != nil {
		vips = svc.Endpoint.VirtualIPs
	}
	if ep == nil {
		ep = &api.Endpoint{}
	}
	ep.VirtualIPs, ep.Ports = vips, out
	if len(ep.VirtualIPs) == 0 && len(ep.Ports) == 0 {
		ep = nil
	}
	svc.Endpoint = ep
	return nil
}

// publishedPorts are the ports svc holds: its spec's, and those allocated for it (a dynamic ingress port).
func publishedPorts(svc *api.Service) []api.PortSpec {
	var out []api.PortSpec
	if svc.Spec.Endpoint != nil {
		out = append(out, svc.Spec.Endpoint.Ports...)
	}
	if svc.Endpoint != nil {
		out = append(out, svc.Endpoint.Ports...)
	}
	return out
}

// taskNetworks are the networks a new task of svc joins: the service's, and the ingress network when it
// publishes through the mesh (the tasks' ingress addresses are the mesh's backends).
func taskNetworks(svc *api.Service) []api.NetworkAttachment {
	nets := svc.Spec.Task.Networks
	if !hasIngressPorts(&svc.Spec) || svc.Endpoint == nil {
		return nets
	}
	for _, v := range svc.Endpoint.VirtualIPs {
		if !slices.ContainsFunc(nets, func(na api.NetworkAttachment) bool { return na.Target == v.NetworkID }) {
			// The one VIP not on a network of the task spec is the ingress network's.
			return append(slices.Clone(nets), api.NetworkAttachment{Target: v.NetworkID})
		}
	}
	return nets
}

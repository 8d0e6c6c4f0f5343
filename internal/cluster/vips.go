package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// Service VIPs. A service in vip mode (the default) has one virtual IP on each network its tasks join, from
// that network's pool in the cluster IPAM, allocated in the transaction that writes the service (create,
// update, rollback) and released in the one that removes it, so that no address is ever without its owner.
// An update keeps the VIPs of the networks the service stays on (clients keep the address they resolved);
// switching to dnsrr releases them all. The nodes learn the VIPs from the networks watch (networks_rpc.go) and
// answer the service's name with them, balancing connections over the running tasks (docs/design.md, "Service
// VIPs").

// wantVIPs lists the networks (IDs) on which svc should have a VIP, in the spec's order.
func wantVIPs(svc *api.Service) []string {
	if svc.Spec.EndpointMode() != api.EndpointModeVIP {
		return nil
	}
	var out []string
	for _, na := range svc.Spec.Task.Networks {
		if !slices.Contains(out, na.Target) {
			out = append(out, na.Target)
		}
	}
	return out
}

// reconcileVIPs makes svc.Endpoint's VIPs those its spec asks for, in tx: kept where the service stays,
// allocated on new networks, released on networks it left. The caller writes svc. The spec's network targets
// are IDs (checkReferences resolved them).
func reconcileVIPs(ctx context.Context, tx *store.Tx, svc *api.Service) error {
	if err := reconcileVIPNetworks(ctx, tx, svc); err != nil {
		return err
	}
	return reconcileIngressPorts(ctx, tx, svc)
}

// reconcileVIPNetworks is reconcileVIPs for the addresses.
func reconcileVIPNetworks(ctx context.Context, tx *store.Tx, svc *api.Service) error {
	want := wantVIPs(svc)
	if id, err := ingressVIPNetwork(ctx, tx, svc); err != nil {
		return err
	} else if id != "" && !slices.Contains(want, id) {
		want = append(want, id)
	}
	var have []api.VirtualIP
	if svc.Endpoint != nil {
		have = svc.Endpoint.VirtualIPs
	}
	var keep, drop []api.VirtualIP
	for _, v := range have {
		if slices.Contains(want, v.NetworkID) {
			keep = append(keep, v)
		} else {
			drop = append(drop, v)
		}
	}
	var add []string
	for _, id := range want {
		if !slices.ContainsFunc(keep, func(v api.VirtualIP) bool { return v.NetworkID == id }) {
			add = append(add, id)
		}
	}
	if len(drop) == 0 && len(add) == 0 {
		return nil
	}
	st, _, err := loadIPAM(ctx, tx, ipamValue)
	if err != nil {
		return err
	}
	for _, v := range drop {
		n, err := store.Get[api.Network](ctx, tx, v.NetworkID)
		if errdefs.IsNotFound(err) {
			continue // the network went, and its pool with it
		}
		if err != nil {
			return err
		}
		if err := st.ReleaseAddress(networkPool(n), v.Addr.Addr()); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	for _, id := range add {
		n, err := store.Get[api.Network](ctx, tx, id)
		if err != nil {
			return err
		}
		pool := networkPool(n)
		if pool == "" {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("network %s has no subnet", n.Spec.Name))
		}
		addr, err := st.RequestAddress(pool, netip.Addr{})
		if err != nil {
			return fmt.Errorf("could not allocate a virtual IP for service %s on network %s: %w", svc.Spec.Name, n.Spec.Name, err)
		}
		prefix, _ := netip.ParsePrefix(pool)
		keep = append(keep, api.VirtualIP{NetworkID: id, Addr: netip.PrefixFrom(addr, prefix.Bits())})
	}
	// In the spec's order, as swarmkit lists them.
	slices.SortStableFunc(keep, func(a, b api.VirtualIP) int {
		return slices.Index(want, a.NetworkID) - slices.Index(want, b.NetworkID)
	})
	svc.Endpoint = withVIPs(svc.Endpoint, keep)
	return saveIPAM(tx, st)
}

// releaseVIPs gives back every VIP of a service being removed, in tx.
func releaseVIPs(ctx context.Context, tx *store.Tx, svc *api.Service) error {
	spec := svc.Spec
	spec.Task.Networks = nil
	spec.Endpoint = nil // no ingress port: the ingress VIP goes too
	gone := &api.Service{Spec: spec, Endpoint: svc.Endpoint}
	return reconcileVIPNetworks(ctx, tx, gone)
}

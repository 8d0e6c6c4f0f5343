// Package ipam owns IP address management for Berth's networks: which subnet a network gets (from the default
// address pools, or the one asked for) and which addresses inside it go to the gateway and to containers.
//
// Terms. A pool is one network's subnet, with its optional allocation range (--ip-range), its gateway and the
// addresses handed out in it; its ID is the subnet in CIDR form, which no other pool overlaps. The default pools
// are the subnets a network without --subnet may get (docker's, or daemon.json's default-address-pools). The
// State is every pool an IPAM has handed out: one value, so that a store can keep it as a file on one node or
// as one key of a cluster store, replaced with compare-and-swap.
//
// The core is pure: ChooseSubnet decides over a snapshot of prefixes in use, a Pool is a synchronous state
// machine, and State's methods apply one request to a State. Allocator is the shell: it loads the State from a
// Store, applies the request, and swaps the result in, retrying when another writer got there first. The only
// host I/O is HostPrefixes, which reads the host's routes for a local network's PoolRequest.Avoid.
//
// A network's life, roughly:
//
//	a := ipam.NewAllocator(store, ipam.WithDefaultPools(pools))
//	p, _ := a.RequestPool(ctx, ipam.PoolRequest{Avoid: hostPrefixes}) // e.g. 172.18.0.0/16, gateway 172.18.0.1
//	ip, _ := a.RequestAddress(ctx, p.ID, netip.Addr{})                  // a container's address: 172.18.0.2
//	mac := ipam.MAC(ip)
//	a.ReleaseAddress(ctx, p.ID, ip)                                     // the container left
//	a.ReleasePool(ctx, p.ID)                                            // the network is removed
package ipam

import (
	"context"
	"net/netip"
)

// PoolRequest asks for a network's pool.
type PoolRequest struct {
	// Subnet is the subnet asked for (--subnet); the zero Prefix asks for the first free subnet of the default
	// pools.
	Subnet netip.Prefix
	// IPRange (--ip-range) narrows where dynamic addresses come from; zero for the whole subnet.
	IPRange netip.Prefix
	// Gateway (--gateway); zero for the first free address of the allocation range.
	Gateway netip.Addr
	// Avoid are prefixes in use outside the IPAM (the host's routes and addresses, for a local network): a
	// subnet chosen from the default pools overlaps none of them. An explicit Subnet is not checked against them.
	Avoid []netip.Prefix
}

// PoolInfo describes a pool handed out.
type PoolInfo struct {
	ID      string // the subnet in CIDR form
	Subnet  netip.Prefix
	IPRange netip.Prefix // zero when the whole subnet is the allocation range
	Gateway netip.Addr
}

// Pools hands out subnets to networks.
type Pools interface {
	// RequestPool reserves a subnet and allocates its gateway. An explicit subnet that overlaps another pool is
	// refused (errdefs.ErrPermissionDenied, docker's 403); no free default subnet is errdefs.ErrUnavailable; a
	// malformed request is errdefs.ErrInvalidArgument with docker's "invalid network config" text.
	RequestPool(ctx context.Context, req PoolRequest) (PoolInfo, error)
	// ReleasePool returns a pool and all its addresses; an unknown pool is errdefs.ErrNotFound.
	ReleasePool(ctx context.Context, id string) error
}

// Addresses hands out addresses inside pools.
type Addresses interface {
	// RequestAddress allocates preferred (docker's --ip, anywhere in the subnet), or when it is the zero Addr
	// a free address of the allocation range. See Pool.Allocate for the errors.
	RequestAddress(ctx context.Context, poolID string, preferred netip.Addr) (netip.Addr, error)
	// ReleaseAddress frees addr; releasing a free address does nothing.
	ReleaseAddress(ctx context.Context, poolID string, addr netip.Addr) error
}

// Lister reads what an IPAM has handed out, for a daemon to reconcile it with its networks after a restart.
type Lister interface {
	// ListPools returns every pool, ordered by subnet.
	ListPools(ctx context.Context) ([]PoolInfo, error)
	// Allocated returns the addresses allocated in a pool (not the gateway), in address order.
	Allocated(ctx context.Context, poolID string) ([]netip.Addr, error)
}

// IPAM is an address manager: Allocator over a local Store on one node, over a cluster store's key for the
// networks of a cluster.
type IPAM interface {
	Pools
	Addresses
	Lister
}

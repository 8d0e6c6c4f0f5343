package ipam

import (
	"context"
	"errors"
	"net/netip"
	"slices"
)

// Allocator is an IPAM over a Store: each request loads the State, applies itself, and swaps the result in,
// starting again from a fresh load when another writer changed the state meanwhile. Several Allocators (on
// several nodes) may share one store.
type Allocator struct {
	store    Store
	defaults []netip.Prefix
}

var _ IPAM = (*Allocator)(nil)

// AllocatorOption configures an Allocator.
type AllocatorOption func(*Allocator)

// WithDefaultPools sets the subnets a network without --subnet may get, in the order tried (see SplitPools);
// docker's DefaultPools otherwise.
func WithDefaultPools(subnets []netip.Prefix) AllocatorOption {
	return func(a *Allocator) { a.defaults = slices.Clone(subnets) }
}

// NewAllocator returns an Allocator over store.
func NewAllocator(store Store, opts ...AllocatorOption) *Allocator {
	a := &Allocator{store: store, defaults: DefaultPools()}
	for _, o := range opts {
		o(a)
	}
	return a
}

// update applies fn to the stored state until the swap succeeds; an error from fn changes nothing.
func (a *Allocator) update(ctx context.Context, fn func(*State) error) error {
	for {
		s, rev, err := a.store.Load(ctx)
		if err != nil {
			return err
		}
		if err := fn(&s); err != nil {
			return err
		}
		_, err = a.store.CompareAndSwap(ctx, rev, s)
		if !errors.Is(err, ErrModified) {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// RequestPool implements Pools.
func (a *Allocator) RequestPool(ctx context.Context, req PoolRequest) (PoolInfo, error) {
	var out PoolInfo
	err := a.update(ctx, func(s *State) (err error) {
		out, err = s.RequestPool(req, a.defaults)
		return err
	})
	return out, err
}

// ReleasePool implements Pools.
func (a *Allocator) ReleasePool(ctx context.Context, id string) error {
	return a.update(ctx, func(s *State) error { return s.ReleasePool(id) })
}

// RequestAddress implements Addresses.
func (a *Allocator) RequestAddress(ctx context.Context, poolID string, preferred netip.Addr) (netip.Addr, error) {
	var out netip.Addr
	err := a.update(ctx, func(s *State) (err error) {
		out, err = s.RequestAddress(poolID, preferred)
		return err
	})
	return out, err
}

// ReleaseAddress implements Addresses.
func (a *Allocator) ReleaseAddress(ctx context.Context, poolID string, addr netip.Addr) error {
	return a.update(ctx, func(s *State) error { return s.ReleaseAddress(poolID, addr) })
}

// ListPools implements Lister.
func (a *Allocator) ListPools(ctx context.Context) ([]PoolInfo, error) {
	s, _, err := a.store.Load(ctx)
	if err != nil {
		return nil, err
	}
	return s.ListPools(), nil
}

// Allocated implements Lister.
func (a *Allocator) Allocated(ctx context.Context, poolID string) ([]netip.Addr, error) {
	s, _, err := a.store.Load(ctx)
	if err != nil {
		return nil, err
	}
	return s.Allocated(poolID)
}

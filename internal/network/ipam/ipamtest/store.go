// Package ipamtest is the conformance suite of ipam.Store: every store (the local file, the memory one, a
// cluster store's) runs it, so that an Allocator behaves the same over each.
package ipamtest

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/berth/berth/internal/network/ipam"
)

// TestStore runs the suite; open returns a new, empty store (cleaned up by the test).
func TestStore(t *testing.T, open func(t *testing.T) ipam.Store) {
	t.Run("empty", func(t *testing.T) {
		s := open(t)
		st, rev, err := s.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if rev != 0 || len(st.Pools) != 0 {
			t.Fatalf("a new store has revision %d and %d pools", rev, len(st.Pools))
		}
	})
	t.Run("swap then load", func(t *testing.T) {
		ctx := context.Background()
		s := open(t)
		st, rev, _ := s.Load(ctx)
		p, err := st.RequestPool(ipam.PoolRequest{Subnet: netip.MustParsePrefix("10.7.0.0/24")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		newRev, err := s.CompareAndSwap(ctx, rev, st)
		if err != nil {
			t.Fatal(err)
		}
		if newRev == rev {
			t.Fatalf("the revision did not change: %d", newRev)
		}
		got, gotRev, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if gotRev != newRev || len(got.Pools) != 1 || got.Pools[p.ID] == nil {
			t.Fatalf("loaded revision %d with %v, want revision %d with pool %s", gotRev, got.ListPools(), newRev, p.ID)
		}
	})
	t.Run("a stale revision changes nothing", func(t *testing.T) {
		ctx := context.Background()
		s := open(t)
		st, rev, _ := s.Load(ctx)
		st.RequestPool(ipam.PoolRequest{Subnet: netip.MustParsePrefix("10.7.0.0/24")}, nil)
		if _, err := s.CompareAndSwap(ctx, rev, st); err != nil {
			t.Fatal(err)
		}
		stale, _, _ := s.Load(ctx)
		stale.RequestPool(ipam.PoolRequest{Subnet: netip.MustParsePrefix("10.8.0.0/24")}, nil)
		if _, err := s.CompareAndSwap(ctx, rev, stale); !errors.Is(err, ipam.ErrModified) {
			t.Fatalf("swap at a stale revision: err = %v, want ErrModified", err)
		}
		got, _, _ := s.Load(ctx)
		if len(got.Pools) != 1 {
			t.Fatalf("the stale swap changed the state: %v", got.ListPools())
		}
	})
	t.Run("loads are copies", func(t *testing.T) {
		ctx := context.Background()
		s := open(t)
		st, rev, _ := s.Load(ctx)
		p, _ := st.RequestPool(ipam.PoolRequest{Subnet: netip.MustParsePrefix("10.7.0.0/24")}, nil)
		s.CompareAndSwap(ctx, rev, st)
		a, _, _ := s.Load(ctx)
		if _, err := a.RequestAddress(p.ID, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
		b, _, _ := s.Load(ctx)
		if got, _ := b.Allocated(p.ID); len(got) != 0 {
			t.Fatalf("changing a loaded state changed the store: %v", got)
		}
	})
	t.Run("concurrent allocators hand out distinct addresses", func(t *testing.T) {
		ctx := context.Background()
		s := open(t)
		a := ipam.NewAllocator(s)
		p, err := a.RequestPool(ctx, ipam.PoolRequest{Subnet: netip.MustParsePrefix("10.7.0.0/24")})
		if err != nil {
			t.Fatal(err)
		}
		const n = 40
		var wg sync.WaitGroup
		addrs := make([]netip.Addr, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A fresh Allocator per request: they share nothing but the store, like two nodes.
				addrs[i], errs[i] = ipam.NewAllocator(s).RequestAddress(ctx, p.ID, netip.Addr{})
			}()
		}
		wg.Wait()
		seen := map[netip.Addr]bool{}
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if seen[addrs[i]] {
				t.Fatalf("%s handed out twice", addrs[i])
			}
			seen[addrs[i]] = true
		}
		if got, _ := a.Allocated(ctx, p.ID); len(got) != n {
			t.Fatalf("%d addresses allocated, want %d", len(got), n)
		}
	})
}

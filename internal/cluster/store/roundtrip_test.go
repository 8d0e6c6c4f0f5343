package store_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// countingBackend counts the calls a transaction makes to its backend: each is a round trip to etcd.
type countingBackend struct {
	store.Backend
	ranges, txns atomic.Int64
}

func (c *countingBackend) Range(ctx context.Context, key string, prefix bool, rev int64) ([]store.KV, int64, error) {
	c.ranges.Add(1)
	return c.Backend.Range(ctx, key, prefix, rev)
}

func (c *countingBackend) Txn(ctx context.Context, conds []store.Cond, ops []store.Op) (bool, int64, error) {
	c.txns.Add(1)
	return c.Backend.Txn(ctx, conds, ops)
}

// The round trips of a transaction: the store's revision at its first read, then one per read (a blind write
// or an AssertAt reads nothing), then the commit; so one that only writes blind commits in one round trip.
// UpdateRev reports the revision its writes were committed at.
func TestUpdateRoundTrips(t *testing.T) {
	tests := []struct {
		name string
		// fn is the transaction's function, over a store holding task "old" (at version old).
		fn           func(tx *store.Tx, old uint64) error
		ranges, txns int64
		wrote        bool
	}{
		{name: "blind create", fn: func(tx *store.Tx, _ uint64) error {
			return store.CreateFresh(tx, &api.Task{ID: "new"})
		}, ranges: 0, txns: 1, wrote: true},
		{name: "blind put and delete", fn: func(tx *store.Tx, old uint64) error {
			if err := store.PutAt(tx, &api.Task{ID: "old", Meta: api.Meta{Version: old}, DesiredState: api.TaskShutdown}); err != nil {
				return err
			}
			return store.CreateFresh(tx, &api.Task{ID: "new"})
		}, ranges: 0, txns: 1, wrote: true},
		{name: "assert and create", fn: func(tx *store.Tx, old uint64) error {
			if err := store.AssertAt(tx, api.KindTask, "old", old); err != nil {
				return err
			}
			return store.CreateFresh(tx, &api.Task{ID: "new"})
		}, ranges: 0, txns: 1, wrote: true},
		{name: "read then write", fn: func(tx *store.Tx, _ uint64) error {
			t, err := store.Get[api.Task](context.Background(), tx, "old")
			if err != nil {
				return err
			}
			t.DesiredState = api.TaskShutdown
			return store.Put(tx, t)
		}, ranges: 3, txns: 1, wrote: true}, // the revision, then the task (by Get and by Put)
		{name: "two reads", fn: func(tx *store.Tx, _ uint64) error {
			if _, err := store.Get[api.Task](context.Background(), tx, "old"); err != nil {
				return err
			}
			_, err := store.List[api.Task](context.Background(), tx)
			return err
		}, ranges: 3, txns: 0}, // the revision once
		{name: "nothing", fn: func(*store.Tx, uint64) error { return nil }, ranges: 0, txns: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := &countingBackend{Backend: store.NewMemoryBackend()}
			s := store.New(b)
			old := &api.Task{ID: "old", DesiredState: api.TaskRunning}
			if err := s.Update(ctx, func(tx *store.Tx) error { return store.CreateFresh(tx, old) }); err != nil {
				t.Fatal(err)
			}
			b.ranges.Store(0)
			b.txns.Store(0)
			rev, err := s.UpdateRev(ctx, func(tx *store.Tx) error { return tc.fn(tx, old.Version) })
			if err != nil {
				t.Fatal(err)
			}
			if got := b.ranges.Load(); got != tc.ranges {
				t.Errorf("reads: %d, want %d", got, tc.ranges)
			}
			if got := b.txns.Load(); got != tc.txns {
				t.Errorf("commits: %d, want %d", got, tc.txns)
			}
			if !tc.wrote {
				if rev != 0 {
					t.Errorf("revision %d for a transaction that wrote nothing", rev)
				}
				return
			}
			v, err := s.View(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rev == 0 || rev != v.Rev() {
				t.Errorf("committed at revision %d, the store is at %d", rev, v.Rev())
			}
			got, err := store.Get[api.Task](ctx, v, "old")
			if err != nil {
				t.Fatal(err)
			}
			if got.DesiredState == api.TaskShutdown && got.Version != uint64(rev) {
				t.Errorf("the task written is at version %d, the commit at %d", got.Version, rev)
			}
		})
	}
}

// AssertAt is a read checked at commit: a transaction that asserted a version the object no longer has
// conflicts, and its function runs again.
func TestAssertAt(t *testing.T) {
	ctx := context.Background()
	s := store.New(store.NewMemoryBackend())
	old := &api.Task{ID: "old", DesiredState: api.TaskRunning}
	if err := s.Update(ctx, func(tx *store.Tx) error { return store.CreateFresh(tx, old) }); err != nil {
		t.Fatal(err)
	}
	stale := old.Version
	if err := s.Update(ctx, func(tx *store.Tx) error {
		return store.PutAt(tx, &api.Task{ID: "old", Meta: api.Meta{Version: stale}, DesiredState: api.TaskShutdown})
	}); err != nil {
		t.Fatal(err)
	}
	runs := 0
	err := s.Update(ctx, func(tx *store.Tx) error {
		runs++
		if runs > 1 {
			return errors.New("conflicted")
		}
		if err := store.AssertAt(tx, api.KindTask, "old", stale); err != nil {
			return err
		}
		return store.CreateFresh(tx, &api.Task{ID: "new"})
	})
	if err == nil || err.Error() != "conflicted" {
		t.Fatalf("a stale assertion committed: %v after %d runs", err, runs)
	}
	if _, err := store.Get[api.Task](ctx, s, "new"); err == nil {
		t.Error("the write of a transaction whose assertion failed was committed")
	}
	if err := s.Update(ctx, func(tx *store.Tx) error { return store.AssertAt(tx, api.KindTask, "old", 0) }); err == nil {
		t.Error("AssertAt without a version was accepted")
	}
}

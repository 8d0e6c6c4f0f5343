// Package storetest is the conformance suite of the cluster store: what every store.Backend (etcd's, memory's)
// must do, checked through the typed store.Store over it. A backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Backend { return newBackend(t) })
//	}
//
// Each test gets a fresh, empty backend. A backend that can compact its history (Compactor) also runs the
// tests of reads and watches at compacted revisions. Modelled on containerd's core/snapshots/testsuite.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// Opener makes a fresh, empty backend; the suite closes it.
type Opener func(t *testing.T) store.Backend

// Compactor is a backend that can drop its history before a revision.
type Compactor interface {
	Compact(ctx context.Context, rev int64) error
}

// Run runs every conformance test against backends made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.Store)
	}{
		{"CreateGetList", testCreateGetList},
		{"NotFoundAndExists", testNotFoundAndExists},
		{"CompareAndSwap", testCompareAndSwap},
		{"UniqueNames", testUniqueNames},
		{"TransactionAtomic", testTransactionAtomic},
		{"TransactionSeesOwnWrites", testTransactionSeesOwnWrites},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConflictingListAndCreate", testConflictingListAndCreate},
		{"ViewIsASnapshot", testViewIsASnapshot},
		{"WatchReplaysHistory", testWatchReplaysHistory},
		{"WatchLive", testWatchLive},
		{"WatchCompletesRevisions", testWatchCompletesRevisions},
		{"PrefixesIsolate", testPrefixesIsolate},
		{"Compacted", testCompacted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t)
			t.Cleanup(func() { b.Close() })
			tc.fn(t, store.New(b))
		})
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func node(id string) *api.Node {
	return &api.Node{ID: id, Spec: api.NodeSpec{DesiredRole: api.RoleWorker, Availability: api.AvailabilityActive},
		Description: api.NodeDescription{Hostname: "host-" + id}, Status: api.NodeStatus{State: api.NodeStateReady}}
}

func create(t *testing.T, s *store.Store, objs ...api.Object) {
	t.Helper()
	if err := s.Update(ctxT(t), func(tx *store.Tx) error {
		for _, o := range objs {
			if err := store.Create(tx, o); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("create: %v", err)
	}
}

func testCreateGetList(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	a, b := node("a"), node("b")
	create(t, s, b, a)
	if a.Version == 0 || a.Version != b.Version {
		t.Fatalf("versions after one transaction: %d and %d, want the same non-zero revision", a.Version, b.Version)
	}
	got, err := store.Get[api.Node](ctx, s, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Description.Hostname != "host-a" || got.Version != a.Version || got.CreatedAt.IsZero() || !got.CreatedAt.Equal(got.UpdatedAt) {
		t.Fatalf("got %+v", got)
	}
	all, err := store.List[api.Node](ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != "a" || all[1].ID != "b" {
		t.Fatalf("list: %v", ids(all))
	}
	if cl, err := store.List[api.Cluster](ctx, s); err != nil || len(cl) != 0 {
		t.Fatalf("clusters: %v, %v", cl, err)
	}
}

func ids(ns []*api.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

func testNotFoundAndExists(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	if _, err := store.Get[api.Node](ctx, s, "nope"); !errdefs.IsNotFound(err) {
		t.Fatalf("get missing: %v", err)
	}
	create(t, s, node("a"))
	err := s.Update(ctx, func(tx *store.Tx) error { return store.Create(tx, node("a")) })
	if !errdefs.IsAlreadyExists(err) {
		t.Fatalf("create existing: %v", err)
	}
	err = s.Update(ctx, func(tx *store.Tx) error { return store.Delete(tx, api.KindNode, "nope") })
	if !errdefs.IsNotFound(err) {
		t.Fatalf("delete missing: %v", err)
	}
	err = s.Update(ctx, func(tx *store.Tx) error { return store.Put(tx, node("nope")) })
	if !errdefs.IsNotFound(err) {
		t.Fatalf("put missing: %v", err)
	}
}

func testCompareAndSwap(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	create(t, s, node("a"))
	n, err := store.Get[api.Node](ctx, s, "a")
	if err != nil {
		t.Fatal(err)
	}
	stale := *n
	n.Spec.Availability = api.AvailabilityDrain
	old := n.Version
	if err := s.Update(ctx, func(tx *store.Tx) error { return store.Put(tx, n) }); err != nil {
		t.Fatal(err)
	}
	if n.Version <= old {
		t.Fatalf("version did not advance: %d -> %d", old, n.Version)
	}
	stale.Spec.Availability = api.AvailabilityPause
	err = s.Update(ctx, func(tx *store.Tx) error { return store.Put(tx, &stale) })
	if !errors.Is(err, store.ErrOutOfSequence) || !errdefs.IsConflict(err) {
		t.Fatalf("stale put: %v", err)
	}
	got, _ := store.Get[api.Node](ctx, s, "a")
	if got.Spec.Availability != api.AvailabilityDrain || got.Version != n.Version {
		t.Fatalf("after a refused put: %+v", got.Spec)
	}
	if !got.UpdatedAt.After(got.CreatedAt) && !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Fatalf("UpdatedAt %v before CreatedAt %v", got.UpdatedAt, got.CreatedAt)
	}
}

func service(id, name string) *api.Service {
	return &api.Service{ID: id, Spec: api.ServiceSpec{Annotations: api.Annotations{Name: name}, Mode: api.ModeReplicated}}
}

func testUniqueNames(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	create(t, s, service("s1", "web"))
	err := s.Update(ctx, func(tx *store.Tx) error { return store.Create(tx, service("s2", "web")) })
	if !errors.Is(err, store.ErrNameConflict) || !errdefs.IsAlreadyExists(err) {
		t.Fatalf("second web: %v", err)
	}
	if _, err := store.Get[api.Service](ctx, s, "s2"); !errdefs.IsNotFound(err) {
		t.Fatalf("the refused service was stored: %v", err)
	}
	// Names are per kind.
	create(t, s, &api.Secret{ID: "x1", Spec: api.SecretSpec{Annotations: api.Annotations{Name: "web"}}})
	got, err := store.GetByName[api.Service](ctx, s, "web")
	if err != nil || got.ID != "s1" {
		t.Fatalf("by name: %v, %v", got, err)
	}
	// A rename frees the old name and takes the new one.
	got.Spec.Name = "api"
	if err := s.Update(ctx, func(tx *store.Tx) error { return store.Put(tx, got) }); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetByName[api.Service](ctx, s, "web"); !errdefs.IsNotFound(err) {
		t.Fatalf("old name still taken: %v", err)
	}
	create(t, s, service("s2", "web"))
	clash, _ := store.Get[api.Service](ctx, s, "s2")
	clash.Spec.Name = "api"
	if err := s.Update(ctx, func(tx *store.Tx) error { return store.Put(tx, clash) }); !errors.Is(err, store.ErrNameConflict) {
		t.Fatalf("rename onto a taken name: %v", err)
	}
	// A delete frees the name.
	if err := s.Update(ctx, func(tx *store.Tx) error { return store.Delete(tx, api.KindService, "s1") }); err != nil {
		t.Fatal(err)
	}
	create(t, s, service("s3", "api"))
}

func testTransactionAtomic(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	create(t, s, node("taken"))
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx *store.Tx) error {
		if err := store.Create(tx, node("a")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	err = s.Update(ctx, func(tx *store.Tx) error {
		if err := store.Create(tx, node("b")); err != nil {
			return err
		}
		return store.Create(tx, node("taken"))
	})
	if !errdefs.IsAlreadyExists(err) {
		t.Fatalf("err %v", err)
	}
	all, _ := store.List[api.Node](ctx, s)
	if len(all) != 1 {
		t.Fatalf("half-applied transactions left %v", ids(all))
	}
}

func testTransactionSeesOwnWrites(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	create(t, s, node("a"), node("b"))
	err := s.Update(ctx, func(tx *store.Tx) error {
		if err := store.Create(tx, node("c")); err != nil {
			return err
		}
		if err := store.Delete(tx, api.KindNode, "a"); err != nil {
			return err
		}
		n, err := store.Get[api.Node](ctx, tx, "b")
		if err != nil {
			return err
		}
		n.Spec.Availability = api.AvailabilityPause
		if err := store.Put(tx, n); err != nil {
			return err
		}
		again, err := store.Get[api.Node](ctx, tx, "b")
		if err != nil || again.Spec.Availability != api.AvailabilityPause {
			return fmt.Errorf("own put not seen: %v %v", again, err)
		}
		if _, err := store.Get[api.Node](ctx, tx, "a"); !errdefs.IsNotFound(err) {
			return fmt.Errorf("own delete not seen: %v", err)
		}
		all, err := store.List[api.Node](ctx, tx)
		if err != nil {
			return err
		}
		if got := fmt.Sprint(ids(all)); got != "[b c]" {
			return fmt.Errorf("list in the transaction: %s", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testConcurrentUpdates(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	create(t, s, node("counter"))
	const workers, each = 6, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				err := s.Update(ctx, func(tx *store.Tx) error {
					n, err := store.Get[api.Node](ctx, tx, "counter")
					if err != nil {
						return err
					}
					c, _ := strconv.Atoi(n.Spec.Labels["count"])
					if n.Spec.Labels == nil {
						n.Spec.Labels = map[string]string{}
					}
					n.Spec.Labels["count"] = strconv.Itoa(c + 1)
					return store.Put(tx, n)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n, _ := store.Get[api.Node](ctx, s, "counter")
	if n.Spec.Labels["count"] != strconv.Itoa(workers*each) {
		t.Fatalf("count %s, want %d: an update was lost", n.Spec.Labels["count"], workers*each)
	}
}

// A transaction that listed a kind conflicts with a concurrent create of that kind: "create if fewer than N"
// holds.
func testConflictingListAndCreate(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	runs := 0
	err := s.Update(ctx, func(tx *store.Tx) error {
		runs++
		all, err := store.List[api.Node](ctx, tx)
		if err != nil {
			return err
		}
		if runs == 1 {
			// Someone else creates a node after our read.
			create(t, s, node("other"))
		}
		if len(all) >= 1 {
			return nil // full: create nothing
		}
		return store.Create(tx, node("mine"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Fatalf("the function ran %d times, want 2 (one conflict)", runs)
	}
	all, _ := store.List[api.Node](ctx, s)
	if got := fmt.Sprint(ids(all)); got != "[other]" {
		t.Fatalf("nodes %s", got)
	}
}

func testViewIsASnapshot(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	create(t, s, node("a"))
	v, err := s.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	create(t, s, node("b"))
	if err := s.Update(ctx, func(tx *store.Tx) error { return store.Delete(tx, api.KindNode, "a") }); err != nil {
		t.Fatal(err)
	}
	all, err := store.List[api.Node](ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ids(all)); got != "[a]" {
		t.Fatalf("view at %d lists %s", v.Rev(), got)
	}
	if _, err := store.Get[api.Node](ctx, v, "a"); err != nil {
		t.Fatal(err)
	}
	now, _ := store.List[api.Node](ctx, s)
	if got := fmt.Sprint(ids(now)); got != "[b]" {
		t.Fatalf("latest lists %s", got)
	}
}

func collect(t *testing.T, w *store.Watcher, n int) []store.Event {
	t.Helper()
	var out []store.Event
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch ended after %d events: %v", len(out), w.Err())
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("%d events of %d after 20s", len(out), n)
		}
	}
	return out
}

func describe(evs []store.Event) string {
	s := ""
	for _, e := range evs {
		s += fmt.Sprintf("%s %s %s;", e.Action, e.Kind, e.ID)
	}
	return s
}

func testWatchReplaysHistory(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	v, _ := s.View(ctx)
	create(t, s, node("a"))
	create(t, s, service("s1", "web"))
	n, _ := store.Get[api.Node](ctx, s, "a")
	n.Spec.Availability = api.AvailabilityDrain
	if err := s.Update(ctx, func(tx *store.Tx) error { return store.Put(tx, n) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *store.Tx) error { return store.Delete(tx, api.KindNode, "a") }); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	all := collect(t, s.Watch(wctx, v.Rev()), 4)
	if got := describe(all); got != "create nodes a;create services s1;update nodes a;remove nodes a;" {
		t.Fatalf("events: %s", got)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Rev <= all[i-1].Rev {
			t.Fatalf("revisions out of order: %d then %d", all[i-1].Rev, all[i].Rev)
		}
	}
	if upd := all[2].Object.(*api.Node); upd.Spec.Availability != api.AvailabilityDrain || upd.Version != uint64(all[2].Rev) {
		t.Fatalf("update carries %+v", upd)
	}
	if rm := all[3].Object.(*api.Node); rm.Description.Hostname != "host-a" {
		t.Fatalf("removal carries %+v, want the removed node", rm)
	}
	nodesOnly := collect(t, s.Watch(wctx, v.Rev(), api.KindNode), 3)
	if got := describe(nodesOnly); got != "create nodes a;update nodes a;remove nodes a;" {
		t.Fatalf("node events: %s", got)
	}
}

func testWatchLive(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	v, _ := s.View(ctx)
	wctx, cancel := context.WithCancel(ctx)
	w := s.Watch(wctx, v.Rev(), api.KindNode)
	errc := make(chan error, 1)
	go func() { errc <- s.Update(ctx, func(tx *store.Tx) error { return store.Create(tx, node("late")) }) }()
	evs := collect(t, w, 1)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if evs[0].ID != "late" || evs[0].Action != store.ActionCreate {
		t.Fatalf("got %s", describe(evs))
	}
	cancel()
	for range w.Events() {
	}
	if w.Err() != nil {
		t.Fatalf("a watch ended by its context reports %v", w.Err())
	}
}

// A transaction's changes are one revision delivered as several events: only the last the watcher takes of
// it is Complete, also when the revision's last change is of a kind the watcher does not follow.
func testWatchCompletesRevisions(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	v, _ := s.View(ctx)
	w := s.Watch(ctx, v.Rev(), api.KindTask)
	if err := s.Update(ctx, func(tx *store.Tx) error {
		for _, id := range []string{"t1", "t2", "t3"} {
			if err := store.CreateFresh(tx, &api.Task{ID: id}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *store.Tx) error {
		if err := store.CreateFresh(tx, &api.Task{ID: "t4"}); err != nil {
			return err
		}
		return store.Create(tx, node("n1"))
	}); err != nil {
		t.Fatal(err)
	}
	evs := collect(t, w, 4)
	var got []string
	for _, ev := range evs {
		got = append(got, fmt.Sprintf("%s@%d:%v", ev.ID, ev.Rev-v.Rev(), ev.Complete))
	}
	// Within a revision the backend orders keys as it likes: compare the revisions and where they end.
	want := []string{"@1:false", "@1:false", "@1:true", "t4@2:true"}
	for i := range want {
		if i < 3 {
			got[i] = got[i][2:] // drop the task ID
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func testPrefixesIsolate(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	other := store.New(s.Backend(), store.WithPrefix("/other/"))
	create(t, s, node("a"))
	create(t, other, node("b"))
	mine, _ := store.List[api.Node](ctx, s)
	theirs, _ := store.List[api.Node](ctx, other)
	if fmt.Sprint(ids(mine)) != "[a]" || fmt.Sprint(ids(theirs)) != "[b]" {
		t.Fatalf("mine %v, theirs %v", ids(mine), ids(theirs))
	}
}

func testCompacted(t *testing.T, s *store.Store) {
	c, ok := s.Backend().(Compactor)
	if !ok {
		t.Skip("backend cannot compact")
	}
	ctx := ctxT(t)
	v, _ := s.View(ctx)
	create(t, s, node("a"))
	create(t, s, node("b"))
	now, _ := s.View(ctx)
	if err := c.Compact(ctx, now.Rev()); err != nil {
		t.Fatal(err)
	}
	if _, err := store.List[api.Node](ctx, v); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("read at a compacted revision: %v", err)
	}
	w := s.Watch(ctx, v.Rev())
	for range w.Events() {
		t.Fatal("events from a compacted revision")
	}
	if !errors.Is(w.Err(), store.ErrCompacted) {
		t.Fatalf("watch from a compacted revision ended with %v", w.Err())
	}
	// The present is still readable and watchable.
	all, err := store.List[api.Node](ctx, now)
	if err != nil || len(all) != 2 {
		t.Fatalf("after compaction: %v, %v", ids(all), err)
	}
}

package store

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth/berth/internal/cluster/api"
)

// countingBackend counts the backend watches opened and those still open. It hands on each revision's events as
// a response of their own: a backend may batch several transactions into one response when its reader is late
// (the memory backend does under load), and the hub makes a cell of each response, so without this how far
// behind a watcher falls, counted at cell ends, would depend on the machine's load.
type countingBackend struct {
	Backend
	opened, open atomic.Int64
}

func (b *countingBackend) Watch(ctx context.Context, prefix string, after int64) <-chan WatchResponse {
	b.opened.Add(1)
	b.open.Add(1)
	in := b.Backend.Watch(ctx, prefix, after)
	out := make(chan WatchResponse)
	go func() {
		defer b.open.Add(-1)
		defer close(out)
		for r := range in {
			for _, one := range byRevision(r) {
				select {
				case out <- one:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}

// byRevision splits a response into one per revision (an error response stays whole).
func byRevision(r WatchResponse) []WatchResponse {
	if r.Err != nil || len(r.Events) < 2 {
		return []WatchResponse{r}
	}
	var out []WatchResponse
	for i, e := range r.Events {
		if i > 0 && r.Events[i-1].KV.ModRev == e.KV.ModRev {
			out[len(out)-1].Events = append(out[len(out)-1].Events, e)
			continue
		}
		out = append(out, WatchResponse{Events: []KVEvent{e}})
	}
	return out
}

// eventually waits (up to a generous bound, not a timing assertion) for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not so after 20s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func putNodes(t *testing.T, s *Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Update(context.Background(), func(tx *Tx) error {
			return Create(tx, &api.Node{ID: fmt.Sprintf("n%03d", i)})
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// take reads n events from w.
func take(t *testing.T, w *Watcher, n int) []Event {
	t.Helper()
	var out []Event
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch ended after %d of %d events: %v", len(out), n, w.Err())
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("%d of %d events after 20s", len(out), n)
		}
	}
	return out
}

func ids(evs []Event) string {
	s := ""
	for _, e := range evs {
		s += e.ID + " "
	}
	return s
}

func want(from, n int) string {
	s := ""
	for i := from; i < from+n; i++ {
		s += fmt.Sprintf("n%03d ", i)
	}
	return s
}

func TestSharedWatch(t *testing.T) {
	tests := []struct {
		name   string
		retain int
		maxLag uint64
		run    func(t *testing.T, ctx context.Context, s *Store, b *countingBackend)
	}{
		{
			// Watchers that started apart end up on the one backend watch of the hub, and each change is
			// decoded once: every watcher gets the same object.
			name: "watchers share one watch and one decode", retain: hubRetain, maxLag: hubMaxLag,
			run: func(t *testing.T, ctx context.Context, s *Store, b *countingBackend) {
				v0, _ := s.View(ctx)
				a := s.Watch(ctx, v0.Rev(), api.KindNode)
				putNodes(t, s, 0, 3)
				v1, _ := s.View(ctx)
				c := s.Watch(ctx, v1.Rev())
				if got := ids(take(t, a, 3)); got != want(0, 3) {
					t.Fatalf("first watcher: %s", got)
				}
				// Writes until both have joined the hub: then its watch is the only one open.
				i := 3
				eventually(t, "one backend watch open", func() bool {
					putNodes(t, s, i, 1)
					i++
					return b.open.Load() == 1
				})
				take(t, a, i-3)
				take(t, c, i-3)
				putNodes(t, s, i, 2)
				ea, ec := take(t, a, 2), take(t, c, 2)
				for k := range ea {
					if ea[k].Object != ec[k].Object || ea[k].Rev != ec[k].Rev {
						t.Fatalf("change %d: %p at %d and %p at %d, want one object", k, ea[k].Object, ea[k].Rev, ec[k].Object, ec[k].Rev)
					}
				}
				if n := ea[1].Object.(*api.Node); n.ID != fmt.Sprintf("n%03d", i+1) || n.Version != uint64(ea[1].Rev) {
					t.Fatalf("last change carries %+v", n)
				}
			},
		},
		{
			// A watcher from a revision older than the hub keeps: every change in order from its own watch,
			// then on the hub's.
			name: "a watcher behind the hub catches up then joins", retain: 2, maxLag: hubMaxLag,
			run: func(t *testing.T, ctx context.Context, s *Store, b *countingBackend) {
				v0, _ := s.View(ctx)
				early := s.Watch(ctx, v0.Rev()) // starts the hub
				putNodes(t, s, 0, 10)
				take(t, early, 10)
				late := s.Watch(ctx, v0.Rev())
				if got := ids(take(t, late, 10)); got != want(0, 10) {
					t.Fatalf("late watcher: %s", got)
				}
				i := 10
				eventually(t, "the late watcher on the hub", func() bool {
					putNodes(t, s, i, 1)
					i++
					return b.open.Load() == 1
				})
				if got := ids(take(t, late, i-10)); got != want(10, i-10) {
					t.Fatalf("late watcher after joining: %s", got)
				}
			},
		},
		{
			// A watcher that reads nothing for a while leaves the chain past maxLag, and still gets every
			// change in order, without an error, while another keeps up on the hub.
			name: "a slow watcher leaves the chain and loses nothing", retain: 4, maxLag: 4,
			run: func(t *testing.T, ctx context.Context, s *Store, b *countingBackend) {
				v0, _ := s.View(ctx)
				fast := s.Watch(ctx, v0.Rev())
				slow := s.Watch(ctx, v0.Rev())
				i := 0
				eventually(t, "both on the hub", func() bool {
					putNodes(t, s, i, 1)
					i++
					return b.open.Load() == 1
				})
				take(t, fast, i)
				take(t, slow, i)
				before := b.opened.Load()
				// More than the watcher's channel (64) and maxLag: it falls behind the chain.
				putNodes(t, s, i, 200)
				if got := ids(take(t, fast, 200)); got != want(i, 200) {
					t.Fatalf("fast watcher: %s", got)
				}
				if got := ids(take(t, slow, 200)); got != want(i, 200) {
					t.Fatalf("slow watcher: %s", got)
				}
				if b.opened.Load() == before {
					t.Fatal("the slow watcher never left the chain (no backend watch of its own)")
				}
			},
		},
		{
			// A change is decoded by the first watcher that wants its kind: one of a kind no watcher wants is
			// never decoded (here, bytes that are no task make only the task watcher fail).
			name: "a change is decoded only for a watcher of its kind", retain: hubRetain, maxLag: hubMaxLag,
			run: func(t *testing.T, ctx context.Context, s *Store, b *countingBackend) {
				v0, _ := s.View(ctx)
				nodes := s.Watch(ctx, v0.Rev(), api.KindNode)
				i := 0
				eventually(t, "the node watcher on the hub", func() bool {
					putNodes(t, s, i, 1)
					i++
					return b.open.Load() == 1
				})
				take(t, nodes, i)
				v1, _ := s.View(ctx)
				tasks := s.Watch(ctx, v1.Rev(), api.KindTask)
				if ok, _, err := b.Txn(ctx, nil, []Op{{Key: s.objectKey(api.KindTask, "bad"), Value: []byte("{not json")}}); !ok || err != nil {
					t.Fatalf("writing a bad task: %v, %v", ok, err)
				}
				putNodes(t, s, i, 1)
				if got := ids(take(t, nodes, 1)); got != want(i, 1) {
					t.Fatalf("node watcher after a bad task: %s", got)
				}
				for range tasks.Events() {
				}
				if err := tasks.Err(); err == nil || !strings.Contains(err.Error(), "decoding") {
					t.Fatalf("task watcher ended with %v, want a decoding error", err)
				}
			},
		},
		{
			// The last watcher to go stops the hub's backend watch; closing the store ends the watchers
			// with an error.
			name: "the hub lives as long as its watchers", retain: hubRetain, maxLag: hubMaxLag,
			run: func(t *testing.T, ctx context.Context, s *Store, b *countingBackend) {
				wctx, cancel := context.WithCancel(ctx)
				v0, _ := s.View(ctx)
				a, c := s.Watch(wctx, v0.Rev()), s.Watch(wctx, v0.Rev())
				putNodes(t, s, 0, 1)
				take(t, a, 1)
				take(t, c, 1)
				cancel()
				for range a.Events() {
				}
				for range c.Events() {
				}
				if a.Err() != nil || c.Err() != nil {
					t.Fatalf("watchers whose context ended: %v, %v; want no error", a.Err(), c.Err())
				}
				eventually(t, "no backend watch open", func() bool { return b.open.Load() == 0 })

				d := s.Watch(ctx, v0.Rev())
				take(t, d, 1)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				for range d.Events() {
				}
				if d.Err() == nil {
					t.Fatal("a watcher of a closed store ended without an error")
				}
				eventually(t, "no backend watch open after close", func() bool { return b.open.Load() == 0 })
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b := &countingBackend{Backend: NewMemoryBackend()}
			s := New(b)
			s.hubOpts = hubOptions{retain: tc.retain, maxLag: tc.maxLag}
			defer s.Close()
			tc.run(t, ctx, s, b)
		})
	}
}

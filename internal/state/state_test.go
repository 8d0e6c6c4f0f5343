package state_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/state"
)

func TestRevisionsAndSnapshots(t *testing.T) {
	s := state.New[string]()
	if r := s.Put("a", "1"); r != 1 {
		t.Fatalf("first put at revision %d", r)
	}
	s.Put("b", "1")
	snap := s.Snapshot()
	s.Put("a", "2")
	if r := s.Delete("b"); r != 4 {
		t.Fatalf("delete at revision %d", r)
	}
	if r := s.Delete("missing"); r != 0 {
		t.Fatalf("delete of nothing at revision %d", r)
	}
	// The snapshot still shows revision 2, whatever happened since.
	if snap.Rev != 2 || snap.Len() != 2 {
		t.Fatalf("snapshot rev %d len %d", snap.Rev, snap.Len())
	}
	if v, _, _ := snap.Get("a"); v != "1" {
		t.Errorf("snapshot a = %q", v)
	}
	if got := fmt.Sprint(snap.List()); got != "[1 1]" {
		t.Errorf("snapshot list %s", got)
	}
	v, meta, ok := s.Get("a")
	if !ok || v != "2" || meta.CreateRev != 1 || meta.ModRev != 3 {
		t.Errorf("a = %q %+v %v", v, meta, ok)
	}
	if _, _, ok := s.Get("b"); ok {
		t.Error("b still there")
	}
	if s.Snapshot() != s.Snapshot() {
		t.Error("snapshots of an unchanged store are not shared")
	}
}

// collect reads n changes from w or fails.
func collect(t *testing.T, w *state.Watch[int], n int) []state.Change[int] {
	t.Helper()
	var out []state.Change[int]
	for len(out) < n {
		select {
		case c, ok := <-w.Changes():
			if !ok {
				t.Fatalf("watch ended after %d changes: %v", len(out), w.Err())
			}
			out = append(out, c)
		case <-time.After(5 * time.Second):
			t.Fatalf("timed out after %d changes", len(out))
		}
	}
	return out
}

func TestWatch(t *testing.T) {
	tests := []struct {
		name    string
		history int
		// before: puts before the watch starts; from: the watch's start revision; after: puts after it.
		before, after int
		from          int64
		want          []int64 // revisions delivered
		wantErr       error   // how the watch ends once it has delivered want
	}{
		{name: "from now", history: 8, before: 3, from: 0, after: 2, want: []int64{4, 5}},
		{name: "replay from a revision", history: 8, before: 5, from: 2, after: 1, want: []int64{3, 4, 5, 6}},
		{name: "replay the whole history", history: 4, before: 6, from: 2, want: []int64{3, 4, 5, 6}},
		{name: "compacted", history: 4, before: 6, from: 1, wantErr: state.ErrCompacted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := state.New[int](state.WithHistory(tt.history))
			for i := range tt.before {
				s.Put(fmt.Sprint(i%3), i)
			}
			w := s.Watch(tt.from)
			defer w.Stop()
			for i := range tt.after {
				s.Put("x", i)
			}
			got := collect(t, w, len(tt.want))
			for i, c := range got {
				if c.Rev != tt.want[i] {
					t.Fatalf("change %d at revision %d, want %d", i, c.Rev, tt.want[i])
				}
			}
			if tt.wantErr != nil {
				if _, ok := <-w.Changes(); ok {
					t.Fatal("watch went on")
				}
				if !errors.Is(w.Err(), tt.wantErr) {
					t.Fatalf("watch ended with %v, want %v", w.Err(), tt.wantErr)
				}
			}
		})
	}
}

// A consumer that stops reading while more changes than the history happen is told it fell behind, and the
// changes it did get are in order without gaps.
func TestWatchFellBehind(t *testing.T) {
	s := state.New[int](state.WithHistory(4))
	w := s.Watch(0)
	defer w.Stop()
	s.Put("a", 1)
	first := collect(t, w, 1)
	for i := range 10 {
		s.Put("a", i)
	}
	last := first[0].Rev
	for c := range w.Changes() {
		if c.Rev != last+1 {
			t.Fatalf("gap: %d after %d", c.Rev, last)
		}
		last = c.Rev
	}
	if !errors.Is(w.Err(), state.ErrFellBehind) {
		t.Fatalf("ended with %v, want fell behind", w.Err())
	}
}

func TestWatchDeleteAndStop(t *testing.T) {
	s := state.New[int]()
	s.Put("a", 7)
	w := s.Watch(0)
	s.Delete("a")
	c := collect(t, w, 1)[0]
	if c.Kind != state.Delete || c.Key != "a" || c.Value != 7 {
		t.Errorf("delete change %+v", c)
	}
	w.Stop()
	w.Stop()
	for range w.Changes() {
	}
	if w.Err() != nil {
		t.Errorf("stopped watch: %v", w.Err())
	}
}

// Writers, snapshot readers and watchers at once (run with -race): every watcher sees every revision in order.
func TestConcurrent(t *testing.T) {
	s := state.New[int](state.WithHistory(100000))
	const writers, puts = 4, 500
	var watchers []*state.Watch[int]
	for range 3 {
		watchers = append(watchers, s.Watch(0))
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range puts {
				s.Put(fmt.Sprintf("%d-%d", w, i%10), i)
				if i%50 == 0 {
					snap := s.Snapshot()
					if snap.Len() > 10*writers {
						t.Errorf("snapshot of %d keys", snap.Len())
					}
				}
			}
		}()
	}
	wg.Wait()
	for _, w := range watchers {
		got := collect(t, w, writers*puts)
		for i, c := range got {
			if c.Rev != int64(i+1) {
				t.Fatalf("change %d at revision %d", i, c.Rev)
			}
		}
		w.Stop()
	}
}

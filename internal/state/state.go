// Package state keeps the engine's objects in memory with revisions, so that readers get consistent snapshots
// without taking the objects' locks and watchers miss nothing: the model is etcd's (a store-wide revision that
// every change increments, each object carrying the revision of its last change, a watch that starts from a
// revision and is told when it fell behind), on one machine and without persistence (each service persists its
// records its own way and reloads them here at start).
//
// Terms:
//
//   - a Store holds values of one kind by key; Put and Delete are changes, each given the next revision;
//   - a Snapshot is every value at one revision, immutable: reading it takes no lock the writers hold;
//   - a Watch delivers the changes after a revision, in order. The store keeps the most recent changes (its
//     history); a watch that starts before the history, or that does not keep up, ends with an error wrapping
//     ErrCompacted or ErrFellBehind that says where to resume (as etcd's watch reports a compacted revision).
//
// Use:
//
//	s := state.New[View](state.WithHistory(4096))
//	rev := s.Put("id", v)                  // revision of the change
//	snap := s.Snapshot()                   // snap.Rev, snap.List(), snap.Get("id")
//	w := s.Watch(snap.Rev)                 // the changes after the snapshot
//	defer w.Stop()
//	for ch := range w.Changes() { ... }    // until Stop; then w.Err() says why it ended
//
// Values are stored as given: callers put immutable values (or copies they never modify again).
package state

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrCompacted is returned by a watch that starts from a revision older than the store's history.
var ErrCompacted = errors.New("state: required revision has been compacted")

// ErrFellBehind ends a watch whose consumer did not keep up: the changes it had not read left the history.
var ErrFellBehind = errors.New("state: watcher fell behind")

// Kind says what a change did.
type Kind int

const (
	// Put created or replaced the value.
	Put Kind = iota
	// Delete removed it.
	Delete
)

func (k Kind) String() string {
	if k == Delete {
		return "delete"
	}
	return "put"
}

// Change is one change of the store.
type Change[T any] struct {
	Rev  int64
	Kind Kind
	Key  string
	// Value is the new value for Put, the removed one for Delete.
	Value T
}

// Meta is what the store knows about a value besides the value.
type Meta struct {
	// CreateRev is the revision that created the key (since its last deletion); ModRev the one of its last change.
	CreateRev, ModRev int64
}

type entry[T any] struct {
	v    T
	meta Meta
}

// Store is a revisioned map of values of type T. The zero value is not usable; call New.
type Store[T any] struct {
	mu      sync.RWMutex
	rev     int64
	objs    map[string]entry[T]
	history []Change[T] // ring buffer of the last len(history) changes
	start   int         // index of the oldest change in history
	n       int         // changes held
	// snap caches the snapshot of the current revision; nil after a change.
	snap *Snapshot[T]
	cond *sync.Cond // broadcast on every change and on Stop
}

// Option configures a Store.
type Option func(*options)

type options struct{ history int }

// WithHistory sets how many changes the store keeps for watchers (default 1024).
func WithHistory(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.history = n
		}
	}
}

// New returns an empty store at revision 0.
func New[T any](opts ...Option) *Store[T] {
	o := options{history: 1024}
	for _, f := range opts {
		f(&o)
	}
	s := &Store[T]{objs: map[string]entry[T]{}, history: make([]Change[T], o.history)}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// Rev is the store's current revision.
func (s *Store[T]) Rev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// Put sets key to v and returns the change's revision.
func (s *Store[T]) Put(key string, v T) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rev++
	m := Meta{CreateRev: s.rev, ModRev: s.rev}
	if old, ok := s.objs[key]; ok {
		m.CreateRev = old.meta.CreateRev
	}
	s.objs[key] = entry[T]{v: v, meta: m}
	s.record(Change[T]{Rev: s.rev, Kind: Put, Key: key, Value: v})
	return s.rev
}

// Delete removes key and returns the change's revision, or 0 when there was nothing to delete.
func (s *Store[T]) Delete(key string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.objs[key]
	if !ok {
		return 0
	}
	s.rev++
	delete(s.objs, key)
	s.record(Change[T]{Rev: s.rev, Kind: Delete, Key: key, Value: old.v})
	return s.rev
}

// record appends c to the history; the caller holds s.mu.
func (s *Store[T]) record(c Change[T]) {
	s.snap = nil
	size := len(s.history)
	if s.n < size {
		s.history[(s.start+s.n)%size] = c
		s.n++
	} else {
		s.history[s.start] = c
		s.start = (s.start + 1) % size
	}
	s.cond.Broadcast()
}

// Get returns the value of key.
func (s *Store[T]) Get(key string) (T, Meta, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.objs[key]
	return e.v, e.meta, ok
}

// Snapshot is every value of a store at one revision. It is immutable and safe for concurrent use.
type Snapshot[T any] struct {
	// Rev is the revision the snapshot shows.
	Rev  int64
	objs map[string]entry[T]
	keys []string // sorted
}

// Snapshot returns the store's values at its current revision. Snapshots of an unchanged store are shared.
func (s *Store[T]) Snapshot() *Snapshot[T] {
	s.mu.RLock()
	if snap := s.snap; snap != nil {
		s.mu.RUnlock()
		return snap
	}
	s.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap != nil {
		return s.snap
	}
	snap := &Snapshot[T]{Rev: s.rev, objs: make(map[string]entry[T], len(s.objs)), keys: make([]string, 0, len(s.objs))}
	for k, e := range s.objs {
		snap.objs[k] = e
		snap.keys = append(snap.keys, k)
	}
	sort.Strings(snap.keys)
	s.snap = snap
	return snap
}

// Get returns the value of key in the snapshot.
func (sn *Snapshot[T]) Get(key string) (T, Meta, bool) {
	e, ok := sn.objs[key]
	return e.v, e.meta, ok
}

// Len is the number of values in the snapshot.
func (sn *Snapshot[T]) Len() int { return len(sn.keys) }

// List returns the snapshot's values, ordered by key.
func (sn *Snapshot[T]) List() []T {
	out := make([]T, len(sn.keys))
	for i, k := range sn.keys {
		out[i] = sn.objs[k].v
	}
	return out
}

// Keys returns the snapshot's keys, sorted.
func (sn *Snapshot[T]) Keys() []string { return append([]string(nil), sn.keys...) }

// Watch is a stream of a store's changes after a revision.
type Watch[T any] struct {
	s    *Store[T]
	ch   chan Change[T]
	stop chan struct{}
	once sync.Once
	mu   sync.Mutex
	err  error
}

// Watch starts a watch of the changes after rev (0: after the current revision, i.e. from now on). The changes
// arrive in revision order on Changes. If rev is older than the history, the watch ends at once with an error
// wrapping ErrCompacted; if its consumer falls more than the history behind, it ends with ErrFellBehind. Either
// error says the oldest revision still held, from which a new snapshot and watch can resume.
func (s *Store[T]) Watch(rev int64) *Watch[T] {
	w := &Watch[T]{s: s, ch: make(chan Change[T]), stop: make(chan struct{})}
	s.mu.RLock()
	if rev == 0 {
		rev = s.rev
	}
	s.mu.RUnlock()
	go w.run(rev)
	return w
}

// Changes delivers the watched changes; it is closed when the watch ends (Stop, or an error: see Err).
func (w *Watch[T]) Changes() <-chan Change[T] { return w.ch }

// Err says why the watch ended: nil after Stop, else an error wrapping ErrCompacted or ErrFellBehind.
func (w *Watch[T]) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stop ends the watch. It is safe to call more than once and from any goroutine.
func (w *Watch[T]) Stop() {
	w.once.Do(func() {
		close(w.stop)
		w.s.mu.Lock()
		w.s.cond.Broadcast()
		w.s.mu.Unlock()
	})
}

func (w *Watch[T]) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// run feeds the changes after rev to the consumer, one at a time, from the store's history.
func (w *Watch[T]) run(after int64) {
	defer close(w.ch)
	s := w.s
	for delivered := false; ; delivered = true {
		s.mu.Lock()
		for s.rev <= after && !w.stopped() {
			s.cond.Wait()
		}
		if w.stopped() {
			s.mu.Unlock()
			return
		}
		oldest := s.rev - int64(s.n) + 1 // revision of the oldest change held
		if after+1 < oldest {
			s.mu.Unlock()
			w.fail(after, oldest, delivered)
			return
		}
		size := len(s.history)
		c := s.history[(s.start+int(after+1-oldest))%size]
		s.mu.Unlock()
		select {
		case w.ch <- c:
			after = c.Rev
		case <-w.stop:
			return
		}
	}
}

// fail ends the watch: the change after revision after is gone. Before anything was delivered the start was
// too old (compacted); after, the consumer fell behind.
func (w *Watch[T]) fail(after, oldest int64, delivered bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !delivered {
		w.err = fmt.Errorf("%w: watch from revision %d, oldest held %d", ErrCompacted, after+1, oldest)
		return
	}
	w.err = fmt.Errorf("%w: next revision %d is gone, oldest held %d", ErrFellBehind, after+1, oldest)
}

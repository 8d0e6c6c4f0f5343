package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/berth/berth/internal/cluster/api"
)

// The store's shared watch. Every loop of a leader follows the store (the dispatcher, the orchestrator, the
// scheduler, the events and every node's networks stream), and each used to hold its own backend watch and
// decode every change itself: four to five JSON decodes of each task write, 11–17 % of a 10,000-node leader's
// CPU in bench/swarm-scale.sh. Instead one backend watch, from the head of the store, feeds a hub, a chain of
// cells each holding one backend response's changes; every watcher walks the chain at its own pace, and the
// first that wants a change decodes it for all (a change of a kind no watcher wants is never decoded). A cell
// that every watcher has passed is garbage.
//
// A watcher starts on its own backend watch (it asks for changes after a revision the hub may not have: the
// hub starts at the head, and keeps only its last hubRetain changes for late comers) and moves onto the chain
// once it has caught up with it. One that falls more than hubMaxLag changes behind the hub goes back to its own
// backend watch from where it is, as etcd serves a slow watcher from its history, so that a stuck reader does
// not hold the chain in memory; it joins again when it catches up. The hub ends when its last watcher does;
// the next Watch starts another.

// The bounds are in changes (a transaction of the orchestrator or scheduler is up to a few hundred). With 32k
// and 4k, in bench/swarm-scale.sh at 5,000 nodes, the orchestrator and a watcher of tasks fell 32k changes
// behind while placing (a pass over thousands of pending tasks) and stayed off the chain, each costing the
// decodes and etcd's reads of its history the hub is there to save (7 % of the CPU at 10,000 nodes). The chain
// holds up to hubMaxLag changes for its slowest watcher (a few hundred MB of tasks at most) and its last
// hubRetain always.
const (
	// hubRetain is how many of its latest changes the hub keeps for watchers that join behind its head.
	hubRetain = 1 << 14
	// hubMaxLag is how far behind the hub's head a watcher on the chain may fall before it leaves it.
	hubMaxLag = 1 << 17
)

// change is one change in the hub's chain, decoded by the first watcher that wants its kind: a kind no watcher
// wants (tasks, for the events stream of a manager that does not lead) is never decoded.
type change struct {
	kind api.Kind
	rev  int64
	kv   KVEvent
	once sync.Once
	ev   Event
	err  error
}

func (c *change) decode(objPrefix string) (Event, error) {
	c.once.Do(func() {
		c.ev, _, c.err = decodeEvent(objPrefix, c.kv, nil)
		c.kv = KVEvent{} // the bytes are not needed again
	})
	return c.ev, c.err
}

// cell is one backend response's changes in the hub's chain.
type cell struct {
	events []*change
	// rev is the revision of the cell's last change (the hub's start for its first, empty cell): the changes
	// after the cell are those after rev.
	rev int64
	// seq counts the changes of the chain up to and with this cell.
	seq uint64
	// next and err are set, and done closed, once the next cell arrives or the chain ends with err.
	next *cell
	err  error
	done chan struct{}
}

// hub is the shared watch: one backend watch and the chain of its changes.
type hub struct {
	s      *Store
	cancel context.CancelFunc
	// started is closed once the chain has its first cell (or the hub ended before it).
	started chan struct{}
	// subs counts the watchers using the hub (guarded by the store's hubMu).
	subs int
	// seq is the chain's count of changes.
	seq atomic.Uint64

	mu       sync.Mutex
	oldest   *cell // the oldest cell a watcher may join at
	tail     *cell
	retained int // changes after oldest
	ended    bool
}

// hubOptions are the hub's bounds (tests shrink them).
type hubOptions struct {
	retain int
	maxLag uint64
}

// join is the store's live hub, started if there is none, for one more watcher.
func (s *Store) join() *hub {
	s.hubMu.Lock()
	defer s.hubMu.Unlock()
	if s.hub == nil || s.hub.isEnded() {
		ctx, cancel := context.WithCancel(context.Background())
		h := &hub{s: s, cancel: cancel, started: make(chan struct{})}
		s.hub = h
		go h.run(ctx)
	}
	s.hub.subs++
	return s.hub
}

// leave is a watcher done with h; the last one stops it.
func (s *Store) leave(h *hub) {
	s.hubMu.Lock()
	defer s.hubMu.Unlock()
	if h.subs--; h.subs == 0 {
		h.cancel()
		if s.hub == h {
			s.hub = nil
		}
	}
}

// closeHub stops the hub (the store is closing).
func (s *Store) closeHub() {
	s.hubMu.Lock()
	defer s.hubMu.Unlock()
	if s.hub != nil {
		s.hub.cancel()
		s.hub = nil
	}
}

func (h *hub) isEnded() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ended
}

// run follows the backend from the store's head until ctx ends or the backend's watch does.
func (h *hub) run(ctx context.Context) {
	_, rev, err := h.s.b.Range(ctx, h.s.prefix+"revision", false, 0)
	if err != nil {
		h.mu.Lock()
		h.ended = true
		h.mu.Unlock()
		close(h.started)
		return
	}
	first := &cell{rev: rev, done: make(chan struct{})}
	h.mu.Lock()
	h.oldest, h.tail = first, first
	h.mu.Unlock()
	close(h.started)
	objPrefix := h.s.prefix + "objects/"
	for resp := range h.s.b.Watch(ctx, objPrefix, rev) {
		if resp.Err != nil {
			h.end(resp.Err)
			return
		}
		evs := make([]*change, 0, len(resp.Events))
		for _, e := range resp.Events {
			kind, _, ok := strings.Cut(strings.TrimPrefix(e.KV.Key, objPrefix), "/")
			if !ok {
				continue
			}
			evs = append(evs, &change{kind: api.Kind(kind), rev: e.KV.ModRev, kv: e})
		}
		if len(evs) > 0 {
			h.push(evs)
		}
	}
	if ctx.Err() != nil {
		h.end(fmt.Errorf("the store's shared watch stopped: %w", ctx.Err()))
	} else {
		h.end(errors.New("watch ended"))
	}
}

// push appends a cell of changes to the chain.
func (h *hub) push(evs []*change) {
	c := &cell{events: evs, rev: evs[len(evs)-1].rev, seq: h.seq.Add(uint64(len(evs))), done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tail.next = c
	close(h.tail.done)
	h.tail = c
	h.retained += len(evs)
	for h.retained > h.s.hubOpts.retain && h.oldest != h.tail {
		h.oldest = h.oldest.next
		h.retained -= len(h.oldest.events)
	}
}

// end closes the chain with err: its watchers end with it.
func (h *hub) end(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended {
		return
	}
	h.ended = true
	if h.tail != nil {
		h.tail.err = err
		close(h.tail.done)
	}
}

// at is the cell a watcher that has every change up to rev joins the chain at, nil when the chain does not go
// back that far (or has ended).
func (h *hub) at(rev int64) *cell {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended || h.oldest == nil || h.oldest.rev > rev {
		return nil
	}
	c := h.oldest
	for c.next != nil && c.next.rev <= rev {
		c = c.next
	}
	return c
}

// errLagged takes a watcher off the chain: it fell too far behind.
var errLagged = errors.New("fell behind the shared watch")

// follow feeds w the changes after rev until ctx ends or the watch fails: on its own backend watch until it
// can join the hub's chain, then on the chain.
func (s *Store) follow(ctx context.Context, w *Watcher, rev int64, want map[api.Kind]bool) {
	h := s.join()
	defer s.leave(h)
	for ctx.Err() == nil {
		if c := h.at(rev); c != nil {
			var err error
			if rev, err = s.ride(ctx, w, h, c, rev, want); err != errLagged {
				w.err = err
				return
			}
		}
		var err error
		if rev, err = s.catchUp(ctx, w, h, rev, want); err != nil {
			w.err = err
			return
		}
	}
}

// ride delivers the chain's changes after rev from cell c on. It returns the revision delivered up to and why
// it stopped: nil when ctx ended, errLagged, or the error that ended the chain.
func (s *Store) ride(ctx context.Context, w *Watcher, h *hub, c *cell, rev int64, want map[api.Kind]bool) (int64, error) {
	objPrefix := s.prefix + "objects/"
	for {
		select {
		case <-c.done:
		case <-ctx.Done():
			return rev, nil
		}
		if c.next == nil {
			return rev, c.err
		}
		c = c.next
		for i, ch := range c.events {
			if ch.rev <= rev || !wants(want, ch.kind) {
				continue
			}
			ev, err := ch.decode(objPrefix)
			if err != nil {
				return rev, err
			}
			if ev.Object == nil {
				continue // not a kind of object
			}
			ev.Complete = lastOfRev(c.events, i, want) // ev is this watcher's copy; the object is shared
			select {
			case w.ch <- ev:
			case <-ctx.Done():
				return rev, nil
			}
		}
		rev = max(rev, c.rev)
		if h.seq.Load()-c.seq > s.hubOpts.maxLag {
			return rev, errLagged
		}
	}
}

// catchUp delivers the changes after rev from a backend watch of the watcher's own until the hub's chain has
// them (it returns the revision delivered up to, and no error) or the watch fails. A nil error with ctx ended
// ends the watcher too.
func (s *Store) catchUp(ctx context.Context, w *Watcher, h *hub, rev int64, want map[api.Kind]bool) (int64, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objPrefix := s.prefix + "objects/"
	ch := s.b.Watch(wctx, objPrefix, rev)
	started := h.started
	for {
		select {
		case <-ctx.Done():
			return rev, nil
		case <-started:
			started = nil
			if h.at(rev) != nil {
				return rev, nil
			}
		case resp, ok := <-ch:
			if !ok {
				if ctx.Err() != nil {
					return rev, nil
				}
				return rev, errors.New("watch ended")
			}
			if resp.Err != nil {
				return rev, resp.Err
			}
			evs := make([]Event, 0, len(resp.Events))
			for _, e := range resp.Events {
				ev, ok, err := decodeEvent(objPrefix, e, want)
				if err != nil {
					return rev, err
				}
				if ok && ev.Rev > rev {
					evs = append(evs, ev)
				}
			}
			for i, ev := range evs {
				// A backend delivers a revision's events together: the last of a revision among those
				// watched completes it.
				ev.Complete = i == len(evs)-1 || evs[i+1].Rev != ev.Rev
				select {
				case w.ch <- ev:
				case <-ctx.Done():
					return rev, nil
				}
			}
			if n := len(resp.Events); n > 0 {
				rev = max(rev, resp.Events[n-1].KV.ModRev)
			}
			if h.at(rev) != nil {
				return rev, nil
			}
		}
	}
}

// wants reports whether a watcher of the kinds in want (all when empty) wants kind.
func wants(want map[api.Kind]bool, kind api.Kind) bool {
	return len(want) == 0 || want[kind]
}

// lastOfRev reports whether the change at i is the last of its revision in the cell that a watcher of want
// receives (a backend delivers a revision's changes together, so the cell holds all of them): no later change
// of the same revision is of a wanted kind of object.
func lastOfRev(chs []*change, i int, want map[api.Kind]bool) bool {
	for _, ch := range chs[i+1:] {
		if ch.rev != chs[i].rev {
			return true
		}
		if wants(want, ch.kind) {
			if _, err := NewObject(ch.kind); err == nil {
				return false
			}
		}
	}
	return true
}

// decodeEvent is a backend change as an Event of the store's objects; ok is false for a key that is not an
// object of a kind in want (any kind when want is empty).
func decodeEvent(objPrefix string, e KVEvent, want map[api.Kind]bool) (Event, bool, error) {
	rest := strings.TrimPrefix(e.KV.Key, objPrefix)
	kind, id, ok := strings.Cut(rest, "/")
	if !ok || (len(want) > 0 && !want[api.Kind(kind)]) {
		return Event{}, false, nil
	}
	obj, err := NewObject(api.Kind(kind))
	if err != nil {
		return Event{}, false, nil
	}
	ev := Event{Kind: api.Kind(kind), ID: id, Rev: e.KV.ModRev, Object: obj}
	data := e.KV.Value
	switch {
	case e.Type == EventDelete:
		ev.Action, data = ActionRemove, e.PrevValue
	case e.KV.CreateRev == e.KV.ModRev:
		ev.Action = ActionCreate
	default:
		ev.Action = ActionUpdate
	}
	if len(data) > 0 {
		if err := json.Unmarshal(data, obj); err != nil {
			return Event{}, false, fmt.Errorf("decoding %s: %w", e.KV.Key, err)
		}
	}
	obj.GetMeta().Version = uint64(e.KV.ModRev)
	return ev, true, nil
}

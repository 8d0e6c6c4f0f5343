package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// MemoryBackend is a Backend in memory, for tests and for the pure cores' shells: etcd's model (revisions,
// reads at a past revision, watches that replay history) without persistence. It keeps the versions of the
// last history revisions; older reads and watches fail with ErrCompacted, as etcd's do after a compaction.
type MemoryBackend struct {
	mu       sync.Mutex
	rev      int64
	compact  int64 // the history before this revision is gone: reads at older revisions and watches after them are refused
	history  int64
	versions map[string][]KV // per key, oldest first; a version with nil Value and ModRev set is a deletion
	log      []memEntry      // committed events, oldest first, all after compact
	changed  chan struct{}   // closed and replaced on every commit
	closed   bool
}

type memEntry struct {
	rev int64
	ev  KVEvent
}

// MemoryOption configures a MemoryBackend.
type MemoryOption func(*MemoryBackend)

// WithHistory keeps the changes of the last n revisions (default 10000).
func WithHistory(n int64) MemoryOption { return func(m *MemoryBackend) { m.history = n } }

// NewMemoryBackend returns an empty backend at revision 1 (etcd's first revision).
func NewMemoryBackend(opts ...MemoryOption) *MemoryBackend {
	m := &MemoryBackend{rev: 1, history: 10000, versions: map[string][]KV{}, changed: make(chan struct{})}
	for _, o := range opts {
		o(m)
	}
	return m
}

var _ Backend = (*MemoryBackend)(nil)

// at is key's live version at rev, if any.
func (m *MemoryBackend) at(key string, rev int64) (KV, bool) {
	vs := m.versions[key]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].ModRev <= rev {
			if vs[i].Value == nil {
				return KV{}, false
			}
			return vs[i], true
		}
	}
	return KV{}, false
}

// Range implements Backend.
func (m *MemoryBackend) Range(ctx context.Context, key string, prefix bool, rev int64) ([]KV, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if rev == 0 {
		rev = m.rev
	}
	if rev < m.compact {
		return nil, 0, fmt.Errorf("read at revision %d, oldest held %d: %w", rev, m.compact, ErrCompacted)
	}
	if rev > m.rev {
		return nil, 0, fmt.Errorf("read at revision %d, a future revision (current %d)", rev, m.rev)
	}
	var out []KV
	if !prefix {
		if kv, ok := m.at(key, rev); ok {
			out = append(out, copyKV(kv))
		}
		return out, rev, nil
	}
	for k := range m.versions {
		if strings.HasPrefix(k, key) {
			if kv, ok := m.at(k, rev); ok {
				out = append(out, copyKV(kv))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, rev, nil
}

func copyKV(kv KV) KV {
	kv.Value = append([]byte(nil), kv.Value...)
	return kv
}

// Txn implements Backend.
func (m *MemoryBackend) Txn(ctx context.Context, conds []Cond, ops []Op) (bool, int64, error) {
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, 0, fmt.Errorf("memory backend closed")
	}
	for _, c := range conds {
		switch c.Kind {
		case ModRevEquals:
			kv, ok := m.at(c.Key, m.rev)
			if (ok && kv.ModRev != c.Rev) || (!ok && c.Rev != 0) {
				return false, m.rev, nil
			}
		case PrefixUnchangedSince:
			for k := range m.versions {
				if strings.HasPrefix(k, c.Key) {
					if kv, ok := m.at(k, m.rev); ok && kv.ModRev > c.Rev {
						return false, m.rev, nil
					}
				}
			}
		default:
			return false, m.rev, fmt.Errorf("unknown condition kind %d", c.Kind)
		}
	}
	if len(ops) == 0 {
		return true, m.rev, nil
	}
	rev := m.rev + 1
	wrote := false
	for _, op := range ops {
		prev, existed := m.at(op.Key, rev)
		if op.Delete {
			if !existed {
				continue
			}
			m.versions[op.Key] = append(m.versions[op.Key], KV{Key: op.Key, ModRev: rev})
			m.log = append(m.log, memEntry{rev, KVEvent{Type: EventDelete, KV: KV{Key: op.Key, ModRev: rev}, PrevValue: prev.Value}})
			wrote = true
			continue
		}
		kv := KV{Key: op.Key, Value: append([]byte{}, op.Value...), CreateRev: rev, ModRev: rev}
		if existed {
			kv.CreateRev = prev.CreateRev
		}
		vs := m.versions[op.Key]
		if n := len(vs); n > 0 && vs[n-1].ModRev == rev {
			vs[n-1] = kv // a second write of the key in one transaction replaces the first
		} else {
			vs = append(vs, kv)
		}
		m.versions[op.Key] = vs
		ev := KVEvent{Type: EventPut, KV: kv}
		if existed {
			ev.PrevValue = prev.Value
		}
		m.log = append(m.log, memEntry{rev, ev})
		wrote = true
	}
	if !wrote {
		return true, m.rev, nil
	}
	m.rev = rev
	if m.rev-m.compact > m.history {
		m.compactTo(m.rev - m.history/2)
	}
	close(m.changed)
	m.changed = make(chan struct{})
	return true, m.rev, nil
}

// compactTo drops what reads before rev would need, keeping each key's version live at rev.
func (m *MemoryBackend) compactTo(rev int64) {
	for k, vs := range m.versions {
		i := 0
		for i+1 < len(vs) && vs[i+1].ModRev <= rev {
			i++
		}
		vs = vs[i:]
		if len(vs) == 1 && vs[0].Value == nil && vs[0].ModRev <= rev {
			delete(m.versions, k)
			continue
		}
		m.versions[k] = vs
	}
	j := 0
	for j < len(m.log) && m.log[j].rev < rev {
		j++
	}
	m.log = append([]memEntry(nil), m.log[j:]...)
	m.compact = rev
}

// Compact drops the history before rev, as etcd's compaction does.
func (m *MemoryBackend) Compact(ctx context.Context, rev int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rev > m.rev {
		return fmt.Errorf("compact to revision %d, a future revision (current %d)", rev, m.rev)
	}
	if rev > m.compact {
		m.compactTo(rev)
	}
	return nil
}

// Watch implements Backend.
func (m *MemoryBackend) Watch(ctx context.Context, prefix string, after int64) <-chan WatchResponse {
	ch := make(chan WatchResponse, 16)
	go func() {
		defer close(ch)
		for {
			m.mu.Lock()
			if after+1 < m.compact {
				oldest := m.compact
				m.mu.Unlock()
				select {
				case ch <- WatchResponse{Err: fmt.Errorf("watch from revision %d, oldest held %d: %w", after+1, oldest+1, ErrCompacted)}:
				case <-ctx.Done():
				}
				return
			}
			var evs []KVEvent
			last := after
			for _, e := range m.log {
				if e.rev > after && strings.HasPrefix(e.ev.KV.Key, prefix) {
					ev := e.ev
					ev.KV = copyKV(ev.KV)
					evs = append(evs, ev)
				}
				if e.rev > last {
					last = e.rev
				}
			}
			if m.rev > last {
				last = m.rev
			}
			wait := m.changed
			closed := m.closed
			m.mu.Unlock()
			if len(evs) > 0 {
				select {
				case ch <- WatchResponse{Events: evs}:
				case <-ctx.Done():
					return
				}
			}
			after = last
			if closed {
				return
			}
			select {
			case <-wait:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// Close implements Backend: watches end.
func (m *MemoryBackend) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.changed)
		m.changed = make(chan struct{})
	}
	return nil
}

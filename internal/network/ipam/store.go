package ipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"

	"github.com/berth/berth/internal/atomicfile"
)

// ErrModified is what CompareAndSwap returns when the state changed since it was loaded: the caller loads it
// again and reapplies its request.
var ErrModified = errors.New("IPAM state was modified concurrently")

// Store keeps an IPAM's State as one value with a revision. A node's store is a file (LocalStore); a cluster's
// is one key of its store, whose revision is the key's.
type Store interface {
	// Load returns a copy of the state, which the caller may change, and its revision (0 before anything was
	// stored).
	Load(ctx context.Context) (State, uint64, error)
	// CompareAndSwap replaces the state with s if the stored revision is still rev, and returns the new
	// revision; otherwise it changes nothing and returns ErrModified. The store owns s afterwards.
	CompareAndSwap(ctx context.Context, rev uint64, s State) (uint64, error)
}

// MemoryStore is a Store in memory, for an IPAM whose state need not outlive the process (and for tests).
type MemoryStore struct {
	mu  sync.Mutex
	s   State
	rev uint64
}

var _ Store = (*MemoryStore)(nil)

// Load implements Store.
func (m *MemoryStore) Load(ctx context.Context) (State, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s.Clone(), m.rev, nil
}

// CompareAndSwap implements Store.
func (m *MemoryStore) CompareAndSwap(ctx context.Context, rev uint64, s State) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rev != m.rev {
		return 0, ErrModified
	}
	m.s, m.rev = s, m.rev+1
	return m.rev, nil
}

// LocalStore is a Store in a file on this node, rewritten atomically on every change. A change to the pools
// (a network created or removed) is synced before CompareAndSwap returns; a change of addresses only (a
// container started or stopped) is not, like the network records of endpoints: a host crash takes the
// containers with it. With AddressesInMemory, address-only changes are not written at all.
type LocalStore struct {
	path       string
	addrWrites bool

	mu  sync.Mutex
	s   State
	rev uint64
}

// LocalOption configures a LocalStore.
type LocalOption func(*LocalStore)

// AddressesInMemory keeps changes of addresses only in memory (the file gets them with the next change of
// pools), for an owner that records its addresses anyway and hands them back after a restart: the network
// Manager keeps each endpoint's address in its network's record, and every write saved here would be a second
// file replaced at each container start and stop (a new inode each, which costs more than the rest of the
// change on ext4).
func AddressesInMemory() LocalOption { return func(l *LocalStore) { l.addrWrites = false } }

var _ Store = (*LocalStore)(nil)

// OpenLocal opens the store at path, creating its directory. A missing file is an empty state; a file that
// cannot be read back is an error, reported with its path.
func OpenLocal(path string, opts ...LocalOption) (*LocalStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	l := &LocalStore{path: path, addrWrites: true}
	for _, o := range opts {
		o(l)
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return l, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal(b, &l.s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l.rev = 1
	return l, nil
}

// Load implements Store.
func (l *LocalStore) Load(ctx context.Context) (State, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.s.Clone(), l.rev, nil
}

// CompareAndSwap implements Store.
func (l *LocalStore) CompareAndSwap(ctx context.Context, rev uint64, s State) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rev != l.rev {
		return 0, ErrModified
	}
	var opts []atomicfile.Option
	if samePools(l.s, s) {
		opts = append(opts, atomicfile.NoSync())
	}
	if len(opts) == 0 || l.addrWrites {
		b, err := json.Marshal(s)
		if err != nil {
			return 0, err
		}
		if err := atomicfile.WriteFile(l.path, b, 0o600, opts...); err != nil {
			return 0, err
		}
	}
	l.s, l.rev = s, l.rev+1
	return l.rev, nil
}

// samePools reports whether a and b have the same pools (addresses aside).
func samePools(a, b State) bool {
	return maps.EqualFunc(a.Pools, b.Pools, func(p, q *Pool) bool {
		return p.Subnet() == q.Subnet() && p.IPRange() == q.IPRange() && p.Gateway() == q.Gateway()
	})
}

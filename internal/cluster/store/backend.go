package store

import (
	"context"
	"errors"
)

// Backend is the revisioned key-value layer under the typed store: etcd in a cluster (EtcdBackend), memory in
// tests (MemoryBackend). Both pass the same conformance suite (storetest). Its model is etcd's: one revision
// for the whole keyspace that every committed transaction increments, each key carrying the revisions that
// created and last modified it, reads at any revision the backend still holds, and watches that replay every
// change after a revision.
type Backend interface {
	// Range reads key (or, with prefix, every key under it, sorted) at revision rev (0: the latest). It returns
	// the revision read. A revision older than the backend holds is an error wrapping ErrCompacted.
	Range(ctx context.Context, key string, prefix bool, rev int64) ([]KV, int64, error)
	// Txn applies ops atomically if every condition holds. ok is false (and nothing is applied) when one does
	// not; rev is the store's revision after the transaction.
	Txn(ctx context.Context, conds []Cond, ops []Op) (ok bool, rev int64, err error)
	// Watch delivers every change under prefix after revision after, in revision order, the changes of one
	// revision in one response (as etcd's watch does, without fragmentation), until ctx ends. The
	// channel is closed after a response with Err set (ErrCompacted when after is older than the backend
	// holds; ErrUnavailable when the backend lost its quorum) or when ctx ends.
	Watch(ctx context.Context, prefix string, after int64) <-chan WatchResponse
	// Close releases the backend (not the data).
	Close() error
}

// KV is one key's value with its revisions.
type KV struct {
	Key   string
	Value []byte
	// CreateRev is the revision that created the key, ModRev the one that last changed it.
	CreateRev, ModRev int64
}

// CondKind says what a condition compares.
type CondKind int

// The condition kinds.
const (
	// ModRevEquals holds when the key's ModRev is Rev (0: the key does not exist).
	ModRevEquals CondKind = iota
	// PrefixUnchangedSince holds when no key under the prefix Key was put after Rev.
	PrefixUnchangedSince
)

// Cond is a condition of a transaction.
type Cond struct {
	Kind CondKind
	Key  string
	Rev  int64
}

// Op is a write of a transaction: a put of Value, or a delete.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// EventType says what a change did.
type EventType int

// The event types.
const (
	EventPut EventType = iota
	EventDelete
)

// KVEvent is one change of one key. For a put, KV is the new value; for a delete, KV holds the key and the
// deleting revision as ModRev, and PrevValue the value deleted.
type KVEvent struct {
	Type      EventType
	KV        KV
	PrevValue []byte
}

// WatchResponse is a batch of events (one transaction's, or several), or the error that ends a watch.
type WatchResponse struct {
	Events []KVEvent
	Err    error
}

// ErrCompacted is wrapped by reads and watches at a revision the backend no longer holds: the reader must
// start again from a fresh read.
var ErrCompacted = errors.New("required revision has been compacted")

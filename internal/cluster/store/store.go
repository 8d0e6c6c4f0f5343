// Package store is the cluster's state: typed objects of internal/cluster/api kept in a revisioned key-value
// Backend (etcd in a cluster, memory in tests). It is the only user of an etcd client in Berth.
//
// Terms:
//
//   - an object is stored as JSON under <prefix>objects/<kind>/<id>; a named object (services, secrets, configs,
//     networks) also holds <prefix>names/<kind>/<name>, so that two objects of a kind never share a name;
//   - an object's Meta.Version is the revision of its last change (etcd's ModRevision);
//   - a read (Get, List) is at one revision: the latest, a View's (a consistent snapshot of everything), or a
//     transaction's;
//   - Update runs a function over a transaction: its reads are at one revision, its writes are committed together
//     and only if nothing it read changed since (compare-and-swap on the revisions read); on a conflict the
//     function runs again over fresh reads, so it must do nothing but read and write the transaction;
//   - Watch delivers every change of the chosen kinds after a revision, in order; a watcher that asks for
//     revisions the backend no longer holds gets an error wrapping ErrCompacted and starts again from a View.
//
// Use:
//
//	s := store.New(backend)
//	err := s.Update(ctx, func(tx *store.Tx) error {
//		n, err := store.Get[api.Node](ctx, tx, id)
//		if err != nil {
//			return err
//		}
//		n.Spec.Availability = api.AvailabilityDrain
//		return store.Put(tx, n) // refused with ErrOutOfSequence if n.Version is not the stored one
//	})
//	v, _ := s.View(ctx)                        // everything at v.Rev()
//	nodes, _ := store.List[api.Node](ctx, v)
//	w := s.Watch(ctx, v.Rev(), api.KindNode)   // the changes after the view
//	for ev := range w.Events() { ... }         // then w.Err()
package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
)

// ErrOutOfSequence is wrapped by an update whose object version is not the stored one: someone else changed it
// first. The words are swarmkit's.
var ErrOutOfSequence = fmt.Errorf("update out of sequence: %w", errdefs.ErrConflict)

// ErrNameConflict is wrapped by a create or rename to a name another object of the kind has. Swarmkit's words.
var ErrNameConflict = fmt.Errorf("name conflicts with an existing object: %w", errdefs.ErrAlreadyExists)

// DefaultPrefix is where Berth keeps its cluster in the key space.
const DefaultPrefix = "/berth/cluster/"

// maxRetries bounds how often Update runs its function again after conflicts.
const maxRetries = 64

// Store is the cluster's typed state over a Backend.
type Store struct {
	b      Backend
	prefix string
	now    func() time.Time

	// hub is the watchers' shared backend watch (hub.go).
	hubMu   sync.Mutex
	hub     *hub
	hubOpts hubOptions
}

// Option configures a Store.
type Option func(*Store)

// WithPrefix keeps the cluster under prefix (default DefaultPrefix), for a shared external etcd.
func WithPrefix(p string) Option { return func(s *Store) { s.prefix = p } }

// WithClock sets the clock that stamps CreatedAt and UpdatedAt.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New is a store over b.
func New(b Backend, opts ...Option) *Store {
	s := &Store{b: b, prefix: DefaultPrefix, now: time.Now, hubOpts: hubOptions{retain: hubRetain, maxLag: hubMaxLag}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Backend is the store's backend.
func (s *Store) Backend() Backend { return s.b }

// Close closes the backend; watches end.
func (s *Store) Close() error {
	s.closeHub()
	return s.b.Close()
}

func (s *Store) objectKey(k api.Kind, id string) string {
	return s.prefix + "objects/" + string(k) + "/" + id
}
func (s *Store) kindPrefix(k api.Kind) string { return s.prefix + "objects/" + string(k) + "/" }
func (s *Store) nameKey(k api.Kind, name string) string {
	return s.prefix + "names/" + string(k) + "/" + name
}

// Reader is what objects are read from: the Store (the latest revision), a View (one revision) or a Tx.
type Reader interface {
	get(ctx context.Context, key string) (KV, bool, error)
	list(ctx context.Context, prefix string) ([]KV, error)
	store() *Store
}

// ptr is the pointer type of an object type T.
type ptr[T any] interface {
	*T
	api.Object
}

func kindOf[T any, P ptr[T]]() api.Kind {
	var zero T
	return P(&zero).Kind()
}

func decode[T any, P ptr[T]](kv KV) (P, error) {
	obj := P(new(T))
	if err := json.Unmarshal(kv.Value, obj); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
	}
	obj.GetMeta().Version = uint64(kv.ModRev)
	return obj, nil
}

// Get reads the object of type T with id; an absent one is an error wrapping errdefs.ErrNotFound.
func Get[T any, P ptr[T]](ctx context.Context, r Reader, id string) (P, error) {
	k := kindOf[T, P]()
	kv, ok, err := r.get(ctx, r.store().objectKey(k, id))
	if err != nil {
		return nil, err
	}
	if !ok || id == "" {
		return nil, fmt.Errorf("%s %s: %w", strings.TrimSuffix(string(k), "s"), id, errdefs.ErrNotFound)
	}
	return decode[T, P](kv)
}

// List reads every object of type T, by ID.
func List[T any, P ptr[T]](ctx context.Context, r Reader) ([]P, error) {
	kvs, err := r.list(ctx, r.store().kindPrefix(kindOf[T, P]()))
	if err != nil {
		return nil, err
	}
	out := make([]P, 0, len(kvs))
	for _, kv := range kvs {
		obj, err := decode[T, P](kv)
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// GetByName reads the named object of type T called name.
func GetByName[T any, P ptr[T]](ctx context.Context, r Reader, name string) (P, error) {
	k := kindOf[T, P]()
	kv, ok, err := r.get(ctx, r.store().nameKey(k, name))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", strings.TrimSuffix(string(k), "s"), name, errdefs.ErrNotFound)
	}
	return Get[T, P](ctx, r, string(kv.Value))
}

// The Store reads at the latest revision.
func (s *Store) store() *Store { return s }

func (s *Store) get(ctx context.Context, key string) (KV, bool, error) {
	kvs, _, err := s.b.Range(ctx, key, false, 0)
	if err != nil || len(kvs) == 0 {
		return KV{}, false, err
	}
	return kvs[0], true, nil
}

func (s *Store) list(ctx context.Context, prefix string) ([]KV, error) {
	kvs, _, err := s.b.Range(ctx, prefix, true, 0)
	return kvs, err
}

// View is a consistent read of the whole store at one revision.
type View struct {
	s   *Store
	rev int64
}

// View returns a view at the latest revision.
func (s *Store) View(ctx context.Context) (*View, error) {
	_, rev, err := s.b.Range(ctx, s.prefix+"revision", false, 0)
	if err != nil {
		return nil, err
	}
	return &View{s: s, rev: rev}, nil
}

// ViewAt returns a view at revision rev (which the backend must still hold).
func (s *Store) ViewAt(rev int64) *View { return &View{s: s, rev: rev} }

// Rev is the view's revision.
func (v *View) Rev() int64 { return v.rev }

func (v *View) store() *Store { return v.s }

func (v *View) get(ctx context.Context, key string) (KV, bool, error) {
	kvs, _, err := v.s.b.Range(ctx, key, false, v.rev)
	if err != nil || len(kvs) == 0 {
		return KV{}, false, err
	}
	return kvs[0], true, nil
}

func (v *View) list(ctx context.Context, prefix string) ([]KV, error) {
	kvs, _, err := v.s.b.Range(ctx, prefix, true, v.rev)
	return kvs, err
}

// Tx is a transaction: reads at one revision (seeing the transaction's own writes), writes committed together.
// The revision is read from the store at the transaction's first read, not before: a transaction that only
// writes blind (CreateFresh, PutAt, DeleteAt, AssertAt) commits in one round trip instead of two.
type Tx struct {
	s      *Store
	ctx    context.Context
	rev    int64 // set by the first read (hasRev)
	hasRev bool
	revErr error
	conds  map[string]Cond
	writes map[string]*Op
	order  []string
	// written are the objects written, to set their versions after the commit.
	written []api.Object
}

func (tx *Tx) store() *Store { return tx.s }

// Rev is the revision the transaction reads at (read from the store now if the transaction has not read yet;
// 0 if that fails, and then the transaction's commit fails too).
func (tx *Tx) Rev() int64 {
	rev, _ := tx.readRev(tx.ctx)
	return rev
}

// readRev is the revision the transaction reads at, fixed at its first read.
func (tx *Tx) readRev(ctx context.Context) (int64, error) {
	if !tx.hasRev {
		_, tx.rev, tx.revErr = tx.s.b.Range(ctx, tx.s.prefix+"revision", false, 0)
		tx.hasRev = true
	}
	return tx.rev, tx.revErr
}

func (tx *Tx) get(ctx context.Context, key string) (KV, bool, error) {
	if op, ok := tx.writes[key]; ok {
		if op.Delete {
			return KV{}, false, nil
		}
		return KV{Key: key, Value: op.Value}, true, nil
	}
	rev, err := tx.readRev(ctx)
	if err != nil {
		return KV{}, false, err
	}
	kvs, _, err := tx.s.b.Range(ctx, key, false, rev)
	if err != nil {
		return KV{}, false, err
	}
	c := Cond{Kind: ModRevEquals, Key: key}
	if len(kvs) > 0 {
		c.Rev = kvs[0].ModRev
	}
	if _, seen := tx.conds[key]; !seen {
		tx.conds[key] = c
	}
	if len(kvs) == 0 {
		return KV{}, false, nil
	}
	return kvs[0], true, nil
}

func (tx *Tx) list(ctx context.Context, prefix string) ([]KV, error) {
	if _, err := tx.readRev(ctx); err != nil {
		return nil, err
	}
	kvs, _, err := tx.s.b.Range(ctx, prefix, true, tx.rev)
	if err != nil {
		return nil, err
	}
	tx.conds["prefix:"+prefix] = Cond{Kind: PrefixUnchangedSince, Key: prefix, Rev: tx.rev}
	// The transaction's own writes under the prefix show in its list.
	byKey := map[string]int{}
	for i, kv := range kvs {
		byKey[kv.Key] = i
	}
	var out []KV
	for _, kv := range kvs {
		if op, ok := tx.writes[kv.Key]; ok {
			if op.Delete {
				continue
			}
			kv.Value = op.Value
		}
		out = append(out, kv)
	}
	for _, k := range tx.order {
		op := tx.writes[k]
		if _, had := byKey[k]; !had && !op.Delete && strings.HasPrefix(k, prefix) {
			out = append(out, KV{Key: k, Value: op.Value})
		}
	}
	return out, nil
}

func (tx *Tx) write(op Op) {
	if _, ok := tx.writes[op.Key]; !ok {
		tx.order = append(tx.order, op.Key)
	}
	tx.writes[op.Key] = &op
}

// Update runs fn over a transaction and commits its writes if nothing it read changed meanwhile; on such a
// conflict fn runs again. An error from fn aborts the transaction (nothing is written) and is returned.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	_, err := s.UpdateRev(ctx, fn)
	return err
}

// UpdateRev is Update, and returns the revision its writes were committed at (0 when fn wrote nothing), which
// a caller following a watch can wait for to see its own writes (without another read of the store).
func (s *Store) UpdateRev(ctx context.Context, fn func(tx *Tx) error) (int64, error) {
	for attempt := 0; ; attempt++ {
		tx := &Tx{s: s, ctx: ctx, conds: map[string]Cond{}, writes: map[string]*Op{}}
		if err := fn(tx); err != nil {
			return 0, err
		}
		if tx.revErr != nil {
			return 0, tx.revErr // fn ignored a failed read
		}
		if len(tx.writes) == 0 {
			return 0, nil
		}
		conds := make([]Cond, 0, len(tx.conds))
		for _, c := range tx.conds {
			conds = append(conds, c)
		}
		ops := make([]Op, 0, len(tx.order))
		for _, k := range tx.order {
			ops = append(ops, *tx.writes[k])
		}
		ok, newRev, err := s.b.Txn(ctx, conds, ops)
		if err != nil {
			return 0, err
		}
		if ok {
			for _, o := range tx.written {
				o.GetMeta().Version = uint64(newRev)
			}
			return newRev, nil
		}
		if attempt >= maxRetries {
			return 0, fmt.Errorf("transaction conflicted %d times: %w", attempt+1, errdefs.ErrConflict)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Millisecond):
		}
	}
}

func (tx *Tx) encode(obj api.Object) ([]byte, error) {
	return json.Marshal(obj)
}

// Create stores a new object; one with the same ID is an error wrapping errdefs.ErrAlreadyExists, and a named
// object whose name is taken one wrapping ErrNameConflict.
func Create(tx *Tx, obj api.Object) error {
	k, id := obj.Kind(), obj.GetID()
	if id == "" {
		return fmt.Errorf("%s without an ID: %w", k, errdefs.ErrInvalidArgument)
	}
	key := tx.s.objectKey(k, id)
	if _, ok, err := tx.get(tx.ctx, key); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%s %s: %w", strings.TrimSuffix(string(k), "s"), id, errdefs.ErrAlreadyExists)
	}
	if n, ok := obj.(api.Named); ok && n.GetName() != "" {
		nk := tx.s.nameKey(k, n.GetName())
		if _, taken, err := tx.get(tx.ctx, nk); err != nil {
			return err
		} else if taken {
			return ErrNameConflict
		}
		tx.write(Op{Key: nk, Value: []byte(id)})
	}
	m := obj.GetMeta()
	now := tx.s.now().UTC()
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	m.UpdatedAt = m.CreatedAt
	b, err := tx.encode(obj)
	if err != nil {
		return err
	}
	tx.write(Op{Key: key, Value: b})
	tx.written = append(tx.written, obj)
	return nil
}

// Put replaces a stored object. If obj.GetMeta().Version is set it must be the stored version, else the put is
// refused with ErrOutOfSequence; 0 writes over whatever is stored (for the managers' own bookkeeping, inside a
// transaction that read the object). A missing object is an error wrapping errdefs.ErrNotFound.
func Put(tx *Tx, obj api.Object) error {
	k, id := obj.Kind(), obj.GetID()
	key := tx.s.objectKey(k, id)
	cur, ok, err := tx.get(tx.ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s %s: %w", strings.TrimSuffix(string(k), "s"), id, errdefs.ErrNotFound)
	}
	m := obj.GetMeta()
	if m.Version != 0 && cur.ModRev != 0 && uint64(cur.ModRev) != m.Version {
		return ErrOutOfSequence
	}
	// The stored name is the old one: renames move the index.
	if n, isNamed := obj.(api.Named); isNamed {
		var old struct {
			Spec struct {
				Name string `json:"name"`
			} `json:"spec"`
		}
		_ = json.Unmarshal(cur.Value, &old)
		if old.Spec.Name != n.GetName() {
			if n.GetName() != "" {
				nk := tx.s.nameKey(k, n.GetName())
				if _, taken, err := tx.get(tx.ctx, nk); err != nil {
					return err
				} else if taken {
					return ErrNameConflict
				}
				tx.write(Op{Key: nk, Value: []byte(id)})
			}
			if old.Spec.Name != "" {
				tx.write(Op{Key: tx.s.nameKey(k, old.Spec.Name), Delete: true})
			}
		}
	}
	var prev struct {
		CreatedAt time.Time `json:"createdAt"`
	}
	_ = json.Unmarshal(cur.Value, &prev)
	if !prev.CreatedAt.IsZero() {
		m.CreatedAt = prev.CreatedAt
	}
	m.UpdatedAt = tx.s.now().UTC()
	b, err := tx.encode(obj)
	if err != nil {
		return err
	}
	tx.write(Op{Key: key, Value: b})
	tx.written = append(tx.written, obj)
	return nil
}

// Delete removes the object of kind k with id (and its name); a missing one is an error wrapping
// errdefs.ErrNotFound.
func Delete(tx *Tx, k api.Kind, id string) error {
	key := tx.s.objectKey(k, id)
	cur, ok, err := tx.get(tx.ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s %s: %w", strings.TrimSuffix(string(k), "s"), id, errdefs.ErrNotFound)
	}
	var named struct {
		Spec struct {
			Name string `json:"name"`
		} `json:"spec"`
	}
	_ = json.Unmarshal(cur.Value, &named)
	if named.Spec.Name != "" {
		nk := tx.s.nameKey(k, named.Spec.Name)
		if owner, ok, err := tx.get(tx.ctx, nk); err == nil && ok && string(owner.Value) == id {
			tx.write(Op{Key: nk, Delete: true})
		}
	}
	tx.write(Op{Key: key, Delete: true})
	return nil
}

// Action says what a change did to an object.
type Action string

// The actions.
const (
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	ActionRemove Action = "remove"
)

// Event is one change of one object.
type Event struct {
	Kind   api.Kind
	ID     string
	Action Action
	// Object is the object after the change; for a removal, as it was before. It is shared by the store's
	// watchers: read it, never modify it.
	Object api.Object
	// Rev is the change's revision.
	Rev int64
	// Complete marks the last event of its revision: once it is taken, the watcher has every change of
	// revision Rev (of its kinds). A transaction of many objects is one revision delivered as many events; a
	// follower that waits for its own write must wait for the last of them, not the first.
	Complete bool
}

// Watcher delivers changes; Err says why its channel closed.
type Watcher struct {
	ch  chan Event
	err error
}

// Events are the changes, in revision order; closed when the watch ends.
func (w *Watcher) Events() <-chan Event { return w.ch }

// Err is why the watch ended once Events is closed: nil when its context ended, else an error wrapping
// ErrCompacted (restart from a View) or ErrNoLeader.
func (w *Watcher) Err() error { return w.err }

// NewObject is an empty object of kind k.
func NewObject(k api.Kind) (api.Object, error) {
	switch k {
	case api.KindCluster:
		return &api.Cluster{}, nil
	case api.KindNode:
		return &api.Node{}, nil
	case api.KindService:
		return &api.Service{}, nil
	case api.KindTask:
		return &api.Task{}, nil
	case api.KindSecret:
		return &api.Secret{}, nil
	case api.KindConfig:
		return &api.Config{}, nil
	case api.KindNetwork:
		return &api.Network{}, nil
	case api.KindAttachment:
		return &api.Attachment{}, nil
	case api.KindNetworkNode:
		return &api.NetworkNode{}, nil
	}
	return nil, fmt.Errorf("unknown kind %q: %w", k, errdefs.ErrInvalidArgument)
}

// Watch delivers the changes to objects of the given kinds (all kinds when none) after revision after, until
// ctx ends. The watchers of a store share one backend watch that decodes each change once (hub.go): an Event's
// Object is shared by every watcher that gets it, to be read and never modified.
func (s *Store) Watch(ctx context.Context, after int64, kinds ...api.Kind) *Watcher {
	w := &Watcher{ch: make(chan Event, 64)}
	want := map[api.Kind]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	go func() {
		defer close(w.ch)
		s.follow(ctx, w, after, want)
	}()
	return w
}

package store

import (
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
)

// Writes without a read first, for the leader's loops that write thousands of tasks a second: a read inside a
// transaction is a round trip to the store (a linearizable read on etcd), which CreateFresh and PutAt replace
// with a condition checked when the transaction commits. Both are for unnamed objects (tasks): a named one
// needs its name index read.

// CreateFresh stores a new object whose ID was just made: it does not read whether the ID is taken, and the
// transaction conflicts (and its function runs again) if it was.
func CreateFresh(tx *Tx, obj api.Object) error {
	if _, named := obj.(api.Named); named {
		return Create(tx, obj)
	}
	k, id := obj.Kind(), obj.GetID()
	if id == "" {
		return fmt.Errorf("%s without an ID: %w", k, errdefs.ErrInvalidArgument)
	}
	key := tx.s.objectKey(k, id)
	if _, seen := tx.conds[key]; !seen {
		tx.conds[key] = Cond{Kind: ModRevEquals, Key: key, Rev: 0}
	}
	m := obj.GetMeta()
	if m.CreatedAt.IsZero() {
		m.CreatedAt = tx.s.now().UTC()
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

// PutAt replaces an unnamed object known at the version it carries, without reading it: the transaction
// conflicts if the stored object is at another version by the time it commits. The object must be the stored
// one changed (its CreatedAt is kept as it carries it).
func PutAt(tx *Tx, obj api.Object) error {
	if _, named := obj.(api.Named); named {
		return Put(tx, obj)
	}
	m := obj.GetMeta()
	if m.Version == 0 {
		return fmt.Errorf("%s %s: PutAt without a version: %w", obj.Kind(), obj.GetID(), errdefs.ErrInvalidArgument)
	}
	key := tx.s.objectKey(obj.Kind(), obj.GetID())
	if c, seen := tx.conds[key]; seen && c.Rev != int64(m.Version) {
		return ErrOutOfSequence
	}
	tx.conds[key] = Cond{Kind: ModRevEquals, Key: key, Rev: int64(m.Version)}
	m.UpdatedAt = tx.s.now().UTC()
	b, err := tx.encode(obj)
	if err != nil {
		return err
	}
	tx.write(Op{Key: key, Value: b})
	tx.written = append(tx.written, obj)
	return nil
}

// DeleteAt removes an unnamed object known at version without reading it: the transaction conflicts if the
// stored object is at another version (or gone) by the time it commits.
func DeleteAt(tx *Tx, k api.Kind, id string, version uint64) error {
	if version == 0 {
		return fmt.Errorf("%s %s: DeleteAt without a version: %w", k, id, errdefs.ErrInvalidArgument)
	}
	key := tx.s.objectKey(k, id)
	if c, seen := tx.conds[key]; seen && c.Rev != int64(version) {
		return ErrOutOfSequence
	}
	tx.conds[key] = Cond{Kind: ModRevEquals, Key: key, Rev: int64(version)}
	tx.write(Op{Key: key, Delete: true})
	return nil
}

// AssertAt makes the transaction depend on an object being at version, without reading it: the transaction
// conflicts (and its function runs again) if the object changed or went by the time it commits. It is the
// read a transaction needs when it already holds the object at that version (from a watch) and only checks
// that it is still current.
func AssertAt(tx *Tx, k api.Kind, id string, version uint64) error {
	if version == 0 {
		return fmt.Errorf("%s %s: AssertAt without a version: %w", k, id, errdefs.ErrInvalidArgument)
	}
	key := tx.s.objectKey(k, id)
	if c, seen := tx.conds[key]; seen && c.Rev != int64(version) {
		return ErrOutOfSequence
	}
	tx.conds[key] = Cond{Kind: ModRevEquals, Key: key, Rev: int64(version)}
	return nil
}

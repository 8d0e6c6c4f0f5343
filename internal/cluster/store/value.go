package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
)

// Values are the cluster's state that is not an object of internal/cluster/api: one opaque value per name (the
// cluster IPAM's allocations, keys of the data path), kept under <prefix>values/<name>. A value's revision is its
// key's ModRev (0 while it does not exist). Values are read and written inside transactions with objects, so
// that a change of both (an address allocated with the attachment that holds it) commits together; Watch does
// not deliver them.

func (s *Store) valueKey(name string) string { return s.prefix + "values/" + name }

func checkValueName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return fmt.Errorf("invalid value name %q: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// GetValue reads the value name at r's revision: its bytes and revision, or (nil, 0) when it does not exist.
// Inside a transaction the read is a condition of its commit.
func GetValue(ctx context.Context, r Reader, name string) ([]byte, int64, error) {
	if err := checkValueName(name); err != nil {
		return nil, 0, err
	}
	kv, ok, err := r.get(ctx, r.store().valueKey(name))
	if err != nil || !ok {
		return nil, 0, err
	}
	return kv.Value, kv.ModRev, nil
}

// PutValue writes the value name in the transaction.
func PutValue(tx *Tx, name string, value []byte) error {
	if err := checkValueName(name); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	tx.write(Op{Key: tx.s.valueKey(name), Value: value})
	return nil
}

// CompareAndSwapValue replaces the value name with value if its revision is still rev (0: it does not exist),
// outside any transaction, and returns the new revision; ok is false, and nothing changed, when the revision
// moved on.
func (s *Store) CompareAndSwapValue(ctx context.Context, name string, rev int64, value []byte) (newRev int64, ok bool, err error) {
	if err := checkValueName(name); err != nil {
		return 0, false, err
	}
	key := s.valueKey(name)
	ok, newRev, err = s.b.Txn(ctx, []Cond{{Kind: ModRevEquals, Key: key, Rev: rev}}, []Op{{Key: key, Value: value}})
	return newRev, ok, err
}

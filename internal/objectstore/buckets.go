package objectstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
)

// bucketRecord is a bucket as the index stores it.
type bucketRecord struct {
	// ID is random, set when the bucket is created (buckets created before it existed are told apart by Created).
	ID         string     `json:"id,omitempty"`
	Owner      Owner      `json:"o"`
	Created    int64      `json:"t"`
	Region     string     `json:"r,omitempty"`
	Versioning Versioning `json:"v,omitempty"`
	// ConfigVersion counts the changes of the bucket's configuration documents.
	ConfigVersion uint64 `json:"cv,omitempty"`
}

func (b *bucketRecord) bucket(name string) Bucket {
	return Bucket{Name: name, ID: b.id(), Owner: b.Owner, CreatedAt: time.Unix(0, b.Created).UTC(), Region: b.Region, Versioning: b.Versioning,
		ConfigVersion: b.ConfigVersion}
}

// id is the bucket's identity (Bucket.ID).
func (b *bucketRecord) id() string {
	if b.ID != "" {
		return b.ID
	}
	return "t" + itoa(b.Created)
}

func newBucketID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// CreateBucketInput names a new bucket, its owner and its region.
type CreateBucketInput struct {
	Name   string
	Owner  Owner
	Region string
	// Configs are configuration documents stored with the bucket as it is created (an ACL, ownership controls, a
	// public access block): the bucket never exists without them.
	Configs map[string][]byte
}

// CreateBucket creates a bucket. A name in use is ErrBucketAlreadyOwnedByYou when owner's account has it and
// ErrBucketAlreadyExists otherwise; a name breaking S3's rules is ErrInvalidBucketName.
func (s *Store) CreateBucket(ctx context.Context, in CreateBucketInput) (Bucket, error) {
	if err := ValidateBucketName(in.Name); err != nil {
		return Bucket{}, err
	}
	rec := &bucketRecord{ID: newBucketID(), Owner: in.Owner, Created: s.now().UnixNano(), Region: in.Region}
	val, err := json.Marshal(rec)
	if err != nil {
		return Bucket{}, err
	}
	err = s.update(func(tx *bolt.Tx) error {
		buckets := tx.Bucket(bucketsName)
		if old := buckets.Get([]byte(in.Name)); old != nil {
			var existing bucketRecord
			if err := json.Unmarshal(old, &existing); err != nil {
				return err
			}
			if existing.Owner.AccountID == in.Owner.AccountID {
				return ErrBucketAlreadyOwnedByYou.WithExtra("BucketName", in.Name)
			}
			return ErrBucketAlreadyExists.WithExtra("BucketName", in.Name)
		}
		if err := buckets.Put([]byte(in.Name), val); err != nil {
			return err
		}
		data, err := tx.CreateBucket(bucketDataName(in.Name))
		if err != nil {
			return err
		}
		for _, n := range [][]byte{versionsName, uploadsName, partsName, configName} {
			if _, err := data.CreateBucket(n); err != nil {
				return err
			}
		}
		cfg := data.Bucket(configName)
		for name, doc := range in.Configs {
			if name == "" || doc == nil {
				return fmt.Errorf("configuration %q: %w", name, errdefs.ErrInvalidArgument)
			}
			if err := cfg.Put([]byte(name), doc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Bucket{}, err
	}
	return rec.bucket(in.Name), nil
}

// decodedBuckets remembers decoded bucket records by their encoded bytes: every request reads its bucket's
// record, which rarely changes. Keyed by content, it cannot go stale.
var decodedBuckets sync.Map // string(encoded) -> bucketRecord

func decodeBucket(v []byte) (bucketRecord, error) {
	if rec, ok := decodedBuckets.Load(string(v)); ok {
		return rec.(bucketRecord), nil
	}
	var rec bucketRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, err
	}
	if decodedBucketsN.Add(1) > 10000 {
		decodedBuckets.Clear()
		decodedBucketsN.Store(0)
	}
	decodedBuckets.Store(string(v), rec)
	return rec, nil
}

var decodedBucketsN atomic.Int64

// getBucket reads a bucket's record and its data in tx.
func getBucket(tx *bolt.Tx, name string) (*bucketRecord, *bolt.Bucket, error) {
	v := tx.Bucket(bucketsName).Get([]byte(name))
	if v == nil {
		return nil, nil, noSuchBucket(name)
	}
	rec, err := decodeBucket(v)
	if err != nil {
		return nil, nil, fmt.Errorf("index: bucket %q: %w", name, err)
	}
	data := tx.Bucket(bucketDataName(name))
	if data == nil {
		return nil, nil, fmt.Errorf("index: bucket %q has no data", name)
	}
	return &rec, data, nil
}

// getBucketOf is getBucket for a write bound to the bucket with the given ID ("" binds to none): once the name
// means another bucket (the one authorized on was deleted, and the name taken again), the write's bucket is gone.
func getBucketOf(tx *bolt.Tx, name, id string) (*bucketRecord, *bolt.Bucket, error) {
	rec, data, err := getBucket(tx, name)
	if err == nil && id != "" && rec.id() != id {
		return nil, nil, noSuchBucket(name)
	}
	return rec, data, err
}

// checkBucketID looks the bucket up outside a transaction, as getBucketOf does inside one: a write refused early,
// before its body is read.
func (s *Store) checkBucketID(ctx context.Context, name, id string) error {
	b, err := s.Bucket(ctx, name)
	if err == nil && id != "" && b.ID != id {
		return noSuchBucket(name)
	}
	return err
}

func putBucketRecord(tx *bolt.Tx, name string, rec *bucketRecord) error {
	val, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketsName).Put([]byte(name), val)
}

// Bucket describes a bucket, or returns ErrNoSuchBucket.
func (s *Store) Bucket(ctx context.Context, name string) (Bucket, error) {
	var b Bucket
	err := s.view(func(tx *bolt.Tx) error {
		rec, _, err := getBucket(tx, name)
		if err != nil {
			return err
		}
		b = rec.bucket(name)
		return nil
	})
	return b, err
}

// ListBuckets returns every bucket, by name.
func (s *Store) ListBuckets(ctx context.Context) ([]Bucket, error) {
	var out []Bucket
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketsName).ForEach(func(k, v []byte) error {
			var rec bucketRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("index: bucket %q: %w", k, err)
			}
			out = append(out, rec.bucket(string(k)))
			return nil
		})
	})
	return out, err
}

// DeleteBucket removes an empty bucket (no versions, no delete markers), aborting its multipart uploads; a bucket
// holding anything is ErrBucketNotEmpty.
func (s *Store) DeleteBucket(ctx context.Context, name string) error {
	var freed []blobID
	err := s.update(func(tx *bolt.Tx) error {
		freed = freed[:0]
		_, data, err := getBucket(tx, name)
		if err != nil {
			return err
		}
		if k, _ := data.Bucket(versionsName).Cursor().First(); k != nil {
			return ErrBucketNotEmpty.With("The bucket you tried to delete is not empty").WithExtra("BucketName", name)
		}
		err = data.Bucket(partsName).ForEach(func(k, v []byte) error {
			p, err := decodePart(v)
			if err != nil {
				return err
			}
			id, err := parseBlobID(p.Blob)
			if err != nil {
				return err
			}
			last, err := dropRef(tx, id)
			if last {
				freed = append(freed, id)
			}
			return err
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketDataName(name)); err != nil {
			return err
		}
		return tx.Bucket(bucketsName).Delete([]byte(name))
	})
	if err != nil {
		return err
	}
	s.release(freed...)
	return nil
}

// SetVersioning turns versioning on (VersioningEnabled) or suspends it (VersioningSuspended); a bucket cannot go
// back to Unversioned.
func (s *Store) SetVersioning(ctx context.Context, name string, state Versioning) error {
	if state != VersioningEnabled && state != VersioningSuspended {
		return ErrInvalidArgument.With("Versioning status must be Enabled or Suspended")
	}
	return s.update(func(tx *bolt.Tx) error {
		rec, _, err := getBucket(tx, name)
		if err != nil {
			return err
		}
		if rec.Versioning == state {
			return nil
		}
		rec.Versioning = state
		return putBucketRecord(tx, name, rec)
	})
}

// BucketConfig returns the bucket's configuration document called name, or an error wrapping errdefs.ErrNotFound.
func (s *Store) BucketConfig(ctx context.Context, bucket, name string) ([]byte, error) {
	var doc []byte
	err := s.view(func(tx *bolt.Tx) error {
		_, data, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		v := data.Bucket(configName).Get([]byte(name))
		if v == nil {
			return fmt.Errorf("bucket %q has no %s configuration: %w", bucket, name, errdefs.ErrNotFound)
		}
		doc = bytes.Clone(v)
		return nil
	})
	return doc, err
}

// PutBucketConfig stores (replacing) the bucket's configuration document called name.
func (s *Store) PutBucketConfig(ctx context.Context, bucket, name string, doc []byte) error {
	if name == "" || doc == nil {
		return fmt.Errorf("configuration name: %w", errdefs.ErrInvalidArgument)
	}
	return s.UpdateBucketConfigs(ctx, bucket, func(docs map[string][]byte) error {
		docs[name] = doc
		return nil
	})
}

// DeleteBucketConfig removes the bucket's configuration document called name; removing an absent one is not an
// error.
func (s *Store) DeleteBucketConfig(ctx context.Context, bucket, name string) error {
	return s.UpdateBucketConfigs(ctx, bucket, func(docs map[string][]byte) error {
		delete(docs, name)
		return nil
	})
}

// BucketConfigs returns the bucket and every configuration document it has, read together.
func (s *Store) BucketConfigs(ctx context.Context, bucket string) (Bucket, map[string][]byte, error) {
	var b Bucket
	var docs map[string][]byte
	err := s.view(func(tx *bolt.Tx) error {
		rec, data, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		b = rec.bucket(bucket)
		docs = map[string][]byte{}
		return data.Bucket(configName).ForEach(func(k, v []byte) error {
			docs[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	return b, docs, err
}

// UpdateBucketConfigs changes the bucket's configuration documents atomically: fn gets every document the
// bucket has, by name, and edits the map (adding, replacing, deleting); what changed is stored in one
// transaction, so a check made by fn (an ACL that ownership controls forbid) holds when the change is written. An
// error from fn is returned and nothing is stored. fn may run more than once and must act only on the map.
func (s *Store) UpdateBucketConfigs(ctx context.Context, bucket string, fn func(docs map[string][]byte) error) error {
	return s.update(func(tx *bolt.Tx) error {
		rec, data, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		cfg := data.Bucket(configName)
		old := map[string][]byte{}
		if err := cfg.ForEach(func(k, v []byte) error {
			old[string(k)] = bytes.Clone(v)
			return nil
		}); err != nil {
			return err
		}
		docs := make(map[string][]byte, len(old))
		for k, v := range old {
			docs[k] = bytes.Clone(v)
		}
		if err := fn(docs); err != nil {
			return err
		}
		changed := false
		for name, doc := range docs {
			if name == "" || doc == nil {
				return fmt.Errorf("configuration %q: %w", name, errdefs.ErrInvalidArgument)
			}
			if prev, ok := old[name]; ok && bytes.Equal(prev, doc) {
				continue
			}
			if err := cfg.Put([]byte(name), doc); err != nil {
				return err
			}
			changed = true
		}
		for name := range old {
			if _, ok := docs[name]; !ok {
				if err := cfg.Delete([]byte(name)); err != nil {
					return err
				}
				changed = true
			}
		}
		if !changed {
			return nil
		}
		rec.ConfigVersion++
		return putBucketRecord(tx, bucket, rec)
	})
}

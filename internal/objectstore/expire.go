package objectstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/berth/berth/internal/objectstore/lifecycle"
)

// DefaultLifecycleInterval is how often lifecycle rules are applied while the store is open. S3 applies them
// about once a day; an action is due at a midnight UTC, so an hourly pass acts within the hour.
const DefaultLifecycleInterval = time.Hour

// WithLifecycleInterval sets how often lifecycle rules are applied (0: never in the background; ApplyLifecycle
// still applies them).
func WithLifecycleInterval(d time.Duration) Option { return func(s *Store) { s.lifecycleEvery = d } }

// LifecycleResult counts what a pass over the lifecycle rules did.
type LifecycleResult struct {
	// Expired counts current versions expired (removed, or hidden behind a delete marker when versioned).
	Expired int
	// VersionsDeleted counts noncurrent versions removed for good.
	VersionsDeleted int
	// MarkersRemoved counts expired object delete markers removed.
	MarkersRemoved int
	// UploadsAborted counts incomplete multipart uploads aborted.
	UploadsAborted int
}

// keysPerTx bounds how many keys one write transaction of a lifecycle pass changes, and how many keys one read
// transaction scans: a pass never holds the index for long.
const keysPerTx = 256

// ApplyLifecycle applies every bucket's lifecycle rules as of the store's clock, as S3's daily pass does:
// expiring current versions, removing noncurrent versions and expired delete markers, aborting old uploads. Each
// change is decided again inside the transaction that makes it, so a write racing the pass is never undone, and
// only while the bucket still has the rules the pass read: rules replaced or deleted during a pass, or a bucket
// deleted and created again under the name, stop it there (the next pass applies what is there then).
func (s *Store) ApplyLifecycle(ctx context.Context) (LifecycleResult, error) {
	now := s.now()
	todo, err := s.lifecycleRules()
	if err != nil {
		return LifecycleResult{}, err
	}
	res, err := s.applyRules(ctx, todo, now)
	if res != (LifecycleResult{}) {
		s.log.Info("object store: lifecycle rules applied", "expired", res.Expired, "versions_deleted", res.VersionsDeleted,
			"markers_removed", res.MarkersRemoved, "uploads_aborted", res.UploadsAborted)
	}
	return res, err
}

// lifecycleRules reads the rules of every bucket that has some.
func (s *Store) lifecycleRules() ([]*bucketRules, error) {
	var todo []*bucketRules
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketsName).ForEach(func(k, v []byte) error {
			data := tx.Bucket(bucketDataName(string(k)))
			if data == nil {
				return nil
			}
			doc := data.Bucket(configName).Get([]byte(ConfigLifecycle))
			if doc == nil {
				return nil
			}
			cfg, err := lifecycle.Parse(doc)
			if err != nil {
				s.log.Error("object store: unreadable lifecycle configuration", "bucket", string(k), "error", err)
				return nil
			}
			rec, err := decodeBucket(v)
			if err != nil {
				return fmt.Errorf("index: bucket %q: %w", string(k), err)
			}
			todo = append(todo, &bucketRules{name: string(k), created: rec.Created, doc: bytes.Clone(doc), cfg: cfg})
			return nil
		})
	})
	return todo, err
}

// applyRules applies rules read by lifecycleRules; a bucket whose rules changed since is left to the next pass.
func (s *Store) applyRules(ctx context.Context, todo []*bucketRules, now time.Time) (LifecycleResult, error) {
	var res LifecycleResult
	for _, b := range todo {
		if err := s.expireBucket(ctx, b, now, &res); err != nil {
			return res, err
		}
		if err := s.abortOldUploads(ctx, b, now, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// bucketRules are the lifecycle rules a pass applies to a bucket, as the pass read them.
type bucketRules struct {
	name    string
	created int64  // the bucket's creation: a bucket deleted and created again under the name is another
	doc     []byte // the configuration as stored
	cfg     *lifecycle.Configuration
}

// errRulesChanged stops a pass over a bucket whose rules (or the bucket itself) changed since the pass read them:
// the next pass applies the rules as they are then.
var errRulesChanged = errors.New("lifecycle rules changed during the pass")

// current reports whether the bucket read in a transaction still has the rules the pass is applying.
func (r *bucketRules) current(rec *bucketRecord, data *bolt.Bucket) bool {
	return rec.Created == r.created && bytes.Equal(data.Bucket(configName).Get([]byte(ConfigLifecycle)), r.doc)
}

// keyVersions reads the versions of one key, newest first, as the planner sees them, with their index keys.
func keyVersions(vb *bolt.Bucket, key string) ([]lifecycle.Version, [][]byte, []*record, error) {
	prefix := encKey(nil, key)
	var vs []lifecycle.Version
	var keys [][]byte
	var recs []*record
	c := vb.Cursor()
	for k, v := c.Seek(prefix); k != nil && len(k) == len(prefix)+8 && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		rec, err := decodeRecord(v, false)
		if err != nil {
			return nil, nil, nil, err
		}
		lv := lifecycle.Version{Key: key, Size: rec.Size, DeleteMarker: rec.DeleteMarker, Modified: time.Unix(0, rec.Modified).UTC()}
		if doc := rec.Sub[SubresourceTagging]; doc != nil {
			if tags, err := DecodeTags(doc); err == nil {
				lv.Tags = make(map[string]string, len(tags))
				for _, t := range tags {
					lv.Tags[t.Key] = t.Value
				}
			}
		}
		if n := len(vs); n > 0 {
			lv.NoncurrentSince = vs[n-1].Modified
		}
		vs = append(vs, lv)
		keys = append(keys, bytes.Clone(k))
		recs = append(recs, rec)
	}
	return vs, keys, recs, nil
}

// expireBucket finds the keys the rules act on, a few hundred at a time, then acts on each key in a write
// transaction that plans again with what is there then.
func (s *Store) expireBucket(ctx context.Context, rules *bucketRules, now time.Time, res *LifecycleResult) error {
	bucket, cfg := rules.name, rules.cfg
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var due []string
		var next []byte
		err := s.view(func(tx *bolt.Tx) error {
			_, data, err := getBucket(tx, bucket)
			if err != nil {
				return err
			}
			vb := data.Bucket(versionsName)
			c := vb.Cursor()
			k, _ := c.First()
			if after != nil {
				k, _ = c.Seek(after)
			}
			scanned := 0
			for k != nil {
				key, _, ok := splitVersionKey(k)
				if !ok {
					k, _ = c.Next()
					continue
				}
				if scanned == keysPerTx {
					next = encKey(nil, key) // resume at this key's first version
					return nil
				}
				scanned++
				vs, _, _, err := keyVersions(vb, key)
				if err != nil {
					return err
				}
				if len(cfg.Plan(vs, now)) > 0 {
					due = append(due, key)
				}
				k, _ = c.Seek(keyEnd(key))
			}
			return nil
		})
		if isNoSuchBucket(err) {
			return nil
		}
		if err != nil {
			return err
		}
		for len(due) > 0 {
			n := min(len(due), keysPerTx)
			if err := s.expireKeys(rules, due[:n], now, res); err != nil {
				if isNoSuchBucket(err) || errors.Is(err, errRulesChanged) {
					return nil
				}
				return err
			}
			due = due[n:]
		}
		if next == nil {
			return nil
		}
		after = next
	}
}

// isNoSuchBucket is a bucket deleted while a pass went over it: nothing left to do there.
func isNoSuchBucket(err error) bool { return errors.Is(err, ErrNoSuchBucket) }

// expireKeys applies the rules to keys in one transaction, if the bucket still has them.
func (s *Store) expireKeys(rules *bucketRules, keys []string, now time.Time, res *LifecycleResult) error {
	bucket, cfg := rules.name, rules.cfg
	var freed []blobID
	var counts LifecycleResult
	err := s.update(func(tx *bolt.Tx) error {
		freed, counts = freed[:0], LifecycleResult{}
		b, data, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		if !rules.current(b, data) {
			return errRulesChanged
		}
		vb := data.Bucket(versionsName)
		for _, key := range keys {
			vs, ks, recs, err := keyVersions(vb, key)
			if err != nil {
				return err
			}
			acts := cfg.Plan(vs, now)
			expire := false
			for _, a := range acts {
				switch a.Kind {
				case lifecycle.ExpireCurrent:
					expire = true // last: it adds a version in front of the ones indexed here
					continue
				case lifecycle.DeleteVersion:
					counts.VersionsDeleted++
				case lifecycle.RemoveDeleteMarker:
					counts.MarkersRemoved++
				}
				f, err := dropRecordRefs(tx, recs[a.Index])
				if err != nil {
					return err
				}
				freed = append(freed, f...)
				if err := vb.Delete(ks[a.Index]); err != nil {
					return err
				}
			}
			if !expire {
				continue
			}
			counts.Expired++
			if b.Versioning == Unversioned {
				f, err := dropRecordRefs(tx, recs[0])
				if err != nil {
					return err
				}
				freed = append(freed, f...)
				if err := vb.Delete(ks[0]); err != nil {
					return err
				}
				continue
			}
			marker := &record{DeleteMarker: true, Modified: now.UnixNano(), Owner: b.Owner}
			f, err := putVersion(tx, data, b.Versioning, key, marker)
			if err != nil {
				return err
			}
			freed = append(freed, f...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.Expired += counts.Expired
	res.VersionsDeleted += counts.VersionsDeleted
	res.MarkersRemoved += counts.MarkersRemoved
	s.release(freed...)
	return nil
}

// abortOldUploads aborts the uploads a rule says are too old.
func (s *Store) abortOldUploads(ctx context.Context, rules *bucketRules, now time.Time, res *LifecycleResult) error {
	bucket, cfg := rules.name, rules.cfg
	if !cfg.HasUploadRules() {
		return nil
	}
	type upload struct{ key, id string }
	var due []upload
	err := s.view(func(tx *bolt.Tx) error {
		b, data, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		if !rules.current(b, data) {
			return nil
		}
		return data.Bucket(uploadsName).ForEach(func(k, v []byte) error {
			key, _, ok := splitUploadKey(k)
			if !ok {
				return nil
			}
			var u uploadRecord
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			if _, ok := cfg.AbortUpload(key, time.Unix(0, u.Initiated), now); ok {
				due = append(due, upload{key, u.UploadID})
			}
			return nil
		})
	})
	if isNoSuchBucket(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, u := range due {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.AbortMultipartUpload(ctx, bucket, u.key, u.id)
		switch {
		case err == nil:
			res.UploadsAborted++
		case isNoSuchBucket(err):
			return nil
		case errors.Is(err, ErrNoSuchUpload):
			// completed or aborted meanwhile
		default:
			return err
		}
	}
	return nil
}

func (s *Store) lifecycler() {
	defer s.done.Done()
	if s.lifecycleEvery <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	t := time.NewTicker(s.lifecycleEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if _, err := s.ApplyLifecycle(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("object store: applying lifecycle rules", "error", err)
			}
		}
	}
}

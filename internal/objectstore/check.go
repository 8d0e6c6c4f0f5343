package objectstore

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/berth/berth/internal/content"
)

// Check verifies the store's invariants: every blob reference count equals the number of versions and parts
// that reference the blob, every referenced blob has its block checksums and its file, of the recorded size. It
// returns the first violation. Blob files that nothing references are not violations (Sweep removes them); it is
// meant for tests and for an offline check, and reads the whole index in one transaction.
func (s *Store) Check(ctx context.Context) error {
	return s.view(func(tx *bolt.Tx) error {
		counted := map[string]uint64{}
		sizes := map[string]int64{}
		err := tx.Bucket(bucketsName).ForEach(func(name, _ []byte) error {
			data := tx.Bucket(bucketDataName(string(name)))
			if data == nil {
				return fmt.Errorf("bucket %s has no data", name)
			}
			err := data.Bucket(versionsName).ForEach(func(k, v []byte) error {
				rec, err := decodeRecord(v, false)
				if err != nil {
					return err
				}
				for _, c := range rec.Chunks {
					counted[c.Blob]++
					sizes[c.Blob] = c.Size
				}
				return nil
			})
			if err != nil {
				return err
			}
			return data.Bucket(partsName).ForEach(func(k, v []byte) error {
				p, err := decodePart(v)
				if err != nil {
					return err
				}
				counted[p.Blob]++
				sizes[p.Blob] = p.Size
				return nil
			})
		})
		if err != nil {
			return err
		}
		refs := tx.Bucket(blobRefsName)
		err = refs.ForEach(func(k, v []byte) error {
			h := hex.EncodeToString(k)
			n, size := decodeRefs(v)
			if counted[h] != n {
				return fmt.Errorf("blob %s: %d references recorded, %d found", h, n, counted[h])
			}
			if size != sizes[h] {
				return fmt.Errorf("blob %s: size %d recorded, %d referenced", h, size, sizes[h])
			}
			if tx.Bucket(blobSumsName).Get(k) == nil {
				return fmt.Errorf("blob %s has no block checksums", h)
			}
			info, err := s.blobs.Info(ctx, digest.NewDigestFromEncoded(digest.SHA256, h))
			if err != nil {
				return fmt.Errorf("blob %s: %w", h, err)
			}
			if info.Size != size {
				return fmt.Errorf("blob %s: file holds %d bytes, %d recorded", h, info.Size, size)
			}
			delete(counted, h)
			return nil
		})
		if err != nil {
			return err
		}
		for h, n := range counted {
			return fmt.Errorf("blob %s: referenced %d times but not recorded", h, n)
		}
		return nil
	})
}

// unreferencedBlobs lists the blob files no index entry references (what Sweep would remove).
func (s *Store) unreferencedBlobs(ctx context.Context) ([]string, error) {
	var out []string
	err := s.view(func(tx *bolt.Tx) error {
		refs := tx.Bucket(blobRefsName)
		return s.blobs.Walk(ctx, func(info content.Info) error {
			b, err := hex.DecodeString(info.Digest.Encoded())
			if err != nil || refs.Get(b) == nil {
				out = append(out, info.Digest.Encoded())
			}
			return nil
		})
	})
	return out, err
}

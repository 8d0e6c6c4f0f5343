package objectstore

import (
	"bytes"
	"context"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// DefaultMaxKeys is the page size of a listing that names none, and the most a page holds.
const DefaultMaxKeys = 1000

// ListObjectsInput selects a page of a bucket's current objects (ListObjects and ListObjectsV2).
type ListObjectsInput struct {
	Prefix    string
	Delimiter string
	// After starts the page after this key: a v1 marker, a v2 start-after or continuation token. When After is a
	// common prefix (as NextMarker is when a page ended on one), the keys under it are skipped too.
	After string
	// MaxKeys bounds the keys plus common prefixes returned; 0 (or more than DefaultMaxKeys) is DefaultMaxKeys.
	// (S3's max-keys=0, an empty page, is the API's to answer.)
	MaxKeys int
}

// ListObjectsOutput is a page of a listing.
type ListObjectsOutput struct {
	Objects        []ObjectInfo
	CommonPrefixes []string
	IsTruncated    bool
	// Next is the last key or common prefix of the page: where the next page starts.
	Next string
}

// commonPrefix returns the common prefix key rolls up into under prefix and delimiter, or "".
func commonPrefix(key, prefix, delimiter string) string {
	if delimiter == "" || !strings.HasPrefix(key, prefix) {
		return ""
	}
	if i := strings.Index(key[len(prefix):], delimiter); i >= 0 {
		return key[:len(prefix)+i+len(delimiter)]
	}
	return ""
}

// startAfter returns where a listing after marker begins: past every entry of marker, and past everything under
// it when marker is itself a common prefix.
func startAfter(prefix, delimiter, marker string) []byte {
	p := encPrefix(prefix)
	if marker == "" {
		return p
	}
	var from []byte
	if cp := commonPrefix(marker, prefix, delimiter); cp != "" && cp == marker {
		from = prefixEnd(encPrefix(marker))
	} else {
		from = keyEnd(marker)
	}
	if from == nil || bytes.Compare(from, p) < 0 {
		return p
	}
	return from
}

func clampMax(n int) int {
	if n <= 0 || n > DefaultMaxKeys {
		return DefaultMaxKeys
	}
	return n
}

// ListObjects returns a page of the bucket's current objects (keys whose newest version is not a delete marker),
// in key order, with keys under a delimiter rolled up into common prefixes.
func (s *Store) ListObjects(ctx context.Context, bucket string, in ListObjectsInput) (ListObjectsOutput, error) {
	var out ListObjectsOutput
	limit := clampMax(in.MaxKeys)
	err := s.view(func(tx *bolt.Tx) error {
		_, data, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		p := encPrefix(in.Prefix)
		c := data.Bucket(versionsName).Cursor()
		k, v := c.Seek(startAfter(in.Prefix, in.Delimiter, in.After))
		for k != nil && bytes.HasPrefix(k, p) {
			if err := ctx.Err(); err != nil {
				return err
			}
			key, _, ok := splitVersionKey(k)
			if !ok {
				k, v = c.Next()
				continue
			}
			if cp := commonPrefix(key, in.Prefix, in.Delimiter); cp != "" {
				// A prefix is listed only when a current object has it: one whose keys were all deleted (delete
				// markers in front) is not, as S3 lists it.
				live, err := liveUnder(c, k, v, encPrefix(cp))
				if err != nil {
					return err
				}
				if live {
					if len(out.Objects)+len(out.CommonPrefixes) == limit {
						out.IsTruncated = true
						return nil
					}
					out.CommonPrefixes = append(out.CommonPrefixes, cp)
					out.Next = cp
				}
				end := prefixEnd(encPrefix(cp))
				if end == nil {
					return nil
				}
				k, v = c.Seek(end)
				continue
			}
			// The first entry of a key is its newest version.
			rec, err := decodeRecord(v, false)
			if err != nil {
				return err
			}
			if !rec.DeleteMarker {
				if len(out.Objects)+len(out.CommonPrefixes) == limit {
					out.IsTruncated = true
					return nil
				}
				out.Objects = append(out.Objects, rec.info(bucket, key, true))
				out.Next = key
			}
			k, v = c.Next()
			if k != nil && bytes.HasPrefix(k, encKey(nil, key)) {
				k, v = c.Seek(keyEnd(key))
			}
		}
		return nil
	})
	return out, err
}

// liveUnder reports whether a key under the encoded prefix p, from the cursor's entry (k, v) on (the first entry
// of a key: its newest version), has a newest version that is not a delete marker. It moves the cursor.
func liveUnder(c *bolt.Cursor, k, v, p []byte) (bool, error) {
	for k != nil && bytes.HasPrefix(k, p) {
		key, _, ok := splitVersionKey(k)
		if !ok {
			k, v = c.Next()
			continue
		}
		rec, err := decodeRecord(v, false)
		if err != nil {
			return false, err
		}
		if !rec.DeleteMarker {
			return true, nil
		}
		k, v = c.Seek(keyEnd(key))
	}
	return false, nil
}

// ListVersionsInput selects a page of a bucket's versions and delete markers (ListObjectVersions).
type ListVersionsInput struct {
	Prefix    string
	Delimiter string
	// KeyMarker and VersionIDMarker start the page after that version of that key; with no VersionIDMarker, after
	// every version of KeyMarker.
	KeyMarker       string
	VersionIDMarker string
	MaxKeys         int
}

// ListVersionsOutput is a page of versions: by key, newest first within a key.
type ListVersionsOutput struct {
	Versions            []ObjectInfo
	CommonPrefixes      []string
	IsTruncated         bool
	NextKeyMarker       string
	NextVersionIDMarker string
}

// ListObjectVersions returns a page of the bucket's versions and delete markers.
func (s *Store) ListObjectVersions(ctx context.Context, bucket string, in ListVersionsInput) (ListVersionsOutput, error) {
	var out ListVersionsOutput
	if in.VersionIDMarker != "" && in.KeyMarker == "" {
		return out, ErrInvalidArgument.With("A version-id marker cannot be specified without a key marker.").
			WithExtra("ArgumentName", "version-id-marker").WithExtra("ArgumentValue", in.VersionIDMarker)
	}
	limit := clampMax(in.MaxKeys)
	err := s.view(func(tx *bolt.Tx) error {
		_, data, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		vb := data.Bucket(versionsName)
		c := vb.Cursor()
		p := encPrefix(in.Prefix)
		var k, v []byte
		// latestOf is the key whose newest version has been seen; an entry of another key is that key's newest.
		latestOf, seenKey := "", false
		if in.VersionIDMarker != "" {
			var from []byte
			if in.VersionIDMarker == NullVersion {
				nk, _, err := findNullVersion(vb, in.KeyMarker)
				if err != nil {
					return err
				}
				from = nk
			} else {
				seq, ok := seqOfID(in.VersionIDMarker, versionIDRandom)
				if !ok {
					return invalidVersion(in.VersionIDMarker)
				}
				from = versionKey(in.KeyMarker, seq)
			}
			if from == nil {
				// No null version to start after: start after the key.
				k, v = c.Seek(keyEnd(in.KeyMarker))
			} else {
				k, v = c.Seek(from)
				if k != nil && bytes.Equal(k, from) {
					k, v = c.Next()
				}
				latestOf, seenKey = in.KeyMarker, true
			}
			if bytes.Compare(k, p) < 0 {
				k, v = c.Seek(p)
			}
		} else {
			k, v = c.Seek(startAfter(in.Prefix, in.Delimiter, in.KeyMarker))
		}
		for k != nil && bytes.HasPrefix(k, p) {
			if err := ctx.Err(); err != nil {
				return err
			}
			key, _, ok := splitVersionKey(k)
			if !ok {
				k, v = c.Next()
				continue
			}
			full := len(out.Versions)+len(out.CommonPrefixes) == limit
			if cp := commonPrefix(key, in.Prefix, in.Delimiter); cp != "" {
				if full {
					out.IsTruncated = true
					return nil
				}
				out.CommonPrefixes = append(out.CommonPrefixes, cp)
				out.NextKeyMarker, out.NextVersionIDMarker = cp, ""
				end := prefixEnd(encPrefix(cp))
				if end == nil {
					return nil
				}
				k, v = c.Seek(end)
				continue
			}
			if full {
				out.IsTruncated = true
				return nil
			}
			rec, err := decodeRecord(v, false)
			if err != nil {
				return err
			}
			latest := !seenKey || latestOf != key
			latestOf, seenKey = key, true
			out.Versions = append(out.Versions, rec.info(bucket, key, latest))
			out.NextKeyMarker, out.NextVersionIDMarker = key, rec.VersionID
			k, v = c.Next()
		}
		return nil
	})
	if !out.IsTruncated {
		out.NextKeyMarker, out.NextVersionIDMarker = "", ""
	}
	return out, err
}

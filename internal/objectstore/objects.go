package objectstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"maps"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PutObjectInput is a single-request upload.
type PutObjectInput struct {
	Bucket, Key string
	// BucketID, when set, binds the write to that bucket (Bucket.ID, as the caller authorized it): when the name
	// means another bucket by the time the object is committed, the write is ErrNoSuchBucket and nothing is kept.
	BucketID string
	// Body is read to its end; Size is its declared length (-1 when unknown: chunked).
	Body io.Reader
	Size int64
	// Metadata is stored and returned with the object.
	Metadata Metadata
	// ContentMD5, when set, must match the body's MD5 (ErrBadDigest).
	ContentMD5 []byte
	Checksum   ChecksumInput
	// PayloadSHA256, when set, is the SHA-256 the request's signature covers, its check left to the store (it
	// computes the blob's SHA-256 anyway): another digest is ErrContentSHA256Mismatch and nothing is stored.
	PayloadSHA256 *[32]byte
	Conditions    WriteConditions
	Owner         Owner
	// Subresources are stored with the version (an ACL, a tag set, …).
	Subresources map[string][]byte
}

// PutObject stores a new version of a key (or replaces its null version), once the whole body has been read and
// checked. The new version is visible, and durable, when PutObject returns.
func (s *Store) PutObject(ctx context.Context, in PutObjectInput) (ObjectInfo, error) {
	if err := ValidateKey(in.Key); err != nil {
		return ObjectInfo{}, err
	}
	// An absent bucket is refused before the body is read (and a client waiting on 100-continue sends nothing).
	if err := s.checkBucketID(ctx, in.Bucket, in.BucketID); err != nil {
		return ObjectInfo{}, err
	}
	data, err := s.ingest(ctx, in.Body, in.Size, MaxObjectSize, true, bodyChecks{checksum: in.Checksum, contentMD5: in.ContentMD5, payloadSHA256: in.PayloadSHA256})
	if err != nil {
		return ObjectInfo{}, err
	}
	defer s.unpin(data.pinned()...)
	rec := &record{
		Size:  data.size,
		ETag:  data.etag(),
		Meta:  in.Metadata,
		Owner: in.Owner,
		Sub:   in.Subresources,
	}
	if data.checksum != nil {
		rec.Checksum = Checksum{Algorithm: in.Checksum.Algorithm, Type: FullObject, Value: encodeChecksum(data.checksum)}
	}
	if data.blob != nil {
		rec.Chunks = []chunk{{Blob: data.blob.id.hex(), Size: data.size}}
	} else {
		rec.inline = data.inline
		rec.InlineCRC = crc32.Checksum(data.inline, castagnoli)
	}
	return s.commitVersion(in.Bucket, in.BucketID, in.Key, rec, in.Conditions, func(tx *bolt.Tx) error {
		if data.blob != nil {
			return addRef(tx, data.blob.id, data.size, data.blob.sums)
		}
		return nil
	})
}

// commitVersion writes rec as the key's new version in one index transaction: preconditions checked against the
// current version, refs (the new version's blob references) taken, the version ID assigned by the bucket's
// versioning state, and a replaced null version's blobs released after the commit. bucketID, when set, is the
// bucket the write was authorized on (getBucketOf).
func (s *Store) commitVersion(bucket, bucketID, key string, rec *record, cond WriteConditions, refs func(*bolt.Tx) error) (ObjectInfo, error) {
	var freed []blobID
	var info ObjectInfo
	err := s.update(func(tx *bolt.Tx) error {
		freed = freed[:0]
		b, data, err := getBucketOf(tx, bucket, bucketID)
		if err != nil {
			return err
		}
		vb := data.Bucket(versionsName)
		if err := checkWriteConditions(vb, key, cond); err != nil {
			return err
		}
		if err := refs(tx); err != nil {
			return err
		}
		rec.Modified = s.now().UnixNano()
		f, err := putVersion(tx, data, b.Versioning, key, rec)
		freed = f
		info = rec.info(bucket, key, true)
		return err
	})
	if err != nil {
		return ObjectInfo{}, err
	}
	s.release(freed...)
	return info, nil
}

// checkWriteConditions evaluates a conditional write against the key's current version.
func checkWriteConditions(vb *bolt.Bucket, key string, cond WriteConditions) error {
	if cond.IfMatch == "" && cond.IfNoneMatch == "" {
		return nil
	}
	_, cur, err := latestVersion(vb, key, false)
	if err != nil {
		return err
	}
	exists := cur != nil && !cur.DeleteMarker
	if cond.IfNoneMatch != "" && exists && etagMatches(cond.IfNoneMatch, cur.ETag) {
		return ErrPreconditionFailed.WithExtra("Condition", "If-None-Match")
	}
	if cond.IfMatch != "" {
		if !exists {
			return noSuchKey(key)
		}
		if !etagMatches(cond.IfMatch, cur.ETag) {
			return ErrPreconditionFailed.WithExtra("Condition", "If-Match")
		}
	}
	return nil
}

// putVersion stores rec as the newest version of key: with a new version ID when versioning is enabled, else as
// the null version, replacing the previous null version wherever it stands. It returns the blobs whose last
// reference the replacement dropped.
func putVersion(tx *bolt.Tx, data *bolt.Bucket, state Versioning, key string, rec *record) ([]blobID, error) {
	vb := data.Bucket(versionsName)
	seq, err := data.NextSequence()
	if err != nil {
		return nil, err
	}
	var freed []blobID
	if state == VersioningEnabled {
		rec.VersionID = newVersionID(seq)
	} else {
		rec.VersionID = NullVersion
		k, old, err := findNullVersion(vb, key)
		if err != nil {
			return nil, err
		}
		if old != nil {
			if freed, err = dropRecordRefs(tx, old); err != nil {
				return nil, err
			}
			if err := vb.Delete(k); err != nil {
				return nil, err
			}
		}
	}
	val, err := encodeRecord(rec)
	if err != nil {
		return nil, err
	}
	rec.seq = seq
	return freed, vb.Put(versionKey(key, seq), val)
}

// dropRecordRefs drops a removed version's blob references, returning the blobs left unreferenced.
func dropRecordRefs(tx *bolt.Tx, rec *record) ([]blobID, error) {
	var freed []blobID
	for _, c := range rec.Chunks {
		id, err := parseBlobID(c.Blob)
		if err != nil {
			return nil, err
		}
		last, err := dropRef(tx, id)
		if err != nil {
			return nil, err
		}
		if last {
			freed = append(freed, id)
		}
	}
	return freed, nil
}

// latestVersion returns the newest version of key (nil when it has none).
func latestVersion(vb *bolt.Bucket, key string, withData bool) ([]byte, *record, error) {
	prefix := encKey(nil, key)
	k, v := vb.Cursor().Seek(prefix)
	if k == nil || len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
		return nil, nil, nil
	}
	rec, err := decodeRecord(v, withData)
	return k, rec, err
}

// findNullVersion returns the key's null version (nil when it has none).
func findNullVersion(vb *bolt.Bucket, key string) ([]byte, *record, error) {
	prefix := encKey(nil, key)
	c := vb.Cursor()
	for k, v := c.Seek(prefix); k != nil && len(k) == len(prefix)+8 && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		rec, err := decodeRecord(v, false)
		if err != nil {
			return nil, nil, err
		}
		if rec.VersionID == NullVersion {
			return bytes.Clone(k), rec, nil
		}
	}
	return nil, nil, nil
}

// findVersion returns the version of key with the given ID ("" for the newest), its index key and whether it is
// the newest. A missing version is ErrNoSuchKey (no ID) or ErrNoSuchVersion; a malformed ID ErrInvalidArgument.
func findVersion(vb *bolt.Bucket, key, versionID string, withData bool) ([]byte, *record, bool, error) {
	latestK, latest, err := latestVersion(vb, key, withData && versionID == "")
	if err != nil {
		return nil, nil, false, err
	}
	if versionID == "" {
		if latest == nil {
			return nil, nil, false, noSuchKey(key)
		}
		latest.seq = versionSeq(latestK)
		return latestK, latest, true, nil
	}
	var k []byte
	var rec *record
	if versionID == NullVersion {
		k, rec, err = findNullVersion(vb, key)
		if err != nil {
			return nil, nil, false, err
		}
		if rec != nil && withData {
			rec, err = decodeRecord(vb.Get(k), true)
		}
	} else {
		seq, ok := seqOfID(versionID, versionIDRandom)
		if !ok {
			return nil, nil, false, invalidVersion(versionID)
		}
		k = versionKey(key, seq)
		if v := vb.Get(k); v != nil {
			rec, err = decodeRecord(v, withData)
			if err == nil && rec.VersionID != versionID {
				rec = nil
			}
		}
	}
	if err != nil {
		return nil, nil, false, err
	}
	if rec == nil {
		return nil, nil, false, noSuchVersion(key, versionID)
	}
	rec.seq = versionSeq(k)
	return k, rec, bytes.Equal(k, latestK), nil
}

// versionSeq is the seq of a versions entry's key.
func versionSeq(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return ^binary.BigEndian.Uint64(k[len(k)-8:])
}

func (r *record) info(bucket, key string, latest bool) ObjectInfo {
	return ObjectInfo{
		Bucket:       bucket,
		Key:          key,
		VersionID:    r.VersionID,
		IsLatest:     latest,
		DeleteMarker: r.DeleteMarker,
		Size:         r.Size,
		ETag:         r.ETag,
		LastModified: time.Unix(0, r.Modified).UTC(),
		Metadata:     r.Meta,
		Checksum:     r.Checksum,
		PartsCount:   len(r.Parts),
		Owner:        r.Owner,
		Subresources: r.Sub,
		seq:          r.seq,
	}
}

// GetOptions selects what a read returns and under which conditions.
type GetOptions struct {
	// VersionID selects a version ("" for the newest, NullVersion for the null version).
	VersionID string
	// PartNumber selects one part of a multipart object (1 for the whole of any other); 0 for all.
	PartNumber int
	// Range selects bytes (not with PartNumber).
	Range *Range
	// Conditions are checked against the selected version.
	Conditions Conditions
}

// lookup finds the version a read names and checks what S3 checks before answering: a delete marker, the
// preconditions.
func lookup(tx *bolt.Tx, bucket, key string, opts GetOptions, withData bool) (*record, bool, error) {
	_, data, err := getBucket(tx, bucket)
	if err != nil {
		return nil, false, err
	}
	if err := ValidateKey(key); err != nil {
		return nil, false, err
	}
	_, rec, latest, err := findVersion(data.Bucket(versionsName), key, opts.VersionID, withData)
	if err != nil {
		return nil, false, err
	}
	if rec.DeleteMarker {
		e := ErrNoSuchKey.WithExtra("Key", key)
		if opts.VersionID != "" {
			e = ErrMethodNotAllowed.With("The specified method is not allowed against this resource.").
				WithExtra("Method", "GET").WithExtra("ResourceType", "DeleteMarker")
		}
		return nil, false, &ObjectError{Info: rec.info(bucket, key, latest), Err: e}
	}
	if err := checkConditions(opts.Conditions, rec.ETag, time.Unix(0, rec.Modified)); err != nil {
		return nil, false, &ObjectError{Info: rec.info(bucket, key, latest), Err: err}
	}
	return rec, latest, nil
}

// StatObject describes the version a read with opts would return (HEAD), with the same errors.
func (s *Store) StatObject(ctx context.Context, bucket, key string, opts GetOptions) (ObjectInfo, error) {
	var info ObjectInfo
	err := s.view(func(tx *bolt.Tx) error {
		rec, latest, err := lookup(tx, bucket, key, opts, false)
		if err != nil {
			return err
		}
		info = rec.info(bucket, key, latest)
		if opts.PartNumber > 0 {
			if _, _, err := partRange(rec, opts.PartNumber); err != nil {
				return &ObjectError{Info: info, Err: err}
			}
		}
		return nil
	})
	return info, err
}

// partRange returns the bytes of part n of a version.
func partRange(rec *record, n int) (int64, int64, error) {
	if n < 1 || n > MaxParts {
		return 0, 0, ErrInvalidArgument.With("Part number must be an integer between 1 and 10000, inclusive").
			WithExtra("ArgumentName", "partNumber").WithExtra("ArgumentValue", itoa(int64(n)))
	}
	if len(rec.Parts) == 0 {
		if n == 1 {
			return 0, rec.Size, nil
		}
		return 0, 0, ErrInvalidPartNumber
	}
	if n > len(rec.Parts) {
		return 0, 0, ErrInvalidPartNumber
	}
	var off int64
	for _, p := range rec.Parts[:n-1] {
		off += p.Size
	}
	return off, rec.Parts[n-1].Size, nil
}

// ErrInvalidPartNumber is a read of a part the object does not have.
var ErrInvalidPartNumber = &Error{Code: "InvalidPartNumber", Message: "The requested partnumber is not satisfiable", category: ErrInvalidRange.category}

// DeleteObjectInput names what a DELETE removes.
type DeleteObjectInput struct {
	Bucket, Key string
	// BucketID, when set, binds the delete to that bucket, as PutObjectInput.BucketID binds a write.
	BucketID string
	// VersionID removes that version for good (a delete marker too); "" removes the key as the bucket's
	// versioning state says (the null version goes, or a delete marker is added).
	VersionID string
	// Owner is who a delete marker is attributed to.
	Owner Owner
	// Conditions, when set, must hold for the version the delete removes (see DeleteConditions).
	Conditions DeleteConditions
}

// DeleteConditions are a delete's preconditions (S3's conditional deletes), judged against the version the delete
// would remove: the key's current version, or the one VersionID names. Zero fields are absent.
//
// IfMatch (If-Match) is an ETag list or "*": a version with another ETag, or a delete marker, fails
// (ErrPreconditionFailed), and so does the lack of any version (ErrNoSuchKey), as S3 answers on general purpose
// buckets. LastModified (x-amz-if-match-last-modified-time, to the second) and Size (x-amz-if-match-size) fail on
// a version that differs or a delete marker, and hold when there is nothing to delete, as S3 documents them.
type DeleteConditions struct {
	IfMatch      string
	LastModified time.Time
	Size         *int64
}

func (c DeleteConditions) set() bool {
	return c.IfMatch != "" || !c.LastModified.IsZero() || c.Size != nil
}

// check judges the conditions against rec, the version a delete would remove (nil: there is none).
func (c DeleteConditions) check(key string, rec *record) error {
	if !c.set() {
		return nil
	}
	if rec == nil {
		if c.IfMatch != "" {
			return noSuchKey(key)
		}
		return nil
	}
	switch {
	case c.IfMatch != "" && (rec.DeleteMarker || !etagMatches(c.IfMatch, rec.ETag)):
		return ErrPreconditionFailed.WithExtra("Condition", "If-Match")
	case !c.LastModified.IsZero() && (rec.DeleteMarker || time.Unix(0, rec.Modified).Unix() != c.LastModified.Unix()):
		return ErrPreconditionFailed.WithExtra("Condition", "x-amz-if-match-last-modified-time")
	case c.Size != nil && (rec.DeleteMarker || rec.Size != *c.Size):
		return ErrPreconditionFailed.WithExtra("Condition", "x-amz-if-match-size")
	}
	return nil
}

// DeleteObjectOutput says what a delete did.
type DeleteObjectOutput struct {
	// VersionID is the version removed or the delete marker added ("" when an unversioned bucket lost its object).
	VersionID string
	// DeleteMarker is set when a delete marker was added or the version removed was one.
	DeleteMarker bool
}

// DeleteObject removes a key or a version, as S3 does: a delete of a missing key or version succeeds.
func (s *Store) DeleteObject(ctx context.Context, in DeleteObjectInput) (DeleteObjectOutput, error) {
	if err := ValidateKey(in.Key); err != nil {
		return DeleteObjectOutput{}, err
	}
	if in.VersionID != "" && in.VersionID != NullVersion {
		if _, ok := seqOfID(in.VersionID, versionIDRandom); !ok {
			return DeleteObjectOutput{}, invalidVersion(in.VersionID)
		}
	}
	var out DeleteObjectOutput
	var freed []blobID
	err := s.update(func(tx *bolt.Tx) error {
		out, freed = DeleteObjectOutput{}, freed[:0]
		b, data, err := getBucketOf(tx, in.Bucket, in.BucketID)
		if err != nil {
			return err
		}
		vb := data.Bucket(versionsName)
		if in.VersionID != "" {
			out.VersionID = in.VersionID
			k, rec, _, err := findVersion(vb, in.Key, in.VersionID, false)
			if err != nil {
				if isNotFound(err) {
					return in.Conditions.check(in.Key, nil)
				}
				return err
			}
			if err := in.Conditions.check(in.Key, rec); err != nil {
				return err
			}
			out.DeleteMarker = rec.DeleteMarker
			if freed, err = dropRecordRefs(tx, rec); err != nil {
				return err
			}
			return vb.Delete(k)
		}
		if in.Conditions.set() {
			_, cur, err := latestVersion(vb, in.Key, false)
			if err != nil {
				return err
			}
			if err := in.Conditions.check(in.Key, cur); err != nil {
				return err
			}
		}
		if b.Versioning == Unversioned {
			k, rec, err := findNullVersion(vb, in.Key)
			if err != nil || rec == nil {
				return err
			}
			if freed, err = dropRecordRefs(tx, rec); err != nil {
				return err
			}
			return vb.Delete(k)
		}
		marker := &record{DeleteMarker: true, Modified: s.now().UnixNano(), Owner: in.Owner}
		f, err := putVersion(tx, data, b.Versioning, in.Key, marker)
		freed = f
		out.VersionID, out.DeleteMarker = marker.VersionID, true
		return err
	})
	if err != nil {
		return DeleteObjectOutput{}, err
	}
	s.release(freed...)
	return out, nil
}

func isNotFound(err error) bool {
	return errors.Is(err, ErrNoSuchVersion) || errors.Is(err, ErrNoSuchKey)
}

// SubresourceInput names a version and the document to attach to it or remove from it.
type SubresourceInput struct {
	Bucket, Key string
	// BucketID, when set, binds the change to that bucket, as PutObjectInput.BucketID binds a write.
	BucketID string
	// VersionID selects the version ("" for the key's current one).
	VersionID string
	// Of, when set, is the version the caller decided on, as the store described it (StatObject, ObjectParts):
	// when the version VersionID selects is another one by now (a write replaced the current or the null
	// version), the change is ErrVersionChanged and nothing is changed.
	Of *ObjectInfo
	// Name names the document; Doc is its new content (nil removes it).
	Name string
	Doc  []byte
}

// SetSubresource attaches (Doc != nil) or removes (Doc == nil) the named document of an existing version, in
// place: no new version is written.
func (s *Store) SetSubresource(ctx context.Context, in SubresourceInput) (ObjectInfo, error) {
	var info ObjectInfo
	err := s.update(func(tx *bolt.Tx) error {
		_, data, err := getBucketOf(tx, in.Bucket, in.BucketID)
		if err != nil {
			return err
		}
		if err := ValidateKey(in.Key); err != nil {
			return err
		}
		vb := data.Bucket(versionsName)
		k, rec, latest, err := findVersion(vb, in.Key, in.VersionID, true)
		if err != nil {
			if in.Of != nil && isNotFound(err) {
				return ErrVersionChanged
			}
			return err
		}
		if in.Of != nil && (rec.VersionID != in.Of.VersionID || in.Of.seq != 0 && rec.seq != in.Of.seq) {
			return ErrVersionChanged
		}
		if rec.DeleteMarker {
			return &ObjectError{Info: rec.info(in.Bucket, in.Key, latest), Err: ErrMethodNotAllowed.With("The specified method is not allowed against this resource.")}
		}
		sub := maps.Clone(rec.Sub)
		if in.Doc == nil {
			delete(sub, in.Name)
		} else {
			if sub == nil {
				sub = map[string][]byte{}
			}
			sub[in.Name] = bytes.Clone(in.Doc)
		}
		rec.Sub = sub
		val, err := encodeRecord(rec)
		if err != nil {
			return err
		}
		info = rec.info(in.Bucket, in.Key, latest)
		return vb.Put(k, val)
	})
	return info, err
}

// ObjectParts describes the version a read with opts would return (as StatObject does, with its errors) and lists
// its parts, read in one transaction: for a multipart version their sizes, ETags and, when the upload had a
// checksum algorithm, their checksums; none for another object.
func (s *Store) ObjectParts(ctx context.Context, bucket, key string, opts GetOptions) (ObjectInfo, []Part, error) {
	var info ObjectInfo
	var parts []Part
	err := s.view(func(tx *bolt.Tx) error {
		rec, latest, err := lookup(tx, bucket, key, opts, false)
		if err != nil {
			return err
		}
		info = rec.info(bucket, key, latest)
		parts = rec.partList()
		return nil
	})
	return info, parts, err
}

// partList is the parts of a multipart version (nil for another).
func (r *record) partList() []Part {
	var parts []Part
	for i, p := range r.Parts {
		part := Part{PartNumber: i + 1, Size: p.Size, ETag: p.ETag, LastModified: time.Unix(0, r.Modified).UTC()}
		if p.Checksum != "" {
			part.Checksum = Checksum{Algorithm: r.Checksum.Algorithm, Value: p.Checksum}
		}
		parts = append(parts, part)
	}
	return parts
}

package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CreateUploadInput starts a multipart upload.
type CreateUploadInput struct {
	Bucket, Key string
	// BucketID, when set, binds the upload to that bucket, as PutObjectInput.BucketID binds a write.
	BucketID string
	Metadata Metadata
	// ChecksumAlgorithm makes every part carry a checksum of that algorithm, and the object one of ChecksumType
	// (Composite by default, FullObject for CRC64NVME).
	ChecksumAlgorithm ChecksumAlgorithm
	ChecksumType      ChecksumType
	Owner             Owner
	Subresources      map[string][]byte
}

// Upload describes a multipart upload in progress.
type Upload struct {
	Bucket, Key       string
	UploadID          string
	Initiated         time.Time
	Metadata          Metadata
	ChecksumAlgorithm ChecksumAlgorithm
	ChecksumType      ChecksumType
	Owner             Owner
	Subresources      map[string][]byte
}

// Part describes an uploaded part.
type Part struct {
	PartNumber   int
	Size         int64
	ETag         string
	LastModified time.Time
	// Checksum is the part's checksum (its algorithm is the upload's, or the one the part was sent with).
	Checksum Checksum
}

type uploadRecord struct {
	UploadID  string            `json:"id"`
	Initiated int64             `json:"t"`
	Meta      Metadata          `json:"m"`
	Algorithm ChecksumAlgorithm `json:"a,omitempty"`
	Type      ChecksumType      `json:"ct,omitempty"`
	Owner     Owner             `json:"o"`
	Sub       map[string][]byte `json:"x,omitempty"`
}

type partEntry struct {
	Blob      string            `json:"b"`
	Size      int64             `json:"s"`
	ETag      string            `json:"e"`
	Modified  int64             `json:"t"`
	Algorithm ChecksumAlgorithm `json:"a,omitempty"`
	Checksum  string            `json:"c,omitempty"`
}

func decodePart(v []byte) (*partEntry, error) {
	var p partEntry
	if err := json.Unmarshal(v, &p); err != nil {
		return nil, fmt.Errorf("index: part: %w", err)
	}
	return &p, nil
}

func (p *partEntry) part(n int) Part {
	return Part{PartNumber: n, Size: p.Size, ETag: p.ETag, LastModified: time.Unix(0, p.Modified).UTC(),
		Checksum: Checksum{Algorithm: p.Algorithm, Value: p.Checksum}}
}

func (u *uploadRecord) upload(bucket, key string) Upload {
	return Upload{Bucket: bucket, Key: key, UploadID: u.UploadID, Initiated: time.Unix(0, u.Initiated).UTC(),
		Metadata: u.Meta, ChecksumAlgorithm: u.Algorithm, ChecksumType: u.Type, Owner: u.Owner, Subresources: u.Sub}
}

// CreateMultipartUpload starts an upload.
func (s *Store) CreateMultipartUpload(ctx context.Context, in CreateUploadInput) (Upload, error) {
	if err := ValidateKey(in.Key); err != nil {
		return Upload{}, err
	}
	typ := in.ChecksumType
	switch {
	case in.ChecksumAlgorithm == "" && typ != "":
		return Upload{}, ErrInvalidRequest.With("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
	case in.ChecksumAlgorithm == "":
	case typ == "" && in.ChecksumAlgorithm == CRC64NVME:
		typ = FullObject
	case typ == "":
		typ = Composite
	case typ == FullObject && !in.ChecksumAlgorithm.supportsFullObject(),
		typ == Composite && !in.ChecksumAlgorithm.supportsComposite():
		return Upload{}, ErrInvalidRequest.With("The %s checksum type cannot be used with the %s checksum algorithm.", typ, in.ChecksumAlgorithm)
	case typ != FullObject && typ != Composite:
		return Upload{}, ErrInvalidRequest.With("Value for x-amz-checksum-type header is invalid.")
	}
	rec := &uploadRecord{Initiated: s.now().UnixNano(), Meta: in.Metadata, Algorithm: in.ChecksumAlgorithm, Type: typ,
		Owner: in.Owner, Sub: in.Subresources}
	err := s.update(func(tx *bolt.Tx) error {
		_, data, err := getBucketOf(tx, in.Bucket, in.BucketID)
		if err != nil {
			return err
		}
		seq, err := data.NextSequence()
		if err != nil {
			return err
		}
		rec.UploadID = newUploadID(seq)
		val, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return data.Bucket(uploadsName).Put(uploadKey(in.Key, seq), val)
	})
	if err != nil {
		return Upload{}, err
	}
	return rec.upload(in.Bucket, in.Key), nil
}

// getUpload finds an upload of key by ID, or returns ErrNoSuchUpload.
func getUpload(data *bolt.Bucket, key, uploadID string) (*uploadRecord, uint64, error) {
	seq, ok := seqOfID(uploadID, uploadIDRandom)
	if !ok {
		return nil, 0, noSuchUpload(uploadID)
	}
	v := data.Bucket(uploadsName).Get(uploadKey(key, seq))
	if v == nil {
		return nil, 0, noSuchUpload(uploadID)
	}
	var u uploadRecord
	if err := json.Unmarshal(v, &u); err != nil {
		return nil, 0, fmt.Errorf("index: upload: %w", err)
	}
	if u.UploadID != uploadID {
		return nil, 0, noSuchUpload(uploadID)
	}
	return &u, seq, nil
}

func (s *Store) upload(bucket, key, uploadID string) (*uploadRecord, error) {
	var u *uploadRecord
	err := s.view(func(tx *bolt.Tx) error {
		_, data, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		u, _, err = getUpload(data, key, uploadID)
		return err
	})
	return u, err
}

func checkPartNumber(n int) error {
	if n < 1 || n > MaxParts {
		return ErrInvalidArgument.With("Part number must be an integer between 1 and 10000, inclusive").
			WithExtra("ArgumentName", "partNumber").WithExtra("ArgumentValue", strconv.Itoa(n))
	}
	return nil
}

// UploadPartInput is one part of an upload.
type UploadPartInput struct {
	Bucket, Key, UploadID string
	PartNumber            int
	Body                  io.Reader
	Size                  int64
	ContentMD5            []byte
	Checksum              ChecksumInput
	// PayloadSHA256, as PutObjectInput's, is the SHA-256 the request's signature covers.
	PayloadSHA256 *[32]byte
}

// UploadPart stores a part (replacing an earlier part with its number) once its body was read and checked.
func (s *Store) UploadPart(ctx context.Context, in UploadPartInput) (Part, error) {
	if err := checkPartNumber(in.PartNumber); err != nil {
		return Part{}, err
	}
	u, err := s.upload(in.Bucket, in.Key, in.UploadID)
	if err != nil {
		return Part{}, err
	}
	ck := in.Checksum
	switch {
	case u.Algorithm != "" && ck.Algorithm != "" && ck.Algorithm != u.Algorithm:
		return Part{}, ErrInvalidRequest.With("Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s",
			lower(u.Algorithm), lower(ck.Algorithm))
	case ck.Algorithm == "" && u.Type == Composite:
		// A composite checksum is made of the checksums the client computed: each part must come with one.
		return Part{}, ErrInvalidRequest.With("Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: null",
			lower(u.Algorithm))
	case ck.Algorithm == "":
		ck.Algorithm = u.Algorithm
	}
	data, err := s.ingest(ctx, in.Body, in.Size, MaxObjectSize, false, bodyChecks{checksum: ck, contentMD5: in.ContentMD5, payloadSHA256: in.PayloadSHA256})
	if err != nil {
		return Part{}, err
	}
	defer s.unpin(data.pinned()...)
	p := &partEntry{Blob: data.blob.id.hex(), Size: data.size, ETag: data.etag(), Algorithm: ck.Algorithm}
	if data.checksum != nil {
		p.Checksum = encodeChecksum(data.checksum)
	}
	return s.putPart(in.Bucket, in.Key, in.UploadID, in.PartNumber, p, data.blob)
}

// putPart records a part whose blob is pinned (ref) in the upload, replacing an earlier part with its number.
func (s *Store) putPart(bucket, key, uploadID string, n int, p *partEntry, ref *blobRef) (Part, error) {
	var freed []blobID
	err := s.update(func(tx *bolt.Tx) error {
		freed = freed[:0]
		_, data, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		_, seq, err := getUpload(data, key, uploadID)
		if err != nil {
			return err
		}
		parts := data.Bucket(partsName)
		pk := partKey(seq, n)
		if old := parts.Get(pk); old != nil {
			op, err := decodePart(old)
			if err != nil {
				return err
			}
			id, err := parseBlobID(op.Blob)
			if err != nil {
				return err
			}
			if last, err := dropRef(tx, id); err != nil {
				return err
			} else if last {
				freed = append(freed, id)
			}
		}
		if err := addRef(tx, ref.id, ref.size, ref.sums); err != nil {
			return err
		}
		p.Modified = s.now().UnixNano()
		val, err := json.Marshal(p)
		if err != nil {
			return err
		}
		return parts.Put(pk, val)
	})
	if err != nil {
		return Part{}, err
	}
	s.release(freed...)
	return p.part(n), nil
}

// UploadPartCopyInput is a part copied from (a range of) an existing object.
type UploadPartCopyInput struct {
	Bucket, Key, UploadID string
	PartNumber            int
	SrcBucket, SrcKey     string
	SrcVersionID          string
	SrcConditions         Conditions
	// SrcRange selects bytes of the source (Start and End both set); nil copies all of it.
	SrcRange *Range
	// CheckSource, as CopyObjectInput's, is asked about the open source version before anything is copied.
	CheckSource func(src ObjectInfo) error
}

// CopyPartOutput describes a part copied from another object, and that object's version.
type CopyPartOutput struct {
	Part   Part
	Source ObjectInfo
}

// UploadPartCopy stores a part with content copied from a source version. A whole single-blob source whose
// checksum fits the upload is shared, not copied; otherwise the bytes are read (verified) into a new blob.
func (s *Store) UploadPartCopy(ctx context.Context, in UploadPartCopyInput) (CopyPartOutput, error) {
	if err := checkPartNumber(in.PartNumber); err != nil {
		return CopyPartOutput{}, err
	}
	u, err := s.upload(in.Bucket, in.Key, in.UploadID)
	if err != nil {
		return CopyPartOutput{}, err
	}
	src, err := s.openCopySource(in.SrcBucket, in.SrcKey, in.SrcVersionID, in.SrcConditions)
	if err != nil {
		return CopyPartOutput{}, err
	}
	defer src.unpin(s)
	if in.CheckSource != nil {
		if err := in.CheckSource(src.info); err != nil {
			return CopyPartOutput{}, err
		}
	}
	start, length := int64(0), src.rec.Size
	if in.SrcRange != nil {
		r := *in.SrcRange
		if r.Suffix || r.End < 0 || r.Start > r.End || r.End >= src.rec.Size {
			return CopyPartOutput{}, ErrInvalidArgument.With("Range specified is not valid for source object of size: %d", src.rec.Size).
				WithExtra("ArgumentName", "x-amz-copy-source-range").
				WithExtra("ArgumentValue", fmt.Sprintf("bytes=%d-%d", r.Start, r.End))
		}
		start, length = r.Start, r.End-r.Start+1
	}
	if length > MaxObjectSize {
		return CopyPartOutput{}, tooLarge(length, MaxObjectSize)
	}
	whole := start == 0 && length == src.rec.Size
	if whole && len(src.refs) == 1 && len(src.rec.Parts) == 0 &&
		(u.Algorithm == "" || (src.rec.Checksum.Algorithm == u.Algorithm && src.rec.Checksum.Type == FullObject)) {
		ref := src.refs[0]
		p := &partEntry{Blob: ref.id.hex(), Size: ref.size, ETag: src.rec.ETag, Algorithm: u.Algorithm}
		if u.Algorithm != "" {
			p.Checksum = src.rec.Checksum.Value
		}
		part, err := s.putPart(in.Bucket, in.Key, in.UploadID, in.PartNumber, p, &ref)
		return CopyPartOutput{Part: part, Source: src.info}, err
	}
	r := &Object{s: s, segs: src.segments(start, length)}
	r.startSegment()
	data, err := s.writeBlob(ctx, r, u.Algorithm)
	r.Close()
	if err != nil {
		return CopyPartOutput{}, err
	}
	defer s.unpin(data.pinned()...)
	p := &partEntry{Blob: data.blob.id.hex(), Size: data.size, ETag: data.etag(), Algorithm: u.Algorithm}
	if data.checksum != nil {
		p.Checksum = encodeChecksum(data.checksum)
	}
	part, err := s.putPart(in.Bucket, in.Key, in.UploadID, in.PartNumber, p, data.blob)
	return CopyPartOutput{Part: part, Source: src.info}, err
}

// CompletedPart is a part as CompleteMultipartUpload lists it.
type CompletedPart struct {
	PartNumber int
	ETag       string
	// Checksum is the part's checksum the client lists (Algorithm and Value; zero when it lists none): one of
	// another algorithm than the upload's is ErrBadDigest, a malformed one ErrInvalidArgument, another value
	// ErrInvalidPart. A composite upload needs one for every part (ErrInvalidRequest); an upload without a
	// checksum algorithm takes none (ErrInvalidPart).
	Checksum Checksum
}

// CompleteUploadInput assembles an upload's parts into an object.
type CompleteUploadInput struct {
	Bucket, Key, UploadID string
	// BucketID, when set, binds the completion to that bucket, as PutObjectInput.BucketID binds a write.
	BucketID string
	Parts    []CompletedPart
	// Checksum, when its Algorithm is set, is the object checksum the client expects (x-amz-checksum-*): of the
	// upload's algorithm (ErrInvalidRequest otherwise) and equal to the object's (ErrBadDigest otherwise) — the
	// full-object value, or the composite one with or without its "-N" part count.
	Checksum ChecksumInput
	// ChecksumType, when set, is the object checksum type the client expects (x-amz-checksum-type): another than
	// the upload's is ErrBadDigest.
	ChecksumType ChecksumType
	// ObjectSize, when set, is the object size the client expects (x-amz-mp-object-size): another than the
	// parts' total is ErrInvalidRequest.
	ObjectSize *int64
	Conditions WriteConditions
}

// CompleteMultipartUpload makes the listed parts, in order, the key's new version: the object is the list of
// the parts' blobs, nothing is copied. Parts must be listed in ascending order (ErrInvalidPartOrder), exist with
// the ETags given (ErrInvalidPart), and be at least MinPartSize but the last (ErrEntityTooSmall). Parts not listed
// are discarded, and the upload is gone.
func (s *Store) CompleteMultipartUpload(ctx context.Context, in CompleteUploadInput) (ObjectInfo, error) {
	if len(in.Parts) == 0 {
		return ObjectInfo{}, ErrMalformedXML.With("The XML you provided was not well-formed or did not validate against our published schema")
	}
	for i, p := range in.Parts {
		if err := checkPartNumber(p.PartNumber); err != nil {
			return ObjectInfo{}, err
		}
		if i > 0 && p.PartNumber <= in.Parts[i-1].PartNumber {
			return ObjectInfo{}, ErrInvalidPartOrder.With("The list of parts was not in ascending order. The parts list must be specified in order by part number.")
		}
	}
	var freed []blobID
	var info ObjectInfo
	err := s.update(func(tx *bolt.Tx) error {
		freed = freed[:0]
		b, data, err := getBucketOf(tx, in.Bucket, in.BucketID)
		if err != nil {
			return err
		}
		u, seq, err := getUpload(data, in.Key, in.UploadID)
		if err != nil {
			// A retry of a Complete that succeeded is answered as the first one was.
			if done, rerr := s.completedRetry(data, in); rerr != nil || done != nil {
				if done != nil {
					info = done.info(in.Bucket, in.Key, true)
				}
				return rerr
			}
			return err
		}
		if err := checkWriteConditions(data.Bucket(versionsName), in.Key, in.Conditions); err != nil {
			return err
		}
		rec, err := assemble(data.Bucket(partsName), u, seq, in)
		if err != nil {
			return err
		}
		// The listed parts' references pass to the object; the others are dropped with the upload.
		parts := data.Bucket(partsName)
		prefix := binary.BigEndian.AppendUint64(nil, seq)
		var keys [][]byte
		c := parts.Cursor()
		listed := map[int]bool{}
		for _, p := range in.Parts {
			listed[p.PartNumber] = true
		}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			keys = append(keys, bytes.Clone(k))
			if listed[int(binary.BigEndian.Uint32(k[8:]))] {
				continue
			}
			p, err := decodePart(v)
			if err != nil {
				return err
			}
			id, err := parseBlobID(p.Blob)
			if err != nil {
				return err
			}
			if last, err := dropRef(tx, id); err != nil {
				return err
			} else if last {
				freed = append(freed, id)
			}
		}
		for _, k := range keys {
			if err := parts.Delete(k); err != nil {
				return err
			}
		}
		if err := data.Bucket(uploadsName).Delete(uploadKey(in.Key, seq)); err != nil {
			return err
		}
		rec.Modified = s.now().UnixNano()
		f, err := putVersion(tx, data, b.Versioning, in.Key, rec)
		freed = append(freed, f...)
		if err != nil {
			return err
		}
		info = rec.info(in.Bucket, in.Key, true)
		return s.recordCompleted(data, seq, in, rec)
	})
	if err != nil {
		return ObjectInfo{}, err
	}
	s.release(freed...)
	return info, nil
}

// assemble checks the listed parts against the stored ones and builds the object's record.
func assemble(parts *bolt.Bucket, u *uploadRecord, seq uint64, in CompleteUploadInput) (*record, error) {
	if a := in.Checksum.Algorithm; a != "" && a != u.Algorithm {
		expected := "null"
		if u.Algorithm != "" {
			expected = lower(u.Algorithm)
		}
		return nil, ErrInvalidRequest.With("Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s", expected, lower(a))
	}
	if in.ChecksumType != "" && in.ChecksumType != u.Type {
		return nil, ErrBadDigest.With("The checksum type you specified (%s) does not match the checksum type of the upload.", in.ChecksumType)
	}
	// An object checksum that cannot be one of its algorithm is refused before the parts are looked at.
	if in.Checksum.Algorithm != "" && !wellFormedObjectChecksum(u.Algorithm, u.Type, in.Checksum.Value) {
		return nil, ErrBadDigest.With("The %s you specified did not match the calculated checksum.", lower(u.Algorithm))
	}
	rec := &record{Meta: u.Meta, Owner: u.Owner, Sub: u.Sub}
	md := md5.New()
	var raws [][]byte
	var sizes []int64
	// Every listed part must exist with its ETag before sizes are looked at, as S3 checks.
	found := make([]*partEntry, len(in.Parts))
	for i, cp := range in.Parts {
		v := parts.Get(partKey(seq, cp.PartNumber))
		invalid := ErrInvalidPart.With("One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.").
			WithExtra("UploadId", in.UploadID).WithExtra("PartNumber", strconv.Itoa(cp.PartNumber)).WithExtra("ETag", cp.ETag)
		if v == nil {
			return nil, invalid
		}
		p, err := decodePart(v)
		if err != nil {
			return nil, err
		}
		if trimETag(cp.ETag) != p.ETag {
			return nil, invalid
		}
		if err := checkPartChecksum(u, cp, p, invalid); err != nil {
			return nil, err
		}
		// With checksums, S3 takes parts numbered from 1 without a gap (the CompletedPart reference).
		if u.Algorithm != "" && cp.PartNumber != i+1 {
			return nil, ErrInvalidPartOrder.With("The parts of an upload with checksums must be numbered from 1 without a gap: part %d is listed where part %d belongs.",
				cp.PartNumber, i+1)
		}
		found[i] = p
	}
	for i, p := range found {
		cp := in.Parts[i]
		if i < len(in.Parts)-1 && p.Size < MinPartSize {
			return nil, ErrEntityTooSmall.With("Your proposed upload is smaller than the minimum allowed object size.").
				WithExtra("ProposedSize", itoa(p.Size)).WithExtra("MinSizeAllowed", itoa(MinPartSize)).
				WithExtra("PartNumber", strconv.Itoa(cp.PartNumber)).WithExtra("ETag", p.ETag)
		}
		sum, err := hex.DecodeString(p.ETag)
		if err != nil {
			return nil, fmt.Errorf("index: part etag %q: %w", p.ETag, err)
		}
		md.Write(sum)
		rec.Size += p.Size
		rec.Chunks = append(rec.Chunks, chunk{Blob: p.Blob, Size: p.Size})
		rec.Parts = append(rec.Parts, partRecord{Size: p.Size, ETag: p.ETag, Checksum: p.Checksum})
		if u.Algorithm != "" {
			raw, err := base64.StdEncoding.DecodeString(p.Checksum)
			if err != nil || p.Algorithm != u.Algorithm || len(raw) != u.Algorithm.rawSize() {
				return nil, ErrInvalidPart.With("The part %d has no %s checksum.", cp.PartNumber, u.Algorithm)
			}
			raws = append(raws, raw)
			sizes = append(sizes, p.Size)
		}
	}
	if rec.Size > MaxMultipartSize {
		return nil, tooLarge(rec.Size, MaxMultipartSize)
	}
	rec.ETag = hex.EncodeToString(md.Sum(nil)) + "-" + strconv.Itoa(len(in.Parts))
	if u.Algorithm != "" {
		rec.Checksum = Checksum{Algorithm: u.Algorithm, Type: u.Type}
		if u.Type == FullObject {
			rec.Checksum.Value = encodeChecksum(combineFullObject(u.Algorithm, raws, sizes))
		} else {
			rec.Checksum.Value = combineComposite(u.Algorithm, raws)
		}
		if in.Checksum.Algorithm != "" && !checksumMatches(in.Checksum.Value, rec.Checksum, len(in.Parts)) {
			return nil, ErrBadDigest.With("The %s you specified did not match the calculated checksum.", lower(u.Algorithm))
		}
	}
	if in.ObjectSize != nil && *in.ObjectSize != rec.Size {
		return nil, ErrInvalidRequest.With("The provided 'x-amz-mp-object-size' header value %d does not match what was computed: %d", *in.ObjectSize, rec.Size)
	}
	return rec, nil
}

// checkPartChecksum checks the checksum Complete lists for a part against the part as it was uploaded (p), as S3
// does; invalid is the ErrInvalidPart of this part.
func checkPartChecksum(u *uploadRecord, cp CompletedPart, p *partEntry, invalid error) error {
	ck := cp.Checksum
	switch {
	case ck.Value == "" && u.Algorithm == "":
		return nil
	case u.Algorithm == "":
		return invalid
	case ck.Value == "":
		if u.Type == Composite {
			return ErrInvalidRequest.With("The upload was created using a %s checksum. The complete request must include the checksum for each part. It was missing for part %d in the request.",
				lower(u.Algorithm), cp.PartNumber)
		}
		return nil // a full-object checksum is computed from the stored parts' checksums
	case !ValidChecksumValue(ck.Algorithm, ck.Value):
		return ErrInvalidArgument.With("Invalid Base64 or multiple checksums present in request").
			WithExtra("ArgumentName", "Checksum").WithExtra("ArgumentValue", ck.Value)
	case ck.Algorithm != u.Algorithm:
		return ErrBadDigest.With("The %s you specified for part %d did not match what we received.", lower(ck.Algorithm), cp.PartNumber)
	case ck.Value != p.Checksum:
		return invalid
	}
	return nil
}

// wellFormedObjectChecksum reports whether v can be an object checksum of an upload of algorithm a and type t:
// the base64 digest, and for a composite one maybe "-N".
func wellFormedObjectChecksum(a ChecksumAlgorithm, t ChecksumType, v string) bool {
	if t == Composite {
		if digest, n, ok := strings.Cut(v, "-"); ok {
			count, err := strconv.Atoi(n)
			return err == nil && count > 0 && ValidChecksumValue(a, digest)
		}
	}
	return ValidChecksumValue(a, v)
}

// checksumMatches reports whether want, an object checksum a client states, is the object's: the value itself,
// or for a composite checksum its digest with or without the "-N" part count (which must then be the upload's).
func checksumMatches(want string, got Checksum, parts int) bool {
	if want == got.Value || got.Type != Composite {
		return want == got.Value
	}
	digest, count, ok := strings.Cut(want, "-")
	if ok && count != strconv.Itoa(parts) {
		return false
	}
	return digest+"-"+strconv.Itoa(parts) == got.Value
}

// AbortMultipartUpload discards an upload and its parts.
func (s *Store) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	var freed []blobID
	err := s.update(func(tx *bolt.Tx) error {
		freed = freed[:0]
		_, data, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		_, seq, err := getUpload(data, key, uploadID)
		if err != nil {
			return err
		}
		parts := data.Bucket(partsName)
		prefix := binary.BigEndian.AppendUint64(nil, seq)
		var keys [][]byte
		c := parts.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			keys = append(keys, bytes.Clone(k))
			p, err := decodePart(v)
			if err != nil {
				return err
			}
			id, err := parseBlobID(p.Blob)
			if err != nil {
				return err
			}
			if last, err := dropRef(tx, id); err != nil {
				return err
			} else if last {
				freed = append(freed, id)
			}
		}
		for _, k := range keys {
			if err := parts.Delete(k); err != nil {
				return err
			}
		}
		return data.Bucket(uploadsName).Delete(uploadKey(key, seq))
	})
	if err != nil {
		return err
	}
	s.release(freed...)
	return nil
}

// ListPartsInput selects a page of an upload's parts.
type ListPartsInput struct {
	// PartNumberMarker lists parts after this number.
	PartNumberMarker int
	// MaxParts bounds the page (default and most: 1000).
	MaxParts int
}

// ListPartsOutput is a page of parts.
type ListPartsOutput struct {
	Upload               Upload
	Parts                []Part
	IsTruncated          bool
	NextPartNumberMarker int
}

// ListParts returns a page of an upload's parts, by part number.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string, in ListPartsInput) (ListPartsOutput, error) {
	var out ListPartsOutput
	limit := clampMax(in.MaxParts)
	err := s.view(func(tx *bolt.Tx) error {
		_, data, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		u, seq, err := getUpload(data, key, uploadID)
		if err != nil {
			return err
		}
		out.Upload = u.upload(bucket, key)
		if in.PartNumberMarker >= MaxParts {
			return nil // no part comes after it (and partKey keeps 32 bits: a larger marker would wrap to part 1)
		}
		prefix := binary.BigEndian.AppendUint64(nil, seq)
		c := data.Bucket(partsName).Cursor()
		for k, v := c.Seek(partKey(seq, max(in.PartNumberMarker+1, 1))); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			n := int(binary.BigEndian.Uint32(k[8:]))
			if len(out.Parts) == limit {
				out.IsTruncated = true
				break
			}
			p, err := decodePart(v)
			if err != nil {
				return err
			}
			out.Parts = append(out.Parts, p.part(n))
			out.NextPartNumberMarker = n
		}
		return nil
	})
	return out, err
}

// ListUploadsInput selects a page of a bucket's uploads in progress.
type ListUploadsInput struct {
	Prefix, Delimiter string
	// KeyMarker and UploadIDMarker start the page after that upload of that key; with no UploadIDMarker, after
	// every upload of KeyMarker.
	KeyMarker, UploadIDMarker string
	MaxUploads                int
}

// ListUploadsOutput is a page of uploads: by key, oldest first within a key.
type ListUploadsOutput struct {
	Uploads            []Upload
	CommonPrefixes     []string
	IsTruncated        bool
	NextKeyMarker      string
	NextUploadIDMarker string
}

// ListMultipartUploads returns a page of the bucket's uploads in progress.
func (s *Store) ListMultipartUploads(ctx context.Context, bucket string, in ListUploadsInput) (ListUploadsOutput, error) {
	var out ListUploadsOutput
	limit := clampMax(in.MaxUploads)
	err := s.view(func(tx *bolt.Tx) error {
		_, data, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		c := data.Bucket(uploadsName).Cursor()
		p := encPrefix(in.Prefix)
		var k, v []byte
		if in.UploadIDMarker != "" && in.KeyMarker != "" {
			seq, ok := seqOfID(in.UploadIDMarker, uploadIDRandom)
			if ok {
				k, v = c.Seek(uploadKey(in.KeyMarker, seq+1))
			} else {
				k, v = c.Seek(keyEnd(in.KeyMarker))
			}
			if bytes.Compare(k, p) < 0 {
				k, v = c.Seek(p)
			}
		} else {
			k, v = c.Seek(startAfter(in.Prefix, in.Delimiter, in.KeyMarker))
		}
		for k != nil && bytes.HasPrefix(k, p) {
			key, _, ok := splitUploadKey(k)
			if !ok {
				k, v = c.Next()
				continue
			}
			full := len(out.Uploads)+len(out.CommonPrefixes) == limit
			if cp := commonPrefix(key, in.Prefix, in.Delimiter); cp != "" {
				if full {
					out.IsTruncated = true
					return nil
				}
				out.CommonPrefixes = append(out.CommonPrefixes, cp)
				out.NextKeyMarker, out.NextUploadIDMarker = cp, ""
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
			var u uploadRecord
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("index: upload: %w", err)
			}
			out.Uploads = append(out.Uploads, u.upload(bucket, key))
			out.NextKeyMarker, out.NextUploadIDMarker = key, u.UploadID
			k, v = c.Next()
		}
		return nil
	})
	if !out.IsTruncated {
		out.NextKeyMarker, out.NextUploadIDMarker = "", ""
	}
	return out, err
}

func lower(a ChecksumAlgorithm) string { return strings.ToLower(string(a)) }

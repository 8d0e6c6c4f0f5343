package objectstore

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"hash"
	"hash/crc32"
	"io"

	bolt "go.etcd.io/bbolt"
)

// CopyObjectInput is a server-side copy (x-amz-copy-source).
type CopyObjectInput struct {
	SrcBucket, SrcKey string
	// SrcVersionID selects the source version ("" for the newest).
	SrcVersionID string
	// SrcConditions are the x-amz-copy-source-if-* preconditions; any failure is ErrPreconditionFailed.
	SrcConditions Conditions
	// CheckSource, when set, is asked about the source version once it is open (pinned), before anything is
	// copied: an error refuses the copy. It lets a caller authorize the version actually copied.
	CheckSource func(src ObjectInfo) error
	Bucket, Key string
	// BucketID, when set, binds the copy to that target bucket, as PutObjectInput.BucketID binds a write.
	BucketID string
	// ReplaceMetadata gives the copy Metadata instead of the source's (x-amz-metadata-directive: REPLACE).
	ReplaceMetadata bool
	Metadata        Metadata
	// ChecksumAlgorithm gives the copy a checksum of that algorithm; "" keeps the source's.
	ChecksumAlgorithm ChecksumAlgorithm
	Conditions        WriteConditions
	Owner             Owner
	// Subresources, when set, returns the copy's documents given the source (a copied tag set, a new ACL).
	Subresources func(src ObjectInfo) map[string][]byte
}

// CopyObjectOutput describes the copy and the version it was copied from.
type CopyObjectOutput struct {
	Object ObjectInfo
	Source ObjectInfo
}

// MaxCopySourceSize is the largest object CopyObject copies (larger ones are copied with UploadPartCopy).
const MaxCopySourceSize = MaxObjectSize

// CopyObject writes a new version of Bucket/Key with the content of a source version. The content is shared, not
// copied: the copy references the source's blobs (an inline source's bytes are copied into the new entry). A
// multipart source becomes a single-part copy, so its MD5 (the copy's ETag) is computed by reading it once.
func (s *Store) CopyObject(ctx context.Context, in CopyObjectInput) (CopyObjectOutput, error) {
	if err := ValidateKey(in.Key); err != nil {
		return CopyObjectOutput{}, err
	}
	if err := s.checkBucketID(ctx, in.Bucket, in.BucketID); err != nil {
		return CopyObjectOutput{}, err
	}
	src, err := s.openCopySource(in.SrcBucket, in.SrcKey, in.SrcVersionID, in.SrcConditions)
	if err != nil {
		return CopyObjectOutput{}, err
	}
	defer src.unpin(s)
	if in.CheckSource != nil {
		if err := in.CheckSource(src.info); err != nil {
			return CopyObjectOutput{}, err
		}
	}
	if src.rec.Size > MaxCopySourceSize {
		return CopyObjectOutput{}, ErrInvalidRequest.With("The specified copy source is larger than the maximum allowable size for a copy source: %d", MaxCopySourceSize)
	}
	sameAlg := in.ChecksumAlgorithm == "" || in.ChecksumAlgorithm == src.rec.Checksum.Algorithm
	if in.SrcBucket == in.Bucket && in.SrcKey == in.Key && src.info.IsLatest && !in.ReplaceMetadata && sameAlg {
		return CopyObjectOutput{}, ErrInvalidRequest.With("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	rec := &record{
		Size:     src.rec.Size,
		ETag:     src.rec.ETag,
		Meta:     src.rec.Meta,
		Checksum: src.rec.Checksum,
		Owner:    in.Owner,
	}
	if in.ReplaceMetadata {
		rec.Meta = in.Metadata
	}
	if in.Subresources != nil {
		rec.Sub = in.Subresources(src.info)
	}
	// What cannot be carried over is computed from the content: a multipart source's MD5, a checksum of another
	// algorithm or a composite one (a copy is one part, so its checksum is of the whole).
	alg := in.ChecksumAlgorithm
	if alg == "" {
		alg = src.rec.Checksum.Algorithm
	}
	needMD5 := len(src.rec.Parts) > 0
	needSum := alg != "" && (alg != src.rec.Checksum.Algorithm || src.rec.Checksum.Type == Composite)
	if needMD5 || needSum {
		var hs []hash.Hash
		md := md5.New()
		if needMD5 {
			hs = append(hs, md)
		}
		var ch hash.Hash
		if needSum {
			ch = alg.newHash()
			hs = append(hs, ch)
		}
		ws := make([]io.Writer, len(hs))
		for i, h := range hs {
			ws[i] = h
		}
		r := &Object{s: s, segs: src.segments(0, src.rec.Size)}
		r.startSegment()
		_, err := r.WriteTo(io.MultiWriter(ws...))
		r.Close()
		if err != nil {
			return CopyObjectOutput{}, err
		}
		if needMD5 {
			rec.ETag = hex.EncodeToString(md.Sum(nil))
		}
		if needSum {
			rec.Checksum = Checksum{Algorithm: alg, Type: FullObject, Value: encodeChecksum(ch.Sum(nil))}
		}
	}
	if src.rec.Chunks == nil {
		rec.inline = src.rec.inline
		rec.InlineCRC = crc32.Checksum(rec.inline, castagnoli)
	} else {
		rec.Chunks = src.rec.Chunks
	}
	info, err := s.commitVersion(in.Bucket, in.BucketID, in.Key, rec, in.Conditions, func(tx *bolt.Tx) error {
		for _, r := range src.refs {
			if err := addRef(tx, r.id, r.size, r.sums); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return CopyObjectOutput{}, err
	}
	return CopyObjectOutput{Object: info, Source: src.info}, nil
}

// openCopySource opens the source of a copy, wording its failures as S3 does for copies: every failed condition is
// PreconditionFailed, and a version ID naming a delete marker is an invalid request.
func (s *Store) openCopySource(bucket, key, versionID string, cond Conditions) (*version, error) {
	v, err := s.openVersion(bucket, key, GetOptions{VersionID: versionID, Conditions: cond})
	switch {
	case errors.Is(err, ErrNotModified):
		return nil, ErrPreconditionFailed.WithExtra("Condition", "x-amz-copy-source-If-None-Match")
	case errors.Is(err, ErrPreconditionFailed):
		return nil, ErrPreconditionFailed.WithExtra("Condition", "x-amz-copy-source-If-Match")
	case errors.Is(err, ErrMethodNotAllowed):
		return nil, ErrInvalidRequest.With("The source of a copy request may not specifically refer to a delete marker by version id.")
	}
	return v, err
}

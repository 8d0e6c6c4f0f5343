// Package objectstore is Berth's S3 engine: buckets, objects and their versions, multipart uploads and listings
// with S3's semantics, in Berth's own Go types (the HTTP API lives in s3api). An index in bbolt holds every bucket,
// version and upload; object data lives in the content store (internal/content) as sha256-addressed blobs shared by
// identical content and by copies, or inline in the index when small. A write is visible only once its index
// transaction committed (after its blob was fsynced and linked into place), so an interrupted upload leaves nothing
// behind and an acknowledged one survives a crash; blobs are reference-counted in the same transactions and removed
// only when nothing (no index entry, no in-flight write, no open reader) can reach them. Reads verify a CRC32C per
// 64 KiB block before handing the block out, so bit rot is an error, never wrong bytes.
//
// A store's lifecycle:
//
//	s, _ := objectstore.Open(dir)                                  // index.db and content/ under dir
//	s.CreateBucket(ctx, objectstore.CreateBucketInput{Name: "photos", Owner: owner})
//	info, _ := s.PutObject(ctx, objectstore.PutObjectInput{Bucket: "photos", Key: "a.jpg", Body: r, Size: n})
//	obj, _ := s.GetObject(ctx, "photos", "a.jpg", objectstore.GetOptions{Range: &objectstore.Range{Start: 0, End: 99}})
//	io.Copy(w, obj)                                                // verified bytes of the range; obj.Close()
//	s.DeleteObject(ctx, objectstore.DeleteObjectInput{Bucket: "photos", Key: "a.jpg"})
//	s.Close()
//
// Errors are the S3 conditions of errors.go (ErrNoSuchBucket, ErrPreconditionFailed, …), each wrapping an errdefs
// category; ObjectError carries the version a condition is about (a delete marker, a 304's ETag).
package objectstore

import (
	"context"
	"time"
)

// Owner is the account that owns a bucket or wrote an object or upload.
type Owner struct {
	// AccountID is the 12-digit account.
	AccountID string `json:"a,omitempty"`
	// ID is the account's canonical user ID (S3's Owner/ID).
	ID string `json:"i,omitempty"`
	// DisplayName is S3's Owner/DisplayName.
	DisplayName string `json:"n,omitempty"`
}

// Versioning is a bucket's versioning state.
type Versioning string

const (
	// Unversioned: versioning was never enabled; a write replaces the key's null version.
	Unversioned Versioning = ""
	// VersioningEnabled: every write and delete adds a version.
	VersioningEnabled Versioning = "Enabled"
	// VersioningSuspended: writes and deletes replace the key's null version; older versions are kept.
	VersioningSuspended Versioning = "Suspended"
)

// NullVersion is the version ID of the version written while versioning was off or suspended.
const NullVersion = "null"

// StorageClass is the only storage class this store has.
const StorageClass = "STANDARD"

// Bucket describes a bucket.
type Bucket struct {
	Name string
	// ID tells this bucket apart from every other bucket that had its name: one deleted and created again (by
	// anyone) has another. A write given the ID of the bucket it was authorized on (PutObjectInput.BucketID, …)
	// is refused with ErrNoSuchBucket once the name has come to mean another bucket.
	ID         string
	Owner      Owner
	CreatedAt  time.Time
	Region     string
	Versioning Versioning
	// ConfigVersion changes whenever one of the bucket's configuration documents does (BucketConfig): a cache of
	// what they say is current while it matches.
	ConfigVersion uint64
}

// Metadata is what a writer says about an object: the standard headers S3 stores and returns, and user metadata.
type Metadata struct {
	ContentType        string `json:"ct,omitempty"`
	ContentEncoding    string `json:"ce,omitempty"`
	ContentDisposition string `json:"cd,omitempty"`
	ContentLanguage    string `json:"cl,omitempty"`
	CacheControl       string `json:"cc,omitempty"`
	// Expires is kept as the client sent it (S3 returns it verbatim).
	Expires string `json:"ex,omitempty"`
	// User is the x-amz-meta-* metadata, keyed by the lower-case name without the prefix.
	User map[string]string `json:"u,omitempty"`
}

// ObjectInfo describes one version of an object (or a delete marker).
type ObjectInfo struct {
	Bucket string
	Key    string
	// VersionID is the version's ID; NullVersion for the null version (also in a bucket never versioned).
	VersionID    string
	IsLatest     bool
	DeleteMarker bool
	Size         int64
	// ETag is the hex MD5 of the content, or of the parts' MD5s followed by -N for a multipart object; unquoted.
	ETag         string
	LastModified time.Time
	Metadata     Metadata
	// Checksum is the object's additional checksum (zero when none was requested).
	Checksum Checksum
	// PartsCount is the number of parts of a multipart object; 0 otherwise.
	PartsCount int
	// Owner is the account that wrote the version.
	Owner Owner
	// Subresources are documents attached to the version (an ACL, a tag set, …), kept and returned verbatim.
	Subresources map[string][]byte

	// seq is the version's place in its bucket's index: it tells apart two versions with one ID (a null version
	// and the one that replaced it), for SubresourceInput.Of.
	seq uint64
}

// StorageClass is the version's storage class.
func (o ObjectInfo) StorageClass() string { return StorageClass }

// Conditions are a read's preconditions (If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since); zero
// fields are absent. They are evaluated as S3 does: If-Match before If-Unmodified-Since, If-None-Match before
// If-Modified-Since, a failed If-Match or If-Unmodified-Since is ErrPreconditionFailed, a failed If-None-Match or
// If-Modified-Since is ErrNotModified.
type Conditions struct {
	IfMatch           string
	IfNoneMatch       string
	IfModifiedSince   time.Time
	IfUnmodifiedSince time.Time
}

// WriteConditions are a write's preconditions on the key's current object (S3's conditional writes).
type WriteConditions struct {
	// IfMatch: the current object's ETag must match (ErrPreconditionFailed), and there must be one (ErrNoSuchKey).
	IfMatch string
	// IfNoneMatch: "*" means no current object may exist (ErrPreconditionFailed).
	IfNoneMatch string
}

// Range is a byte range of a read, as an HTTP Range header names it.
type Range struct {
	// Start is the first byte (ignored for a suffix range).
	Start int64
	// End is the last byte, inclusive; negative means to the end of the object.
	End int64
	// Suffix, when true, asks for the last SuffixLength bytes.
	Suffix       bool
	SuffixLength int64
}

// Resolve returns the offset and length r selects in an object of size bytes; ok is false when the range is not
// satisfiable (S3's InvalidRange).
func (r Range) Resolve(size int64) (start, length int64, ok bool) {
	if r.Suffix {
		if r.SuffixLength <= 0 || size == 0 {
			return 0, 0, false
		}
		n := min(r.SuffixLength, size)
		return size - n, n, true
	}
	if r.Start >= size || (r.End >= 0 && r.End < r.Start) {
		return 0, 0, false
	}
	end := size - 1
	if r.End >= 0 && r.End < end {
		end = r.End
	}
	return r.Start, end - r.Start + 1, true
}

// Buckets manages buckets.
type Buckets interface {
	CreateBucket(ctx context.Context, in CreateBucketInput) (Bucket, error)
	Bucket(ctx context.Context, name string) (Bucket, error)
	ListBuckets(ctx context.Context) ([]Bucket, error)
	DeleteBucket(ctx context.Context, name string) error
	SetVersioning(ctx context.Context, name string, state Versioning) error
	// BucketConfig returns a named configuration document (a policy, a CORS configuration, …) or an error
	// wrapping errdefs.ErrNotFound.
	BucketConfig(ctx context.Context, bucket, name string) ([]byte, error)
	PutBucketConfig(ctx context.Context, bucket, name string, doc []byte) error
	DeleteBucketConfig(ctx context.Context, bucket, name string) error
	// BucketConfigs returns the bucket and all its configuration documents, read together.
	BucketConfigs(ctx context.Context, bucket string) (Bucket, map[string][]byte, error)
	// UpdateBucketConfigs edits the configuration documents atomically (a check and the change it allows).
	UpdateBucketConfigs(ctx context.Context, bucket string, fn func(docs map[string][]byte) error) error
}

// ObjectReader reads objects and listings.
type ObjectReader interface {
	StatObject(ctx context.Context, bucket, key string, opts GetOptions) (ObjectInfo, error)
	GetObject(ctx context.Context, bucket, key string, opts GetOptions) (*Object, error)
	ListObjects(ctx context.Context, bucket string, in ListObjectsInput) (ListObjectsOutput, error)
	ListObjectVersions(ctx context.Context, bucket string, in ListVersionsInput) (ListVersionsOutput, error)
	// ObjectParts describes the version a read with opts would return and lists its parts, read together.
	ObjectParts(ctx context.Context, bucket, key string, opts GetOptions) (ObjectInfo, []Part, error)
}

// ObjectWriter writes and removes objects.
type ObjectWriter interface {
	PutObject(ctx context.Context, in PutObjectInput) (ObjectInfo, error)
	CopyObject(ctx context.Context, in CopyObjectInput) (CopyObjectOutput, error)
	DeleteObject(ctx context.Context, in DeleteObjectInput) (DeleteObjectOutput, error)
	// SetSubresource attaches or removes a named document of an existing version.
	SetSubresource(ctx context.Context, in SubresourceInput) (ObjectInfo, error)
}

// Multipart runs multipart uploads.
type Multipart interface {
	CreateMultipartUpload(ctx context.Context, in CreateUploadInput) (Upload, error)
	UploadPart(ctx context.Context, in UploadPartInput) (Part, error)
	UploadPartCopy(ctx context.Context, in UploadPartCopyInput) (CopyPartOutput, error)
	CompleteMultipartUpload(ctx context.Context, in CompleteUploadInput) (ObjectInfo, error)
	AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error
	ListParts(ctx context.Context, bucket, key, uploadID string, in ListPartsInput) (ListPartsOutput, error)
	ListMultipartUploads(ctx context.Context, bucket string, in ListUploadsInput) (ListUploadsOutput, error)
}

// Backend is everything the S3 API needs of the engine.
type Backend interface {
	Buckets
	ObjectReader
	ObjectWriter
	Multipart
}

var _ Backend = (*Store)(nil)

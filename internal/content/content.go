// Package content owns Berth's digest-addressed blob store: manifests, image configs and layers, registry blobs,
// and object data, kept as files named by their digest under <root>/blobs/<algorithm>/<hex>. Writes go through
// <root>/ingest, are hashed while written, and only become visible by an atomic link into place after the digest
// (and size) verify, so a reader never sees a partial or corrupt blob.
//
// The store is split into small roles: Provider reads, Ingester writes, Manager lists and deletes, IngestManager
// tracks unfinished writes named by a ref. Backend is all of them: every blob backend implements it and passes
// the conformance suite in internal/content/testsuite.
//
// A blob's lifecycle:
//
//	w, _ := store.Writer(ctx)          // a temp file in <root>/ingest
//	io.Copy(w, r)                      // hashed while written
//	err := w.Commit(ctx, size, dgst)   // verify, fsync, link into blobs/; ErrAlreadyExists if present
//	w.Close()                          // always; removes the temp file if not committed
//	rc, _ := store.Open(ctx, dgst)     // read it back
//	store.Delete(ctx, dgst)            // gone
//
// WriteBlob wraps the write for the common case and treats an existing blob as success.
//
// An ingest named with WithRef outlives its writer, and the process: Close keeps what was written, and a later
// Writer with the same ref resumes at the end of it, with the running hash restored (without reading the bytes
// again when the same process wrote them). That is how a registry upload spans several HTTP requests:
//
//	w, _ := store.Writer(ctx, WithRef("upload-1")) // a new ingest, or the one of that name
//	io.Copy(w, chunk)                              // appends
//	w.Close()                                      // keeps it; store.Status(ctx, "upload-1") reports the offset
//	w, _ = store.Writer(ctx, WithRef("upload-1"))  // resumes: w.Size() is the offset, w.Digest() covers it all
//	io.Copy(w, lastChunk)
//	err := w.Commit(ctx, -1, dgst)                 // verified and visible; the ingest is gone
//	// or: store.Abort(ctx, "upload-1")            // discard it
//
// One writer at a time holds a ref: another Writer for it fails with ErrUnavailable until the first is closed.
package content

import (
	"context"
	_ "crypto/sha256" // register the digest algorithms go-digest relies on
	_ "crypto/sha512"
	"fmt"
	"io"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// Info describes a committed blob.
type Info struct {
	// Digest names the blob.
	Digest digest.Digest
	// Size is the blob's length in bytes.
	Size int64
	// CreatedAt is when the blob was committed.
	CreatedAt time.Time
}

// ReaderAt reads a committed blob at random offsets.
type ReaderAt interface {
	io.ReaderAt
	io.Closer
	// Size is the blob's length in bytes.
	Size() int64
}

// Provider reads committed blobs.
type Provider interface {
	// Open returns a reader over the whole blob; the caller closes it.
	Open(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error)
	// ReaderAt returns a random-access reader over the blob; the caller closes it.
	ReaderAt(ctx context.Context, dgst digest.Digest) (ReaderAt, error)
	// Info describes the blob, or returns an error wrapping errdefs.ErrNotFound.
	Info(ctx context.Context, dgst digest.Digest) (Info, error)
}

// Writer is an in-flight blob write. Bytes written are hashed; Commit verifies them and makes the blob visible.
// Close must always be called: before Commit it discards the write (or, for a writer named with WithRef, keeps it
// to be resumed), after Commit it does nothing.
type Writer interface {
	io.Writer
	// Digest is the digest of the bytes written so far.
	Digest() digest.Digest
	// Size is the number of bytes written so far.
	Size() int64
	// Commit verifies the written bytes against expectedSize (unchecked when negative) and expected (computed
	// when empty), then atomically makes the blob visible. A mismatch returns an error wrapping
	// errdefs.ErrFailedPrecondition and leaves nothing behind, not even a named ingest; a blob that already
	// exists returns an error wrapping errdefs.ErrAlreadyExists (the content is the same, by digest). An expected
	// digest in another algorithm than the writer's is an error wrapping errdefs.ErrInvalidArgument. Commit
	// releases the writer whatever it returns; a named ingest whose commit failed for another reason than a
	// mismatch (a done context, an I/O error) is kept, to be resumed.
	Commit(ctx context.Context, expectedSize int64, expected digest.Digest) error
	// Truncate discards everything written after the first size bytes (0 <= size <= Size(), else an error
	// wrapping errdefs.ErrInvalidArgument); writing goes on from there, and the digest covers what is left.
	Truncate(size int64) error
	// Close releases the writer: it discards uncommitted data, or keeps a named ingest for a later Writer.
	Close() error
}

// WriterOpt configures a Writer.
type WriterOpt func(*writerOptions)

type writerOptions struct {
	algorithm   digest.Algorithm
	ref         string
	writeBehind int64
	direct      bool
}

// WithExpectedDigest makes the writer hash with expected's algorithm, so a sha512 blob can be verified.
// The default algorithm is sha256.
func WithExpectedDigest(expected digest.Digest) WriterOpt {
	return func(o *writerOptions) {
		if expected != "" {
			o.algorithm = expected.Algorithm()
		}
	}
}

// WithRef names the write, making it a resumable ingest: Close keeps it, and a Writer with the same ref resumes
// it, until it is committed or aborted. Refs are any non-empty string; the caller scopes them (the registry uses
// "upload/<repository>/<uuid>"). A writer opened with WithExpectedDigest of another algorithm than the ingest
// was hashed with so far hashes what is there again.
func WithRef(ref string) WriterOpt {
	return func(o *writerOptions) { o.ref = ref }
}

// WithWriteBehind makes the writer hand what it wrote to the disk every n bytes instead of every 8 MiB, without
// waiting, so that a large blob is written while it streams in and Commit's fsync has little left to do. It is
// only a hint: durability still comes from Commit's fsync.
func WithWriteBehind(n int64) WriterOpt {
	return func(o *writerOptions) {
		if n > 0 {
			o.writeBehind = n
		}
	}
}

// WithDirectIO makes an unnamed writer write past the page cache (O_DIRECT) where the filesystem allows it: the
// kernel reads the caller's buffers instead of copying them into cached pages, which for a large blob is the
// largest cost of its write after hashing, and a blob written once is rarely read back at once. Bytes that do not
// fill a whole aligned block wait in the writer, and the tail is written through the cache at Commit. Commit's
// fsync is unchanged and still what makes the blob durable. Ignored for a named ingest (WithRef) and where the
// filesystem refuses O_DIRECT (tmpfs), which write through the page cache as usual.
func WithDirectIO() WriterOpt {
	return func(o *writerOptions) { o.direct = true }
}

// Ingester starts blob writes.
type Ingester interface {
	// Writer starts a new write, or resumes the ingest named by WithRef. A ref another writer holds returns an
	// error wrapping errdefs.ErrUnavailable; a done context returns its error.
	Writer(ctx context.Context, opts ...WriterOpt) (Writer, error)
}

// Status describes an unfinished ingest named by a ref.
type Status struct {
	// Ref names the ingest.
	Ref string
	// Offset is how many bytes it holds.
	Offset int64
	// StartedAt is when it was started.
	StartedAt time.Time
	// UpdatedAt is when it was last written to.
	UpdatedAt time.Time
}

// IngestManager tracks the unfinished ingests named by refs.
type IngestManager interface {
	// Status describes the ingest, or returns an error wrapping errdefs.ErrNotFound.
	Status(ctx context.Context, ref string) (Status, error)
	// ListStatuses describes every ingest whose ref starts with prefix ("" lists all).
	ListStatuses(ctx context.Context, prefix string) ([]Status, error)
	// Abort discards the ingest; it returns an error wrapping errdefs.ErrNotFound when there is none and
	// errdefs.ErrUnavailable while a writer holds it.
	Abort(ctx context.Context, ref string) error
}

// IngestProvider reads what an unfinished ingest holds so far, for a reader that follows a write in progress
// (the registry's pull-through cache serves a blob to several clients while it is fetched). It is optional:
// callers check for it with a type assertion.
type IngestProvider interface {
	// IngestReaderAt returns a reader over the ingest's bytes; its Size is the offset when it was opened, and
	// reads beyond it see what was written since. It returns an error wrapping errdefs.ErrNotFound when the
	// ingest is not there (never started, committed, or aborted).
	IngestReaderAt(ctx context.Context, ref string) (ReaderAt, error)
}

// Backend is a whole blob backend: what the engine's images, the registry and the object store keep their data
// in. Every implementation passes internal/content/testsuite.
type Backend interface {
	Provider
	Ingester
	Manager
	IngestManager
}

// WalkFunc is called for each committed blob; returning an error stops the walk with that error.
type WalkFunc func(Info) error

// Manager enumerates and removes committed blobs.
type Manager interface {
	// Info describes the blob, or returns an error wrapping errdefs.ErrNotFound.
	Info(ctx context.Context, dgst digest.Digest) (Info, error)
	// Delete removes the blob, or returns an error wrapping errdefs.ErrNotFound.
	Delete(ctx context.Context, dgst digest.Digest) error
	// Walk calls fn for every committed blob.
	Walk(ctx context.Context, fn WalkFunc) error
}

// ValidateDigest reports whether dgst is a well-formed sha256 or sha512 digest, the only algorithms stored.
// Other digests return an error wrapping errdefs.ErrInvalidArgument.
func ValidateDigest(dgst digest.Digest) error {
	// Validate first: Algorithm panics on a string without a separator.
	if err := dgst.Validate(); err != nil {
		return fmt.Errorf("invalid digest %q: %v: %w", dgst, err, errdefs.ErrInvalidArgument)
	}
	switch dgst.Algorithm() {
	case digest.SHA256, digest.SHA512:
	default:
		return fmt.Errorf("invalid digest %q: unsupported algorithm: %w", dgst, errdefs.ErrInvalidArgument)
	}
	return nil
}

// WriteBlob copies r into a new blob of ing and commits it. expected may be empty, in which case the digest is
// computed; otherwise a mismatch is an error wrapping errdefs.ErrFailedPrecondition and nothing is stored.
// A blob that already exists is not an error. It returns the blob's digest and size.
func WriteBlob(ctx context.Context, ing Ingester, r io.Reader, expected digest.Digest) (digest.Digest, int64, error) {
	if expected != "" {
		if err := ValidateDigest(expected); err != nil {
			return "", 0, err
		}
	}
	w, err := ing.Writer(ctx, WithExpectedDigest(expected))
	if err != nil {
		return "", 0, err
	}
	defer w.Close()
	if _, err := io.Copy(w, &ctxReader{ctx: ctx, r: r}); err != nil {
		return "", 0, fmt.Errorf("write blob: %w", err)
	}
	dgst, size := w.Digest(), w.Size()
	if err := w.Commit(ctx, -1, expected); err != nil && !errdefs.IsAlreadyExists(err) {
		return "", 0, err
	}
	return dgst, size, nil
}

// ReadBlob reads a whole blob into memory; it is meant for manifests and configs, so it refuses blobs larger
// than limit bytes with an error wrapping errdefs.ErrInvalidArgument.
func ReadBlob(ctx context.Context, p Provider, dgst digest.Digest, limit int64) ([]byte, error) {
	rc, err := p.Open(ctx, dgst)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", dgst, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("blob %s is larger than %d bytes: %w", dgst, limit, errdefs.ErrInvalidArgument)
	}
	return b, nil
}

// ContextReader returns a reader of r that stops a copy once ctx is done.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return &ctxReader{ctx: ctx, r: r} }

// ctxReader stops a copy once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

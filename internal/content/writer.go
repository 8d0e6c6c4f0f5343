package content

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/atomicfile"
)

// writebackChunk is how much is written before the kernel is asked to start writing it out, so that the fsync at
// commit finds little left to flush (a 200 MiB registry push otherwise waits seconds for it).
const writebackChunk = 8 << 20

// Writer implements Ingester.
func (s *Store) Writer(ctx context.Context, opts ...WriterOpt) (Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := writerOptions{algorithm: digest.SHA256, writeBehind: writebackChunk}
	for _, opt := range opts {
		opt(&o)
	}
	switch o.algorithm {
	case digest.SHA256, digest.SHA512:
	default:
		return nil, fmt.Errorf("digest algorithm %q: %w", o.algorithm, errdefs.ErrInvalidArgument)
	}
	if o.ref != "" {
		return s.resume(ctx, o.ref, o.algorithm, o.writeBehind)
	}
	f, err := os.CreateTemp(s.ingestDir(), "ingest-*")
	if err != nil {
		return nil, fmt.Errorf("content writer: %w", err)
	}
	w := &writer{s: s, f: f, path: f.Name(), alg: o.algorithm, h: o.algorithm.Hash(), wbChunk: o.writeBehind}
	if o.direct && setDirect(f, true) == nil {
		w.direct = newDirectBuf()
	}
	return w, nil
}

// writer writes one blob: an unnamed temp file, or the data file of a named ingest (ref set), which it holds
// locked (flock) while open.
type writer struct {
	s    *Store
	f    *os.File
	path string
	ref  string
	alg  digest.Algorithm
	h    hash.Hash
	n    int64
	// wbOff and wbPending track what was handed to the kernel's writeback and what was written since; wbChunk is
	// how much is written before it is handed over.
	wbOff, wbPending, wbChunk int64
	// start is the hash as it was when the writer was opened: truncating back to there (a registry chunk that
	// failed) restores it instead of reading the bytes again.
	start  savedHash
	closed bool
	// direct, when set, holds what an O_DIRECT writer has not written yet (direct.go); derr is its failure.
	direct *directBuf
	derr   error
}

func (w *writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("write to closed content writer: %w", errdefs.ErrFailedPrecondition)
	}
	if w.direct != nil {
		return w.writeDirect(p)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	w.wbPending += int64(n)
	if w.wbPending >= w.wbChunk {
		// SYNC_FILE_RANGE_WRITE only starts the writeback: it neither waits nor replaces the fsync at commit.
		_ = unix.SyncFileRange(int(w.f.Fd()), w.wbOff, w.wbPending, unix.SYNC_FILE_RANGE_WRITE)
		w.wbOff += w.wbPending
		w.wbPending = 0
	}
	return n, err
}

func (w *writer) Digest() digest.Digest { return digest.NewDigest(w.alg, w.h) }

func (w *writer) Size() int64 { return w.n }

func (w *writer) Truncate(size int64) error {
	if w.closed {
		return fmt.Errorf("truncate of closed content writer: %w", errdefs.ErrFailedPrecondition)
	}
	if size < 0 || size > w.n {
		return fmt.Errorf("truncate to %d of %d bytes: %w", size, w.n, errdefs.ErrInvalidArgument)
	}
	if size == w.n {
		return nil
	}
	// Truncation is for resumed uploads, not what O_DIRECT is for: write what is held and go on through the cache.
	if err := w.endDirect(); err != nil {
		return fmt.Errorf("content writer: %w", err)
	}
	if err := w.f.Truncate(size); err != nil {
		return fmt.Errorf("content writer: %w", err)
	}
	if _, err := w.f.Seek(size, io.SeekStart); err != nil {
		return fmt.Errorf("content writer: %w", err)
	}
	// A hash cannot be wound back: restore it as it was at the start, or hash the bytes that are left again.
	if !w.start.restore(w.h, w.alg, size) {
		w.h.Reset()
		if err := hashPrefix(context.Background(), w.h, w.f, size); err != nil {
			return fmt.Errorf("content writer: %w", err)
		}
	}
	w.n = size
	w.wbOff, w.wbPending = min(w.wbOff, size), 0
	return nil
}

func (w *writer) Commit(ctx context.Context, expectedSize int64, expected digest.Digest) error {
	if w.closed {
		return fmt.Errorf("commit of closed content writer: %w", errdefs.ErrFailedPrecondition)
	}
	if err := ctx.Err(); err != nil {
		w.Close()
		return err
	}
	got := w.Digest()
	if expected != "" {
		if err := ValidateDigest(expected); err != nil {
			w.Close()
			return err
		}
		if expected.Algorithm() != w.alg {
			w.Close()
			return fmt.Errorf("commit: expected digest %s does not use the writer's algorithm %s: %w",
				expected, w.alg, errdefs.ErrInvalidArgument)
		}
		if got != expected {
			w.discard()
			return fmt.Errorf("unexpected commit digest %s, expected %s: %w", got, expected, errdefs.ErrFailedPrecondition)
		}
	}
	if expectedSize >= 0 && expectedSize != w.n {
		w.discard()
		return fmt.Errorf("unexpected commit size %d, expected %d: %w", w.n, expectedSize, errdefs.ErrFailedPrecondition)
	}
	target, err := w.s.blobPath(got)
	if err != nil {
		w.Close()
		return err
	}
	if err := w.endDirect(); err != nil {
		w.Close()
		return fmt.Errorf("commit %s: %w", got, err)
	}
	if err := w.f.Sync(); err != nil {
		w.Close()
		return fmt.Errorf("commit %s: %w", got, err)
	}
	if err := w.f.Chmod(0o444); err != nil {
		w.Close()
		return fmt.Errorf("commit %s: %w", got, err)
	}
	// link, not rename: it fails on an existing blob, so concurrent writers of one blob cannot clobber each other
	// and the loser learns the blob is already there.
	if err := os.Link(w.path, target); err != nil {
		if errors.Is(err, fs.ErrExist) {
			w.discard()
			return fmt.Errorf("content %s: %w", got, errdefs.ErrAlreadyExists)
		}
		_ = w.f.Chmod(0o600) // a named ingest stays resumable
		w.Close()
		return fmt.Errorf("commit %s: %w", got, err)
	}
	// The blob is in place: whatever happens next, the ingest is done with.
	derr := w.discard()
	if err := atomicfile.SyncDir(filepath.Dir(target)); err != nil {
		return fmt.Errorf("commit %s: %w", got, err)
	}
	return derr
}

// Close keeps a named ingest (saving its running hash for the next writer) and removes an unnamed one.
func (w *writer) Close() error {
	if w.closed {
		return nil
	}
	if w.ref == "" {
		return w.discard()
	}
	w.closed = true
	w.s.saveHash(w.ref, w.alg, w.n, w.h)
	// Closing the file releases the flock.
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("content writer: %w", err)
	}
	return nil
}

// discard closes the writer and removes what it wrote: the temp file, or the whole named ingest.
func (w *writer) discard() error {
	if w.closed {
		return nil
	}
	w.closed = true
	var err error
	if w.ref == "" {
		err = os.Remove(w.path)
	} else {
		w.s.takeHash(w.ref)
		// Removed while the flock is held, so that no other writer can take the ingest half removed.
		err = os.RemoveAll(filepath.Dir(w.path))
	}
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.releaseDirect()
	return err
}

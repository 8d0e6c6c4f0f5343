package content

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// Store is the local blob store rooted at a directory. It is safe for concurrent use: every write has its own
// temp file and blobs appear by an atomic link, so two writers of the same blob both succeed.
type Store struct {
	root string
}

var (
	_ Provider = (*Store)(nil)
	_ Ingester = (*Store)(nil)
	_ Manager  = (*Store)(nil)
)

// Open opens (creating if needed) the store rooted at root, with blobs under root/blobs and in-flight writes
// under root/ingest. Leftover in-flight writes from a previous run are removed.
func Open(root string) (*Store, error) {
	for _, d := range []string{
		filepath.Join(root, "blobs", digest.SHA256.String()),
		filepath.Join(root, "blobs", digest.SHA512.String()),
		filepath.Join(root, "ingest"),
	} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("content store: %w", err)
		}
	}
	s := &Store{root: root}
	entries, err := os.ReadDir(s.ingestDir())
	if err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	for _, e := range entries {
		// A crash mid-write leaves a temp file that no one will ever commit.
		if err := os.RemoveAll(filepath.Join(s.ingestDir(), e.Name())); err != nil {
			slog.Warn("content: removing stale ingest", "name", e.Name(), "err", err)
		}
	}
	return s, nil
}

// Root is the directory the store lives in.
func (s *Store) Root() string { return s.root }

func (s *Store) ingestDir() string { return filepath.Join(s.root, "ingest") }

// blobPath returns where dgst lives, after validating it so a crafted digest can never name another path.
func (s *Store) blobPath(dgst digest.Digest) (string, error) {
	if err := ValidateDigest(dgst); err != nil {
		return "", err
	}
	return filepath.Join(s.root, "blobs", dgst.Algorithm().String(), dgst.Encoded()), nil
}

func notFound(dgst digest.Digest) error {
	return fmt.Errorf("content %s: %w", dgst, errdefs.ErrNotFound)
}

// Info implements Provider and Manager.
func (s *Store) Info(ctx context.Context, dgst digest.Digest) (Info, error) {
	p, err := s.blobPath(dgst)
	if err != nil {
		return Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Info{}, notFound(dgst)
		}
		return Info{}, fmt.Errorf("content %s: %w", dgst, err)
	}
	return Info{Digest: dgst, Size: fi.Size(), CreatedAt: fi.ModTime()}, nil
}

// Open implements Provider.
func (s *Store) Open(ctx context.Context, dgst digest.Digest) (io.ReadCloser, error) {
	return s.open(dgst)
}

// ReaderAt implements Provider.
func (s *Store) ReaderAt(ctx context.Context, dgst digest.Digest) (ReaderAt, error) {
	f, err := s.open(dgst)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("content %s: %w", dgst, err)
	}
	return &sizedFile{File: f, size: fi.Size()}, nil
}

func (s *Store) open(dgst digest.Digest) (*os.File, error) {
	p, err := s.blobPath(dgst)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, notFound(dgst)
		}
		return nil, fmt.Errorf("content %s: %w", dgst, err)
	}
	return f, nil
}

type sizedFile struct {
	*os.File
	size int64
}

func (f *sizedFile) Size() int64 { return f.size }

// Delete implements Manager.
func (s *Store) Delete(ctx context.Context, dgst digest.Digest) error {
	p, err := s.blobPath(dgst)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return notFound(dgst)
		}
		return fmt.Errorf("content %s: %w", dgst, err)
	}
	return nil
}

// Walk implements Manager. Files that are not well-formed blob names are skipped.
func (s *Store) Walk(ctx context.Context, fn WalkFunc) error {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		dir := filepath.Join(s.root, "blobs", alg.String())
		entries, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fmt.Errorf("content walk: %w", err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			dgst := digest.NewDigestFromEncoded(alg, e.Name())
			if !e.Type().IsRegular() || dgst.Validate() != nil {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted while walking
				}
				return fmt.Errorf("content walk: %w", err)
			}
			if err := fn(Info{Digest: dgst, Size: fi.Size(), CreatedAt: fi.ModTime()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Writer implements Ingester.
func (s *Store) Writer(ctx context.Context, opts ...WriterOpt) (Writer, error) {
	o := writerOptions{algorithm: digest.SHA256}
	for _, opt := range opts {
		opt(&o)
	}
	switch o.algorithm {
	case digest.SHA256, digest.SHA512:
	default:
		return nil, fmt.Errorf("digest algorithm %q: %w", o.algorithm, errdefs.ErrInvalidArgument)
	}
	f, err := os.CreateTemp(s.ingestDir(), "ingest-*")
	if err != nil {
		return nil, fmt.Errorf("content writer: %w", err)
	}
	return &writer{s: s, f: f, alg: o.algorithm, h: o.algorithm.Hash(), behind: o.writeBehind}, nil
}

type writer struct {
	s      *Store
	f      *os.File
	alg    digest.Algorithm
	h      hash.Hash
	n      int64
	closed bool
	// behind is the write-behind interval (0: none) and flushed how much of the file was handed to the disk.
	behind, flushed int64
}

func (w *writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("write to closed content writer: %w", errdefs.ErrFailedPrecondition)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if w.behind > 0 && w.n-w.flushed >= w.behind {
		startWriteBack(w.f, w.flushed, w.n-w.flushed)
		w.flushed = w.n
	}
	return n, err
}

func (w *writer) Digest() digest.Digest { return digest.NewDigest(w.alg, w.h) }

func (w *writer) Size() int64 { return w.n }

func (w *writer) Commit(ctx context.Context, expectedSize int64, expected digest.Digest) error {
	if w.closed {
		return fmt.Errorf("commit of closed content writer: %w", errdefs.ErrFailedPrecondition)
	}
	// Whatever happens below, the temp file goes: either it is linked into place or it is refused.
	defer w.Close()
	if err := ctx.Err(); err != nil {
		return err
	}
	got := w.Digest()
	if expected != "" {
		if err := ValidateDigest(expected); err != nil {
			return err
		}
		if expected.Algorithm() != w.alg {
			return fmt.Errorf("commit: expected digest %s does not use the writer's algorithm %s: %w",
				expected, w.alg, errdefs.ErrInvalidArgument)
		}
		if got != expected {
			return fmt.Errorf("unexpected commit digest %s, expected %s: %w", got, expected, errdefs.ErrFailedPrecondition)
		}
	}
	if expectedSize >= 0 && expectedSize != w.n {
		return fmt.Errorf("unexpected commit size %d, expected %d: %w", w.n, expectedSize, errdefs.ErrFailedPrecondition)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("commit %s: %w", got, err)
	}
	if err := w.f.Chmod(0o444); err != nil {
		return fmt.Errorf("commit %s: %w", got, err)
	}
	target, err := w.s.blobPath(got)
	if err != nil {
		return err
	}
	// link, not rename: it fails on an existing blob, so concurrent writers of one blob cannot clobber each other
	// and the loser learns the blob is already there.
	if err := os.Link(w.f.Name(), target); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("content %s: %w", got, errdefs.ErrAlreadyExists)
		}
		return fmt.Errorf("commit %s: %w", got, err)
	}
	if err := syncDir(filepath.Dir(target)); err != nil {
		return fmt.Errorf("commit %s: %w", got, err)
	}
	return nil
}

func (w *writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.f.Close()
	if rerr := os.Remove(w.f.Name()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

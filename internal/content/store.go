package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// Store is the local blob store rooted at a directory. It is safe for concurrent use: every write has its own
// temp file and blobs appear by an atomic link, so two writers of the same blob both succeed.
//
// Layout:
//
//	<root>/blobs/<alg>/<hex>        committed blobs, read-only files
//	<root>/ingest/ingest-*          unnamed writes in progress (removed by Open: nothing can resume them)
//	<root>/ingest/<sha256(ref)>/    a named ingest: "ref" (its name; its mtime is when it started) and "data"
type Store struct {
	root string

	mu sync.Mutex
	// hashes holds the running hash of named ingests whose writer was closed, so that the next writer resumes
	// without reading the bytes again; an ingest not in it (after a restart) is hashed again on resume.
	hashes map[string]savedHash
}

var (
	_ Provider       = (*Store)(nil)
	_ Ingester       = (*Store)(nil)
	_ Manager        = (*Store)(nil)
	_ IngestManager  = (*Store)(nil)
	_ IngestProvider = (*Store)(nil)
	_ Backend        = (*Store)(nil)
)

// Open opens (creating if needed) the store rooted at root, with blobs under root/blobs and in-flight writes
// under root/ingest. Leftover unnamed writes from a previous run are removed; named ingests are kept.
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
	s := &Store{root: root, hashes: map[string]savedHash{}}
	entries, err := os.ReadDir(s.ingestDir())
	if err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	for _, e := range entries {
		if s.isNamedIngest(e) {
			continue
		}
		// A crash mid-write leaves a temp file that no one will ever commit (or a named ingest half created).
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

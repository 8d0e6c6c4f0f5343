package content

import (
	"context"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Named ingests: <root>/ingest/<sha256 of the ref>/{ref,data}. The directory is named by a hash so that any ref
// is a safe file name; the ref file says which ref it is (for ListStatuses) and its mtime when it started. A
// writer holds an flock on the data file, which makes one writer per ref across processes and store instances,
// and goes away with the process.

// savedHash is the running hash of a named ingest whose writer was closed, at offset bytes.
type savedHash struct {
	alg    digest.Algorithm
	offset int64
	state  []byte
}

func (s *Store) saveHash(ref string, alg digest.Algorithm, offset int64, h hash.Hash) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return
	}
	state, err := m.MarshalBinary()
	if err != nil {
		return
	}
	s.mu.Lock()
	s.hashes[ref] = savedHash{alg: alg, offset: offset, state: state}
	s.mu.Unlock()
}

func (s *Store) takeHash(ref string) (savedHash, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.hashes[ref]
	delete(s.hashes, ref)
	return h, ok
}

// restore sets h to the saved state if it is of alg at offset.
func (sh savedHash) restore(h hash.Hash, alg digest.Algorithm, offset int64) bool {
	u, ok := h.(encoding.BinaryUnmarshaler)
	return ok && sh.alg == alg && sh.offset == offset && u.UnmarshalBinary(sh.state) == nil
}

// hashPrefix feeds the first size bytes of f to h.
func hashPrefix(ctx context.Context, h hash.Hash, f *os.File, size int64) error {
	n, err := io.Copy(h, &ctxReader{ctx: ctx, r: io.NewSectionReader(f, 0, size)})
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (s *Store) ingestPath(ref string) string {
	return filepath.Join(s.ingestDir(), digest.SHA256.FromString(ref).Encoded())
}

func (s *Store) isNamedIngest(e fs.DirEntry) bool {
	if !e.IsDir() || len(e.Name()) != 64 {
		return false
	}
	_, err := hex.DecodeString(e.Name())
	return err == nil
}

func checkRef(ref string) error {
	if ref == "" {
		return fmt.Errorf("empty ingest ref: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// resume opens the named ingest, creating it if needed, and restores its running hash.
func (s *Store) resume(ctx context.Context, ref string, alg digest.Algorithm, wbChunk int64) (*writer, error) {
	path := filepath.Join(s.ingestPath(ref), "data")
	f, err := s.lockIngest(ref)
	if err != nil {
		return nil, err
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ingest %q: %w", ref, err)
	}
	h := alg.Hash()
	if saved, ok := s.takeHash(ref); !ok || !saved.restore(h, alg, size) {
		h.Reset()
		if err := hashPrefix(ctx, h, f, size); err != nil {
			f.Close()
			return nil, fmt.Errorf("ingest %q: %w", ref, err)
		}
	}
	w := &writer{s: s, f: f, path: path, ref: ref, alg: alg, h: h, n: size, wbOff: size, wbChunk: wbChunk}
	if m, ok := h.(encoding.BinaryMarshaler); ok {
		if state, err := m.MarshalBinary(); err == nil {
			w.start = savedHash{alg: alg, offset: size, state: state}
		}
	}
	return w, nil
}

// lockIngest opens the data file of the named ingest for writing, creating the ingest if needed, and takes its
// lock; a lock another writer holds is ErrUnavailable.
func (s *Store) lockIngest(ref string) (*os.File, error) {
	dir := s.ingestPath(ref)
	path := filepath.Join(dir, "data")
	// Between the open and the lock, another writer may commit or abort the ingest and remove it; then the
	// file locked is not the one at path any more, and it is opened (or created) again.
	for range 8 {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			if err := s.createIngest(ref, dir); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ingest %q: %w", ref, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("ingest %q is being written: %w", ref, errdefs.ErrUnavailable)
			}
			return nil, fmt.Errorf("ingest %q: %w", ref, err)
		}
		if sameFile(f, path) {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("ingest %q keeps being replaced: %w", ref, errdefs.ErrUnavailable)
}

func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// createIngest makes the ingest's directory whole in a temp directory and renames it into place, so that a named
// ingest always has both files. Another writer creating it at the same time is not an error.
func (s *Store) createIngest(ref, dir string) error {
	tmp, err := os.MkdirTemp(s.ingestDir(), ".new-*")
	if err != nil {
		return fmt.Errorf("ingest %q: %w", ref, err)
	}
	defer os.RemoveAll(tmp) // nothing left once renamed
	if err := os.WriteFile(filepath.Join(tmp, "ref"), []byte(ref), 0o600); err != nil {
		return fmt.Errorf("ingest %q: %w", ref, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "data"), nil, 0o600); err != nil {
		return fmt.Errorf("ingest %q: %w", ref, err)
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("ingest %q: %w", ref, err)
	}
	return nil
}

// Status implements IngestManager.
func (s *Store) Status(ctx context.Context, ref string) (Status, error) {
	if err := checkRef(ref); err != nil {
		return Status{}, err
	}
	return s.status(ref, s.ingestPath(ref))
}

func (s *Store) status(ref, dir string) (Status, error) {
	started, err := os.Stat(filepath.Join(dir, "ref"))
	if err == nil {
		var data fs.FileInfo
		if data, err = os.Stat(filepath.Join(dir, "data")); err == nil {
			return Status{Ref: ref, Offset: data.Size(), StartedAt: started.ModTime(), UpdatedAt: data.ModTime()}, nil
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return Status{}, fmt.Errorf("ingest %q: %w", ref, errdefs.ErrNotFound)
	}
	return Status{}, fmt.Errorf("ingest %q: %w", ref, err)
}

// ListStatuses implements IngestManager. The result is sorted by ref.
func (s *Store) ListStatuses(ctx context.Context, prefix string) ([]Status, error) {
	entries, err := os.ReadDir(s.ingestDir())
	if err != nil {
		return nil, fmt.Errorf("list ingests: %w", err)
	}
	var out []Status
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !s.isNamedIngest(e) {
			continue
		}
		dir := filepath.Join(s.ingestDir(), e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "ref"))
		if err != nil || !strings.HasPrefix(string(b), prefix) {
			continue // gone meanwhile, or not asked for
		}
		st, err := s.status(string(b), dir)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// Abort implements IngestManager.
func (s *Store) Abort(ctx context.Context, ref string) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	dir := s.ingestPath(ref)
	f, err := os.Open(filepath.Join(dir, "data"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ingest %q: %w", ref, errdefs.ErrNotFound)
		}
		return fmt.Errorf("ingest %q: %w", ref, err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("ingest %q is being written: %w", ref, errdefs.ErrUnavailable)
		}
		return fmt.Errorf("ingest %q: %w", ref, err)
	}
	s.takeHash(ref)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("ingest %q: %w", ref, err)
	}
	return nil
}

// IngestReaderAt implements IngestProvider.
func (s *Store) IngestReaderAt(ctx context.Context, ref string) (ReaderAt, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(s.ingestPath(ref), "data"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("ingest %q: %w", ref, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("ingest %q: %w", ref, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("ingest %q: %w", ref, err)
	}
	return &sizedFile{File: f, size: fi.Size()}, nil
}

package registry

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/atomicfile"
)

// store is the filesystem layout:
//
//	<root>/blobs/<alg>/<hex>                                  content, written only after verification
//	<root>/repositories/<name>/_layers/<alg>/<hex>            blob link (contains the digest)
//	<root>/repositories/<name>/_manifests/revisions/<alg>/<hex> manifest link (JSON: media type)
//	<root>/repositories/<name>/_manifests/tags/<tag>          tag link (contains the digest)
//	<root>/repositories/<name>/_uploads/<uuid>/{data,startedat}
//
// Callers validate names, tags, digests and upload ids before calling in.
type store struct {
	root string
}

func (s *store) blobPath(d digest.Digest) string {
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded())
}

func (s *store) repoPath(name string, elem ...string) string {
	return filepath.Join(append([]string{s.root, "repositories", filepath.FromSlash(name)}, elem...)...)
}

func (s *store) layerLink(name string, d digest.Digest) string {
	return s.repoPath(name, "_layers", d.Algorithm().String(), d.Encoded())
}

func (s *store) revisionPath(name string, d digest.Digest) string {
	return s.repoPath(name, "_manifests", "revisions", d.Algorithm().String(), d.Encoded())
}

func (s *store) tagPath(name, tag string) string {
	return s.repoPath(name, "_manifests", "tags", tag)
}

func (s *store) uploadDir(name, id string) string {
	return s.repoPath(name, "_uploads", id)
}

// writeFileAtomic replaces path with data (mode 0600, as the store's files always were), durably, creating
// its directory first.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

func notFound(what string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", what, errdefs.ErrNotFound)
	}
	return err
}

// repoExists reports whether anything was ever stored in the repository.
func (s *store) repoExists(name string) bool {
	for _, sub := range []string{"_layers", "_manifests", "_uploads"} {
		if _, err := os.Stat(s.repoPath(name, sub)); err == nil {
			return true
		}
	}
	return false
}

// statBlob returns the size of a blob visible in the repository.
func (s *store) statBlob(name string, d digest.Digest) (int64, error) {
	if _, err := os.Stat(s.layerLink(name, d)); err != nil {
		return 0, notFound("blob "+d.String(), err)
	}
	fi, err := os.Stat(s.blobPath(d))
	if err != nil {
		return 0, notFound("blob "+d.String(), err)
	}
	return fi.Size(), nil
}

// statContent returns the size of a blob stored for any repository.
func (s *store) statContent(d digest.Digest) (int64, error) {
	fi, err := os.Stat(s.blobPath(d))
	if err != nil {
		return 0, notFound("blob "+d.String(), err)
	}
	return fi.Size(), nil
}

// openBlob opens a blob visible in the repository.
func (s *store) openBlob(name string, d digest.Digest) (*os.File, error) {
	if _, err := os.Stat(s.layerLink(name, d)); err != nil {
		return nil, notFound("blob "+d.String(), err)
	}
	f, err := os.Open(s.blobPath(d))
	if err != nil {
		return nil, notFound("blob "+d.String(), err)
	}
	return f, nil
}

func (s *store) linkBlob(name string, d digest.Digest) error {
	return writeFileAtomic(s.layerLink(name, d), []byte(d.String()))
}

func (s *store) unlinkBlob(name string, d digest.Digest) error {
	return notFound("blob "+d.String(), os.Remove(s.layerLink(name, d)))
}

// putContent stores bytes whose digest the caller has already computed.
func (s *store) putContent(d digest.Digest, data []byte) error {
	if _, err := os.Stat(s.blobPath(d)); err == nil {
		return nil
	}
	return writeFileAtomic(s.blobPath(d), data)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newUpload starts an empty upload session and returns its id.
func (s *store) newUpload(name string) (string, error) {
	id := newUUID()
	dir := s.uploadDir(name, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "data"), nil, 0o644); err != nil {
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(dir, "startedat"), []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return "", err
	}
	return id, nil
}

// uploadSize returns how many bytes the upload holds.
func (s *store) uploadSize(name, id string) (int64, error) {
	fi, err := os.Stat(filepath.Join(s.uploadDir(name, id), "data"))
	if err != nil {
		return 0, notFound("upload "+id, err)
	}
	return fi.Size(), nil
}

// runningHash is the sha256 of an upload's first n bytes, valid while every
// append went through it; the zero value is an empty hash.
type runningHash struct {
	h       hash.Hash
	n       int64
	invalid bool
}

// writebackChunk is how much is appended before the kernel is asked to start
// writing it out, so that the fsync at commit finds little left to flush.
const writebackChunk = 8 << 20

// writebackWriter writes to f and starts asynchronous writeback of every
// writebackChunk written (sync_file_range(SYNC_FILE_RANGE_WRITE); it neither
// waits nor replaces the fsync at commit).
type writebackWriter struct {
	f            *os.File
	off, pending int64
}

func (w *writebackWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.pending += int64(n)
	if w.pending >= writebackChunk {
		_ = unix.SyncFileRange(int(w.f.Fd()), w.off, w.pending, unix.SYNC_FILE_RANGE_WRITE)
		w.off += w.pending
		w.pending = 0
	}
	return n, err
}

// appendUpload appends r to the upload, feeding rh (if not nil) when the
// upload is hashed so far. If want >= 0 exactly want bytes must arrive;
// otherwise the upload is truncated back and ErrInvalidArgument returned.
func (s *store) appendUpload(name, id string, r io.Reader, want int64, rh *runningHash) (int64, error) {
	f, err := os.OpenFile(filepath.Join(s.uploadDir(name, id), "data"), os.O_WRONLY, 0)
	if err != nil {
		return 0, notFound("upload "+id, err)
	}
	defer f.Close()
	start, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	src := r
	if want >= 0 {
		src = io.LimitReader(r, want+1)
	}
	var dst io.Writer = &writebackWriter{f: f, off: start}
	if rh != nil {
		if rh.h == nil && start == 0 {
			rh.h = sha256.New()
		}
		if rh.invalid || rh.h == nil || rh.n != start {
			rh.invalid = true
		} else {
			dst = io.MultiWriter(dst, rh.h)
		}
	}
	n, err := io.Copy(dst, src)
	if err == nil && want >= 0 && n != want {
		err = fmt.Errorf("chunk is %d bytes, range says %d: %w", n, want, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		_ = f.Truncate(start)
		if rh != nil {
			rh.invalid = true // it saw bytes the truncate took back
		}
		return start, err
	}
	if rh != nil {
		rh.n = start + n
	}
	return start + n, nil
}

// commitUpload verifies the upload against d and only then makes it visible as
// a blob linked into the repository. On mismatch the upload is discarded. rh,
// if it covers the whole upload, saves reading it again for a sha256 digest.
func (s *store) commitUpload(name, id string, d digest.Digest, rh *runningHash) (int64, error) {
	dir := s.uploadDir(name, id)
	data := filepath.Join(dir, "data")
	f, err := os.Open(data)
	if err != nil {
		return 0, notFound("upload "+id, err)
	}
	var got digest.Digest
	fi, err := f.Stat()
	n := int64(0)
	if err == nil {
		n = fi.Size()
		if rh != nil && !rh.invalid && rh.h != nil && rh.n == n && d.Algorithm() == digest.SHA256 {
			got = digest.NewDigest(digest.SHA256, rh.h)
		} else {
			v := d.Algorithm().Hash()
			if n, err = io.Copy(v, f); err == nil {
				got = digest.NewDigest(d.Algorithm(), v)
			}
		}
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return 0, err
	}
	if got != d {
		_ = os.RemoveAll(dir)
		return 0, fmt.Errorf("upload %s has digest %s, not %s: %w", id, got, d, errdefs.ErrInvalidArgument)
	}
	return n, s.installUpload(name, id, d)
}

// installUpload makes an upload the caller verified to have digest d (and
// synced) visible as a blob linked into the repository.
func (s *store) installUpload(name, id string, d digest.Digest) error {
	dir := s.uploadDir(name, id)
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(s.blobPath(d)); err != nil {
		if err := os.MkdirAll(filepath.Dir(s.blobPath(d)), 0o755); err != nil {
			return err
		}
		if err := os.Rename(data, s.blobPath(d)); err != nil {
			return err
		}
	}
	if err := s.linkBlob(name, d); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

func (s *store) cancelUpload(name, id string) error {
	dir := s.uploadDir(name, id)
	if _, err := os.Stat(dir); err != nil {
		return notFound("upload "+id, err)
	}
	return os.RemoveAll(dir)
}

// revision is the content of a manifest link.
type revision struct {
	MediaType string `json:"mediaType"`
}

func (s *store) putManifest(name string, tags []string, d digest.Digest, mediaType string, data []byte) error {
	if err := s.putContent(d, data); err != nil {
		return err
	}
	rev, err := json.Marshal(revision{MediaType: mediaType})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.revisionPath(name, d), rev); err != nil {
		return err
	}
	for _, tag := range tags {
		if err := writeFileAtomic(s.tagPath(name, tag), []byte(d.String())); err != nil {
			return err
		}
	}
	return nil
}

func (s *store) resolveTag(name, tag string) (digest.Digest, error) {
	b, err := os.ReadFile(s.tagPath(name, tag))
	if err != nil {
		return "", notFound("tag "+tag, err)
	}
	return digest.Parse(strings.TrimSpace(string(b)))
}

// getManifest returns the manifest bytes and media type of a revision in the repository.
func (s *store) getManifest(name string, d digest.Digest) ([]byte, string, error) {
	b, err := os.ReadFile(s.revisionPath(name, d))
	if err != nil {
		return nil, "", notFound("manifest "+d.String(), err)
	}
	var rev revision
	if err := json.Unmarshal(b, &rev); err != nil {
		return nil, "", fmt.Errorf("manifest link %s: %w", d, err)
	}
	data, err := os.ReadFile(s.blobPath(d))
	if err != nil {
		return nil, "", notFound("manifest "+d.String(), err)
	}
	return data, rev.MediaType, nil
}

func (s *store) hasManifest(name string, d digest.Digest) bool {
	_, err := os.Stat(s.revisionPath(name, d))
	return err == nil
}

// deleteManifest removes a revision and every tag pointing at it.
func (s *store) deleteManifest(name string, d digest.Digest) error {
	if err := os.Remove(s.revisionPath(name, d)); err != nil {
		return notFound("manifest "+d.String(), err)
	}
	tags, err := s.listTags(name)
	if err != nil {
		return nil
	}
	for _, t := range tags {
		if td, err := s.resolveTag(name, t); err == nil && td == d {
			if err := os.Remove(s.tagPath(name, t)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

func (s *store) deleteTag(name, tag string) error {
	return notFound("tag "+tag, os.Remove(s.tagPath(name, tag)))
}

func (s *store) listTags(name string) ([]string, error) {
	if !s.repoExists(name) {
		return nil, fmt.Errorf("repository %s: %w", name, errdefs.ErrNotFound)
	}
	entries, err := os.ReadDir(s.repoPath(name, "_manifests", "tags"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	tags := []string{}
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			tags = append(tags, e.Name())
		}
	}
	sort.Strings(tags)
	return tags, nil
}

// listRevisions returns the digests of every manifest stored in the repository.
func (s *store) listRevisions(name string) ([]digest.Digest, error) {
	base := s.repoPath(name, "_manifests", "revisions")
	var out []digest.Digest
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		entries, err := os.ReadDir(filepath.Join(base, alg.String()))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, e := range entries {
			d := digest.NewDigestFromEncoded(alg, e.Name())
			if d.Validate() == nil {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

// listRepos walks the repositories tree; a directory is a repository when it
// holds any of the underscore directories, which names can never contain.
func (s *store) listRepos() ([]string, error) {
	base := filepath.Join(s.root, "repositories")
	var repos []string
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			return nil
		}
		if strings.HasPrefix(e.Name(), "_") {
			return fs.SkipDir
		}
		if p == base {
			return nil
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		if name := filepath.ToSlash(rel); s.repoExists(name) {
			repos = append(repos, name)
		}
		return nil
	})
	sort.Strings(repos)
	return repos, err
}

package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/content"
)

// store is the registry's data under its root. Blob content lives in a content store rooted at the same
// directory, so that its files are where they always were; the registry keeps, beside it, which repository
// sees what:
//
//	<root>/blobs/<alg>/<hex>                                  content (internal/content), visible only verified
//	<root>/ingest/...                                         uploads in progress (content's named ingests)
//	<root>/repositories/<name>/_layers/<alg>/<hex>            blob link (contains the digest)
//	<root>/repositories/<name>/_manifests/revisions/<alg>/<hex> manifest link (JSON: media type)
//	<root>/repositories/<name>/_manifests/tags/<tag>          tag link (contains the digest)
//	<root>/repositories/<name>/_uploads/<uuid>/startedat      upload session (its bytes: the ingest uploadRef names)
//
// Callers validate names, tags, digests and upload ids before calling in.
type store struct {
	root  string
	blobs content.Backend
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
func (s *store) statBlob(ctx context.Context, name string, d digest.Digest) (int64, error) {
	if _, err := os.Stat(s.layerLink(name, d)); err != nil {
		return 0, notFound("blob "+d.String(), err)
	}
	return s.statContent(ctx, d)
}

// statContent returns the size of a blob stored for any repository.
func (s *store) statContent(ctx context.Context, d digest.Digest) (int64, error) {
	info, err := s.blobs.Info(ctx, d)
	if err != nil {
		return 0, err
	}
	return info.Size, nil
}

// openBlob opens a blob visible in the repository for serving: http.ServeContent seeks, and serves with
// sendfile when what it gets is the *os.File the local content store's Open returns.
func (s *store) openBlob(ctx context.Context, name string, d digest.Digest) (io.ReadSeeker, io.Closer, content.Info, error) {
	if _, err := os.Stat(s.layerLink(name, d)); err != nil {
		return nil, nil, content.Info{}, notFound("blob "+d.String(), err)
	}
	info, err := s.blobs.Info(ctx, d)
	if err != nil {
		return nil, nil, content.Info{}, err
	}
	rc, err := s.blobs.Open(ctx, d)
	if err != nil {
		return nil, nil, content.Info{}, err
	}
	if rs, ok := rc.(io.ReadSeeker); ok {
		return rs, rc, info, nil
	}
	rc.Close()
	ra, err := s.blobs.ReaderAt(ctx, d)
	if err != nil {
		return nil, nil, content.Info{}, err
	}
	return io.NewSectionReader(ra, 0, ra.Size()), ra, info, nil
}

func (s *store) linkBlob(name string, d digest.Digest) error {
	return writeFileAtomic(s.layerLink(name, d), []byte(d.String()))
}

func (s *store) unlinkBlob(name string, d digest.Digest) error {
	return notFound("blob "+d.String(), os.Remove(s.layerLink(name, d)))
}

// putContent stores bytes whose digest the caller has already computed.
func (s *store) putContent(ctx context.Context, d digest.Digest, data []byte) error {
	if _, err := s.blobs.Info(ctx, d); err == nil {
		return nil
	}
	_, _, err := content.WriteBlob(ctx, s.blobs, bytes.NewReader(data), d)
	return err
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// uploadRefPrefix and proxyRefPrefix scope the registry's ingests in the content store.
const (
	uploadRefPrefix = "upload/"
	proxyRefPrefix  = "proxy/"
)

// uploadRef names the ingest holding an upload session's bytes; the repository is part of it, so a session is
// unknown in any other repository.
func uploadRef(name, id string) string { return uploadRefPrefix + name + "/" + id }

// newUpload starts an empty upload session and returns its id.
func (s *store) newUpload(ctx context.Context, name string) (string, error) {
	id := newUUID()
	if err := writeFileAtomic(filepath.Join(s.uploadDir(name, id), "startedat"), []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return "", err
	}
	w, err := s.blobs.Writer(ctx, content.WithRef(uploadRef(name, id)))
	if err != nil {
		_ = os.RemoveAll(s.uploadDir(name, id))
		return "", err
	}
	return id, w.Close()
}

// uploadSize returns how many bytes the upload holds.
func (s *store) uploadSize(ctx context.Context, name, id string) (int64, error) {
	st, err := s.blobs.Status(ctx, uploadRef(name, id))
	if err != nil {
		return 0, err
	}
	return st.Offset, nil
}

// openUpload resumes an upload session's ingest for appending. With d set the writer hashes with d's algorithm,
// for the commit that ends the session.
func (s *store) openUpload(ctx context.Context, name, id string, d digest.Digest) (content.Writer, error) {
	return s.blobs.Writer(ctx, content.WithRef(uploadRef(name, id)), content.WithExpectedDigest(d))
}

// appendUpload appends r to w. If want >= 0 exactly want bytes must arrive; otherwise what arrived is truncated
// away and ErrInvalidArgument returned. It returns the upload's size.
func appendUpload(w content.Writer, r io.Reader, want int64) (int64, error) {
	start := w.Size()
	src := r
	if want >= 0 {
		src = io.LimitReader(r, want+1)
	}
	n, err := io.Copy(w, src)
	if err == nil && want >= 0 && n != want {
		err = fmt.Errorf("chunk is %d bytes, range says %d: %w", n, want, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		if terr := w.Truncate(start); terr != nil {
			return start, errors.Join(err, terr)
		}
		return start, err
	}
	return start + n, nil
}

// endUpload removes what is left of a session once its ingest was committed or discarded.
func (s *store) endUpload(name, id string) error {
	return os.RemoveAll(s.uploadDir(name, id))
}

func (s *store) cancelUpload(ctx context.Context, name, id string) error {
	if err := s.blobs.Abort(ctx, uploadRef(name, id)); err != nil {
		return err
	}
	return s.endUpload(name, id)
}

// revision is the content of a manifest link.
type revision struct {
	MediaType string `json:"mediaType"`
}

func (s *store) putManifest(ctx context.Context, name string, tags []string, d digest.Digest, mediaType string, data []byte) error {
	if err := s.putContent(ctx, d, data); err != nil {
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
func (s *store) getManifest(ctx context.Context, name string, d digest.Digest) ([]byte, string, error) {
	b, err := os.ReadFile(s.revisionPath(name, d))
	if err != nil {
		return nil, "", notFound("manifest "+d.String(), err)
	}
	var rev revision
	if err := json.Unmarshal(b, &rev); err != nil {
		return nil, "", fmt.Errorf("manifest link %s: %w", d, err)
	}
	data, err := content.ReadBlob(ctx, s.blobs, d, maxManifestSize)
	if err != nil {
		return nil, "", fmt.Errorf("manifest %s: %w", d, err)
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

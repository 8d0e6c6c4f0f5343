package image

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/content"
)

// Fetcher reads one registry repository, for Pull. internal/distribution's Repository implements it.
type Fetcher interface {
	// Resolve returns the manifest or index that ref (a tag or a digest) names, with its digest computed from
	// the bytes (and checked against ref when ref is a digest).
	Resolve(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error)
	// Fetch opens blob d from byte offset and returns where the stream really starts: offset when the registry
	// honoured the range, 0 when it sent the whole blob.
	Fetch(ctx context.Context, d ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error)
}

// Pusher writes one registry repository, for Push. internal/distribution's Repository implements it.
type Pusher interface {
	// Name is host/path, as progress messages name the repository.
	Name() string
	// Path is the repository's path within its registry.
	Path() string
	// Exists reports whether the repository has blob d.
	Exists(ctx context.Context, d digest.Digest) (bool, error)
	// Mount links blob d from repository from of the same registry; false when the registry declined.
	Mount(ctx context.Context, d digest.Digest, from string) (bool, error)
	// PushBlob uploads r as a blob and returns its digest and size.
	PushBlob(ctx context.Context, r io.Reader) (digest.Digest, int64, error)
	// PushManifest stores a manifest under tag.
	PushManifest(ctx context.Context, tag, mediaType string, b []byte) error
}

// Progress is one update of a pull or push, shaped like a line of docker's JSON progress stream: a status for
// a layer (ID is its short digest) or for the whole operation (ID empty, or the tag), with byte counts while
// data moves.
type Progress struct {
	ID      string
	Status  string
	Current int64
	Total   int64
	// Pushed is set on a push's final message.
	Pushed *PushResult
	// Plain marks a message about the whole operation that still has an ID ("latest: Pulling from ..."):
	// clients print it as a line of its own rather than as a layer's updatable line.
	Plain bool
}

// ProgressFunc receives progress updates; it may be called from several goroutines at once.
type ProgressFunc func(Progress)

func (f ProgressFunc) send(p Progress) {
	if f != nil {
		f(p)
	}
}

// LayerSource records where a layer's compressed form is known to live, like docker's v2 metadata service:
// push uses it to skip blobs a registry has and to mount them across repositories.
type LayerSource struct {
	Digest     digest.Digest `json:"digest"`
	MediaType  string        `json:"mediaType"`
	Size       int64         `json:"size"`
	Registry   string        `json:"registry"`
	Repository string        `json:"repository"`
}

func (s *Store) sourcesDir() string   { return filepath.Join(s.root, "distribution") }
func (s *Store) downloadsDir() string { return filepath.Join(s.root, "downloads") }

// LayerSources returns the known registry locations of the layer with diffID.
func (s *Store) LayerSources(diffID digest.Digest) []LayerSource {
	if content.ValidateDigest(diffID) != nil {
		return nil
	}
	s.srcMu.Lock()
	defer s.srcMu.Unlock()
	return s.readSourcesLocked(diffID)
}

func (s *Store) readSourcesLocked(diffID digest.Digest) []LayerSource {
	b, err := os.ReadFile(filepath.Join(s.sourcesDir(), diffID.Encoded()+".json"))
	if err != nil {
		return nil
	}
	var out []LayerSource
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out
}

// addLayerSource remembers src for diffID, most recent first (and at most 16 entries).
func (s *Store) addLayerSource(diffID digest.Digest, src LayerSource) error {
	s.srcMu.Lock()
	defer s.srcMu.Unlock()
	list := slices.DeleteFunc(s.readSourcesLocked(diffID), func(l LayerSource) bool {
		return l.Digest == src.Digest && l.Registry == src.Registry && l.Repository == src.Repository
	})
	list = append([]LayerSource{src}, list...)
	if len(list) > 16 {
		list = list[:16]
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.sourcesDir(), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.sourcesDir(), diffID.Encoded()+".json"), b, 0o600)
}

// errVerify marks content that does not match its digest.
var errVerify = errors.New("verification failed")

// verifier hashes a stream and, at its end, checks the digest and size.
type verifier struct {
	r      io.Reader
	h      hash.Hash
	want   digest.Digest
	size   int64
	n      int64
	result error
	done   bool
}

func newVerifier(r io.Reader, want digest.Digest, size int64) *verifier {
	h := want.Algorithm().Hash()
	if h == nil {
		h = sha256.New()
	}
	return &verifier{r: r, h: h, want: want, size: size}
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.done {
		return 0, v.finalErr()
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		v.done, v.result = true, fmt.Errorf("blob %s is larger than its %d bytes: %w", v.want, v.size, errVerify)
		return n, v.result
	}
	if errors.Is(err, io.EOF) {
		v.done = true
		if v.size >= 0 && v.n != v.size {
			v.result = fmt.Errorf("blob %s: got %d bytes, expected %d: %w", v.want, v.n, v.size, errVerify)
		} else if got := digest.NewDigest(v.want.Algorithm(), v.h); got != v.want {
			v.result = fmt.Errorf("blob %s has digest %s: %w", v.want, got, errVerify)
		}
		return n, v.finalErr()
	}
	return n, err
}

func (v *verifier) finalErr() error {
	if v.result != nil {
		return v.result
	}
	return io.EOF
}

// progressReader reports bytes read as a status update at most every 100ms (and at the end).
type progressReader struct {
	r      io.Reader
	n      int64
	total  int64
	id     string
	status string
	report ProgressFunc
	last   time.Time
	// err is the first error the underlying reader returned other than io.EOF: a transfer failure.
	mu  sync.Mutex
	err error
}

// failed reports whether reading the underlying stream failed (a transfer failure, not bad content).
func (p *progressReader) failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err != nil
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		p.mu.Unlock()
	}
	if now := time.Now(); err != nil || now.Sub(p.last) >= 100*time.Millisecond {
		p.last = now
		p.report.send(Progress{ID: p.id, Status: p.status, Current: p.n, Total: p.total})
	}
	return n, err
}

// keyedMutex serializes work per digest (two pulls downloading the same blob share one partial file).
type keyedMutex struct {
	mu    sync.Mutex
	locks map[digest.Digest]*keyedEntry
}

type keyedEntry struct {
	ch   chan struct{}
	refs int
}

func (k *keyedMutex) lock(ctx context.Context, d digest.Digest) (func(), error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[digest.Digest]*keyedEntry{}
	}
	e := k.locks[d]
	if e == nil {
		e = &keyedEntry{ch: make(chan struct{}, 1)}
		k.locks[d] = e
	}
	e.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.locks, d)
		}
		k.mu.Unlock()
	}
	select {
	case e.ch <- struct{}{}:
		return func() { <-e.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

// cleanDownloads removes partial downloads older than a day: a pull is resumed soon or never.
func (s *Store) cleanDownloads() {
	des, err := os.ReadDir(s.downloadsDir())
	if err != nil {
		return
	}
	for _, de := range des {
		if strings.HasSuffix(de.Name(), keptSuffix) {
			continue // cleanKept's, once the images are loaded
		}
		if fi, err := de.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
			os.Remove(filepath.Join(s.downloadsDir(), de.Name()))
		}
	}
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// verificationFailed is docker's error for a layer whose content does not match its digest.
func verificationFailed(d digest.Digest) error {
	return errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("filesystem layer verification failed for digest %s", d))
}

package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/berth/berth/internal/content"
)

// fakeLayers is a LayerStore that records calls and remembers which chains exist. An unpacked layer "takes" as
// many bytes as its tar had, which RemoveLayer reports as freed.
type fakeLayers struct {
	mu      sync.Mutex
	chains  map[digest.Digest]digest.Digest // chain -> parent
	sizes   map[digest.Digest]int64         // chain -> bytes unpacked
	ensured []digest.Digest                 // chains actually unpacked, in order
	removed []digest.Digest
}

func newFakeLayers() *fakeLayers {
	return &fakeLayers{chains: map[digest.Digest]digest.Digest{}, sizes: map[digest.Digest]int64{}}
}

func (f *fakeLayers) EnsureLayer(ctx context.Context, chainID, parent digest.Digest, open func() (io.ReadCloser, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.chains[chainID]; ok {
		return nil
	}
	if parent != "" {
		if _, ok := f.chains[parent]; !ok {
			return errdefs.ErrFailedPrecondition.WithMessage("parent chain missing: " + parent.String())
		}
	}
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		return err
	}
	f.chains[chainID] = parent
	f.sizes[chainID] = n
	f.ensured = append(f.ensured, chainID)
	return nil
}

func (f *fakeLayers) RemoveLayer(ctx context.Context, chainID digest.Digest) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.chains[chainID]; !ok {
		return 0, errdefs.ErrNotFound
	}
	for c, p := range f.chains {
		if p == chainID {
			return 0, errdefs.ErrFailedPrecondition.WithMessage("layer has children: " + c.String())
		}
	}
	n := f.sizes[chainID]
	delete(f.chains, chainID)
	delete(f.sizes, chainID)
	f.removed = append(f.removed, chainID)
	return n, nil
}

func (f *fakeLayers) has(c digest.Digest) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.chains[c]
	return ok
}

func (f *fakeLayers) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.chains)
}

// testEnv is a store over a real content store in a temp dir.
type testEnv struct {
	t      *testing.T
	root   string
	cs     *content.Store
	layers *fakeLayers
	s      *Store
	events *eventLog
}

type eventLog struct {
	mu  sync.Mutex
	evs []string
}

func (l *eventLog) add(action, id, ref string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, action+" "+ref)
}

func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.evs
	l.evs = nil
	return out
}

// fakeClock ticks one second per reading, so images created in a row have distinct times.
func fakeClock() func() time.Time {
	var mu sync.Mutex
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	root := t.TempDir()
	cs, err := content.Open(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{t: t, root: root, cs: cs, layers: newFakeLayers(), events: &eventLog{}}
	env.s = env.open()
	return env
}

func (env *testEnv) open() *Store {
	env.t.Helper()
	s, err := New(context.Background(), filepath.Join(env.root, "image"), env.cs, env.layers,
		WithClock(fakeClock()), WithEventHook(env.events.add))
	if err != nil {
		env.t.Fatal(err)
	}
	return s
}

// importTar imports a layer made of files and returns the image ID.
func (env *testEnv) importTar(ref string, files map[string]string, changes ...string) digest.Digest {
	env.t.Helper()
	id, err := env.s.Import(context.Background(), bytes.NewReader(makeTar(env.t, files)), ref, changes, "", nil)
	if err != nil {
		env.t.Fatal(err)
	}
	return id
}

// blobs lists the digests in the content store.
func (env *testEnv) blobs() []string {
	env.t.Helper()
	var out []string
	if err := env.cs.Walk(context.Background(), func(i content.Info) error {
		out = append(out, i.Digest.String())
		return nil
	}); err != nil {
		env.t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// usage is the bytes the store's images take: the blobs in the content store and the unpacked layers.
func (env *testEnv) usage() int64 {
	env.t.Helper()
	var n int64
	if err := env.cs.Walk(context.Background(), func(i content.Info) error {
		n += i.Size
		return nil
	}); err != nil {
		env.t.Fatal(err)
	}
	env.layers.mu.Lock()
	defer env.layers.mu.Unlock()
	for _, size := range env.layers.sizes {
		n += size
	}
	return n
}

// makeTar builds a tar of regular files, in name order.
func makeTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(files[n])),
			ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compressWith compresses b with an external tool (bzip2, xz), or returns nil if it is not installed.
func compressWith(t *testing.T, tool string, b []byte) []byte {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		return nil
	}
	cmd := exec.Command(tool, "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tarEntry is one entry of a hand-built (possibly malicious) archive.
type tarEntry struct {
	name     string
	body     []byte
	typeflag byte
	link     string
}

func buildArchive(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typeflag, Linkname: e.link, ModTime: time.Unix(0, 0)}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readArchive returns the regular files of a tar by name, and the entry names in order.
func readArchive(t *testing.T, b []byte) (map[string][]byte, []string) {
	t.Helper()
	files := map[string][]byte{}
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Typeflag == tar.TypeReg {
			data, _ := io.ReadAll(tr)
			files[h.Name] = data
		}
	}
	return files, names
}

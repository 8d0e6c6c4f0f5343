package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/filters"
)

// memRegistry is an in-memory registry: repositories of tags and blobs, with fault injection. It implements
// Fetcher and Pusher through memRepo.
type memRegistry struct {
	mu    sync.Mutex
	blobs map[string]map[digest.Digest][]byte // repo -> blobs
	tags  map[string]map[string][]byte        // repo -> tag or digest -> manifest
	// cutAfter, when > 0, ends the next blob stream after that many bytes with an error (then resets).
	cutAfter int64
	// offsets records the offset of every blob fetch.
	offsets []int64
	mounts  int
	uploads int
	// gate, when set for a blob, holds its fetch until the channel is closed.
	gate map[digest.Digest]chan struct{}
	// cutDigest, when set, limits cutAfter to that blob.
	cutDigest digest.Digest
}

func newMemRegistry() *memRegistry {
	return &memRegistry{blobs: map[string]map[digest.Digest][]byte{}, tags: map[string]map[string][]byte{}}
}

func (m *memRegistry) repo(path string) *memRepo { return &memRepo{m: m, path: path} }

func (m *memRegistry) putBlob(repo string, b []byte) ocispec.Descriptor {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.blobs[repo] == nil {
		m.blobs[repo] = map[digest.Digest][]byte{}
	}
	d := digest.FromBytes(b)
	m.blobs[repo][d] = b
	return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
}

func (m *memRegistry) putManifest(repo, tag string, b []byte) digest.Digest {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tags[repo] == nil {
		m.tags[repo] = map[string][]byte{}
	}
	d := digest.FromBytes(b)
	m.tags[repo][tag] = b
	m.tags[repo][d.String()] = b
	return d
}

type memRepo struct {
	m    *memRegistry
	path string
}

func (r *memRepo) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	b, ok := r.m.tags[r.path][ref]
	if !ok {
		return ocispec.Descriptor{}, nil, errdefs.ErrNotFound.WithMessage("manifest unknown: manifest unknown")
	}
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	json.Unmarshal(b, &probe)
	return ocispec.Descriptor{MediaType: probe.MediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}, b, nil
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

func (r *memRepo) Fetch(ctx context.Context, d ocispec.Descriptor, offset int64) (io.ReadCloser, int64, error) {
	r.m.mu.Lock()
	g := r.m.gate[d.Digest]
	r.m.mu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	b, ok := r.m.blobs[r.path][d.Digest]
	if !ok {
		return nil, 0, errdefs.ErrNotFound.WithMessage("blob unknown: blob unknown to registry")
	}
	r.m.offsets = append(r.m.offsets, offset)
	b = b[offset:]
	if n := r.m.cutAfter; n > 0 && n < int64(len(b)) && (r.m.cutDigest == "" || r.m.cutDigest == d.Digest) {
		r.m.cutAfter = 0
		return io.NopCloser(io.MultiReader(bytes.NewReader(b[:n]), failingReader{})), offset, nil
	}
	return io.NopCloser(bytes.NewReader(b)), offset, nil
}

func (r *memRepo) Name() string { return "mem.example/" + r.path }
func (r *memRepo) Path() string { return r.path }

func (r *memRepo) Exists(ctx context.Context, d digest.Digest) (bool, error) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	_, ok := r.m.blobs[r.path][d]
	return ok, nil
}

func (r *memRepo) Mount(ctx context.Context, d digest.Digest, from string) (bool, error) {
	r.m.mu.Lock()
	b, ok := r.m.blobs[from][d]
	r.m.mu.Unlock()
	if !ok {
		return false, nil
	}
	r.m.putBlob(r.path, b)
	r.m.mu.Lock()
	r.m.mounts++
	r.m.mu.Unlock()
	return true, nil
}

func (r *memRepo) PushBlob(ctx context.Context, rd io.Reader) (digest.Digest, int64, error) {
	b, err := io.ReadAll(rd)
	if err != nil {
		return "", 0, err
	}
	r.m.mu.Lock()
	r.m.uploads++
	r.m.mu.Unlock()
	d := r.m.putBlob(r.path, b)
	return d.Digest, d.Size, nil
}

func (r *memRepo) PushManifest(ctx context.Context, tag, mediaType string, b []byte) error {
	r.m.putManifest(r.path, tag, b)
	return nil
}

// remoteImage is an image put into a memRegistry: gzip layers, a config, a manifest and an index.
type remoteImage struct {
	diffIDs  []digest.Digest
	layers   []ocispec.Descriptor
	config   ocispec.Descriptor
	manifest digest.Digest
	index    digest.Digest
}

func publish(t *testing.T, m *memRegistry, repo, tag string, arch string, layerFiles ...map[string]string) remoteImage {
	t.Helper()
	var img remoteImage
	for _, files := range layerFiles {
		raw := makeTar(t, files)
		img.diffIDs = append(img.diffIDs, digest.FromBytes(raw))
		d := m.putBlob(repo, gzipBytes(t, raw))
		d.MediaType = MediaTypeLayerGzip
		img.layers = append(img.layers, d)
	}
	var cfg ConfigFile
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: img.diffIDs}
	raw, _ := json.Marshal(cfg)
	img.config = m.putBlob(repo, raw)
	img.config.MediaType = MediaTypeConfig
	mb, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: MediaTypeManifest, Config: img.config, Layers: img.layers})
	img.manifest = m.putManifest(repo, "arch-"+arch, mb)
	idx, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{
			{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("other"), Size: 1, Platform: &ocispec.Platform{OS: "linux", Architecture: "s390x-not-" + arch}},
			{MediaType: MediaTypeManifest, Digest: img.manifest, Size: int64(len(mb)), Platform: &ocispec.Platform{OS: "linux", Architecture: arch}},
		}})
	img.index = m.putManifest(repo, tag, idx)
	return img
}

type progressLog struct {
	mu    sync.Mutex
	lines []string
}

func (p *progressLog) add(pr Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := pr.Status
	if pr.ID != "" {
		line = pr.ID + ": " + line
	}
	p.lines = append(p.lines, line)
}

func (p *progressLog) text() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

func mustNamed(t *testing.T, s string) reference.Named {
	t.Helper()
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPullIndexProgressAndRepoDigest(t *testing.T) {
	env := newEnv(t)
	reg := newMemRegistry()
	img := publish(t, reg, "library/busybox", "latest", runtime.GOARCH, map[string]string{"a": "1"}, map[string]string{"b": strings.Repeat("2", 300000)})
	var log progressLog
	ctx := context.Background()
	ref := mustNamed(t, "busybox:latest")
	id, err := env.s.Pull(ctx, reg.repo("library/busybox"), ref, PullOptions{Registry: "docker.io", Progress: log.add})
	if err != nil {
		t.Fatal(err)
	}
	if id != img.config.Digest {
		t.Errorf("image ID %s, want the config digest %s", id, img.config.Digest)
	}
	l0, l1 := shortID(img.layers[0].Digest.String()), shortID(img.layers[1].Digest.String())
	for _, want := range []string{
		"latest: Pulling from library/busybox",
		l0 + ": Pulling fs layer", l1 + ": Pulling fs layer",
		l1 + ": Downloading", l1 + ": Verifying Checksum", l1 + ": Download complete",
		l1 + ": Extracting", l0 + ": Pull complete", l1 + ": Pull complete",
		"Digest: " + img.index.String(),
		"Status: Downloaded newer image for busybox:latest",
	} {
		if !strings.Contains(log.text(), want) {
			t.Errorf("progress lacks %q:\n%s", want, log.text())
		}
	}
	got, err := env.s.Get(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.RepoTags) != "[busybox:latest]" || fmt.Sprint(got.RepoDigests) != "[busybox@"+img.index.String()+"]" {
		t.Errorf("RepoTags %v RepoDigests %v", got.RepoTags, got.RepoDigests)
	}
	// Stored uncompressed: the local layers are the diffIDs, and the layers are unpacked.
	for i, l := range got.Layers {
		if l.Digest != img.diffIDs[i] {
			t.Errorf("layer %d stored as %s, want diffID %s", i, l.Digest, img.diffIDs[i])
		}
	}
	if env.layers.count() != 2 {
		t.Errorf("%d layers unpacked", env.layers.count())
	}
	if src := env.s.LayerSources(img.diffIDs[1]); len(src) != 1 || src[0].Digest != img.layers[1].Digest || src[0].Repository != "library/busybox" || src[0].Registry != "docker.io" {
		t.Errorf("layer sources: %+v", src)
	}
	// name@digest finds it.
	if _, err := env.s.Get(ctx, "busybox@"+img.index.String()); err != nil {
		t.Errorf("get by repo digest: %v", err)
	}

	log = progressLog{}
	if _, err := env.s.Pull(ctx, reg.repo("library/busybox"), ref, PullOptions{Progress: log.add}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.text(), l0+": Already exists") || !strings.Contains(log.text(), "Status: Image is up to date for busybox:latest") ||
		strings.Contains(log.text(), "Downloading") {
		t.Errorf("second pull:\n%s", log.text())
	}
}

func TestPullPlatform(t *testing.T) {
	env := newEnv(t)
	reg := newMemRegistry()
	publish(t, reg, "x", "latest", "arm64", map[string]string{"a": "arm"})
	ctx := context.Background()
	_, err := env.s.Pull(ctx, reg.repo("x"), mustNamed(t, "x"), PullOptions{Platform: &ocispec.Platform{OS: "linux", Architecture: "riscv64"}})
	if !errdefs.IsNotFound(err) || err.Error() != "no matching manifest for linux/riscv64 in the manifest list entries" {
		t.Errorf("no match: %v", err)
	}
	if _, err := env.s.Pull(ctx, reg.repo("x"), mustNamed(t, "x"), PullOptions{Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}}); err != nil {
		t.Fatalf("arm64: %v", err)
	}
	img, _ := env.s.Get(ctx, "x")
	if img.Config.Architecture != "arm64" {
		t.Errorf("pulled %s", img.Config.Architecture)
	}
	if _, err := env.s.Pull(ctx, reg.repo("x"), mustNamed(t, "x:nope"), PullOptions{}); !errdefs.IsNotFound(err) ||
		err.Error() != "manifest for x:nope not found: manifest unknown: manifest unknown" {
		t.Errorf("missing tag: %v", err)
	}
}

// assertNothingLeft checks that a failed pull left no image, layer or blob behind.
func assertNothingLeft(t *testing.T, env *testEnv) {
	t.Helper()
	// Layers a failed pull completed are kept, marked, for the next pull: they are not leftovers.
	var blobs []string
	for _, b := range env.blobs() {
		if _, err := os.Stat(env.s.downloadsDir() + "/" + strings.TrimPrefix(b, "sha256:") + keptSuffix); err != nil {
			blobs = append(blobs, b)
		}
	}
	if list, _ := env.s.List(context.Background(), true, filters.Args{}); len(list) != 0 {
		t.Errorf("%d images after a failed pull", len(list))
	}
	if env.layers.count() != 0 {
		t.Errorf("%d layers after a failed pull", env.layers.count())
	}
	if len(blobs) != 0 {
		t.Errorf("blobs after a failed pull: %v", blobs)
	}
}

func TestPullRefusesTamperedBlobs(t *testing.T) {
	tests := []struct {
		name   string
		layer  int // the tampered layer; 1 when zero in the table below
		tamper func(reg *memRegistry, img remoteImage)
	}{
		{name: "compressed bytes changed", layer: 1, tamper: func(reg *memRegistry, img remoteImage) {
			// Other valid gzip content served under the layer's digest.
			reg.blobs["r"][img.layers[1].Digest] = gzipBytes(t, makeTar(t, map[string]string{"evil": "x"}))
		}},
		{name: "bottom layer, unpacked while streaming", layer: 0, tamper: func(reg *memRegistry, img remoteImage) {
			reg.blobs["r"][img.layers[0].Digest] = gzipBytes(t, makeTar(t, map[string]string{"evil": "x"}))
		}},
		{name: "bit flip", layer: 1, tamper: func(reg *memRegistry, img remoteImage) {
			b := bytes.Clone(reg.blobs["r"][img.layers[1].Digest])
			b[len(b)/2] ^= 0xff
			reg.blobs["r"][img.layers[1].Digest] = b
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			reg := newMemRegistry()
			img := publish(t, reg, "r", "latest", runtime.GOARCH, map[string]string{"a": "1"}, map[string]string{"b": strings.Repeat("x", 100000)})
			tc.tamper(reg, img)
			_, err := env.s.Pull(context.Background(), reg.repo("r"), mustNamed(t, "r"), PullOptions{})
			want := "filesystem layer verification failed for digest " + img.layers[tc.layer].Digest.String()
			if err == nil || err.Error() != want {
				t.Fatalf("err = %v, want %q", err, want)
			}
			assertNothingLeft(t, env)
			// The good layer may keep a partial download (its transfer was cancelled); the tampered one may not.
			if _, err := os.Stat(env.s.downloadsDir() + "/" + img.layers[tc.layer].Digest.Encoded()); err == nil {
				t.Error("tampered download kept")
			}
		})
	}
}

func TestPullInterruptedResumes(t *testing.T) {
	env := newEnv(t)
	reg := newMemRegistry()
	// Incompressible enough that the gzip blob is large.
	big := make([]byte, 400000)
	for i := range big {
		big[i] = byte(i*7919 + i/13)
	}
	img := publish(t, reg, "r", "latest", runtime.GOARCH, map[string]string{"big": string(big)})
	ctx := context.Background()
	reg.cutAfter = img.layers[0].Size / 2
	_, err := env.s.Pull(ctx, reg.repo("r"), mustNamed(t, "r"), PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "connection reset by peer") {
		t.Fatalf("interrupted pull: %v", err)
	}
	assertNothingLeft(t, env)
	fi, err := os.Stat(env.s.downloadsDir() + "/" + img.layers[0].Digest.Encoded())
	if err != nil || fi.Size() != img.layers[0].Size/2 {
		t.Fatalf("partial download: %v %v", fi, err)
	}

	// A restarted store keeps the partial download; the next pull asks only for the rest.
	env.s = env.open()
	reg.offsets = nil
	if _, err := env.s.Pull(ctx, reg.repo("r"), mustNamed(t, "r"), PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(reg.offsets) != 2 || reg.offsets[1] != img.layers[0].Size/2 {
		t.Errorf("fetch offsets %v, want the config then the layer from %d", reg.offsets, img.layers[0].Size/2)
	}
	if des, _ := os.ReadDir(env.s.downloadsDir()); len(des) != 0 {
		t.Errorf("download kept after success: %d files", len(des))
	}
	got, err := env.s.Get(ctx, "r")
	if err != nil || got.Layers[0].Digest != img.diffIDs[0] {
		t.Fatalf("resumed image: %v %v", got, err)
	}
}

func TestPushSkipsAndMounts(t *testing.T) {
	env := newEnv(t)
	reg := newMemRegistry()
	ctx := context.Background()
	env.importTar("app:1", map[string]string{"app": "v1"})
	ref := func(s string) reference.NamedTagged {
		return reference.TagNameOnly(mustNamed(t, s)).(reference.NamedTagged)
	}

	var log progressLog
	if _, err := env.s.Push(ctx, reg.repo("team/app"), ref("mem.example/team/app:1"), PushOptions{Progress: log.add}); !errdefs.IsNotFound(err) ||
		err.Error() != "An image does not exist locally with the tag: mem.example/team/app" {
		t.Errorf("push of a missing tag: %v", err)
	}
	if err := env.s.Tag(ctx, "app:1", "mem.example/team/app:1"); err != nil {
		t.Fatal(err)
	}
	md, err := env.s.Push(ctx, reg.repo("team/app"), ref("mem.example/team/app:1"), PushOptions{Registry: "mem.example", Progress: log.add})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := env.s.Get(ctx, "app:1")
	l := shortID(img.Layers[0].Digest.String())
	for _, want := range []string{"The push refers to repository [mem.example/team/app]", l + ": Preparing", l + ": Pushing", l + ": Pushed",
		fmt.Sprintf("1: digest: %s size: ", md)} {
		if !strings.Contains(log.text(), want) {
			t.Errorf("push progress lacks %q:\n%s", want, log.text())
		}
	}
	if reg.uploads != 2 {
		t.Errorf("%d uploads, want the layer and the config", reg.uploads)
	}
	// The manifest names a gzip layer whose content is the layer.
	var m ocispec.Manifest
	json.Unmarshal(reg.tags["team/app"]["1"], &m)
	if len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeLayerGzip || m.Config.Digest != img.ID {
		t.Fatalf("pushed manifest: %+v", m)
	}
	rc, _ := decompress(ctx, bytes.NewReader(reg.blobs["team/app"][m.Layers[0].Digest]))
	raw, _ := io.ReadAll(rc)
	if digest.FromBytes(raw) != img.Layers[0].Digest {
		t.Error("pushed layer does not decompress to the local layer")
	}
	if got, _ := env.s.Get(ctx, "app:1"); !strings.Contains(fmt.Sprint(got.RepoDigests), "mem.example/team/app@"+md.String()) {
		t.Errorf("RepoDigests after push: %v", got.RepoDigests)
	}

	log = progressLog{}
	if _, err := env.s.Push(ctx, reg.repo("team/app"), ref("mem.example/team/app:1"), PushOptions{Registry: "mem.example", Progress: log.add}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.text(), l+": Layer already exists") || reg.uploads != 2 {
		t.Errorf("second push (%d uploads):\n%s", reg.uploads, log.text())
	}

	env.s.Tag(ctx, "app:1", "mem.example/other/app:2")
	log = progressLog{}
	if _, err := env.s.Push(ctx, reg.repo("other/app"), ref("mem.example/other/app:2"), PushOptions{Registry: "mem.example", Progress: log.add}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.text(), l+": Mounted from team/app") || reg.mounts != 1 || reg.uploads != 3 {
		t.Errorf("push to another repository (%d mounts, %d uploads):\n%s", reg.mounts, reg.uploads, log.text())
	}
	if got := env.s.MountCandidates(ctx, mustNamed(t, "mem.example/other/app:2"), "mem.example"); len(got) != 2 {
		t.Errorf("mount candidates: %v", got)
	}

	// What was pushed pulls back into a fresh store as the same image.
	env2 := newEnv(t)
	id, err := env2.s.Pull(ctx, reg.repo("team/app"), mustNamed(t, "mem.example/team/app:1"), PullOptions{})
	if err != nil || id != img.ID {
		t.Errorf("pull back: %s %v, want %s", id, err, img.ID)
	}
}

// A failed pull keeps the layers it completed: the next one reports them as present and fetches only the rest.
func TestPullKeepsCompletedLayers(t *testing.T) {
	env := newEnv(t)
	reg := newMemRegistry()
	big := make([]byte, 300000)
	for i := range big {
		big[i] = byte(i*7919 + i/13)
	}
	img := publish(t, reg, "r", "latest", runtime.GOARCH, map[string]string{"small": "s"}, map[string]string{"big": string(big)})
	ctx := context.Background()
	// Layer 1 is fetched only once layer 0 is complete, then cut.
	gate := make(chan struct{})
	reg.gate = map[digest.Digest]chan struct{}{img.layers[1].Digest: gate}
	reg.cutDigest, reg.cutAfter = img.layers[1].Digest, 1000
	var once sync.Once
	progress := func(p Progress) {
		if p.ID == shortID(img.layers[0].Digest.String()) && p.Status == "Download complete" {
			once.Do(func() { close(gate) })
		}
	}
	if _, err := env.s.Pull(ctx, reg.repo("r"), mustNamed(t, "r"), PullOptions{Progress: progress}); err == nil {
		t.Fatal("cut pull succeeded")
	}
	if list, _ := env.s.List(ctx, true, filters.Args{}); len(list) != 0 {
		t.Fatalf("%d images after a failed pull", len(list))
	}
	reg.gate = nil
	var log progressLog
	if _, err := env.s.Pull(ctx, reg.repo("r"), mustNamed(t, "r"), PullOptions{Progress: log.add}); err != nil {
		t.Fatal(err)
	}
	l0, l1 := shortID(img.layers[0].Digest.String()), shortID(img.layers[1].Digest.String())
	if !strings.Contains(log.text(), l0+": Already exists") || !strings.Contains(log.text(), l1+": Pull complete") {
		t.Errorf("second pull:\n%s", log.text())
	}
	if last := reg.offsets[len(reg.offsets)-1]; last != 1000 {
		t.Errorf("layer 1 fetched from %d, want 1000 (resumed)", last)
	}
}

// A kept layer nobody pulled again is deleted a day later, when the store opens.
func TestKeptLayersExpire(t *testing.T) {
	env := newEnv(t)
	reg := newMemRegistry()
	img := publish(t, reg, "r", "latest", runtime.GOARCH, map[string]string{"small": "s"}, map[string]string{"big": strings.Repeat("b", 100000)})
	gate := make(chan struct{})
	reg.gate = map[digest.Digest]chan struct{}{img.layers[1].Digest: gate}
	reg.cutDigest, reg.cutAfter = img.layers[1].Digest, 10
	var once sync.Once
	progress := func(p Progress) {
		if p.ID == shortID(img.layers[0].Digest.String()) && p.Status == "Download complete" {
			once.Do(func() { close(gate) })
		}
	}
	if _, err := env.s.Pull(context.Background(), reg.repo("r"), mustNamed(t, "r"), PullOptions{Progress: progress}); err == nil {
		t.Fatal("cut pull succeeded")
	}
	marker := env.s.downloadsDir() + "/" + img.diffIDs[0].Encoded() + keptSuffix
	if _, err := env.cs.Info(context.Background(), img.diffIDs[0]); err != nil {
		t.Fatalf("completed layer not kept: %v", err)
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(marker, old, old); err != nil {
		t.Fatal(err)
	}
	env.s = env.open()
	if _, err := env.cs.Info(context.Background(), img.diffIDs[0]); !errdefs.IsNotFound(err) {
		t.Errorf("expired kept layer still stored: %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("marker left")
	}
}

func TestLocalFailure(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("unpack: %w", &os.SyscallError{Syscall: "write", Err: syscall.EDQUOT}), true},
		{errVerify, false},
		{io.ErrUnexpectedEOF, false},
	} {
		if got := localFailure(tt.err); got != tt.want {
			t.Errorf("localFailure(%v) = %v", tt.err, got)
		}
	}
}

package snapshot_test

import (
	"archive/tar"
	"bytes"
	"context"
	_ "crypto/sha512" // lets go-digest validate sha512 digests
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/archive"
	"github.com/berth/berth/internal/snapshot"
	"github.com/berth/berth/internal/testutil"
)

type file struct {
	name, body string
	typ        byte
	mode       int64
}

func layerTar(t testing.TB, files []file) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: f.mode, ModTime: time.Unix(1e9, 0)}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
			if hdr.Typeflag == tar.TypeDir {
				hdr.Mode = 0o755
			}
		}
		hdr.Size = int64(len(f.body))
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func chainID(s string) digest.Digest { return digest.FromString(s) }

// ensure extracts files as layer chain over parent.
func ensure(t testing.TB, s *snapshot.Store, chain, parent digest.Digest, files []file) string {
	t.Helper()
	dir, err := s.EnsureLayer(context.Background(), chain, parent, func(dir string) error {
		_, err := archive.Apply(context.Background(), dir, bytes.NewReader(layerTar(t, files)))
		return err
	})
	if err != nil {
		t.Fatalf("EnsureLayer: %v", err)
	}
	return dir
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mountsUnder lists the mount points below dir.
func mountsUnder(t testing.TB, dir string) []string {
	t.Helper()
	real, err := filepath.EvalSymlinks(dir)
	must(t, err)
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(real))
	must(t, err)
	var out []string
	for _, m := range infos {
		out = append(out, m.Mountpoint)
	}
	return out
}

// newStore opens a store in a temp dir and makes sure no mount outlives the test.
func newStore(t *testing.T) (*snapshot.Store, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "overlay")
	s, err := snapshot.New(root)
	must(t, err)
	t.Cleanup(func() {
		for _, m := range mountsUnder(t, root) {
			t.Errorf("left mounted: %s", m)
			unix.Unmount(m, unix.MNT_DETACH)
		}
	})
	return s, root
}

func TestLifecycle(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s, root := newStore(t)
	base, top := chainID("base"), chainID("top")
	baseDir := ensure(t, s, base, "", []file{
		{name: "etc/", typ: tar.TypeDir},
		{name: "etc/passwd", body: "root:x:0:0\n"},
		{name: "etc/group", body: "root:x:0:\n"},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
	})
	topDir := ensure(t, s, top, base, []file{
		{name: "./", typ: tar.TypeDir, mode: 0o711},
		{name: "etc/.wh.group"},
		{name: "etc/hostname", body: "box\n"},
	})
	if dir, ok := s.Layer(ctx, top); !ok || dir != topDir {
		t.Fatalf("Layer(top) = %q, %v; want %q", dir, ok, topDir)
	}
	lowers, err := s.Lowers(ctx, top)
	must(t, err)
	if want := []string{topDir, baseDir}; !reflect.DeepEqual(lowers, want) {
		t.Fatalf("Lowers = %q, want %q", lowers, want)
	}
	layers, err := s.Layers(ctx)
	must(t, err)
	sort.Slice(layers, func(i, j int) bool { return layers[i] < layers[j] })
	want := []digest.Digest{base, top}
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	if !reflect.DeepEqual(layers, want) {
		t.Errorf("Layers = %v, want %v", layers, want)
	}

	must(t, s.Create(ctx, "c1", top))
	merged, err := s.Mount(ctx, "c1")
	must(t, err)
	again, err := s.Mount(ctx, "c1")
	must(t, err)
	if again != merged {
		t.Errorf("second Mount returned %q, want %q", again, merged)
	}
	if m := mountsUnder(t, root); len(m) != 1 {
		t.Fatalf("mounts after two Mounts: %q, want exactly one", m)
	}
	if ok, err := s.Mounted(ctx, "c1"); err != nil || !ok {
		t.Errorf("Mounted = %v, %v", ok, err)
	}

	// The merged view: both layers, with the whiteout applied.
	if b, err := os.ReadFile(filepath.Join(merged, "etc/passwd")); err != nil || string(b) != "root:x:0:0\n" {
		t.Errorf("etc/passwd = %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(merged, "etc/hostname")); err != nil || string(b) != "box\n" {
		t.Errorf("etc/hostname = %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(merged, "etc/group")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("etc/group is visible through its whiteout: %v", err)
	}
	if fi, err := os.Stat(merged); err != nil || fi.Mode().Perm() != 0o711 {
		t.Errorf("container / mode = %v, %v; want the image root's 0711", fi.Mode(), err)
	}

	must(t, os.WriteFile(filepath.Join(merged, "tmp/x"), []byte("hello"), 0o644))
	upper := s.Upper("c1")
	lowersOf, err := s.LowersOf(ctx, "c1")
	must(t, err)
	if !reflect.DeepEqual(lowersOf, lowers) {
		t.Errorf("LowersOf = %q, want %q", lowersOf, lowers)
	}
	changes, err := archive.Changes(upper, lowersOf)
	must(t, err)
	wantChanges := []archive.Change{{Kind: archive.ChangeModify, Path: "/tmp"}, {Kind: archive.ChangeAdd, Path: "/tmp/x"}}
	if !reflect.DeepEqual(changes, wantChanges) {
		t.Errorf("Changes = %v, want %v", changes, wantChanges)
	}
	if n := s.Usage(ctx, "c1"); n != 5 {
		t.Errorf("Usage = %d, want 5", n)
	}

	must(t, s.Unmount(ctx, "c1"))
	must(t, s.Unmount(ctx, "c1"))
	if m := mountsUnder(t, root); len(m) != 0 {
		t.Fatalf("mounted after Unmount: %q", m)
	}
	// A remount sees what was written before.
	merged, err = s.Mount(ctx, "c1")
	must(t, err)
	if b, err := os.ReadFile(filepath.Join(merged, "tmp/x")); err != nil || string(b) != "hello" {
		t.Errorf("tmp/x after remount = %q, %v", b, err)
	}
	// Remove a mounted snapshot with a busy mount (an open directory): it is detached and deleted.
	busy, err := os.Open(filepath.Join(merged, "etc"))
	must(t, err)
	defer busy.Close()
	must(t, s.Remove(ctx, "c1"))
	must(t, s.Remove(ctx, "c1"))
	if m := mountsUnder(t, root); len(m) != 0 {
		t.Fatalf("mounted after Remove: %q", m)
	}
	if _, err := s.LowersOf(ctx, "c1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("LowersOf after Remove: %v, want not found", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "containers", "c1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("c1 still on disk: %v", err)
	}

	// An empty root filesystem (FROM scratch).
	must(t, s.Create(ctx, "scratch", ""))
	merged, err = s.Mount(ctx, "scratch")
	must(t, err)
	if ents, err := os.ReadDir(merged); err != nil || len(ents) != 0 {
		t.Errorf("scratch rootfs has %v, %v", ents, err)
	}
	must(t, os.WriteFile(filepath.Join(merged, "f"), []byte("f"), 0o644))
	if l, err := s.LowersOf(ctx, "scratch"); err != nil || len(l) != 0 {
		t.Errorf("LowersOf(scratch) = %q, %v", l, err)
	}
	must(t, s.Remove(ctx, "scratch"))

	must(t, s.RemoveLayer(ctx, top))
	must(t, s.RemoveLayer(ctx, base))
	must(t, s.RemoveLayer(ctx, base))
	for _, d := range []string{"layers", "containers", "empty"} {
		ents, err := os.ReadDir(filepath.Join(root, d))
		must(t, err)
		if len(ents) != 0 {
			t.Errorf("%s not empty at the end: %v", d, ents)
		}
	}
}

func TestErrors(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s, _ := newStore(t)
	base := chainID("base")
	ensure(t, s, base, "", []file{{name: "f", body: "f"}})
	must(t, s.Create(ctx, "exists", base))
	t.Cleanup(func() { s.Remove(ctx, "exists") })
	noop := func(string) error { return nil }
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{name: "create duplicate", do: func() error { return s.Create(ctx, "exists", base) }, want: errdefs.ErrAlreadyExists},
		{name: "create over missing layer", do: func() error { return s.Create(ctx, "c", chainID("missing")) }, want: errdefs.ErrNotFound},
		{name: "create with bad id", do: func() error { return s.Create(ctx, "../x", base) }, want: errdefs.ErrInvalidArgument},
		{name: "create with bad chain ID", do: func() error { return s.Create(ctx, "c", "sha256:nothex") }, want: errdefs.ErrInvalidArgument},
		{name: "mount missing", do: func() error { _, err := s.Mount(ctx, "nope"); return err }, want: errdefs.ErrNotFound},
		{name: "lowers of missing container", do: func() error { _, err := s.LowersOf(ctx, "nope"); return err }, want: errdefs.ErrNotFound},
		{name: "lowers of missing layer", do: func() error { _, err := s.Lowers(ctx, chainID("missing")); return err }, want: errdefs.ErrNotFound},
		{name: "ensure over missing parent", do: func() error { _, err := s.EnsureLayer(ctx, chainID("x"), chainID("missing"), noop); return err }, want: errdefs.ErrNotFound},
		{name: "ensure own parent", do: func() error { _, err := s.EnsureLayer(ctx, base, base, noop); return err }, want: errdefs.ErrInvalidArgument},
		{name: "ensure sha512", do: func() error { _, err := s.EnsureLayer(ctx, digest.SHA512.FromString("x"), "", noop); return err }, want: errdefs.ErrInvalidArgument},
		{name: "unmount missing is fine", do: func() error { return s.Unmount(ctx, "nope") }},
		{name: "remove missing is fine", do: func() error { return s.Remove(ctx, "nope") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestEnsureLayerConcurrent(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s, root := newStore(t)
	chain := chainID("concurrent")
	var applied atomic.Int32
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	errs := make([]error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = s.EnsureLayer(ctx, chain, "", func(dir string) error {
				applied.Add(1)
				time.Sleep(50 * time.Millisecond)
				return os.WriteFile(filepath.Join(dir, "f"), []byte("f"), 0o644)
			})
		}()
	}
	wg.Wait()
	if n := applied.Load(); n != 1 {
		t.Errorf("apply ran %d times, want once", n)
	}
	for i := range 8 {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Errorf("caller %d: %q, %v; want %q", i, dirs[i], errs[i], dirs[0])
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "layers")); len(ents) != 1 {
		t.Errorf("layers dir holds %v, want only the layer", ents)
	}
}

// TestEnsureLayerRacingStores simulates two daemons racing on one directory: the loser of the rename adopts the
// winner's layer.
func TestEnsureLayerRacingStores(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "overlay")
	a, err := snapshot.New(root)
	must(t, err)
	b, err := snapshot.New(root)
	must(t, err)
	chain := chainID("race")
	start := make(chan struct{})
	var wg sync.WaitGroup
	res := make([]string, 2)
	errs := make([]error, 2)
	for i, s := range []*snapshot.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = s.EnsureLayer(ctx, chain, "", func(dir string) error {
				<-start // both have applied before either renames
				return os.WriteFile(filepath.Join(dir, "f"), []byte("f"), 0o644)
			})
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(start)
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || res[i] != res[0] {
			t.Errorf("store %d: %q, %v", i, res[i], errs[i])
		}
	}
	if b, err := os.ReadFile(filepath.Join(res[0], "f")); err != nil || string(b) != "f" {
		t.Errorf("layer content %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "layers")); len(ents) != 1 {
		t.Errorf("layers dir holds %v, want only the layer", ents)
	}
}

func TestEnsureLayerFailureLeavesNothing(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s, root := newStore(t)
	chain := chainID("fails")
	boom := errors.New("boom")
	_, err := s.EnsureLayer(ctx, chain, "", func(dir string) error {
		must(t, os.WriteFile(filepath.Join(dir, "half"), nil, 0o644))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want boom", err)
	}
	if _, ok := s.Layer(ctx, chain); ok {
		t.Fatal("a failed layer is visible")
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "layers")); len(ents) != 0 {
		t.Fatalf("layers dir holds %v after a failure", ents)
	}
	// A leftover temp dir from a crash is cleaned by New.
	must(t, os.MkdirAll(filepath.Join(root, "layers", chain.Encoded()+".tmp-123", "diff"), 0o755))
	_, err = snapshot.New(root)
	must(t, err)
	if ents, _ := os.ReadDir(filepath.Join(root, "layers")); len(ents) != 0 {
		t.Fatalf("New left %v", ents)
	}
	ensure(t, s, chain, "", []file{{name: "f", body: "ok"}})
}

// TestManyLayers mounts a chain whose lowerdir option is longer than a page, both through the new mount API
// and through the /proc/self/fd fallback for older kernels.
func TestManyLayers(t *testing.T) {
	testutil.RequiresRoot(t)
	tests := []struct {
		name        string
		useFsconfig bool
	}{
		{name: "fsconfig lowerdir+", useFsconfig: true},
		{name: "proc fd paths", useFsconfig: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func(old bool) { *snapshot.UseFsconfig = old }(*snapshot.UseFsconfig)
			*snapshot.UseFsconfig = tc.useFsconfig
			ctx := context.Background()
			s, root := newStore(t)
			const n = 120
			var parent digest.Digest
			for i := range n {
				c := chainID(fmt.Sprintf("layer-%d", i))
				ensure(t, s, c, parent, []file{{name: fmt.Sprintf("f%02d", i), body: "x"}, {name: "top", body: fmt.Sprint(i)}})
				parent = c
			}
			must(t, s.Create(ctx, "many", parent))
			merged, err := s.Mount(ctx, "many")
			if err != nil {
				t.Fatal(err)
			}
			ents, err := os.ReadDir(merged)
			must(t, err)
			if len(ents) != n+1 {
				t.Errorf("merged has %d entries, want %d", len(ents), n+1)
			}
			if b, _ := os.ReadFile(filepath.Join(merged, "top")); string(b) != fmt.Sprint(n-1) {
				t.Errorf("top = %q, want the topmost layer's", b)
			}
			must(t, s.Remove(ctx, "many"))
			if m := mountsUnder(t, root); len(m) != 0 {
				t.Fatalf("mounted after Remove: %q", m)
			}
		})
	}
}

package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/archive"
	"github.com/berth/berth/internal/testutil"
)

// mountOverlay mounts an overlay at a new merged dir and unmounts it when the test ends. With upper == ""
// the mount is read-only over lowers.
func mountOverlay(t *testing.T, lowers []string, upper string) string {
	t.Helper()
	base := t.TempDir()
	merged := filepath.Join(base, "merged")
	must(t, os.Mkdir(merged, 0o755))
	opts := "lowerdir=" + strings.Join(lowers, ":")
	if upper != "" {
		work := filepath.Join(base, "work")
		must(t, os.Mkdir(work, 0o755))
		opts += ",upperdir=" + upper + ",workdir=" + work
	}
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatalf("mount overlay: %v", err)
	}
	t.Cleanup(func() { unmount(t, merged) })
	return merged
}

func unmount(t *testing.T, p string) {
	t.Helper()
	if err := unix.Unmount(p, 0); err != nil && err != unix.EINVAL {
		t.Errorf("unmount %s: %v", p, err)
	}
}

func TestChangesAndWriteDiff(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	lower := t.TempDir()
	_, err := archive.Apply(ctx, lower, bytes.NewReader(mkTar(t, []entry{
		{name: "etc/", typ: tar.TypeDir},
		{name: "etc/passwd", body: "root:x:0:0\n"},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{name: "old/", typ: tar.TypeDir},
		{name: "old/file", body: "old"},
		{name: "old/keep", body: "keep"},
		{name: "dir/", typ: tar.TypeDir},
		{name: "dir/a", body: "a"},
		{name: "dir/sub/b", body: "b"},
		{name: "same/f", body: "same"},
	})))
	must(t, err)

	upper := filepath.Join(t.TempDir(), "upper")
	must(t, os.Mkdir(upper, 0o755))
	merged := mountOverlay(t, []string{lower}, upper)
	in := func(p string) string { return filepath.Join(merged, p) }
	must(t, os.WriteFile(in("tmp/x"), []byte("x"), 0o644))
	must(t, unix.Setxattr(in("tmp/x"), "user.note", []byte("n"), 0))
	f, err := os.OpenFile(in("etc/passwd"), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString("me:x:1000:1000\n")
	must(t, err)
	must(t, f.Close())
	must(t, os.Remove(in("old/file")))
	must(t, os.RemoveAll(in("dir")))
	must(t, os.Mkdir(in("dir"), 0o750))
	must(t, os.WriteFile(in("dir/new"), []byte("new"), 0o600))
	must(t, os.Symlink("/etc/passwd", in("lnk")))
	must(t, os.WriteFile(in("h1"), []byte("hard"), 0o644))
	must(t, os.Link(in("h1"), in("h2")))
	unmount(t, merged)

	want := []archive.Change{
		{Kind: archive.ChangeModify, Path: "/dir"},
		{Kind: archive.ChangeAdd, Path: "/dir/new"},
		{Kind: archive.ChangeModify, Path: "/etc"},
		{Kind: archive.ChangeModify, Path: "/etc/passwd"},
		{Kind: archive.ChangeAdd, Path: "/h1"},
		{Kind: archive.ChangeAdd, Path: "/h2"},
		{Kind: archive.ChangeAdd, Path: "/lnk"},
		{Kind: archive.ChangeModify, Path: "/old"},
		{Kind: archive.ChangeDelete, Path: "/old/file"},
		{Kind: archive.ChangeModify, Path: "/tmp"},
		{Kind: archive.ChangeAdd, Path: "/tmp/x"},
	}
	got, err := archive.Changes(upper, []string{lower})
	must(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Changes:\n got %v\nwant %v", got, want)
	}

	var diff bytes.Buffer
	must(t, archive.WriteDiff(ctx, &diff, upper))
	hdrs := readTar(t, diff.Bytes())
	wantNames := []string{"dir/", "dir/.wh..wh..opq", "dir/new", "etc/", "etc/passwd", "h1", "h2", "lnk", "old/", "old/.wh.file", "tmp/", "tmp/x"}
	if got := names(hdrs); !reflect.DeepEqual(got, wantNames) {
		t.Fatalf("WriteDiff names:\n got %q\nwant %q", got, wantNames)
	}
	byName := map[string]*tar.Header{}
	for _, h := range hdrs {
		byName[h.Name] = h
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.trusted.overlay.") {
				t.Errorf("%s carries %s", h.Name, k)
			}
		}
	}
	if h := byName["h2"]; h.Typeflag != tar.TypeLink || h.Linkname != "h1" {
		t.Errorf("h2: type %c link %q, want a hard link to h1", h.Typeflag, h.Linkname)
	}
	if h := byName["old/.wh.file"]; h.Typeflag != tar.TypeReg || h.Size != 0 {
		t.Errorf("old/.wh.file: type %c size %d", h.Typeflag, h.Size)
	}
	if h := byName["dir/"]; h.Mode != 0o750 {
		t.Errorf("dir/ mode %o, want 750", h.Mode)
	}
	if h := byName["dir/new"]; h.Mode != 0o600 || h.PAXRecords["body"] != "new" {
		t.Errorf("dir/new: mode %o body %q", h.Mode, h.PAXRecords["body"])
	}
	if h := byName["tmp/"]; h.Mode != 0o1777 {
		t.Errorf("tmp/ mode %o, want 1777", h.Mode)
	}
	if h := byName["tmp/x"]; h.PAXRecords["SCHILY.xattr.user.note"] != "n" {
		t.Errorf("tmp/x lost its xattr: %v", h.PAXRecords)
	}
	if h := byName["lnk"]; h.Typeflag != tar.TypeSymlink || h.Linkname != "/etc/passwd" {
		t.Errorf("lnk: type %c link %q", h.Typeflag, h.Linkname)
	}

	var again bytes.Buffer
	must(t, archive.WriteDiff(ctx, &again, upper))
	if !bytes.Equal(diff.Bytes(), again.Bytes()) {
		t.Errorf("WriteDiff is not deterministic")
	}

	// Round trip: the diff applied as a layer gives the same changes and the same merged view.
	layer := t.TempDir()
	_, err = archive.Apply(ctx, layer, bytes.NewReader(diff.Bytes()))
	must(t, err)
	got, err = archive.Changes(layer, []string{lower})
	must(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Changes of the re-applied diff:\n got %v\nwant %v", got, want)
	}
	view := mountOverlay(t, []string{layer, lower}, "")
	checkTree(t, view, map[string]string{
		"etc/passwd": "root:x:0:0\nme:x:1000:1000\n", "old/keep": "keep", "dir/new": "new", "tmp/x": "x",
		"same/f": "same", "lnk": "link:/etc/passwd", "h2": "hard",
	})
	for _, p := range []string{"old/file", "dir/a", "dir/sub"} {
		if _, err := os.Lstat(filepath.Join(view, p)); err == nil {
			t.Errorf("%s is visible through the re-applied diff", p)
		}
	}
}

// TestChangesLowers checks how Changes decides between Add and Modify when several lowers hide each other.
func TestChangesLowers(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	bottom, top, upper := t.TempDir(), t.TempDir(), t.TempDir()
	_, err := archive.Apply(ctx, bottom, bytes.NewReader(mkTar(t, []entry{
		{name: "a/f", body: "f"}, {name: "o/g", body: "g"}, {name: "n/file", body: "n"}, {name: "nd/x", body: "x"},
	})))
	must(t, err)
	_, err = archive.Apply(ctx, top, bytes.NewReader(mkTar(t, []entry{
		{name: "a/.wh.f"}, {name: "o/.wh..wh..opq"}, {name: "o/h", body: "h"}, {name: "nd", body: "now a file"},
	})))
	must(t, err)
	_, err = archive.Apply(ctx, upper, bytes.NewReader(mkTar(t, []entry{
		{name: "a/f", body: "again"}, {name: "o/g", body: "again"}, {name: "o/h", body: "changed"},
		{name: "n/file", body: "changed"}, {name: "nd/x", body: "again"}, {name: "brand/new", body: "new"},
	})))
	must(t, err)
	tests := []struct {
		name   string
		lowers []string
		want   map[string]archive.ChangeKind
	}{
		{
			name:   "both lowers",
			lowers: []string{top, bottom},
			want: map[string]archive.ChangeKind{
				"/a/f": archive.ChangeAdd, "/o/g": archive.ChangeAdd, "/o/h": archive.ChangeModify,
				"/n/file": archive.ChangeModify, "/nd/x": archive.ChangeAdd, "/nd": archive.ChangeModify,
				"/brand/new": archive.ChangeAdd, "/brand": archive.ChangeAdd,
			},
		},
		{
			name:   "bottom only",
			lowers: []string{bottom},
			want: map[string]archive.ChangeKind{
				"/a/f": archive.ChangeModify, "/o/g": archive.ChangeModify, "/o/h": archive.ChangeAdd,
				"/nd/x": archive.ChangeModify,
			},
		},
		{
			name:   "no lowers",
			lowers: nil,
			want:   map[string]archive.ChangeKind{"/a/f": archive.ChangeAdd, "/n": archive.ChangeAdd},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			changes, err := archive.Changes(upper, tc.lowers)
			must(t, err)
			got := map[string]archive.ChangeKind{}
			for _, c := range changes {
				got[c.Path] = c.Kind
			}
			for p, k := range tc.want {
				if got[p] != k {
					t.Errorf("%s: %v, want %v (all: %v)", p, got[p], k, changes)
				}
			}
		})
	}
}

func TestTarDir(t *testing.T) {
	src := t.TempDir()
	root := filepath.Join(src, "rootfs")
	for _, d := range []string{"bin", "etc/sub"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(root, "bin/busybox"), []byte("bb"), 0o755))
	must(t, os.Link(filepath.Join(root, "bin/busybox"), filepath.Join(root, "bin/sh")))
	must(t, os.WriteFile(filepath.Join(root, "etc/hosts"), []byte("127.0.0.1 localhost\n"), 0o644))
	must(t, os.Symlink("/etc", filepath.Join(root, "host-etc")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(root, "etc/passwd")))
	must(t, unix.Mkfifo(filepath.Join(root, "etc/fifo"), 0o600))

	tests := []struct {
		name  string
		dir   string
		opts  archive.TarOptions
		names []string
		links map[string]string // name -> Linkname
	}{
		{
			name:  "export",
			dir:   root,
			names: []string{"bin/", "bin/busybox", "bin/sh", "etc/", "etc/fifo", "etc/hosts", "etc/passwd", "etc/sub/", "host-etc"},
			links: map[string]string{"bin/sh": "bin/busybox", "host-etc": "/etc", "etc/passwd": "/etc/passwd"},
		},
		{
			name:  "include self",
			dir:   filepath.Join(root, "etc"),
			opts:  archive.TarOptions{IncludeSelf: true},
			names: []string{"etc/", "etc/fifo", "etc/hosts", "etc/passwd", "etc/sub/"},
		},
		{
			name:  "include self rebased",
			dir:   filepath.Join(root, "bin"),
			opts:  archive.TarOptions{IncludeSelf: true, RebaseName: "tools"},
			names: []string{"tools/", "tools/busybox", "tools/sh"},
			links: map[string]string{"tools/sh": "tools/busybox"},
		},
		{
			name:  "contents, as docker names them",
			dir:   filepath.Join(root, "bin"),
			opts:  archive.TarOptions{IncludeSelf: true, RebaseName: "."},
			names: []string{"./", "./busybox", "./sh"},
			links: map[string]string{"./sh": "./busybox"},
		},
		{
			name:  "single file rebased",
			dir:   filepath.Join(root, "etc/hosts"),
			opts:  archive.TarOptions{RebaseName: "hosts.bak"},
			names: []string{"hosts.bak"},
		},
		{
			name:  "symlink is not followed",
			dir:   filepath.Join(root, "host-etc"),
			opts:  archive.TarOptions{IncludeSelf: true},
			names: []string{"host-etc"},
			links: map[string]string{"host-etc": "/etc"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			must(t, archive.TarDir(context.Background(), &buf, tc.dir, tc.opts))
			hdrs := readTar(t, buf.Bytes())
			if got := names(hdrs); !reflect.DeepEqual(got, tc.names) {
				t.Fatalf("names:\n got %q\nwant %q", got, tc.names)
			}
			for _, h := range hdrs {
				if l, ok := tc.links[h.Name]; ok && h.Linkname != l {
					t.Errorf("%s links to %q, want %q", h.Name, h.Linkname, l)
				}
			}
		})
	}

	t.Run("round trip", func(t *testing.T) {
		var buf bytes.Buffer
		must(t, archive.TarDir(context.Background(), &buf, root, archive.TarOptions{}))
		dst := t.TempDir()
		must(t, archive.ApplyUncompressedTo(context.Background(), dst, "/", &buf, false))
		checkTree(t, dst, map[string]string{
			"bin/busybox": "bb", "bin/sh": "bb", "etc/hosts": "127.0.0.1 localhost\n", "host-etc": "link:/etc",
			"etc/sub": "dir",
		})
		a, _ := os.Stat(filepath.Join(dst, "bin/busybox"))
		b, _ := os.Stat(filepath.Join(dst, "bin/sh"))
		if !os.SameFile(a, b) {
			t.Errorf("hard link lost in the round trip")
		}
		if fi, err := os.Lstat(filepath.Join(dst, "etc/fifo")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			t.Errorf("fifo lost in the round trip: %v %v", fi, err)
		}
	})
}

package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/archive"
	"github.com/berth/berth/internal/testutil"
)

// TestApplyMalicious feeds tars that try to reach outside the root. Each either fails with
// ErrInvalidArgument or lands inside the root; nothing outside may change. OUTSIDE in names and link targets
// is replaced by the absolute path of a directory next to the root.
func TestApplyMalicious(t *testing.T) {
	hostEtcProbe := "berth-archive-test-" + strings.ReplaceAll(t.Name(), "/", "-")
	tests := []struct {
		name    string
		entries []entry
		wantErr error    // errors.Is target; nil means Apply succeeds
		errText string   // substring of the error
		inRoot  []string // paths that must exist in the root afterwards
		absent  []string // paths that must not exist in the root afterwards
	}{
		{
			name:    "dotdot escape",
			entries: []entry{{name: "../x", body: "pwned"}},
			wantErr: errdefs.ErrInvalidArgument, errText: `entry "../x" escapes the root`,
		},
		{
			name:    "nested dotdot escape",
			entries: []entry{{name: "a/b/../../../x", body: "pwned"}},
			wantErr: errdefs.ErrInvalidArgument, errText: "escapes the root",
		},
		{
			name:    "dotdot to the outside dir",
			entries: []entry{{name: "../outside/secret", body: "pwned"}},
			wantErr: errdefs.ErrInvalidArgument,
		},
		{
			name:    "dotdot staying inside is cleaned",
			entries: []entry{{name: "a/../b", body: "ok"}},
			inRoot:  []string{"b"}, absent: []string{"a"},
		},
		{
			name:    "absolute name is made relative",
			entries: []entry{{name: "OUTSIDE/secret", body: "pwned"}},
			inRoot:  []string{"OUTSIDE/secret"},
		},
		{
			name:    "absolute name with dotdot is clamped at the root",
			entries: []entry{{name: "/../../x", body: "ok"}},
			inRoot:  []string{"x"},
		},
		{
			name: "symlink to the outside dir then a file through it",
			entries: []entry{
				{name: "OUTSIDE/", typ: tar.TypeDir},
				{name: "evil", typ: tar.TypeSymlink, link: "OUTSIDE"},
				{name: "evil/pwned", body: "pwned"},
				{name: "evil/secret", body: "pwned"},
			},
			inRoot: []string{"OUTSIDE/pwned", "OUTSIDE/secret"},
		},
		{
			name: "dangling symlink to the outside dir then a file through it",
			entries: []entry{
				{name: "evil", typ: tar.TypeSymlink, link: "OUTSIDE"},
				{name: "evil/pwned", body: "pwned"},
			},
			errText: "not a directory",
		},
		{
			name: "symlink to /etc then a file through it",
			entries: []entry{
				{name: "etc/", typ: tar.TypeDir},
				{name: "link", typ: tar.TypeSymlink, link: "/etc"},
				{name: "link/" + hostEtcProbe, body: "pwned"},
			},
			inRoot: []string{"etc/" + hostEtcProbe},
		},
		{
			name: "etc symlink to /etc loops inside the root",
			entries: []entry{
				{name: "etc", typ: tar.TypeSymlink, link: "/etc"},
				{name: "etc/" + hostEtcProbe, body: "pwned"},
			},
			errText: "too many levels of symbolic links",
		},
		{
			name: "relative symlink climbing out then a file through it",
			entries: []entry{
				{name: "up", typ: tar.TypeSymlink, link: "../../../../../../.."},
				{name: "up/x", body: "ok"},
			},
			inRoot: []string{"x"},
		},
		{
			name: "symlink chain to the outside dir",
			entries: []entry{
				{name: "outside/dir/", typ: tar.TypeDir},
				{name: "a", typ: tar.TypeSymlink, link: "b"},
				{name: "b", typ: tar.TypeSymlink, link: "../outside"},
				{name: "a/dir/x", body: "pwned"},
			},
			inRoot: []string{"outside/dir/x"},
		},
		{
			name:    "hardlink to ../outside",
			entries: []entry{{name: "l", typ: tar.TypeLink, link: "../outside/secret"}},
			wantErr: errdefs.ErrInvalidArgument, errText: "hard link target",
		},
		{
			name:    "hardlink to an absolute outside path is resolved in the root",
			entries: []entry{{name: "l", typ: tar.TypeLink, link: "OUTSIDE/secret"}},
			errText: "no such file",
		},
		{
			name: "hardlink through a symlink to the outside dir",
			entries: []entry{
				{name: "s", typ: tar.TypeSymlink, link: "OUTSIDE"},
				{name: "l", typ: tar.TypeLink, link: "s/secret"},
			},
			errText: "no such file",
		},
		{
			name: "hardlink to a symlink links the symlink itself",
			entries: []entry{
				{name: "s", typ: tar.TypeSymlink, link: "OUTSIDE/secret"},
				{name: "h", typ: tar.TypeLink, link: "s"},
				{name: "h", body: "replaced", mode: 0o4777},
			},
			inRoot: []string{"s", "h"},
		},
		{
			name: "symlink dir then dir/../../x",
			entries: []entry{
				{name: "d", typ: tar.TypeSymlink, link: "OUTSIDE/dir"},
				{name: "d/../../x", body: "pwned"},
			},
			wantErr: errdefs.ErrInvalidArgument, errText: "escapes the root",
		},
		{
			name: "symlink dir then dir/../x is cleaned lexically",
			entries: []entry{
				{name: "d", typ: tar.TypeSymlink, link: "OUTSIDE/dir"},
				{name: "d/../x", body: "ok"},
			},
			inRoot: []string{"x"},
		},
		{
			name: "existing symlink leaf is replaced, not followed",
			entries: []entry{
				{name: "f", typ: tar.TypeSymlink, link: "../outside/secret"},
				{name: "f", body: "new", mode: 0o777},
				{name: "g", typ: tar.TypeSymlink, link: "../outside/secret"},
				{name: "g", typ: tar.TypeFifo, mode: 0o777},
				{name: "dl", typ: tar.TypeSymlink, link: "../outside/dir"},
				{name: "dl/", typ: tar.TypeDir, mode: 0o777},
				{name: "dl/x", body: "inside"},
			},
			inRoot: []string{"f", "g", "dl/x"},
		},
		{
			name: "whiteout and opaque through a symlink stay inside",
			entries: []entry{
				{name: "outside/", typ: tar.TypeDir},
				{name: "d", typ: tar.TypeSymlink, link: "../outside"},
				{name: "d/.wh.secret"},
				{name: "d/dir/.wh..wh..opq"},
			},
			inRoot: []string{"outside/secret", "outside/dir"},
		},
		{
			name: "hardlink to a name escaping via symlink parent is resolved in the root",
			entries: []entry{
				{name: "p", typ: tar.TypeSymlink, link: "/"},
				{name: "target", body: "t"},
				{name: "l", typ: tar.TypeLink, link: "p/../../target"},
			},
			wantErr: errdefs.ErrInvalidArgument,
		},
		{
			name: "device and fifo through symlink stay inside",
			entries: []entry{
				{name: "OUTSIDE/", typ: tar.TypeDir},
				{name: "s", typ: tar.TypeSymlink, link: "OUTSIDE"},
				{name: "s/fifo", typ: tar.TypeFifo},
			},
			inRoot: []string{"OUTSIDE/fifo"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "whiteout and opaque through a symlink stay inside" {
				testutil.RequiresRoot(t)
			}
			s := newSandbox(t)
			entries := make([]entry, len(tc.entries))
			for i, e := range tc.entries {
				e.name = strings.ReplaceAll(e.name, "OUTSIDE", s.outside)
				e.link = strings.ReplaceAll(e.link, "OUTSIDE", s.outside)
				entries[i] = e
			}
			_, err := archive.Apply(context.Background(), s.root, bytes.NewReader(mkTar(t, entries)))
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("Apply error = %v, want %v", err, tc.wantErr)
			case tc.wantErr == nil && tc.errText == "" && err != nil:
				t.Errorf("Apply: %v", err)
			case tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)):
				t.Errorf("Apply error = %v, want it to contain %q", err, tc.errText)
			}
			s.check(t)
			if _, err := os.Lstat(filepath.Join("/etc", hostEtcProbe)); err == nil {
				os.Remove(filepath.Join("/etc", hostEtcProbe))
				t.Fatalf("Apply wrote into the host's /etc")
			}
			for _, p := range tc.inRoot {
				p = strings.ReplaceAll(p, "OUTSIDE", s.outside)
				if _, err := os.Lstat(filepath.Join(s.root, p)); err != nil {
					t.Errorf("want %s in the root: %v", p, err)
				}
			}
			for _, p := range tc.absent {
				if _, err := os.Lstat(filepath.Join(s.root, p)); err == nil {
					t.Errorf("want no %s in the root", p)
				}
			}
		})
	}
}

// TestApplyWhiteouts checks the AUFS to overlayfs conversion.
func TestApplyWhiteouts(t *testing.T) {
	testutil.RequiresRoot(t)
	root := t.TempDir()
	// Something already there that a whiteout replaces (a layer dir is normally empty, but Apply must cope).
	if err := os.MkdirAll(filepath.Join(root, "a", "gone", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	tb := mkTar(t, []entry{
		{name: "a/", typ: tar.TypeDir},
		{name: "a/.wh.gone"},
		{name: "a/.wh..wh.plnk", typ: tar.TypeDir},
		{name: "b/", typ: tar.TypeDir, mode: 0o710},
		{name: "b/.wh..wh..opq"},
		{name: "b/keep", body: "k"},
		{name: ".wh.top"},
		{name: "new/sub/.wh..wh..opq"},
	})
	if _, err := archive.Apply(context.Background(), root, bytes.NewReader(tb)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/gone", "top"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, p), &st); err != nil {
			t.Fatalf("whiteout %s: %v", p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s: mode %o rdev %d, want a 0/0 character device", p, st.Mode, st.Rdev)
		}
	}
	for _, p := range []string{"b", "new/sub"} {
		v := make([]byte, 8)
		n, err := unix.Lgetxattr(filepath.Join(root, p), "trusted.overlay.opaque", v)
		if err != nil || string(v[:n]) != "y" {
			t.Errorf("%s: trusted.overlay.opaque = %q, %v; want y", p, v[:n], err)
		}
	}
	for _, p := range []string{"b/.wh..wh..opq", "a/.wh.gone", "a/.wh..wh.plnk", ".wh.top"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s exists; whiteout names must not be extracted", p)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "b")); err != nil || fi.Mode().Perm() != 0o710 {
		t.Errorf("b: %v %v, want mode 0710", fi, err)
	}
}

// TestApplyMetadata checks that every kind of entry and its metadata survive, plain and compressed.
func TestApplyMetadata(t *testing.T) {
	testutil.RequiresRoot(t)
	dirTime := testTime.Add(-48 * 3600e9)
	entries := []entry{
		{name: "./", typ: tar.TypeDir, mode: 0o751, mtime: dirTime},
		{name: "bin/", typ: tar.TypeDir, mode: 0o755, uid: 1, gid: 2, mtime: dirTime},
		{name: "bin/su", body: "#!su", mode: 0o4755, uid: 0, gid: 0},
		{name: "bin/sg", body: "#!sg", mode: 0o2711, uid: 1000, gid: 1000, xattrs: map[string]string{"user.note": "hello", "trusted.overlay.opaque": "y"}},
		{name: "bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox", uid: 1000, gid: 1001},
		{name: "bin/busybox", body: "bb", mode: 0o755},
		{name: "bin/ash", typ: tar.TypeLink, link: "bin/busybox"},
		{name: "tmp/", typ: tar.TypeDir, mode: 0o1777, mtime: dirTime},
		{name: "tmp/later", body: "x"},
		{name: "dev/null", typ: tar.TypeChar, major: 1, minor: 3, mode: 0o666},
		{name: "dev/loop9", typ: tar.TypeBlock, major: 7, minor: 9, mode: 0o660},
		{name: "run/fifo", typ: tar.TypeFifo, mode: 0o620},
	}
	raw := mkTar(t, entries)
	tests := []struct {
		name string
		data []byte
	}{
		{name: "plain", data: raw},
		{name: "gzip", data: gzipped(t, raw)},
		{name: "bzip2", data: compressedWith(t, "bzip2", raw)},
		{name: "xz", data: compressedWith(t, "xz", raw)},
		{name: "zstd", data: compressedWith(t, "zstd", raw)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			n, err := archive.Apply(context.Background(), root, bytes.NewReader(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(len("#!su#!sgbbx")); n != want {
				t.Errorf("Apply returned %d bytes, want %d", n, want)
			}
			check := func(p string, mode uint32, uid, gid uint32) unix.Stat_t {
				t.Helper()
				var st unix.Stat_t
				if err := unix.Lstat(filepath.Join(root, p), &st); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if st.Mode != mode || st.Uid != uid || st.Gid != gid {
					t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", p, st.Mode, st.Uid, st.Gid, mode, uid, gid)
				}
				return st
			}
			if st := check(".", unix.S_IFDIR|0o751, 0, 0); st.Mtim.Sec != dirTime.Unix() {
				t.Errorf("root mtime %d, want %d", st.Mtim.Sec, dirTime.Unix())
			}
			if st := check("bin", unix.S_IFDIR|0o755, 1, 2); st.Mtim.Sec != dirTime.Unix() {
				t.Errorf("bin mtime %d, want %d (dir times are set after children)", st.Mtim.Sec, dirTime.Unix())
			}
			if st := check("tmp", unix.S_IFDIR|0o1777, 0, 0); st.Mtim.Sec != dirTime.Unix() {
				t.Errorf("tmp mtime %d, want %d", st.Mtim.Sec, dirTime.Unix())
			}
			if st := check("bin/su", unix.S_IFREG|0o4755, 0, 0); st.Mtim.Sec != testTime.Unix() {
				t.Errorf("su mtime %d, want %d", st.Mtim.Sec, testTime.Unix())
			}
			check("bin/sg", unix.S_IFREG|0o2711, 1000, 1000)
			if st := check("bin/sh", unix.S_IFLNK|0o777, 1000, 1001); st.Mtim.Sec != testTime.Unix() {
				t.Errorf("symlink mtime %d, want %d", st.Mtim.Sec, testTime.Unix())
			}
			if l, _ := os.Readlink(filepath.Join(root, "bin/sh")); l != "/bin/busybox" {
				t.Errorf("bin/sh -> %q", l)
			}
			a, b := check("bin/busybox", unix.S_IFREG|0o755, 0, 0), check("bin/ash", unix.S_IFREG|0o755, 0, 0)
			if a.Ino != b.Ino || a.Nlink != 2 {
				t.Errorf("bin/ash is not a hard link of bin/busybox")
			}
			if st := check("dev/null", unix.S_IFCHR|0o666, 0, 0); st.Rdev != unix.Mkdev(1, 3) {
				t.Errorf("dev/null rdev %d", st.Rdev)
			}
			if st := check("dev/loop9", unix.S_IFBLK|0o660, 0, 0); st.Rdev != unix.Mkdev(7, 9) {
				t.Errorf("dev/loop9 rdev %d", st.Rdev)
			}
			check("run/fifo", unix.S_IFIFO|0o620, 0, 0)
			buf := make([]byte, 16)
			if n, err := unix.Lgetxattr(filepath.Join(root, "bin/sg"), "user.note", buf); err != nil || string(buf[:n]) != "hello" {
				t.Errorf("user.note = %q, %v", buf[:n], err)
			}
			if _, err := unix.Lgetxattr(filepath.Join(root, "bin/sg"), "trusted.overlay.opaque", buf); err == nil {
				t.Errorf("trusted.overlay.* xattrs from a tar must be dropped")
			}
		})
	}
}

// TestApplyReplace checks how an entry replaces what is already at its path.
func TestApplyReplace(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		want    map[string]string // path -> "dir", "link:<target>" or file content
	}{
		{
			name:    "file replaces dir",
			entries: []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/child", body: "c"}, {name: "x", body: "file"}},
			want:    map[string]string{"x": "file"},
		},
		{
			name: "file replaces dir tree",
			entries: []entry{
				{name: "x/", typ: tar.TypeDir}, {name: "x/y/", typ: tar.TypeDir}, {name: "x/y/z/", typ: tar.TypeDir},
				{name: "x", body: "file"},
			},
			want: map[string]string{"x": "file"},
		},
		{
			name:    "dir replaces file",
			entries: []entry{{name: "x", body: "file"}, {name: "x/", typ: tar.TypeDir}, {name: "x/y", body: "y"}},
			want:    map[string]string{"x": "dir", "x/y": "y"},
		},
		{
			name:    "dir over dir keeps contents",
			entries: []entry{{name: "x/", typ: tar.TypeDir}, {name: "x/a", body: "a"}, {name: "x/", typ: tar.TypeDir, mode: 0o700}},
			want:    map[string]string{"x": "dir", "x/a": "a"},
		},
		{
			name:    "file replaces file",
			entries: []entry{{name: "x", body: "old"}, {name: "x", body: "new"}},
			want:    map[string]string{"x": "new"},
		},
		{
			name:    "symlink replaces dir",
			entries: []entry{{name: "y/", typ: tar.TypeDir}, {name: "x/a", body: "a"}, {name: "x", typ: tar.TypeSymlink, link: "y"}, {name: "x/b", body: "b"}},
			want:    map[string]string{"x": "link:y", "y/b": "b"},
		},
		{
			name:    "hard link to itself is a no-op",
			entries: []entry{{name: "x", body: "x"}, {name: "x", typ: tar.TypeLink, link: "x"}},
			want:    map[string]string{"x": "x"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if _, err := archive.Apply(context.Background(), root, bytes.NewReader(mkTar(t, tc.entries))); err != nil {
				t.Fatal(err)
			}
			checkTree(t, root, tc.want)
		})
	}
}

func checkTree(t *testing.T, root string, want map[string]string) {
	t.Helper()
	for p, w := range want {
		full := filepath.Join(root, p)
		fi, err := os.Lstat(full)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		switch {
		case w == "dir":
			if !fi.IsDir() {
				t.Errorf("%s: %v, want a directory", p, fi.Mode())
			}
		case strings.HasPrefix(w, "link:"):
			if l, err := os.Readlink(full); err != nil || l != strings.TrimPrefix(w, "link:") {
				t.Errorf("%s -> %q, %v; want %s", p, l, err, w)
			}
		default:
			if b, err := os.ReadFile(full); err != nil || string(b) != w || !fi.Mode().IsRegular() {
				t.Errorf("%s = %q (%v), %v; want file %q", p, b, fi.Mode(), err, w)
			}
		}
	}
}

// TestApplyUncompressedTo checks extraction into a container root (docker cp).
func TestApplyUncompressedTo(t *testing.T) {
	tests := []struct {
		name        string
		dest        string
		entries     []entry
		noOverwrite bool
		wantErr     error
		want        map[string]string // in the container root
	}{
		{
			name:    "plain copy",
			dest:    "/data",
			entries: []entry{{name: "sub/", typ: tar.TypeDir}, {name: "sub/f", body: "f"}, {name: ".wh.keep", body: "w"}},
			want:    map[string]string{"data/sub/f": "f", "data/.wh.keep": "w"},
		},
		{
			name:    "dest through an absolute container symlink",
			dest:    "/cfg",
			entries: []entry{{name: "f", body: "f"}},
			want:    map[string]string{"data/f": "f"},
		},
		{
			name:    "dest symlink to the host etc resolves in the container",
			dest:    "/etc-link/sub",
			entries: []entry{{name: "f", body: "f"}},
			want:    map[string]string{"etc/sub/f": "f"},
		},
		{
			name:    "entry through a symlink to / stays in the container",
			dest:    "/data",
			entries: []entry{{name: "r", typ: tar.TypeSymlink, link: "/"}, {name: "r/etc/sub/g", body: "g"}},
			want:    map[string]string{"etc/sub/g": "g", "data/r": "link:/"},
		},
		{
			name:    "dotdot relative to dest is rejected",
			dest:    "/data",
			entries: []entry{{name: "../x", body: "x"}},
			wantErr: errdefs.ErrInvalidArgument,
		},
		{
			name:    "hardlink out of dest is rejected",
			dest:    "/data",
			entries: []entry{{name: "l", typ: tar.TypeLink, link: "../etc/sub/keep"}},
			wantErr: errdefs.ErrInvalidArgument,
		},
		{
			name:        "no overwrite of dir with non-dir",
			dest:        "/data",
			noOverwrite: true,
			entries:     []entry{{name: "dir", body: "x"}},
			wantErr:     errdefs.ErrConflict,
		},
		{
			name:        "no overwrite of non-dir with dir",
			dest:        "/data",
			noOverwrite: true,
			entries:     []entry{{name: "file/", typ: tar.TypeDir}},
			wantErr:     errdefs.ErrConflict,
		},
		{
			name:    "overwrite of dir with non-dir allowed",
			dest:    "/data",
			entries: []entry{{name: "dir", body: "x"}},
			want:    map[string]string{"data/dir": "x"},
		},
		{
			name:    "missing dest",
			dest:    "/nope",
			entries: []entry{{name: "f", body: "f"}},
			wantErr: errdefs.ErrNotFound,
		},
		{
			name:    "dest is a file",
			dest:    "/data/file",
			entries: []entry{{name: "f", body: "f"}},
			wantErr: errdefs.ErrInvalidArgument,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSandbox(t)
			for _, d := range []string{"data/dir", "etc/sub"} {
				if err := os.MkdirAll(filepath.Join(s.root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			must(t, os.WriteFile(filepath.Join(s.root, "data/file"), []byte("file"), 0o644))
			must(t, os.WriteFile(filepath.Join(s.root, "etc/sub/keep"), []byte("keep"), 0o644))
			must(t, os.Symlink("/data", filepath.Join(s.root, "cfg")))
			must(t, os.Symlink("/etc", filepath.Join(s.root, "etc-link")))
			err := archive.ApplyUncompressedTo(context.Background(), s.root, tc.dest, bytes.NewReader(mkTar(t, tc.entries)), tc.noOverwrite)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			s.check(t)
			checkTree(t, s.root, tc.want)
			if _, err := os.Lstat("/etc/sub/f"); err == nil {
				t.Fatalf("wrote into the host's /etc")
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestApplyCorrupt(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{name: "garbage", data: bytes.Repeat([]byte("not a tar "), 100), wantErr: errdefs.ErrInvalidArgument},
		{name: "truncated gzip", data: gzipped(t, mkTar(t, []entry{{name: "f", body: "f"}}))[:30], wantErr: errdefs.ErrInvalidArgument},
		{name: "zstd garbage", data: []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0}, wantErr: errdefs.ErrInvalidArgument},
		{name: "xz garbage", data: append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, bytes.Repeat([]byte("x"), 64)...), wantErr: errdefs.ErrInvalidArgument},
		{name: "bzip2 garbage", data: append([]byte("BZh9"), bytes.Repeat([]byte("x"), 64)...), wantErr: errdefs.ErrInvalidArgument},
		{name: "empty", data: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := archive.Apply(context.Background(), t.TempDir(), bytes.NewReader(tc.data))
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestApplyCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := archive.Apply(ctx, t.TempDir(), bytes.NewReader(mkTar(t, []entry{{name: "f", body: "f"}})))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
}

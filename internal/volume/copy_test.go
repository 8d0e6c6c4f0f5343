package volume

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berth/berth/internal/testutil"
	"golang.org/x/sys/unix"
)

var past = time.Date(2020, 1, 2, 3, 4, 5, 600, time.UTC)

func lstat(t *testing.T, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// buildImageTree makes a directory like an image's content at a mount point, with every kind of entry.
func buildImageTree(t *testing.T, outside string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "rootfs", "var", "lib", "app")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "conf", "deep"), 0o755))
	must(os.WriteFile(filepath.Join(src, "conf", "app.conf"), []byte("key=value\n"), 0o640))
	must(os.WriteFile(filepath.Join(src, "conf", "deep", "x"), []byte("x"), 0o600))
	must(os.WriteFile(filepath.Join(src, "suid"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Chown(filepath.Join(src, "suid"), 0, 0))
	must(unix.Chmod(filepath.Join(src, "suid"), 0o4755))
	must(os.Link(filepath.Join(src, "conf", "app.conf"), filepath.Join(src, "hardlink")))
	must(os.Symlink("/etc/passwd", filepath.Join(src, "abs-link")))
	must(os.Symlink("../../../../..", filepath.Join(src, "up-link")))
	must(os.Symlink(outside, filepath.Join(src, "outside-dir")))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o620))
	must(unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	// A read-only directory with content: the copy must still fill it.
	must(os.Mkdir(filepath.Join(src, "ro"), 0o755))
	must(os.WriteFile(filepath.Join(src, "ro", "f"), []byte("ro"), 0o444))
	must(os.Chmod(filepath.Join(src, "ro"), 0o555))
	must(os.Chown(filepath.Join(src, "conf"), 1234, 5678))
	must(os.Chown(filepath.Join(src, "conf", "app.conf"), 1234, 5678))
	must(os.Lchown(filepath.Join(src, "abs-link"), 42, 43))
	must(os.Chown(src, 999, 999))
	must(os.Chmod(src, 0o750))
	// xattrs need filesystem support; ignore if absent.
	_ = unix.Setxattr(filepath.Join(src, "conf", "app.conf"), "user.berth", []byte("yes"), 0)

	ts := []unix.Timespec{unix.NsecToTimespec(past.UnixNano()), unix.NsecToTimespec(past.UnixNano())}
	for _, p := range []string{"conf/app.conf", "conf/deep/x", "conf/deep", "conf", "suid", "ro/f", "ro", "fifo", ""} {
		must(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(src, p), ts, 0))
	}
	must(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(src, "abs-link"), ts, unix.AT_SYMLINK_NOFOLLOW))
	return src
}

func TestCopyImageData(t *testing.T) {
	testutil.RequiresRoot(t) // chown, mknod
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := buildImageTree(t, outside)
	dst := t.TempDir()
	if err := CopyImageData(src, dst); err != nil {
		t.Fatal(err)
	}

	// Every entry matches in type, owner, mode and (except directories we wrote into, and links) times.
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		s, d := lstat(t, p), lstat(t, filepath.Join(dst, rel))
		if s.Mode != d.Mode || s.Uid != d.Uid || s.Gid != d.Gid {
			t.Errorf("%s: mode %o uid %d gid %d, want %o %d %d", rel, d.Mode, d.Uid, d.Gid, s.Mode, s.Uid, s.Gid)
		}
		if s.Mode&unix.S_IFMT == unix.S_IFREG || s.Mode&unix.S_IFMT == unix.S_IFDIR || s.Mode&unix.S_IFMT == unix.S_IFLNK {
			if s.Mtim != d.Mtim {
				t.Errorf("%s: mtime %v, want %v", rel, d.Mtim, s.Mtim)
			}
		}
		if s.Mode&unix.S_IFMT == unix.S_IFCHR && s.Rdev != d.Rdev {
			t.Errorf("%s: rdev %d, want %d", rel, d.Rdev, s.Rdev)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{name: "file content", check: func(t *testing.T) {
			if data, err := os.ReadFile(filepath.Join(dst, "conf", "app.conf")); err != nil || string(data) != "key=value\n" {
				t.Errorf("app.conf = %q, %v", data, err)
			}
		}},
		{name: "hard link kept", check: func(t *testing.T) {
			a, b := lstat(t, filepath.Join(dst, "conf", "app.conf")), lstat(t, filepath.Join(dst, "hardlink"))
			if a.Ino != b.Ino {
				t.Error("hard link became a copy")
			}
		}},
		{name: "symlinks copied as links", check: func(t *testing.T) {
			for link, want := range map[string]string{"abs-link": "/etc/passwd", "up-link": "../../../../..", "outside-dir": outside} {
				got, err := os.Readlink(filepath.Join(dst, link))
				if err != nil || got != want {
					t.Errorf("%s -> %q, %v; want %q", link, got, err, want)
				}
			}
		}},
		{name: "nothing read through a link out of src", check: func(t *testing.T) {
			var found []string
			_ = filepath.Walk(dst, func(p string, info os.FileInfo, err error) error {
				if err == nil && info.Name() == "secret" {
					found = append(found, p)
				}
				return nil
			})
			if len(found) > 0 {
				t.Errorf("copied through a symlink: %v", found)
			}
		}},
		{name: "fifo and device", check: func(t *testing.T) {
			if st := lstat(t, filepath.Join(dst, "fifo")); st.Mode&unix.S_IFMT != unix.S_IFIFO {
				t.Error("fifo not a fifo")
			}
			if st := lstat(t, filepath.Join(dst, "null")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
				t.Error("device not copied")
			}
		}},
		{name: "setuid bit survives chown", check: func(t *testing.T) {
			if st := lstat(t, filepath.Join(dst, "suid")); st.Mode&unix.S_ISUID == 0 {
				t.Errorf("suid mode %o", st.Mode)
			}
		}},
		{name: "root takes src owner and mode", check: func(t *testing.T) {
			if st := lstat(t, dst); st.Uid != 999 || st.Mode&0o7777 != 0o750 {
				t.Errorf("dst root uid %d mode %o", st.Uid, st.Mode&0o7777)
			}
		}},
		{name: "xattr", check: func(t *testing.T) {
			buf := make([]byte, 16)
			if _, err := unix.Getxattr(filepath.Join(src, "conf", "app.conf"), "user.berth", buf); err != nil {
				t.Skip("no user xattrs on this filesystem")
			}
			n, err := unix.Getxattr(filepath.Join(dst, "conf", "app.conf"), "user.berth", buf)
			if err != nil || string(buf[:n]) != "yes" {
				t.Errorf("xattr = %q, %v", buf[:n], err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

func TestCopyImageDataSkips(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (src, dst string)
		want  []string // entries of dst afterwards
	}{
		{
			name: "missing src",
			setup: func(t *testing.T) (string, string) {
				return filepath.Join(t.TempDir(), "nope"), t.TempDir()
			},
		},
		{
			name: "src is a file",
			setup: func(t *testing.T) (string, string) {
				f := filepath.Join(t.TempDir(), "file")
				if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				return f, t.TempDir()
			},
		},
		{
			name: "src is a symlink to a directory",
			setup: func(t *testing.T) (string, string) {
				outside := t.TempDir()
				if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				link := filepath.Join(t.TempDir(), "link")
				if err := os.Symlink(outside, link); err != nil {
					t.Fatal(err)
				}
				return link, t.TempDir()
			},
		},
		{
			name: "dst not empty",
			setup: func(t *testing.T) (string, string) {
				src, dst := t.TempDir(), t.TempDir()
				if err := os.WriteFile(filepath.Join(src, "image-file"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dst, "existing"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				return src, dst
			},
			want: []string{"existing"},
		},
		{
			name: "plain copy",
			setup: func(t *testing.T) (string, string) {
				src, dst := t.TempDir(), t.TempDir()
				if err := os.WriteFile(filepath.Join(src, "image-file"), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
				return src, dst
			},
			want: []string{"image-file"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := tt.setup(t)
			if err := CopyImageData(src, dst); err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(dst)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("dst holds %v, want %v", got, tt.want)
			}
		})
	}
	if err := CopyImageData(t.TempDir(), filepath.Join(t.TempDir(), "missing")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing dst: %v", err)
	}
}

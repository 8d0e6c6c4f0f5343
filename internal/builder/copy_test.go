package builder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestResolveSourcesStaysInside(t *testing.T) {
	ctx := tree(t, map[string]string{"a.txt": "a", "sub/b.txt": "b"})
	os.Symlink("/etc/passwd", filepath.Join(ctx, "pw"))
	os.Symlink("/etc", filepath.Join(ctx, "etc"))
	os.Symlink("../..", filepath.Join(ctx, "up"))

	for _, tc := range []struct {
		src     string
		wantErr error
		msg     string
	}{
		{"../x", errdefs.ErrInvalidArgument, "forbidden path outside the build context: ../x ()"},
		{"sub/../../x", errdefs.ErrInvalidArgument, "forbidden path outside the build context"},
		{"etc/passwd", errdefs.ErrNotFound, "stat etc/passwd: file does not exist"},
		{"up/etc/passwd", errdefs.ErrNotFound, ""},
		{"etc/", errdefs.ErrNotFound, ""},
		{"missing", errdefs.ErrNotFound, "file not found in build context or excluded by .dockerignore: stat missing: file does not exist"},
	} {
		_, err := resolveSources(ctx, []string{tc.src})
		if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: err = %v, want %v %q", tc.src, err, tc.wantErr, tc.msg)
		}
	}
	srcs, err := resolveSources(ctx, []string{"pw", "/a.txt", "sub/*.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 3 || srcs[0].info.Mode()&os.ModeSymlink == 0 || srcs[1].rel != "a.txt" || srcs[2].rel != "sub/b.txt" {
		t.Errorf("sources = %+v", srcs)
	}
}

func TestHashSourcesSeesChanges(t *testing.T) {
	ctx := tree(t, map[string]string{"d/a": "1", "d/b": "2"})
	sum := func() string {
		srcs, err := resolveSources(ctx, []string{"d"})
		if err != nil {
			t.Fatal(err)
		}
		s, name, err := hashSources(srcs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "dir:") {
			t.Errorf("name %q", name)
		}
		return s
	}
	s0 := sum()
	// mtime alone does not invalidate
	os.Chtimes(filepath.Join(ctx, "d/a"), time.Unix(1, 0), time.Unix(1, 0))
	if sum() != s0 {
		t.Error("mtime changed the checksum")
	}
	for _, change := range []func(){
		func() { os.WriteFile(filepath.Join(ctx, "d/a"), []byte("3"), 0o644) },
		func() { os.Chmod(filepath.Join(ctx, "d/b"), 0o600) },
		func() { os.Rename(filepath.Join(ctx, "d/b"), filepath.Join(ctx, "d/c")) },
		func() { os.Symlink("x", filepath.Join(ctx, "d/l")) },
	} {
		change()
		if s := sum(); s == s0 {
			t.Error("a change kept the checksum")
		} else {
			s0 = s
		}
	}
}

func TestCopyInto(t *testing.T) {
	ctx := tree(t, map[string]string{"f.txt": "file", "dir/x": "x", "dir/sub/y": "y"})
	root := tree(t, map[string]string{"existing/keep": "k"})
	os.Symlink("/", filepath.Join(root, "escape"))
	os.Symlink("/etc/passwd", filepath.Join(ctx, "link"))
	mode := os.FileMode(0o600)

	copyOne := func(src, dest string, opts copyOptions) error {
		srcs, err := resolveSources(ctx, []string{src})
		if err != nil {
			return err
		}
		return copyInto(context.Background(), root, srcs, dest, opts)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(copyOne("f.txt", "/new/name", copyOptions{uid: 1000, gid: 1001, chmod: &mode}))
	must(copyOne("f.txt", "/existing", copyOptions{}))
	must(copyOne("f.txt", "/todir/", copyOptions{}))
	must(copyOne("dir", "/d", copyOptions{}))
	must(copyOne("link", "/l", copyOptions{}))
	// a symlink in the destination leads inside root, never to the host
	must(copyOne("f.txt", "/escape/tmp/", copyOptions{}))

	for p, want := range map[string]string{"new/name": "file", "existing/f.txt": "file", "existing/keep": "k", "todir/f.txt": "file", "d/x": "x", "d/sub/y": "y", "tmp/f.txt": "file"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q %v, want %q", p, b, err, want)
		}
	}
	fi, _ := os.Stat(filepath.Join(root, "new/name"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("--chmod: %v", fi.Mode())
	}
	if st := fi.Sys().(interface{}); st == nil {
		t.Error("no stat")
	}
	if target, err := os.Readlink(filepath.Join(root, "l")); err != nil || target != "/etc/passwd" {
		t.Errorf("symlink copied as %q %v", target, err)
	}
	if _, err := os.Stat("/tmp/f.txt"); err == nil {
		b, _ := os.ReadFile("/tmp/f.txt")
		if string(b) == "file" {
			t.Error("copy escaped through a destination symlink")
		}
	}
	srcs, _ := resolveSources(ctx, []string{"f.txt", "dir"})
	if err := copyInto(context.Background(), root, srcs, "/nodir", copyOptions{}); err == nil {
		t.Error("several sources into a non-directory destination accepted")
	}
}

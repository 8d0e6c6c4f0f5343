package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// tarOf builds an archive from (name, body) pairs; a name ending in "/" is a directory, "->" a symlink.
func tarOf(t *testing.T, entries ...[2]string) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		name, body := e[0], e[1]
		hdr := &tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(body))}
		switch {
		case strings.HasSuffix(name, "/"):
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		case strings.Contains(name, "->"):
			n, target, _ := strings.Cut(name, "->")
			hdr.Name, hdr.Linkname, hdr.Typeflag, hdr.Size = n, target, tar.TypeSymlink, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			_, _ = tw.Write([]byte(body))
		}
	}
	_ = tw.Close()
	return &buf
}

func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if fi.IsDir() {
			rel += "/"
		} else if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			rel += "=" + string(b)
		}
		out = append(out, rel)
		return nil
	})
	sort.Strings(out)
	return out
}

func TestExtractRebase(t *testing.T) {
	tests := []struct {
		name    string
		entries [][2]string
		from    string
		to      string
		want    []string
	}{
		{name: "file renamed", entries: [][2]string{{"hostname", "box\n"}}, to: "copy", want: []string{"copy=box\n"}},
		{name: "dir renamed", entries: [][2]string{{"etc/", ""}, {"etc/a", "1"}, {"etc/sub/", ""}, {"etc/sub/b", "2"}}, to: "out",
			want: []string{"out/", "out/a=1", "out/sub/", "out/sub/b=2"}},
		{name: "contents only", entries: [][2]string{{"etc/", ""}, {"etc/a", "1"}}, to: "", want: []string{"a=1"}},
		{name: "dot archive contents", entries: [][2]string{{"./", ""}, {"./a", "1"}, {"./d/", ""}, {"./d/b", "2"}}, to: "",
			want: []string{"a=1", "d/", "d/b=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var entries [][2]string
			entries = append(entries, tt.entries...)
			if err := Extract(tarOf(t, entries...), dir, Rebase(tt.from, tt.to)); err != nil {
				t.Fatal(err)
			}
			if got := listTree(t, dir); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("tree = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExtractNeverEscapes(t *testing.T) {
	tests := []struct {
		name    string
		entries [][2]string
	}{
		{name: "dot-dot", entries: [][2]string{{"../evil", "x"}}},
		{name: "nested dot-dot", entries: [][2]string{{"a/../../evil", "x"}}},
		{name: "symlink then write through it", entries: [][2]string{{"link->" + "/tmp", ""}, {"link/evil", "x"}}},
		{name: "relative symlink out", entries: [][2]string{{"up->..", ""}, {"up/evil", "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "dest")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			err := Extract(tarOf(t, tt.entries...), dir, nil)
			if err == nil {
				t.Error("extraction that escapes the destination succeeded")
			}
			if _, statErr := os.Stat(filepath.Join(parent, "evil")); statErr == nil {
				t.Error("a file was written outside the destination")
			}
			if _, statErr := os.Stat("/tmp/evil"); statErr == nil && tt.name == "symlink then write through it" {
				t.Error("a file was written through a symlink")
			}
		})
	}
	// Absolute names are made relative, not honoured.
	dir := t.TempDir()
	if err := Extract(tarOf(t, [2]string{"/abs", "x"}), dir, nil); err != nil {
		t.Fatal(err)
	}
	if got := listTree(t, dir); len(got) != 1 || got[0] != "abs=x" {
		t.Errorf("tree = %v", got)
	}
}

func TestExtractRefusesDirFileSwap(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Extract(tarOf(t, [2]string{"d", "file"}), dir, nil); err == nil {
		t.Error("a directory was replaced by a file")
	}
	// An existing file is overwritten.
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Extract(tarOf(t, [2]string{"f", "new"}), dir, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "new" {
		t.Errorf("f = %q", b)
	}
}

func TestTarRoundTrip(t *testing.T) {
	src := t.TempDir()
	mustWrite := func(rel, body string) {
		p := filepath.Join(src, rel)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	mustWrite("a.txt", "alpha")
	mustWrite("sub/b.txt", "beta")
	if err := os.Symlink("a.txt", filepath.Join(src, "ln")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "a.txt"), filepath.Join(src, "hard")); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		top  string
		want []string
	}{
		{name: "named", top: "copy", want: []string{"copy/", "copy/a.txt=alpha", "copy/hard=alpha", "copy/ln", "copy/sub/", "copy/sub/b.txt=beta"}},
		{name: "contents", top: "", want: []string{"a.txt=alpha", "hard=alpha", "ln", "sub/", "sub/b.txt=beta"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := Tar(src, tc.top, false)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			dst := t.TempDir()
			if err := Extract(rc, dst, nil); err != nil {
				t.Fatal(err)
			}
			if got := listTree(t, dst); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("tree = %v, want %v", got, tc.want)
			}
			ln := filepath.Join(dst, tc.top, "ln")
			if target, err := os.Readlink(ln); err != nil || target != "a.txt" {
				t.Errorf("symlink = %q, %v", target, err)
			}
			fi, err := os.Stat(filepath.Join(dst, tc.top, "a.txt"))
			if err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("mode = %v, %v", fi.Mode(), err)
			}
		})
	}

	// A single file under a new name.
	rc, err := Tar(filepath.Join(src, "a.txt"), "renamed", false)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Extract(rc, dst, nil); err != nil {
		t.Fatal(err)
	}
	if got := listTree(t, dst); len(got) != 1 || got[0] != "renamed=alpha" {
		t.Errorf("tree = %v", got)
	}
}

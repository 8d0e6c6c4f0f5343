package buildcontext

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// entries reads a context tar into name -> content (links as "-> target", digests as "@digest").
func entries(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s owned by %d:%d", h.Name, h.Uid, h.Gid)
		}
		switch {
		case h.Typeflag == tar.TypeSymlink:
			out[h.Name] = "-> " + h.Linkname
		case h.PAXRecords[PAXDigest] != "":
			out[h.Name] = "@" + h.PAXRecords[PAXDigest]
		default:
			data, _ := io.ReadAll(tr)
			out[h.Name] = string(data)
		}
	}
}

func names(m map[string]string) string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}

func TestWriteDockerignore(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"Dockerfile":       "FROM scratch\n",
		".dockerignore":    "Dockerfile\nsecrets\n*.log\n!keep.log\nnode_modules/**\n",
		"app.go":           "package main\n",
		"keep.log":         "kept\n",
		"debug.log":        "dropped\n",
		"secrets/key":      "dropped\n",
		"node_modules/x/y": "dropped\n",
	})
	if err := os.Symlink("/etc/shadow", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	df, err := Locate(dir, "")
	if err != nil || df.InContext != "Dockerfile" || df.Outside {
		t.Fatalf("Locate = %+v, %v", df, err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, dir, df, nil); err != nil {
		t.Fatal(err)
	}
	got := entries(t, buf.Bytes())
	// The Dockerfile and .dockerignore always go, even when listed; node_modules/ itself stays (its content goes).
	if n := names(got); n != ".dockerignore Dockerfile app.go keep.log link node_modules/" {
		t.Fatalf("context = %s", n)
	}
	if got["link"] != "-> /etc/shadow" {
		t.Errorf("a symlink is sent as a symlink, got %q", got["link"])
	}
}

func TestWriteDockerfileOutside(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	write(t, dir, map[string]string{"a.txt": "a\n", ".dockerignore": "*.md\n"})
	write(t, other, map[string]string{"build.Dockerfile": "FROM scratch\nCOPY a.txt /\n"})
	df, err := Locate(dir, filepath.Join(other, "build.Dockerfile"))
	if err != nil || !df.Outside || !strings.HasPrefix(df.InContext, ".dockerfile.") {
		t.Fatalf("Locate = %+v, %v", df, err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, dir, df, nil); err != nil {
		t.Fatal(err)
	}
	got := entries(t, buf.Bytes())
	if got[df.InContext] != "FROM scratch\nCOPY a.txt /\n" {
		t.Errorf("the outside Dockerfile travels as %s: %q", df.InContext, got[df.InContext])
	}
	// .dockerignore gains its name, so the daemon keeps it out of COPY .
	if ig := got[".dockerignore"]; !strings.Contains(ig, "*.md") || !strings.Contains(ig, df.InContext) {
		t.Errorf(".dockerignore = %q", ig)
	}
	if _, err := Locate(dir, filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing Dockerfile is an error")
	}
	if _, err := Locate(filepath.Join(dir, "nope"), ""); err == nil || !strings.Contains(err.Error(), "unable to prepare context") {
		t.Errorf("a missing context: %v", err)
	}
}

type fixedSums map[string]string

func (f fixedSums) Sum(p string, _ fs.FileInfo) (string, error) { return f[filepath.Base(p)], nil }

func TestWriteSummer(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("x", int(MinStoredFile))
	write(t, dir, map[string]string{"Dockerfile": "FROM scratch\n", "big.bin": big, "small": "s\n"})
	df, _ := Locate(dir, "")
	var buf bytes.Buffer
	if err := Write(&buf, dir, df, fixedSums{"big.bin": "sha256:abc"}); err != nil {
		t.Fatal(err)
	}
	got := entries(t, buf.Bytes())
	if got["big.bin"] != "@sha256:abc" || got["small"] != "s\n" {
		t.Fatalf("big %q small %q", got["big.bin"][:min(len(got["big.bin"]), 20)], got["small"])
	}
}

package archive_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// entry describes one tar entry for mkTar.
type entry struct {
	name     string
	typ      byte // tar.TypeReg when zero
	body     string
	link     string
	mode     int64 // 0644 (0755 for directories) when zero
	uid, gid int   // the test's own ids when -1 is not asked for; see mkTar
	xattrs   map[string]string
	major    int64
	minor    int64
	mtime    time.Time
}

var testTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// mkTar builds a tar of entries. Ownership defaults to the running user so unprivileged tests can chown.
func mkTar(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:     e.name,
			Typeflag: e.typ,
			Linkname: e.link,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			Devmajor: e.major,
			Devminor: e.minor,
			ModTime:  e.mtime,
			Format:   tar.FormatPAX,
		}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
			if hdr.Typeflag == tar.TypeDir {
				hdr.Mode = 0o755
			}
		}
		if hdr.Uid == 0 && hdr.Gid == 0 {
			hdr.Uid, hdr.Gid = os.Getuid(), os.Getgid()
		}
		if hdr.ModTime.IsZero() {
			hdr.ModTime = testTime
		}
		for k, v := range e.xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readTar returns the headers of a tar, with file bodies in PAXRecords["body"] for easy comparison.
func readTar(t testing.TB, b []byte) []*tar.Header {
	t.Helper()
	var out []*tar.Header
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["body"] = string(body)
		out = append(out, hdr)
	}
}

func names(hdrs []*tar.Header) []string {
	var out []string
	for _, h := range hdrs {
		out = append(out, h.Name)
	}
	return out
}

// treeState records everything observable about a tree, to prove that an operation left it alone.
func treeState(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s mode=%o owner=%d:%d nlink=%d size=%d mtime=%d rdev=%d",
			strings.TrimPrefix(p, dir), st.Mode, st.Uid, st.Gid, st.Nlink, st.Size, st.Mtim.Nano(), st.Rdev)
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += " " + string(b)
		}
		if sz, _ := unix.Llistxattr(p, nil); sz > 0 {
			buf := make([]byte, sz)
			sz, _ = unix.Llistxattr(p, buf)
			line += " x[" + string(buf[:sz]) + "]"
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// sandbox is a temp dir holding the extraction root and, next to it, an "outside" dir that must never change.
type sandbox struct {
	base, root, outside string
	before              string
}

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	base := t.TempDir()
	s := &sandbox{base: base, root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{s.root, s.outside, filepath.Join(s.outside, "dir")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.before = treeState(t, s.outside)
	return s
}

// check fails t if anything outside the root changed.
func (s *sandbox) check(t testing.TB) {
	t.Helper()
	if after := treeState(t, s.outside); after != s.before {
		t.Fatalf("outside of the root changed:\nbefore:\n%s\nafter:\n%s", s.before, after)
	}
	ents, err := os.ReadDir(s.base)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 || ents[0].Name() != "outside" || ents[1].Name() != "root" {
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		t.Fatalf("entries created next to the root: %v", got)
	}
}

// compressedWith runs b through a compressor binary (gzip, bzip2, xz, zstd): streams made by the tools users
// have, not by the decoders' own encoders.
func compressedWith(t testing.TB, tool string, b []byte) []byte {
	t.Helper()
	cmd := exec.Command(tool, "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s (the test needs it installed): %v", tool, err)
	}
	return out
}

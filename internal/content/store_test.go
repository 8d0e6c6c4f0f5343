package content

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dirEntries lists what is left in dir, so a test can assert a refused write leaves nothing.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteBlob(t *testing.T) {
	ctx := context.Background()
	data := []byte("hello, blob")
	good := digest.FromBytes(data)
	sum := sha512.Sum512(data)
	good512 := digest.NewDigestFromEncoded(digest.SHA512, hex.EncodeToString(sum[:]))

	tests := []struct {
		name     string
		expected digest.Digest
		wantErr  error
		want     digest.Digest
	}{
		{name: "computed", expected: "", want: good},
		{name: "verified", expected: good, want: good},
		{name: "sha512", expected: good512, want: good512},
		{name: "corrupted", expected: digest.FromString("something else"), wantErr: errdefs.ErrFailedPrecondition},
		{name: "unsupported algorithm", expected: "md5:0123456789abcdef0123456789abcdef", wantErr: errdefs.ErrInvalidArgument},
		{name: "malformed hex", expected: "sha256:xyz", wantErr: errdefs.ErrInvalidArgument},
		{name: "short hex", expected: "sha256:abcd", wantErr: errdefs.ErrInvalidArgument},
		{name: "path traversal", expected: "sha256:../../../../etc/passwd", wantErr: errdefs.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			dgst, size, err := WriteBlob(ctx, s, bytes.NewReader(data), tc.expected)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if left := dirEntries(t, filepath.Join(s.Root(), "blobs", "sha256")); len(left) != 0 {
					t.Errorf("refused write left blobs %v", left)
				}
				if left := dirEntries(t, filepath.Join(s.Root(), "ingest")); len(left) != 0 {
					t.Errorf("refused write left ingest files %v", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if dgst != tc.want || size != int64(len(data)) {
				t.Fatalf("got %s/%d, want %s/%d", dgst, size, tc.want, len(data))
			}
			rc, err := s.Open(ctx, dgst)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, _ := io.ReadAll(rc)
			if !bytes.Equal(got, data) {
				t.Fatalf("read back %q", got)
			}
			info, err := s.Info(ctx, dgst)
			if err != nil || info.Size != int64(len(data)) || info.Digest != dgst {
				t.Fatalf("info = %+v, %v", info, err)
			}
			// Writing it again is fine.
			if _, _, err := WriteBlob(ctx, s, bytes.NewReader(data), tc.expected); err != nil {
				t.Fatalf("second write: %v", err)
			}
		})
	}
}

// The conformance suite (conformance_test.go) checks the Backend contract; these check what only the local store
// promises: its files.

func TestRefusedWritesLeaveNoFiles(t *testing.T) {
	ctx := context.Background()
	data := []byte("0123456789")
	tests := []struct {
		name string
		ref  string
		end  func(w Writer) error
	}{
		{name: "close", end: func(w Writer) error { return w.Close() }},
		{name: "wrong digest", end: func(w Writer) error { return w.Commit(ctx, -1, digest.FromString("other")) }},
		{name: "wrong size", end: func(w Writer) error { return w.Commit(ctx, 9, "") }},
		{name: "named, wrong digest", ref: "r", end: func(w Writer) error { return w.Commit(ctx, -1, digest.FromString("other")) }},
		{name: "committed", end: func(w Writer) error { return w.Commit(ctx, -1, "") }},
		{name: "named, committed", ref: "r", end: func(w Writer) error { return w.Commit(ctx, -1, "") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			w, err := s.Writer(ctx, WithRef(tc.ref))
			if err != nil {
				t.Fatal(err)
			}
			w.Write(data)
			tc.end(w)
			if left := dirEntries(t, filepath.Join(s.Root(), "ingest")); len(left) != 0 {
				t.Errorf("ingest not cleaned: %v", left)
			}
		})
	}
}

func TestBlobFiles(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	dgst, _, err := WriteBlob(ctx, s, bytes.NewReader([]byte("a blob")), "")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(s.Root(), "blobs", "sha256", dgst.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o444 {
		t.Errorf("blob mode %v, want read-only", fi.Mode().Perm())
	}
	// Junk in the blob directory is not a blob.
	os.WriteFile(filepath.Join(s.Root(), "blobs", "sha256", "not-a-digest"), []byte("x"), 0o600)
	var got []string
	if err := s.Walk(ctx, func(i Info) error { got = append(got, i.Digest.String()); return nil }); err != nil {
		t.Fatal(err)
	}
	if !equal(got, []string{dgst.String()}) {
		t.Errorf("walk = %v, want only %s", got, dgst)
	}
}

func TestOpenCleansIngest(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Writer(ctx, WithRef("kept"))
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("resumable"))
	w.Close()
	os.WriteFile(filepath.Join(root, "ingest", "ingest-stale"), []byte("x"), 0o600)
	os.Mkdir(filepath.Join(root, "ingest", ".new-stale"), 0o700)
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	left := dirEntries(t, filepath.Join(root, "ingest"))
	if len(left) != 1 || len(left[0]) != 64 {
		t.Errorf("after open the ingest dir holds %v, want only the named ingest", left)
	}
	if st, err := s.Status(ctx, "kept"); err != nil || st.Offset != 9 {
		t.Errorf("named ingest after open: %+v, %v", st, err)
	}
}

// TestResumeKeepsRunningHash: a writer resumed in the same process continues the saved hash instead of reading
// the ingest again (a registry upload's chunks each reopen it). Changing the bytes behind the store's back shows
// which one happened.
func TestResumeKeepsRunningHash(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	w, err := s.Writer(ctx, WithRef("chunks"))
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("first chunk"))
	w.Close()
	data := filepath.Join(s.ingestPath("chunks"), "data")
	if err := os.WriteFile(data, []byte("FIRST CHUNK"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err = s.Writer(ctx, WithRef("chunks"))
	if err != nil {
		t.Fatal(err)
	}
	if w.Digest() != digest.FromString("first chunk") {
		t.Errorf("resumed digest %s: the ingest was read again", w.Digest())
	}
	w.Close()
	// Another store instance (a restart) has no saved hash and reads the bytes.
	s2, err := Open(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	w, err = s2.Writer(ctx, WithRef("chunks"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.Digest() != digest.FromString("FIRST CHUNK") {
		t.Errorf("digest after restart %s, want the bytes on disk hashed", w.Digest())
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestWriteBehind: a writer that hands its data to the disk as it goes commits the same blob.
func TestWriteBehind(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := bytes.Repeat([]byte("write-behind "), 100000)
	w, err := s.Writer(ctx, WithWriteBehind(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for off := 0; off < len(data); off += 10000 {
		if _, err := w.Write(data[off:min(off+10000, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	want := digest.FromBytes(data)
	if err := w.Commit(ctx, int64(len(data)), want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBlob(ctx, s, want, int64(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
}

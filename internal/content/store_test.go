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
	"sort"
	"sync"
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

func TestWriterCommit(t *testing.T) {
	ctx := context.Background()
	data := []byte("0123456789")
	tests := []struct {
		name    string
		size    int64
		dgst    digest.Digest
		wantErr error
	}{
		{name: "size and digest", size: 10, dgst: digest.FromBytes(data)},
		{name: "unchecked size", size: -1, dgst: digest.FromBytes(data)},
		{name: "wrong size", size: 9, dgst: digest.FromBytes(data), wantErr: errdefs.ErrFailedPrecondition},
		{name: "truncated content", size: -1, dgst: digest.FromBytes(data[:9]), wantErr: errdefs.ErrFailedPrecondition},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			w, err := s.Writer(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			if w.Digest() != digest.FromBytes(data) || w.Size() != 10 {
				t.Fatalf("writer digest %s size %d", w.Digest(), w.Size())
			}
			err = w.Commit(ctx, tc.size, tc.dgst)
			if !errors.Is(err, tc.wantErr) && !(tc.wantErr == nil && err == nil) {
				t.Fatalf("commit err = %v, want %v", err, tc.wantErr)
			}
			_, infoErr := s.Info(ctx, digest.FromBytes(data))
			if tc.wantErr != nil && !errdefs.IsNotFound(infoErr) {
				t.Fatalf("refused blob is visible: %v", infoErr)
			}
			if tc.wantErr == nil && infoErr != nil {
				t.Fatal(infoErr)
			}
			if left := dirEntries(t, filepath.Join(s.Root(), "ingest")); len(left) != 0 {
				t.Errorf("ingest not cleaned: %v", left)
			}
		})
	}
}

func TestWriterCloseDiscards(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	w, err := s.Writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("abandoned"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if left := dirEntries(t, filepath.Join(s.Root(), "ingest")); len(left) != 0 {
		t.Errorf("ingest not cleaned: %v", left)
	}
	if err := w.Commit(ctx, -1, ""); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("commit after close = %v", err)
	}
}

func TestCommitExisting(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := []byte("twice")
	if _, _, err := WriteBlob(ctx, s, bytes.NewReader(data), ""); err != nil {
		t.Fatal(err)
	}
	w, _ := s.Writer(ctx)
	defer w.Close()
	w.Write(data)
	if err := w.Commit(ctx, -1, digest.FromBytes(data)); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("commit of existing blob = %v, want ErrAlreadyExists", err)
	}
}

func TestConcurrentWritersSameBlob(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	data := bytes.Repeat([]byte("layer data "), 100000)
	want := digest.FromBytes(data)

	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dgst, _, err := WriteBlob(ctx, s, bytes.NewReader(data), want)
			if err == nil && dgst != want {
				err = errors.New("wrong digest " + dgst.String())
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	info, err := s.Info(ctx, want)
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("info = %+v, %v", info, err)
	}
	if left := dirEntries(t, filepath.Join(s.Root(), "ingest")); len(left) != 0 {
		t.Errorf("ingest not cleaned: %v", left)
	}
}

func TestWalkAndDelete(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var want []string
	for _, b := range []string{"a", "b", "c"} {
		dgst, _, err := WriteBlob(ctx, s, bytes.NewReader([]byte(b)), "")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, dgst.String())
	}
	// Junk in the blob directory is not a blob.
	os.WriteFile(filepath.Join(s.Root(), "blobs", "sha256", "not-a-digest"), []byte("x"), 0o600)

	walk := func() []string {
		var got []string
		if err := s.Walk(ctx, func(i Info) error {
			got = append(got, i.Digest.String())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		sort.Strings(got)
		return got
	}
	sort.Strings(want)
	if got := walk(); !equal(got, want) {
		t.Fatalf("walk = %v, want %v", got, want)
	}

	stop := errors.New("stop")
	calls := 0
	if err := s.Walk(ctx, func(Info) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("walk stop: err %v calls %d", err, calls)
	}

	if err := s.Delete(ctx, digest.Digest(want[0])); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, digest.Digest(want[0])); !errdefs.IsNotFound(err) {
		t.Fatalf("second delete = %v, want not found", err)
	}
	if _, err := s.Open(ctx, digest.Digest(want[0])); !errdefs.IsNotFound(err) {
		t.Fatalf("open deleted = %v", err)
	}
	if got := walk(); !equal(got, want[1:]) {
		t.Fatalf("walk after delete = %v, want %v", got, want[1:])
	}
}

func TestReaderAt(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	dgst, _, err := WriteBlob(ctx, s, bytes.NewReader([]byte("0123456789")), "")
	if err != nil {
		t.Fatal(err)
	}
	ra, err := s.ReaderAt(ctx, dgst)
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	buf := make([]byte, 3)
	if _, err := ra.ReadAt(buf, 4); err != nil || string(buf) != "456" || ra.Size() != 10 {
		t.Fatalf("ReadAt = %q, %v, size %d", buf, err, ra.Size())
	}
}

func TestOpenCleansIngest(t *testing.T) {
	root := t.TempDir()
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "ingest", "ingest-stale"), []byte("x"), 0o600)
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if left := dirEntries(t, filepath.Join(root, "ingest")); len(left) != 0 {
		t.Errorf("stale ingest kept: %v", left)
	}
}

func TestWriteBlobCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := newStore(t)
	if _, _, err := WriteBlob(ctx, s, bytes.NewReader([]byte("x")), ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
	if left := dirEntries(t, filepath.Join(s.Root(), "blobs", "sha256")); len(left) != 0 {
		t.Errorf("canceled write left %v", left)
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

// Package testsuite is the conformance suite of content.Backend: what every blob backend (the local content
// store, the registry's blob storage, the object store's) must do, checked through the interface alone. A backend
// runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		testsuite.Run(t, func(t *testing.T, root string) content.Backend { return open(root) })
//	}
//
// Each test gets a fresh root (t.TempDir()); opening the same root again must see what was left there, as a
// daemon restart does. Modelled on containerd's core/content/testsuite.
package testsuite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/content"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// Opener opens the backend kept under root; calling it again with the same root reopens it.
type Opener func(t *testing.T, root string) content.Backend

// Run runs every conformance test against backends made by open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"WriteCommitRead", testWriteCommitRead},
		{"ReaderAt", testReaderAt},
		{"Verification", testVerification},
		{"InvalidDigests", testInvalidDigests},
		{"NotFound", testNotFound},
		{"CommitExisting", testCommitExisting},
		{"ConcurrentWriters", testConcurrentWriters},
		{"WalkAndDelete", testWalkAndDelete},
		{"SHA512", testSHA512},
		{"Resume", testResume},
		{"ResumeAfterReopen", testResumeAfterReopen},
		{"ResumeWithOtherAlgorithm", testResumeOtherAlgorithm},
		{"Truncate", testTruncate},
		{"RefExclusive", testRefExclusive},
		{"Abort", testAbort},
		{"ListStatuses", testListStatuses},
		{"NeverPartial", testNeverPartial},
		{"ContextCanceled", testContextCanceled},
		{"WriterAfterEnd", testWriterAfterEnd},
		{"IngestReader", testIngestReader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// fresh opens a backend on a new root.
func fresh(t *testing.T, open Opener) content.Backend {
	t.Helper()
	return open(t, t.TempDir())
}

// blob returns size deterministic pseudo-random bytes, different for each seed, and their sha256 digest.
func blob(seed uint64, size int) ([]byte, digest.Digest) {
	r := rand.New(rand.NewPCG(seed, uint64(size)))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b, digest.FromBytes(b)
}

func sha512Of(b []byte) digest.Digest { return digest.SHA512.FromBytes(b) }

func mustWriter(t *testing.T, b content.Backend, opts ...content.WriterOpt) content.Writer {
	t.Helper()
	w, err := b.Writer(context.Background(), opts...)
	if err != nil {
		t.Fatalf("Writer: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// write writes p in pieces of at most 4 KiB, as a network copy would.
func write(t *testing.T, w content.Writer, p []byte) {
	t.Helper()
	for len(p) > 0 {
		n := min(len(p), 4096)
		m, err := w.Write(p[:n])
		if err != nil || m != n {
			t.Fatalf("Write: %d, %v", m, err)
		}
		p = p[n:]
	}
}

func readBlob(t *testing.T, b content.Backend, d digest.Digest) []byte {
	t.Helper()
	rc, err := b.Open(context.Background(), d)
	if err != nil {
		t.Fatalf("Open %s: %v", d, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", d, err)
	}
	return got
}

// walked returns every committed blob's size by digest.
func walked(t *testing.T, b content.Backend) map[digest.Digest]int64 {
	t.Helper()
	out := map[digest.Digest]int64{}
	if err := b.Walk(context.Background(), func(i content.Info) error {
		out[i.Digest] = i.Size
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return out
}

// added returns the blobs in now that were not in before.
func added(before, now map[digest.Digest]int64) map[digest.Digest]int64 {
	out := map[digest.Digest]int64{}
	for d, n := range now {
		if _, ok := before[d]; !ok {
			out[d] = n
		}
	}
	return out
}

// assertAbsent checks that no trace of d is visible: Info and Open say not found.
func assertAbsent(t *testing.T, b content.Backend, d digest.Digest) {
	t.Helper()
	ctx := context.Background()
	if _, err := b.Info(ctx, d); !errdefs.IsNotFound(err) {
		t.Errorf("Info %s = %v, want not found", d, err)
	}
	if rc, err := b.Open(ctx, d); !errdefs.IsNotFound(err) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Open %s = %v, want not found", d, err)
	}
}

func assertNoIngest(t *testing.T, b content.Backend, ref string) {
	t.Helper()
	if st, err := b.Status(context.Background(), ref); !errdefs.IsNotFound(err) {
		t.Errorf("Status %q = %+v, %v; want not found", ref, st, err)
	}
}

// checkTime allows for file systems whose clocks are coarser than time.Now's.
func checkTime(t *testing.T, what string, got, from, to time.Time) {
	t.Helper()
	const slack = 2 * time.Second
	if got.Before(from.Add(-slack)) || got.After(to.Add(slack)) {
		t.Errorf("%s = %s, want between %s and %s", what, got, from, to)
	}
}

func testWriteCommitRead(t *testing.T, open Opener) {
	tests := []struct {
		name string
		size int
		// commitSize and computed: whether Commit is told the size, and whether it is told the digest.
		commitSize, computed bool
	}{
		{name: "empty", size: 0, commitSize: true},
		{name: "one byte", size: 1, commitSize: true},
		{name: "size unchecked", size: 1000, commitSize: false},
		{name: "digest computed", size: 1000, commitSize: true, computed: true},
		{name: "past a write buffer", size: 32<<10 + 1, commitSize: true},
		{name: "past the writeback chunk", size: 9 << 20, commitSize: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := fresh(t, open)
			before := walked(t, b)
			data, d := blob(uint64(i), tc.size)
			start := time.Now()
			w := mustWriter(t, b)
			write(t, w, data)
			if w.Size() != int64(tc.size) || w.Digest() != d {
				t.Fatalf("writer says %s/%d, want %s/%d", w.Digest(), w.Size(), d, tc.size)
			}
			size, expected := int64(-1), d
			if tc.commitSize {
				size = int64(tc.size)
			}
			if tc.computed {
				expected = ""
			}
			if err := w.Commit(ctx, size, expected); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			end := time.Now()
			info, err := b.Info(ctx, d)
			if err != nil {
				t.Fatalf("Info: %v", err)
			}
			if info.Digest != d || info.Size != int64(tc.size) {
				t.Errorf("Info = %+v, want %s/%d", info, d, tc.size)
			}
			checkTime(t, "CreatedAt", info.CreatedAt, start, end)
			if got := readBlob(t, b, d); !bytes.Equal(got, data) {
				t.Errorf("read back %d bytes, digest %s", len(got), digest.FromBytes(got))
			}
			if got := added(before, walked(t, b)); len(got) != 1 || got[d] != int64(tc.size) {
				t.Errorf("Walk added %v, want only %s", got, d)
			}
			// WriteBlob, the helper over the same interface, finds it there.
			if gd, gn, err := content.WriteBlob(ctx, b, bytes.NewReader(data), d); err != nil || gd != d || gn != int64(tc.size) {
				t.Errorf("WriteBlob again = %s, %d, %v", gd, gn, err)
			}
		})
	}
}

func testReaderAt(t *testing.T, open Opener) {
	ctx := context.Background()
	b := fresh(t, open)
	data, d := blob(1, 100_000)
	if _, _, err := content.WriteBlob(ctx, b, bytes.NewReader(data), d); err != nil {
		t.Fatal(err)
	}
	ra, err := b.ReaderAt(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	if ra.Size() != int64(len(data)) {
		t.Fatalf("Size = %d, want %d", ra.Size(), len(data))
	}
	tests := []struct {
		name    string
		off     int64
		n       int
		want    int
		wantEOF bool
	}{
		{name: "head", off: 0, n: 10, want: 10},
		{name: "middle", off: 50_000, n: 4096, want: 4096},
		{name: "last byte", off: 99_999, n: 1, want: 1},
		{name: "across the end", off: 99_990, n: 20, want: 10, wantEOF: true},
		{name: "at the end", off: 100_000, n: 1, want: 0, wantEOF: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, tc.n)
			n, err := ra.ReadAt(buf, tc.off)
			if n != tc.want || (tc.wantEOF && err != io.EOF) || (!tc.wantEOF && err != nil) {
				t.Fatalf("ReadAt(%d, %d) = %d, %v; want %d (EOF %v)", tc.n, tc.off, n, err, tc.want, tc.wantEOF)
			}
			if !bytes.Equal(buf[:n], data[tc.off:tc.off+int64(n)]) {
				t.Fatalf("ReadAt(%d, %d) read other bytes", tc.n, tc.off)
			}
		})
	}
	// Ranges through a section reader, as an HTTP range request reads them.
	got, err := io.ReadAll(io.NewSectionReader(ra, 1000, 2000))
	if err != nil || !bytes.Equal(got, data[1000:3000]) {
		t.Fatalf("section 1000+2000: %d bytes, %v", len(got), err)
	}
}

func testVerification(t *testing.T, open Opener) {
	data, d := blob(2, 10_000)
	other, _ := blob(3, 10_000)
	tests := []struct {
		name     string
		size     int64
		expected digest.Digest
		wantErr  error
		// kept: a named ingest survives (the commit was refused for a bad argument, not a mismatch).
		kept bool
	}{
		{name: "wrong digest", size: -1, expected: digest.FromBytes(other), wantErr: errdefs.ErrFailedPrecondition},
		{name: "wrong size", size: 9_999, expected: d, wantErr: errdefs.ErrFailedPrecondition},
		{name: "wrong size, digest computed", size: 10_001, wantErr: errdefs.ErrFailedPrecondition},
		{name: "digest of a prefix", size: -1, expected: digest.FromBytes(data[:9_999]), wantErr: errdefs.ErrFailedPrecondition},
		{name: "digest in another algorithm", size: -1, expected: sha512Of(data), wantErr: errdefs.ErrInvalidArgument, kept: true},
		{name: "malformed digest", size: -1, expected: "sha256:zz", wantErr: errdefs.ErrInvalidArgument, kept: true},
	}
	for _, tc := range tests {
		for _, named := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/named=%v", tc.name, named), func(t *testing.T) {
				ctx := context.Background()
				b := fresh(t, open)
				before := walked(t, b)
				var opts []content.WriterOpt
				if named {
					opts = append(opts, content.WithRef("verify"))
				}
				w := mustWriter(t, b, opts...)
				write(t, w, data)
				err := w.Commit(ctx, tc.size, tc.expected)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Commit = %v, want %v", err, tc.wantErr)
				}
				assertAbsent(t, b, d)
				if tc.expected.Validate() == nil {
					assertAbsent(t, b, tc.expected)
				}
				if got := added(before, walked(t, b)); len(got) != 0 {
					t.Errorf("refused commit left blobs %v", got)
				}
				if !named {
					return
				}
				if !tc.kept {
					assertNoIngest(t, b, "verify")
					return
				}
				if st, err := b.Status(ctx, "verify"); err != nil || st.Offset != int64(len(data)) {
					t.Errorf("Status after a refused argument = %+v, %v; want the ingest kept", st, err)
				}
			})
		}
	}
}

func testInvalidDigests(t *testing.T, open Opener) {
	ctx := context.Background()
	b := fresh(t, open)
	tests := []struct {
		name string
		d    digest.Digest
	}{
		{name: "unsupported algorithm", d: "md5:0123456789abcdef0123456789abcdef"},
		{name: "malformed hex", d: "sha256:xyz"},
		{name: "short hex", d: "sha256:abcd"},
		{name: "upper-case hex", d: digest.Digest("sha256:" + "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789")},
		{name: "path traversal", d: "sha256:../../../../etc/passwd"},
		{name: "empty", d: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b.Info(ctx, tc.d); !errdefs.IsInvalidArgument(err) {
				t.Errorf("Info = %v", err)
			}
			if rc, err := b.Open(ctx, tc.d); !errdefs.IsInvalidArgument(err) {
				if err == nil {
					rc.Close()
				}
				t.Errorf("Open = %v", err)
			}
			if ra, err := b.ReaderAt(ctx, tc.d); !errdefs.IsInvalidArgument(err) {
				if err == nil {
					ra.Close()
				}
				t.Errorf("ReaderAt = %v", err)
			}
			if err := b.Delete(ctx, tc.d); !errdefs.IsInvalidArgument(err) {
				t.Errorf("Delete = %v", err)
			}
		})
	}
	t.Run("writer of an unsupported algorithm", func(t *testing.T) {
		w, err := b.Writer(ctx, content.WithExpectedDigest("md5:0123456789abcdef0123456789abcdef"))
		if err == nil {
			w.Close()
		}
		if !errdefs.IsInvalidArgument(err) {
			t.Fatalf("Writer = %v, want invalid argument", err)
		}
	})
}

func testNotFound(t *testing.T, open Opener) {
	ctx := context.Background()
	b := fresh(t, open)
	_, d := blob(4, 10)
	assertAbsent(t, b, d)
	if ra, err := b.ReaderAt(ctx, d); !errdefs.IsNotFound(err) {
		if err == nil {
			ra.Close()
		}
		t.Errorf("ReaderAt = %v", err)
	}
	if err := b.Delete(ctx, d); !errdefs.IsNotFound(err) {
		t.Errorf("Delete = %v", err)
	}
	assertNoIngest(t, b, "never started")
	if err := b.Abort(ctx, "never started"); !errdefs.IsNotFound(err) {
		t.Errorf("Abort = %v", err)
	}
}

func testCommitExisting(t *testing.T, open Opener) {
	data, d := blob(5, 5000)
	tests := []struct {
		name     string
		ref      string
		expected digest.Digest
	}{
		{name: "verified", expected: d},
		{name: "computed"},
		{name: "named, verified", ref: "again", expected: d},
		{name: "named, computed", ref: "again"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := fresh(t, open)
			if _, _, err := content.WriteBlob(ctx, b, bytes.NewReader(data), d); err != nil {
				t.Fatal(err)
			}
			var opts []content.WriterOpt
			if tc.ref != "" {
				opts = append(opts, content.WithRef(tc.ref))
			}
			w := mustWriter(t, b, opts...)
			write(t, w, data)
			if err := w.Commit(ctx, int64(len(data)), tc.expected); !errdefs.IsAlreadyExists(err) {
				t.Fatalf("Commit = %v, want already exists", err)
			}
			if got := readBlob(t, b, d); !bytes.Equal(got, data) {
				t.Fatal("the existing blob changed")
			}
			if tc.ref != "" {
				assertNoIngest(t, b, tc.ref)
			}
		})
	}
}

func testConcurrentWriters(t *testing.T, open Opener) {
	ctx := context.Background()
	b := fresh(t, open)
	before := walked(t, b)
	data, d := blob(6, 1<<20)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			got, _, err := content.WriteBlob(ctx, b, bytes.NewReader(data), d)
			if err == nil && got != d {
				err = fmt.Errorf("digest %s", got)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if got := added(before, walked(t, b)); len(got) != 1 || got[d] != int64(len(data)) {
		t.Fatalf("Walk added %v, want only %s", got, d)
	}
	if got := readBlob(t, b, d); !bytes.Equal(got, data) {
		t.Fatal("concurrent writers corrupted the blob")
	}
}

func testWalkAndDelete(t *testing.T, open Opener) {
	ctx := context.Background()
	b := fresh(t, open)
	before := walked(t, b)
	want := map[digest.Digest]int64{}
	for i := range 3 {
		data, d := blob(uint64(10+i), 100*(i+1))
		if _, _, err := content.WriteBlob(ctx, b, bytes.NewReader(data), d); err != nil {
			t.Fatal(err)
		}
		want[d] = int64(len(data))
	}
	data512, _ := blob(13, 64)
	d512 := sha512Of(data512)
	if _, _, err := content.WriteBlob(ctx, b, bytes.NewReader(data512), d512); err != nil {
		t.Fatal(err)
	}
	want[d512] = 64
	// Writes in progress, named or not, are not blobs.
	open1 := mustWriter(t, b)
	write(t, open1, []byte("in progress"))
	named := mustWriter(t, b, content.WithRef("walk"))
	write(t, named, []byte("in progress too"))

	if got := added(before, walked(t, b)); !equalSizes(got, want) {
		t.Fatalf("Walk = %v, want %v", got, want)
	}
	stop := errors.New("stop")
	calls := 0
	if err := b.Walk(ctx, func(content.Info) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Walk stopped with %v after %d calls, want the callback's error after 1", err, calls)
	}
	for d := range want {
		if err := b.Delete(ctx, d); err != nil {
			t.Fatalf("Delete %s: %v", d, err)
		}
		assertAbsent(t, b, d)
		if err := b.Delete(ctx, d); !errdefs.IsNotFound(err) {
			t.Fatalf("second Delete %s = %v, want not found", d, err)
		}
	}
	if got := added(before, walked(t, b)); len(got) != 0 {
		t.Fatalf("Walk after deletes = %v", got)
	}
}

func equalSizes(a, b map[digest.Digest]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for d, n := range a {
		if m, ok := b[d]; !ok || m != n {
			return false
		}
	}
	return true
}

func testSHA512(t *testing.T, open Opener) {
	ctx := context.Background()
	b := fresh(t, open)
	data, d256 := blob(20, 3000)
	d512 := sha512Of(data)
	w := mustWriter(t, b, content.WithExpectedDigest(d512))
	write(t, w, data)
	if w.Digest() != d512 {
		t.Fatalf("writer digest %s, want %s", w.Digest(), d512)
	}
	if err := w.Commit(ctx, int64(len(data)), d512); err != nil {
		t.Fatal(err)
	}
	info, err := b.Info(ctx, d512)
	if err != nil || info.Digest != d512 || info.Size != int64(len(data)) {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	if got := readBlob(t, b, d512); !bytes.Equal(got, data) {
		t.Fatal("sha512 blob read back wrong")
	}
	// The same bytes under sha256 are another blob.
	assertAbsent(t, b, d256)
	if _, _, err := content.WriteBlob(ctx, b, bytes.NewReader(data), d256); err != nil {
		t.Fatal(err)
	}
	if got := walked(t, b); got[d256] != 3000 || got[d512] != 3000 {
		t.Fatalf("Walk = %v, want both digests", got)
	}
}

func testResume(t *testing.T, open Opener) {
	const size = 50_000
	tests := []struct {
		name    string
		written int
		sha512  bool
	}{
		{name: "nothing written", written: 0},
		{name: "one byte", written: 1},
		{name: "half", written: size / 2},
		{name: "all", written: size},
		{name: "half, sha512", written: size / 2, sha512: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b := fresh(t, open)
			data, d := blob(uint64(30+i), size)
			prefix := digest.FromBytes(data[:tc.written])
			if tc.sha512 {
				d, prefix = sha512Of(data), sha512Of(data[:tc.written])
			}
			ref := "resume-" + tc.name
			start := time.Now()
			w := mustWriter(t, b, content.WithRef(ref), content.WithExpectedDigest(d))
			write(t, w, data[:tc.written])
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			st, err := b.Status(ctx, ref)
			if err != nil || st.Ref != ref || st.Offset != int64(tc.written) {
				t.Fatalf("Status = %+v, %v; want offset %d", st, err, tc.written)
			}
			checkTime(t, "StartedAt", st.StartedAt, start, time.Now())
			if st.UpdatedAt.Before(st.StartedAt) {
				t.Errorf("UpdatedAt %s is before StartedAt %s", st.UpdatedAt, st.StartedAt)
			}
			assertAbsent(t, b, d)

			w = mustWriter(t, b, content.WithRef(ref), content.WithExpectedDigest(d))
			if w.Size() != int64(tc.written) || w.Digest() != prefix {
				t.Fatalf("resumed writer at %d with %s, want %d with %s", w.Size(), w.Digest(), tc.written, prefix)
			}
			write(t, w, data[tc.written:])
			if err := w.Commit(ctx, size, d); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if got := readBlob(t, b, d); !bytes.Equal(got, data) {
				t.Fatal("resumed blob read back wrong")
			}
			assertNoIngest(t, b, ref)
		})
	}
}

func testResumeAfterReopen(t *testing.T, open Opener) {
	ctx := context.Background()
	root := t.TempDir()
	b := open(t, root)
	data, d := blob(40, 100_000)
	w := mustWriter(t, b, content.WithRef("restart"))
	write(t, w, data[:60_000])
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	unnamed := mustWriter(t, b)
	write(t, unnamed, []byte("lost on restart"))

	b = open(t, root) // the daemon restarted
	st, err := b.Status(ctx, "restart")
	if err != nil || st.Offset != 60_000 {
		t.Fatalf("Status after reopen = %+v, %v", st, err)
	}
	w = mustWriter(t, b, content.WithRef("restart"))
	if w.Size() != 60_000 || w.Digest() != digest.FromBytes(data[:60_000]) {
		t.Fatalf("resumed at %d with %s", w.Size(), w.Digest())
	}
	write(t, w, data[60_000:])
	if err := w.Commit(ctx, int64(len(data)), d); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, b, d); !bytes.Equal(got, data) {
		t.Fatal("blob resumed after reopen read back wrong")
	}
}

func testResumeOtherAlgorithm(t *testing.T, open Opener) {
	// A registry upload is hashed with sha256 while its chunks arrive; the digest that ends it may be sha512.
	ctx := context.Background()
	b := fresh(t, open)
	data, _ := blob(41, 20_000)
	d := sha512Of(data)
	w := mustWriter(t, b, content.WithRef("other"))
	write(t, w, data[:15_000])
	w.Close()
	w = mustWriter(t, b, content.WithRef("other"), content.WithExpectedDigest(d))
	if w.Digest() != sha512Of(data[:15_000]) {
		t.Fatalf("resumed with sha512: digest %s", w.Digest())
	}
	write(t, w, data[15_000:])
	if err := w.Commit(ctx, -1, d); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, b, d); !bytes.Equal(got, data) {
		t.Fatal("read back wrong")
	}
}

func testTruncate(t *testing.T, open Opener) {
	ctx := context.Background()
	data, d := blob(50, 1000)
	for _, named := range []bool{false, true} {
		t.Run(fmt.Sprintf("named=%v", named), func(t *testing.T) {
			b := fresh(t, open)
			var opts []content.WriterOpt
			if named {
				opts = append(opts, content.WithRef("truncate"))
			}
			w := mustWriter(t, b, opts...)
			write(t, w, data[:600])
			write(t, w, []byte("a chunk that turned out bad"))
			for _, bad := range []int64{-1, w.Size() + 1} {
				if err := w.Truncate(bad); !errdefs.IsInvalidArgument(err) {
					t.Errorf("Truncate(%d) = %v, want invalid argument", bad, err)
				}
			}
			if err := w.Truncate(600); err != nil {
				t.Fatal(err)
			}
			if w.Size() != 600 || w.Digest() != digest.FromBytes(data[:600]) {
				t.Fatalf("after Truncate(600): %d, %s", w.Size(), w.Digest())
			}
			if named {
				w.Close()
				if st, err := b.Status(ctx, "truncate"); err != nil || st.Offset != 600 {
					t.Fatalf("Status after truncate = %+v, %v", st, err)
				}
				// Resumed at 600, a chunk goes wrong again and is rolled back to where this writer started.
				w = mustWriter(t, b, opts...)
				write(t, w, []byte("another bad chunk"))
				if err := w.Truncate(600); err != nil || w.Digest() != digest.FromBytes(data[:600]) {
					t.Fatalf("Truncate(600) after resume: %v, digest %s", err, w.Digest())
				}
			}
			write(t, w, data[600:])
			if err := w.Commit(ctx, 1000, d); err != nil {
				t.Fatal(err)
			}
			if got := readBlob(t, b, d); !bytes.Equal(got, data) {
				t.Fatal("read back wrong")
			}
		})
	}
	t.Run("to zero", func(t *testing.T) {
		b := fresh(t, open)
		w := mustWriter(t, b, content.WithRef("zero"))
		write(t, w, []byte("start over"))
		if err := w.Truncate(0); err != nil {
			t.Fatal(err)
		}
		write(t, w, data)
		if err := w.Commit(ctx, 1000, d); err != nil {
			t.Fatal(err)
		}
	})
}

func testRefExclusive(t *testing.T, open Opener) {
	ctx := context.Background()
	b := fresh(t, open)
	w := mustWriter(t, b, content.WithRef("mine"))
	write(t, w, []byte("held"))
	if w2, err := b.Writer(ctx, content.WithRef("mine")); !errdefs.IsUnavailable(err) {
		if err == nil {
			w2.Close()
		}
		t.Fatalf("second Writer = %v, want unavailable", err)
	}
	if err := b.Abort(ctx, "mine"); !errdefs.IsUnavailable(err) {
		t.Fatalf("Abort of a held ingest = %v, want unavailable", err)
	}
	// Another ref is another ingest.
	mustWriter(t, b, content.WithRef("yours"))
	w.Close()
	w = mustWriter(t, b, content.WithRef("mine"))
	if w.Size() != 4 {
		t.Fatalf("reopened at %d, want 4", w.Size())
	}
	w.Close()

	// Many writers racing for one new ref: exactly one gets it while they all hold on.
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		got     []content.Writer
		refused int
		other   []error
	)
	for range n {
		wg.Go(func() {
			w, err := b.Writer(ctx, content.WithRef("race"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				got = append(got, w)
			case errdefs.IsUnavailable(err):
				refused++
			default:
				other = append(other, err)
			}
		})
	}
	wg.Wait()
	for _, w := range got {
		w.Close()
	}
	if len(got) != 1 || refused != n-1 || len(other) != 0 {
		t.Fatalf("racing writers: %d got the ref, %d refused, errors %v; want 1 and %d", len(got), refused, other, n-1)
	}
}

func testAbort(t *testing.T, open Opener) {
	ctx := context.Background()
	b := fresh(t, open)
	w := mustWriter(t, b, content.WithRef("abort"))
	write(t, w, []byte("unwanted"))
	w.Close()
	if err := b.Abort(ctx, "abort"); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	assertNoIngest(t, b, "abort")
	if sts, err := b.ListStatuses(ctx, ""); err != nil || len(sts) != 0 {
		t.Fatalf("ListStatuses after abort = %+v, %v", sts, err)
	}
	if err := b.Abort(ctx, "abort"); !errdefs.IsNotFound(err) {
		t.Fatalf("second Abort = %v, want not found", err)
	}
	w = mustWriter(t, b, content.WithRef("abort"))
	if w.Size() != 0 || w.Digest() != digest.FromBytes(nil) {
		t.Fatalf("writer after abort starts at %d with %s, want a new ingest", w.Size(), w.Digest())
	}
}

func testListStatuses(t *testing.T, open Opener) {
	ctx := context.Background()
	b := fresh(t, open)
	for i, ref := range []string{"up/b", "up/a", "proxy/x", "up"} {
		w := mustWriter(t, b, content.WithRef(ref))
		write(t, w, make([]byte, i+1))
		w.Close()
	}
	// An unnamed write is not an ingest one can list.
	write(t, mustWriter(t, b), []byte("anonymous"))
	tests := []struct {
		name   string
		prefix string
		want   []string
		sizes  []int64
	}{
		{name: "all", prefix: "", want: []string{"proxy/x", "up", "up/a", "up/b"}, sizes: []int64{3, 4, 2, 1}},
		{name: "prefix", prefix: "up/", want: []string{"up/a", "up/b"}, sizes: []int64{2, 1}},
		{name: "none", prefix: "nothing", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sts, err := b.ListStatuses(ctx, tc.prefix)
			if err != nil {
				t.Fatal(err)
			}
			var refs []string
			var sizes []int64
			for _, st := range sts {
				refs = append(refs, st.Ref)
				sizes = append(sizes, st.Offset)
			}
			if fmt.Sprint(refs) != fmt.Sprint(tc.want) || fmt.Sprint(sizes) != fmt.Sprint(tc.sizes) {
				t.Fatalf("ListStatuses(%q) = %v %v, want %v %v", tc.prefix, refs, sizes, tc.want, tc.sizes)
			}
		})
	}
}

func testNeverPartial(t *testing.T, open Opener) {
	ctx := context.Background()
	b := fresh(t, open)
	data, d := blob(60, 12<<20)
	done := make(chan struct{})
	var (
		wg      sync.WaitGroup
		readErr error
		seen    int
	)
	// A reader that keeps opening the blob while it is written: whatever it manages to open is all of it.
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			rc, err := b.Open(ctx, d)
			if errdefs.IsNotFound(err) {
				continue
			}
			if err != nil {
				readErr = err
				return
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				readErr = fmt.Errorf("opened a blob of %d bytes (%v), want all %d", len(got), err, len(data))
				return
			}
			seen++
		}
	})
	w := mustWriter(t, b, content.WithRef("partial"))
	for off := 0; off < len(data); off += 1 << 20 {
		write(t, w, data[off:off+1<<20])
		if _, err := b.Info(ctx, d); !errdefs.IsNotFound(err) {
			t.Errorf("after %d bytes, Info = %v; want not found", off+1<<20, err)
		}
	}
	if err := w.Commit(ctx, int64(len(data)), d); err != nil {
		t.Fatal(err)
	}
	close(done)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if got := readBlob(t, b, d); !bytes.Equal(got, data) {
		t.Fatal("read back wrong")
	}
	t.Logf("the reader read the whole blob %d times while it was committed", seen)
}

func testContextCanceled(t *testing.T, open Opener) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	ctx := context.Background()
	data, d := blob(70, 10_000)
	t.Run("Writer", func(t *testing.T) {
		b := fresh(t, open)
		for _, opts := range [][]content.WriterOpt{nil, {content.WithRef("canceled")}} {
			w, err := b.Writer(canceled, opts...)
			if err == nil {
				w.Close()
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Writer(%d opts) = %v, want canceled", len(opts), err)
			}
		}
	})
	t.Run("WriteBlob", func(t *testing.T) {
		b := fresh(t, open)
		before := walked(t, b)
		if _, _, err := content.WriteBlob(canceled, b, bytes.NewReader(data), d); !errors.Is(err, context.Canceled) {
			t.Fatalf("WriteBlob = %v, want canceled", err)
		}
		assertAbsent(t, b, d)
		if got := added(before, walked(t, b)); len(got) != 0 {
			t.Fatalf("canceled write left %v", got)
		}
	})
	t.Run("Commit", func(t *testing.T) {
		b := fresh(t, open)
		w := mustWriter(t, b)
		write(t, w, data)
		if err := w.Commit(canceled, int64(len(data)), d); !errors.Is(err, context.Canceled) {
			t.Fatalf("Commit = %v, want canceled", err)
		}
		assertAbsent(t, b, d)
	})
	t.Run("Commit of a named ingest keeps it", func(t *testing.T) {
		b := fresh(t, open)
		w := mustWriter(t, b, content.WithRef("keep"))
		write(t, w, data)
		if err := w.Commit(canceled, int64(len(data)), d); !errors.Is(err, context.Canceled) {
			t.Fatalf("Commit = %v, want canceled", err)
		}
		assertAbsent(t, b, d)
		w = mustWriter(t, b, content.WithRef("keep"))
		if w.Size() != int64(len(data)) {
			t.Fatalf("resumed at %d, want %d", w.Size(), len(data))
		}
		if err := w.Commit(ctx, int64(len(data)), d); err != nil {
			t.Fatal(err)
		}
	})
}

func testWriterAfterEnd(t *testing.T, open Opener) {
	ctx := context.Background()
	b := fresh(t, open)
	data, d := blob(80, 100)
	tests := []struct {
		name string
		end  func(w content.Writer) error
	}{
		{name: "after commit", end: func(w content.Writer) error { return w.Commit(ctx, -1, d) }},
		{name: "after close", end: func(w content.Writer) error { return w.Close() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := mustWriter(t, b)
			write(t, w, data)
			if err := tc.end(w); err != nil && !errdefs.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("x")); !errdefs.IsFailedPrecondition(err) {
				t.Errorf("Write = %v, want failed precondition", err)
			}
			if err := w.Commit(ctx, -1, d); !errdefs.IsFailedPrecondition(err) {
				t.Errorf("Commit = %v, want failed precondition", err)
			}
			if err := w.Close(); err != nil {
				t.Errorf("Close again = %v", err)
			}
		})
	}
}

func testIngestReader(t *testing.T, open Opener) {
	ctx := context.Background()
	b := fresh(t, open)
	ip, ok := b.(content.IngestProvider)
	if !ok {
		t.Skip("the backend does not read unfinished ingests (content.IngestProvider is optional)")
	}
	data, d := blob(90, 10_000)
	w := mustWriter(t, b, content.WithRef("follow"))
	write(t, w, data[:4000])
	ra, err := ip.IngestReaderAt(ctx, "follow")
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	if ra.Size() != 4000 {
		t.Fatalf("Size = %d, want 4000", ra.Size())
	}
	write(t, w, data[4000:])
	// A follower reads what was written after it opened the ingest.
	got, err := io.ReadAll(io.NewSectionReader(ra, 0, int64(len(data))))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("followed %d bytes, %v", len(got), err)
	}
	if err := w.Commit(ctx, int64(len(data)), d); err != nil {
		t.Fatal(err)
	}
	if _, err := ip.IngestReaderAt(ctx, "follow"); !errdefs.IsNotFound(err) {
		t.Fatalf("IngestReaderAt after commit = %v, want not found", err)
	}
}

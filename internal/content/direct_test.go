package content

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// fdDirect reports whether f is open with O_DIRECT, as /proc/self/fdinfo shows it.
func fdDirect(t *testing.T, f *os.File) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "flags:"); ok {
			flags, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			if err != nil {
				t.Fatal(err)
			}
			return flags&unix.O_DIRECT != 0
		}
	}
	t.Fatalf("no flags in fdinfo: %s", b)
	return false
}

// directWriter opens an O_DIRECT writer, skipping where the test directory's filesystem refuses O_DIRECT.
func directWriter(t *testing.T, s *Store) *writer {
	t.Helper()
	cw, err := s.Writer(context.Background(), WithDirectIO())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cw.Close() })
	w := cw.(*writer)
	if w.direct == nil {
		t.Skipf("the filesystem of %s refuses O_DIRECT", s.Root())
	}
	if !fdDirect(t, w.f) {
		t.Fatal("the writer holds an aligned buffer but its file is not O_DIRECT")
	}
	return w
}

// alignedBuf returns n bytes at a 4096-aligned address, offset by skew.
func alignedBuf(n, skew int) []byte {
	b := make([]byte, n+2*dioAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) % dioAlign); r != 0 {
		off = dioAlign - r
	}
	return b[off+skew : off+skew+n]
}

// TestDirectIOWrites writes blobs of sizes around the alignment in differently cut and aligned writes, and reads
// each back whole after Commit.
func TestDirectIOWrites(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		size  int
		chunk int // 0: one Write
		skew  int // the source's distance from an aligned address
	}{
		{name: "empty", size: 0},
		{name: "one byte", size: 1},
		{name: "under a block", size: dioAlign - 1},
		{name: "one block", size: dioAlign},
		{name: "a block and a byte", size: dioAlign + 1},
		{name: "aligned MiB writes", size: 3 << 20, chunk: 1 << 20},
		{name: "aligned MiB writes and a tail", size: 3<<20 + 123, chunk: 1 << 20},
		{name: "misaligned source", size: 2<<20 + 5, chunk: 1 << 20, skew: 1},
		{name: "small writes", size: 300<<10 + 7, chunk: 1000},
		{name: "writes of a block and a byte", size: 1<<20 + 3, chunk: dioAlign + 1},
		{name: "more than the buffer at once, misaligned", size: 5<<20 + 1, skew: 512},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			w := directWriter(t, s)
			src := alignedBuf(tc.size, tc.skew)
			for i := range src {
				src[i] = byte(i*31 + i>>12)
			}
			chunk := tc.chunk
			if chunk == 0 {
				chunk = max(1, tc.size)
			}
			for p := src; len(p) > 0; {
				n := min(chunk, len(p))
				if k, err := w.Write(p[:n]); err != nil || k != n {
					t.Fatalf("write: %d, %v", k, err)
				}
				p = p[n:]
			}
			want := digest.FromBytes(src)
			if w.Digest() != want || w.Size() != int64(tc.size) {
				t.Fatalf("digest %s size %d, want %s %d", w.Digest(), w.Size(), want, tc.size)
			}
			if err := w.Commit(ctx, int64(tc.size), want); err != nil {
				t.Fatal(err)
			}
			rc, err := s.Open(ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(src))
			}
		})
	}
}

// TestDirectIOFallback makes the kernel refuse a direct write (a length that is not a multiple of the disk's block)
// of the head of what the writer holds: the writer writes those bytes and the rest it holds through the page
// cache, goes on that way, and loses nothing.
func TestDirectIOFallback(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	w := directWriter(t, s)
	head := alignedBuf(3*dioAlign+10, 1) // misaligned: held, not written
	for i := range head {
		head[i] = byte(i)
	}
	if _, err := w.Write(head); err != nil {
		t.Fatal(err)
	}
	if w.direct == nil || w.direct.n != len(head) {
		t.Fatal("the writer does not hold the misaligned bytes")
	}
	if err := w.writeBlocks(w.direct.buf[:dioAlign+1]); err != nil {
		t.Fatal(err)
	}
	if w.direct != nil || fdDirect(t, w.f) {
		t.Fatal("still O_DIRECT after the kernel refused a write")
	}
	tail := []byte("and the rest")
	if _, err := w.Write(tail); err != nil {
		t.Fatal(err)
	}
	all := append(bytes.Clone(head), tail...)
	want := digest.FromBytes(all)
	if err := w.Commit(ctx, int64(len(all)), want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBlob(ctx, s, want, 1<<20)
	if err != nil || !bytes.Equal(got, all) {
		t.Fatalf("read back %d bytes (%v), want %d", len(got), err, len(all))
	}
}

// TestDirectIOMismatch: a refused commit of an O_DIRECT write leaves nothing, like any other.
func TestDirectIOMismatch(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	w := directWriter(t, s)
	if _, err := w.Write(alignedBuf(1<<20, 0)); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, -1, digest.FromString("other")); err == nil {
		t.Fatal("commit of the wrong digest succeeded")
	}
	if left := dirEntries(t, s.ingestDir()); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}

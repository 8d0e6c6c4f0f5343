package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"

	"github.com/berth/berth/internal/objectstore/md5lanes"
)

func TestUseMultiBufferMD5(t *testing.T) {
	tests := []struct {
		name          string
		writes, procs int
		want          bool
	}{
		{name: "a lone write hashes on its own", writes: 1, procs: 2, want: false},
		{name: "two writes on two cores: scalar is as cheap below three lanes", writes: 2, procs: 2, want: false},
		{name: "three writes on two cores", writes: 3, procs: 2, want: true},
		{name: "four writes on two cores (bench/s3.sh)", writes: 4, procs: 2, want: true},
		{name: "four writes on eight cores: a core each", writes: 4, procs: 8, want: false},
		{name: "five writes on eight cores", writes: 5, procs: 8, want: true},
		{name: "many writes on one core", writes: 40, procs: 1, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !md5lanes.Accelerated() {
				tc.want = false // never without AVX-512
			}
			if got := useMultiBufferMD5(tc.writes, tc.procs); got != tc.want {
				t.Errorf("useMultiBufferMD5(%d, %d) = %v, want %v", tc.writes, tc.procs, got, tc.want)
			}
		})
	}
}

// TestConcurrentPutsMultiBufferMD5 writes large objects at once through the shared MD5 lanes, with lengths
// that are not multiples of its 64-byte blocks or of the 1 MiB reads, known and unknown (chunked) lengths, and one with
// a wrong Content-MD5 among them: each ETag is its own body's MD5, each body reads back whole, and the wrong one is
// refused without a trace.
func TestConcurrentPutsMultiBufferMD5(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	s.multiBufferMD5 = func(int) bool { return true }
	mustBucket(t, s, "bkt")
	type obj struct {
		name    string
		data    []byte
		chunked bool
		badMD5  bool
	}
	var objs []obj
	for i := range 8 {
		objs = append(objs, obj{
			name:    fmt.Sprintf("k%d", i),
			data:    pattern(DefaultInlineLimit+1+i*(300<<10)+i*13, byte(i)),
			chunked: i%2 == 1,
		})
	}
	objs = append(objs, obj{name: "bad", data: pattern(3<<20+5, 99), badMD5: true})

	etags := make([]string, len(objs))
	errs := make([]error, len(objs))
	var wg sync.WaitGroup
	for i, o := range objs {
		wg.Go(func() {
			in := PutObjectInput{Bucket: "bkt", Key: o.name, Body: bytes.NewReader(o.data), Size: int64(len(o.data)), Owner: alice}
			if o.chunked {
				in.Size = -1
			}
			sum := md5.Sum(o.data)
			in.ContentMD5 = sum[:]
			if o.badMD5 {
				in.ContentMD5 = make([]byte, 16)
			}
			info, err := s.PutObject(ctx, in)
			etags[i], errs[i] = info.ETag, err
		})
	}
	wg.Wait()
	for i, o := range objs {
		t.Run(o.name, func(t *testing.T) {
			if o.badMD5 {
				if codeOf(errs[i]) != "BadDigest" {
					t.Fatalf("err %v, want BadDigest", errs[i])
				}
				if _, err := s.StatObject(ctx, "bkt", o.name, GetOptions{}); codeOf(err) != "NoSuchKey" {
					t.Errorf("a refused write is visible: %v", err)
				}
				return
			}
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			sum := md5.Sum(o.data)
			if want := hex.EncodeToString(sum[:]); etags[i] != want {
				t.Errorf("ETag %s, want %s", etags[i], want)
			}
			got, err := read(s, "bkt", o.name, GetOptions{})
			if err != nil || !bytes.Equal(got, o.data) {
				t.Errorf("read back %d bytes (%v), want %d", len(got), err, len(o.data))
			}
		})
	}
	if files := blobFiles(t, s); len(files) != len(objs)-1 {
		t.Errorf("%d blob files, want %d (none for the refused write)", len(files), len(objs)-1)
	}
}

package objectstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
)

// corruptBlob flips a byte at off in the only blob file of s.
func corruptBlob(t *testing.T, s *Store, off int64) {
	t.Helper()
	files := blobFiles(t, s)
	if len(files) != 1 {
		t.Fatalf("blob files %v", files)
	}
	p := filepath.Join(s.dir, "content", "blobs", "sha256", files[0])
	os.Chmod(p, 0o644)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x20
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptBlob(t *testing.T) {
	data := pattern(4*blockSize+500, 1)
	bad := int64(2*blockSize + 10) // in the third block
	tests := []struct {
		name  string
		r     *Range
		part  int
		clean bool // the range does not touch the bad block
	}{
		{name: "whole"},
		{name: "range over the bad byte", r: &Range{Start: bad - 5, End: bad + 5}},
		{name: "range in the bad block", r: &Range{Start: 2 * blockSize, End: 2*blockSize + 1}},
		{name: "suffix", r: &Range{Suffix: true, SuffixLength: int64(len(data)) - bad}},
		{name: "range before the bad block", r: &Range{Start: 0, End: 2*blockSize - 1}, clean: true},
		{name: "range after the bad block", r: &Range{Start: 3 * blockSize, End: -1}, clean: true},
		{name: "part one of a single-part object", part: 1},
	}
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	put(t, s, "bkt", "k", data)
	corruptBlob(t, s, bad)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := read(s, "bkt", "k", GetOptions{Range: tc.r, PartNumber: tc.part})
			start := int64(0)
			if tc.r != nil {
				start, _, _ = tc.r.Resolve(int64(len(data)))
			}
			if tc.clean {
				if err != nil || !bytes.Equal(got, data[start:start+int64(len(got))]) {
					t.Fatalf("clean range: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, errdefs.ErrDataLoss) {
				t.Fatalf("err %v, want ErrCorrupt", err)
			}
			// What was handed out before the error is right, and stops before the bad block.
			if !bytes.Equal(got, data[start:start+int64(len(got))]) {
				t.Error("wrong bytes handed out")
			}
			if len(got) > 0 && start+int64(len(got)) > 2*blockSize {
				t.Errorf("handed out %d bytes, past the start of the bad block", len(got))
			}
		})
	}
}

func TestTruncatedBlob(t *testing.T) {
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	put(t, s, "bkt", "k", pattern(200<<10, 1))
	p := filepath.Join(s.dir, "content", "blobs", "sha256", blobFiles(t, s)[0])
	os.Chmod(p, 0o644)
	if err := os.Truncate(p, 100<<10); err != nil {
		t.Fatal(err)
	}
	if _, err := read(s, "bkt", "k", GetOptions{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated blob: %v", err)
	}
}

func TestCorruptInline(t *testing.T) {
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	put(t, s, "bkt", "k", []byte("hello, inline world"))
	// Flip a byte of the stored content, behind the store's back.
	err := s.db.Update(func(tx *bolt.Tx) error {
		vb := tx.Bucket(bucketDataName("bkt")).Bucket(versionsName)
		k, v := vb.Cursor().First()
		v = bytes.Clone(v)
		v[len(v)-3] ^= 1
		return vb.Put(bytes.Clone(k), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Range{nil, {Start: 0, End: 1}} {
		if got, err := read(s, "bkt", "k", GetOptions{Range: r}); !errors.Is(err, ErrCorrupt) || len(got) != 0 {
			t.Fatalf("range %v: %q, %v", r, got, err)
		}
	}
}

func TestConcurrentWritesOneKey(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	const writers = 8
	contents := map[string]bool{}
	for i := range writers {
		size := 1000 + i*150<<10 // inline and blobs of different sizes
		contents[string(pattern(size, byte(i)))] = true
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var readErr error
	var mu sync.Mutex
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := read(s, "bkt", "k", GetOptions{})
				if errors.Is(err, ErrNoSuchKey) {
					continue
				}
				if err != nil || !contents[string(got)] {
					mu.Lock()
					readErr = fmt.Errorf("read %d bytes (not one whole object), %v", len(got), err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for round := range 3 {
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := pattern(1000+i*150<<10, byte(i))
				if _, err := s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: "k", Body: bytes.NewReader(data), Size: int64(len(data))}); err != nil {
					t.Errorf("round %d writer %d: %v", round, i, err)
				}
			}()
		}
		wg.Wait()
	}
	close(stop)
	readers.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	got, err := read(s, "bkt", "k", GetOptions{})
	if err != nil || !contents[string(got)] {
		t.Fatalf("final read %d bytes, %v", len(got), err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// Only the survivor's blob is left (or none, if the survivor is inline).
	if files := blobFiles(t, s); len(files) > 1 {
		t.Errorf("blob files %d", len(files))
	}
}

// TestReaderHoldsItsBlobs: a read opened before an overwrite and a delete returns the old object whole, and the
// old blob goes only when the read ends.
func TestReaderHoldsItsBlobs(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	old := pattern(1<<20, 1)
	put(t, s, "bkt", "k", old)
	o, err := s.GetObject(ctx, "bkt", "k", GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 1000)
	if _, err := io.ReadFull(o, first); err != nil {
		t.Fatal(err)
	}
	put(t, s, "bkt", "k", pattern(1<<20, 2))
	if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(append(first, rest...), old) {
		t.Fatalf("read across overwrite: %d bytes, %v", len(first)+len(rest), err)
	}
	if files := blobFiles(t, s); len(files) != 1 {
		t.Errorf("blob files while reading: %d, want the old one", len(files))
	}
	o.Close()
	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("blob files after the read: %v", files)
	}
}

func TestDedupAndSweep(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTestStore(t, dir)
	mustBucket(t, s, "bkt")
	data := pattern(100<<10, 5)
	put(t, s, "bkt", "a", data)
	put(t, s, "bkt", "b", data)
	if files := blobFiles(t, s); len(files) != 1 {
		t.Fatalf("identical content: %d files", len(files))
	}
	if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", Key: "a"}); err != nil {
		t.Fatal(err)
	}
	if got, err := read(s, "bkt", "b", GetOptions{}); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("shared blob after one delete: %v", err)
	}
	// An orphan, as a crash between a blob's commit and its index transaction leaves, is swept on open.
	orphan := filepath.Join(dir, "content", "blobs", "sha256", strings.Repeat("ab", 32))
	if err := os.WriteFile(orphan, []byte("orphan"), 0o444); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTestStore(t, dir)
	waitFor(t, func() bool { _, err := os.Stat(orphan); return errors.Is(err, os.ErrNotExist) })
	if got, err := read(s, "bkt", "b", GetOptions{}); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after sweep: %v", err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond (the background sweep runs on its own goroutine) for up to ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached")
}

const crashChildEnv = "BERTH_OBJECTSTORE_CRASH_CHILD"

// TestCrashRecovery kills a process writing to a store with SIGKILL mid-stream, then checks that every write it
// acknowledged is there, whole, that nothing half-written is visible, and that the index and the blob files agree.
func TestCrashRecovery(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	for round := range 3 {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$", "-test.v=false")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Read acknowledgements until enough are in, then kill the writer mid-flight. Each write is announced
		// ("try") before it starts and acknowledged ("ok") when it returned: a key's state must be its last
		// acknowledged one, or the one its writer was attempting when killed.
		acked := map[string]string{}   // key -> md5 of the acknowledged content, "" when deleted
		pending := map[string]string{} // key -> the state a write in flight would leave
		sc := bufio.NewScanner(out)
		want := 60 + round*60
		n := 0
		record := func(line string) {
			f := strings.Fields(line)
			if len(f) != 3 {
				return
			}
			state := f[2]
			if state == "-" {
				state = ""
			}
			switch f[0] {
			case "try":
				pending[f[1]] = state
			case "ok":
				acked[f[1]] = state
				delete(pending, f[1])
				n++
			}
		}
		for n < want && sc.Scan() {
			record(sc.Text())
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// What the writer printed before it died is still in the pipe.
		for sc.Scan() {
			record(sc.Text())
		}
		cmd.Wait()
		if n < want {
			t.Fatalf("the writer acknowledged only %d writes", n)
		}

		s := openTestStore(t, dir)
		ctx := context.Background()
		for key, sum := range acked {
			got, err := read(s, "bkt", key, GetOptions{})
			state := ""
			if err == nil {
				h := md5.Sum(got)
				state = hex.EncodeToString(h[:])
			} else if !errors.Is(err, ErrNoSuchKey) {
				t.Errorf("round %d: %s: %v", round, key, err)
				continue
			}
			if p, inFlight := pending[key]; state != sum && !(inFlight && state == p) {
				t.Errorf("round %d: %s is %q, acknowledged %q (in flight: %q)", round, key, state, sum, pending[key])
			}
		}
		// Whatever else is visible (a write in flight at the kill) is whole.
		page, err := s.ListObjects(ctx, "bkt", ListObjectsInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Objects {
			got, err := read(s, "bkt", o.Key, GetOptions{})
			h := md5.Sum(got)
			if err != nil || int64(len(got)) != o.Size || (o.PartsCount == 0 && hex.EncodeToString(h[:]) != o.ETag) {
				t.Errorf("round %d: visible %s is not whole: %d of %d bytes, %v", round, o.Key, len(got), o.Size, err)
			}
		}
		if err := s.Check(ctx); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		waitFor(t, func() bool { u, err := s.unreferencedBlobs(ctx); return err == nil && len(u) == 0 })
		if left, _ := os.ReadDir(filepath.Join(dir, "content", "ingest")); len(left) != 0 {
			t.Errorf("round %d: ingest files left: %d", round, len(left))
		}
		s.Close()
	}
}

// crashChild writes, overwrites and deletes objects from four goroutines, printing each acknowledged write,
// until it is killed.
func crashChild(dir string) {
	s, err := Open(dir, WithSweepInterval(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	s.CreateBucket(ctx, CreateBucketInput{Name: "bkt", Owner: alice})
	var mu sync.Mutex
	say := func(what, key, state string) {
		mu.Lock()
		fmt.Printf("%s %s %s\n", what, key, state)
		mu.Unlock()
	}
	sum := func(b []byte) string { h := md5.Sum(b); return hex.EncodeToString(h[:]) }
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%d/%d", w, rng.IntN(40))
				switch op := rng.IntN(20); {
				case op < 13:
					sizes := []int{10, 5000, 70 << 10, 300 << 10}
					data := pattern(sizes[rng.IntN(len(sizes))], byte(i))
					say("try", key, sum(data))
					if _, err := s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: key, Body: bytes.NewReader(data), Size: int64(len(data))}); err == nil {
						say("ok", key, sum(data))
					}
				case op < 19:
					say("try", key, "-")
					if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", Key: key}); err == nil {
						say("ok", key, "-")
					}
				default:
					p1, p2 := pattern(MinPartSize, byte(i)), pattern(1000, byte(i+1))
					up, err := s.CreateMultipartUpload(ctx, CreateUploadInput{Bucket: "bkt", Key: key})
					if err != nil {
						continue
					}
					a, err1 := s.UploadPart(ctx, UploadPartInput{Bucket: "bkt", Key: key, UploadID: up.UploadID, PartNumber: 1, Body: bytes.NewReader(p1), Size: int64(len(p1))})
					b, err2 := s.UploadPart(ctx, UploadPartInput{Bucket: "bkt", Key: key, UploadID: up.UploadID, PartNumber: 2, Body: bytes.NewReader(p2), Size: int64(len(p2))})
					if err1 != nil || err2 != nil {
						continue
					}
					whole := sum(append(p1, p2...))
					say("try", key, whole)
					if _, err := s.CompleteMultipartUpload(ctx, CompleteUploadInput{Bucket: "bkt", Key: key, UploadID: up.UploadID,
						Parts: []CompletedPart{{PartNumber: 1, ETag: a.ETag}, {PartNumber: 2, ETag: b.ETag}}}); err == nil {
						say("ok", key, whole)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// failingReader yields r's bytes, then err instead of io.EOF.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// TestLargeBodyDigests: bodies of several buffers are hashed whole and in order, whether a write hashes on a
// goroutine of its own (a lone write) or in turn with storing (writes enough to keep every core busy): the ETag is
// the body's MD5 and its checksum the body's CRC32, with one write at a time and with more writes at once than
// the machine has cores. A body cut short or whose checksum does not match is refused and leaves no blob.
func TestLargeBodyDigests(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	sizes := []int{3<<20 + 12345, 2 << 20, 5<<20 + 1}
	for _, tc := range []struct {
		name    string
		writers int
	}{
		{name: "one write at a time", writers: 1},
		{name: "more writes than cores", writers: 2*runtime.GOMAXPROCS(0) + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for w := range tc.writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i, size := range sizes {
						data := pattern(size, byte(w*10+i))
						sum := md5.Sum(data)
						// CRC32, or SHA-256 (taken from the blob's own address rather than hashed again).
						alg, want := CRC32, base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data)))
						if i%2 == 1 {
							sha := sha256.Sum256(data)
							alg, want = SHA256, base64.StdEncoding.EncodeToString(sha[:])
						}
						key := fmt.Sprintf("%s/%d/%d", tc.name, w, i)
						info, err := s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: key, Body: bytes.NewReader(data), Size: int64(size),
							Checksum: ChecksumInput{Algorithm: alg}})
						if err != nil {
							t.Error(err)
							return
						}
						if info.ETag != hex.EncodeToString(sum[:]) || info.Checksum.Value != want {
							t.Errorf("%s: ETag %s, %s checksum %s, want %s", key, info.ETag, alg, info.Checksum.Value, want)
						}
						if got, err := read(s, "bkt", key, GetOptions{}); err != nil || !bytes.Equal(got, data) {
							t.Errorf("%s reads back %d bytes, %v", key, len(got), err)
						}
					}
				}()
			}
			wg.Wait()
		})
	}
	before := blobFiles(t, s)
	data := pattern(3<<20, 99)
	_, err := s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: "cut", Body: &failingReader{bytes.NewReader(data[:5<<19]), io.ErrUnexpectedEOF}, Size: int64(len(data))})
	if !errors.Is(err, ErrIncompleteBody) {
		t.Errorf("a body cut short: %v", err)
	}
	for _, ck := range []ChecksumInput{{Algorithm: CRC32, Value: "AAAAAA=="}, {Algorithm: SHA256, Value: base64.StdEncoding.EncodeToString(make([]byte, 32))}} {
		_, err = s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: "bad", Body: bytes.NewReader(data), Size: int64(len(data)), Checksum: ck})
		if !errors.Is(err, ErrBadDigest) {
			t.Errorf("a wrong %s checksum: %v", ck.Algorithm, err)
		}
	}
	sum := sha256.Sum256(data)
	bad := sum
	bad[0] ^= 1
	_, err = s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: "bad", Body: bytes.NewReader(data), Size: int64(len(data)), PayloadSHA256: &bad})
	if !errors.Is(err, ErrContentSHA256Mismatch) {
		t.Errorf("a body that is not the signed payload: %v", err)
	}
	if after := blobFiles(t, s); len(after) != len(before) {
		t.Errorf("%d blob files after the refused writes, %d before", len(after), len(before))
	}
}

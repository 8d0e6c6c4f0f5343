package objectstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	alice = Owner{AccountID: "111111111111", ID: strings.Repeat("a", 64), DisplayName: "alice"}
	bob   = Owner{AccountID: "222222222222", ID: strings.Repeat("b", 64), DisplayName: "bob"}
)

// testClock is a clock a test moves by hand; each reading also advances it by a second so writes are ordered.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

func newTestStore(t testing.TB, opts ...Option) *Store {
	t.Helper()
	return openTestStore(t, t.TempDir(), opts...)
}

func openTestStore(t testing.TB, dir string, opts ...Option) *Store {
	t.Helper()
	opts = append([]Option{WithClock(newTestClock().Now), WithSweepInterval(0), WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	s, err := Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustBucket(t testing.TB, s *Store, name string) {
	t.Helper()
	if _, err := s.CreateBucket(context.Background(), CreateBucketInput{Name: name, Owner: alice}); err != nil {
		t.Fatal(err)
	}
}

func put(t testing.TB, s *Store, bucket, key string, data []byte) ObjectInfo {
	t.Helper()
	info, err := s.PutObject(context.Background(), PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(data), Size: int64(len(data)), Owner: alice})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return info
}

// read returns the content a GET with opts yields, or the error.
func read(s *Store, bucket, key string, opts GetOptions) ([]byte, error) {
	o, err := s.GetObject(context.Background(), bucket, key, opts)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, o); err != nil {
		return buf.Bytes(), err
	}
	return buf.Bytes(), nil
}

// codeOf returns the S3 code of an engine error ("" for nil).
func codeOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return err.Error()
}

// pattern returns n bytes that differ from block to block, so a misplaced range shows.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed + byte(i>>16)
	}
	return b
}

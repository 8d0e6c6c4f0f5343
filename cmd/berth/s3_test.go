package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// syncBuffer is a log sink the server goroutine writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveS3 runs `berth s3 serve` until the returned stop is called, and returns the URL it listens on.
func serveS3(t *testing.T, dataDir string) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	c := newCLI(strings.NewReader(""), io.Discard, logs)
	code := make(chan int, 1)
	go func() {
		code <- execute(ctx, c, []string{"s3", "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir})
	}()
	addr := regexp.MustCompile(`msg="s3 listening" address=(\S+)`)
	for i := 0; ; i++ {
		if m := addr.FindStringSubmatch(logs.String()); m != nil {
			return "http://" + m[1], func() int { cancel(); return <-code }
		}
		select {
		case n := <-code:
			cancel()
			t.Fatalf("berth s3 serve exited with %d: %s", n, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
		if i == 1000 {
			cancel()
			t.Fatalf("berth s3 serve did not start: %s", logs.String())
		}
	}
}

func TestS3Serve(t *testing.T) {
	t.Setenv("BERTH_ROOT_ACCESS_KEY_ID", "AKIATESTROOT00000001")
	t.Setenv("BERTH_ROOT_SECRET_ACCESS_KEY", "test-root-secret-key-0123456789")
	dir := t.TempDir()
	ctx := context.Background()
	client := func(url string) *s3.Client {
		return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), UsePathStyle: true, RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider("AKIATESTROOT00000001", "test-root-secret-key-0123456789", "")})
	}
	url, stop := serveS3(t, dir)
	c := client(url)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("kept"), Key: aws.String("k"), Body: strings.NewReader("survives a restart")}); err != nil {
		t.Fatal(err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}
	// The same directory serves the same accounts and objects again.
	url, stop = serveS3(t, dir)
	defer stop()
	out, err := client(url).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("kept"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "survives a restart" {
		t.Fatalf("after restart: %q", b)
	}
}

func TestS3ServeFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	code := execute(context.Background(), newCLI(strings.NewReader(""), &out, &errOut), []string{"s3", "serve", "--tls-cert", "x.pem", "--data-dir", t.TempDir()})
	if code == 0 || !strings.Contains(errOut.String(), "--tls-cert and --tls-key go together") {
		t.Fatalf("code %d, stderr %q", code, errOut.String())
	}
}

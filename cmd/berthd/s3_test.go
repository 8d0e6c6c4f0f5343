package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/berth/berth/cmd/internal/cli"
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
	code := make(chan int, 1)
	go func() {
		code <- cli.Execute(ctx, newRootCommand(logs), []string{"s3", "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, logs, nil)
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

// Bad settings are refused before anything is created or served.
func TestS3ServeFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "half a TLS pair", args: []string{"--tls-cert", "x.pem"}, want: "--tls-cert and --tls-key go together"},
		{name: "TLS files missing", args: []string{"--tls-cert", "x.pem", "--tls-key", "x.key"}, want: "loading the TLS certificate: open x.pem: no such file or directory"},
		{name: "address in use", args: []string{"--addr", busy.Addr().String()}, want: "address already in use"},
		{name: "half the root keys", env: map[string]string{"BERTH_ROOT_ACCESS_KEY_ID": "AKIAHALFAPAIR0000001"}, want: "BERTH_ROOT_SECRET_ACCESS_KEY"},
		{name: "an argument", args: []string{"extra"}, want: "berthd: 'berthd s3 serve' accepts no arguments\n\nUsage:  berthd s3 serve [OPTIONS]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("BERTH_ROOT_ACCESS_KEY_ID", "")
			t.Setenv("BERTH_ROOT_SECRET_ACCESS_KEY", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"s3", "serve", "--addr", "127.0.0.1:0", "--data-dir", dir}, tt.args...)
			out, code := run(t, args...)
			if code == 0 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, output %q, want %q", code, out, tt.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the data directory was created: %v", err)
			}
		})
	}
}

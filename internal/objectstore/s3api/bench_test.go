package s3api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The HTTP benchmarks run 8 concurrent SDK clients against the endpoint (SigV4, signed payloads over HTTP):
//
//	go test ./internal/objectstore/s3api -run '^$' -bench . -benchtime 10s
func benchEnv(b *testing.B) (*env, *s3.Client) {
	e := newEnv(b)
	c := e.client(aliceKey, aliceSecret, true)
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	return e, c
}

// benchPut PUTs objects of size with clients concurrent SDK clients; the SDK signs each payload's SHA-256 (plain
// HTTP), as the aws CLI and boto3 do, and every object's content is its own.
func benchPut(b *testing.B, size, clients int) {
	_, c := benchEnv(b)
	data := pattern(size, 1)
	var n atomic.Int64
	put := func(ctx context.Context) error {
		i := n.Add(1)
		body := bytes.Clone(data)
		copy(body, fmt.Sprintf("%016d", i))
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("k%d", i)), Body: bytes.NewReader(body)})
		return err
	}
	b.SetBytes(int64(size))
	b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
	cpu := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := put(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "objects/s")
	// CPU per MiB, client and server together (the process's user and system time).
	b.ReportMetric((cpuTime()-cpu).Seconds()*1000/(float64(b.N)*float64(size)/(1<<20)), "cpu-ms/MiB")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchGet(b *testing.B, size, objects int) {
	_, c := benchEnv(b)
	ctx := context.Background()
	for i := range objects {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("k%d", i)), Body: bytes.NewReader(pattern(size, byte(i)))}); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.SetBytes(int64(size))
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bench"), Key: aws.String(fmt.Sprintf("k%d", n.Add(1)%int64(objects)))})
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, out.Body)
			out.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "objects/s")
}

func BenchmarkHTTPPut4KiB(b *testing.B)  { benchPut(b, 4<<10, 8) }
func BenchmarkHTTPGet4KiB(b *testing.B)  { benchGet(b, 4<<10, 1000) }
func BenchmarkHTTPPut64MiB(b *testing.B) { benchPut(b, 64<<20, 8) }
func BenchmarkHTTPGet64MiB(b *testing.B) { benchGet(b, 64<<20, 4) }

package objectstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
)

// The benchmarks run 8 concurrent clients, as the comparison with a reference server does:
//
//	go test ./internal/objectstore -run '^$' -bench . -benchtime 5s
func benchClients(b *testing.B) {
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
}

func benchPut(b *testing.B, size int) {
	s := newTestStore(b)
	mustBucket(b, s, "bkt")
	data := pattern(size, 1)
	var n atomic.Int64
	b.SetBytes(int64(size))
	b.ResetTimer()
	benchClients(b)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			key := fmt.Sprintf("k%d", n.Add(1))
			if _, err := s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: key, Body: bytes.NewReader(data), Size: int64(size)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "objects/s")
}

func benchGet(b *testing.B, size, objects int) {
	s := newTestStore(b)
	mustBucket(b, s, "bkt")
	for i := range objects {
		put(b, s, "bkt", fmt.Sprintf("k%d", i), pattern(size, byte(i)))
	}
	var n atomic.Int64
	b.SetBytes(int64(size))
	b.ResetTimer()
	benchClients(b)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			o, err := s.GetObject(ctx, "bkt", fmt.Sprintf("k%d", n.Add(1)%int64(objects)), GetOptions{})
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := o.WriteTo(io.Discard); err != nil {
				b.Error(err)
			}
			o.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "objects/s")
}

func BenchmarkPut4KiB(b *testing.B)  { benchPut(b, 4<<10) }
func BenchmarkGet4KiB(b *testing.B)  { benchGet(b, 4<<10, 1000) }
func BenchmarkPut64MiB(b *testing.B) { benchPut(b, 64<<20) }
func BenchmarkGet64MiB(b *testing.B) { benchGet(b, 64<<20, 4) }

// BenchmarkList lists a prefix of 1,000 keys among 100,000, a page of 1,000 at a time.
func BenchmarkList(b *testing.B) {
	s := newTestStore(b)
	mustBucket(b, s, "bkt")
	ctx := context.Background()
	for i := range 100 {
		var wg = make(chan struct{}, 8)
		for j := range 1000 {
			wg <- struct{}{}
			go func() {
				defer func() { <-wg }()
				key := fmt.Sprintf("dir%03d/file%04d", i, j)
				if _, err := s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: key, Body: bytes.NewReader(nil), Size: 0}); err != nil {
					b.Error(err)
				}
			}()
		}
		for range cap(wg) {
			wg <- struct{}{}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		out, err := s.ListObjects(ctx, "bkt", ListObjectsInput{Prefix: "dir050/"})
		if err != nil || len(out.Objects) != 1000 {
			b.Fatalf("%d objects, %v", len(out.Objects), err)
		}
	}
}

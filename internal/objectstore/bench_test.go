package objectstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The benchmarks run 8 concurrent clients, as the comparison with a reference server does:
//
//	go test ./internal/objectstore -run '^$' -bench . -benchtime 5s
func benchClients(b *testing.B) {
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
}

func benchPut(b *testing.B, size, clients int) {
	s := newTestStore(b)
	mustBucket(b, s, "bkt")
	// Each object's content is its own (a unique prefix): identical content would be stored once.
	data := pattern(size, 1)
	var n atomic.Int64
	put := func(ctx context.Context) error {
		i := n.Add(1)
		body := io.MultiReader(strings.NewReader(fmt.Sprintf("%016d", i)), bytes.NewReader(data[16:]))
		_, err := s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: fmt.Sprintf("k%d", i), Body: body, Size: int64(size)})
		return err
	}
	b.SetBytes(int64(size))
	cpu := cpuTime()
	b.ResetTimer()
	if clients == 1 {
		for b.Loop() {
			if err := put(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		benchClients(b)
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				if err := put(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "objects/s")
	// CPU per MiB (user and system, the whole process): what the machine's load does not change.
	b.ReportMetric((cpuTime()-cpu).Seconds()*1000/(float64(b.N)*float64(size)/(1<<20)), "cpu-ms/MiB")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

func BenchmarkPut4KiB(b *testing.B)  { benchPut(b, 4<<10, 8) }
func BenchmarkGet4KiB(b *testing.B)  { benchGet(b, 4<<10, 1000) }
func BenchmarkPut64MiB(b *testing.B) { benchPut(b, 64<<20, 8) }
func BenchmarkGet64MiB(b *testing.B) { benchGet(b, 64<<20, 4) }

// BenchmarkPut64MiBOneClient is one writer alone: how fast a single upload goes when the machine has cores to spare.
func BenchmarkPut64MiBOneClient(b *testing.B) { benchPut(b, 64<<20, 1) }

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

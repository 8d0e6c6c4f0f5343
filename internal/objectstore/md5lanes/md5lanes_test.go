package md5lanes

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime/trace"
	"sync"
	"testing"
)

func random(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestKernel runs the assembly and the Go kernel on the same lanes: random states, some lanes idle (stride 0),
// and compares every lane's state.
func TestKernel(t *testing.T) {
	if !accelerated {
		t.Skip("no AVX-512 on this CPU: the lane server runs the Go kernel, which TestDigest checks against crypto/md5")
	}
	tests := []struct {
		name   string
		blocks int
		idle   []int
	}{
		{name: "one block, all lanes", blocks: 1},
		{name: "many blocks, all lanes", blocks: 37},
		{name: "idle lanes", blocks: 5, idle: []int{0, 3, 8, 15}},
		{name: "one lane", blocks: 9, idle: []int{0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15}},
		{name: "no blocks", blocks: 0},
	}
	for n, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(n), 2))
			var st [4][lanes]uint32
			for w := range st {
				for l := range st[w] {
					st[w][l] = r.Uint32()
				}
			}
			var addrs [lanes]*byte
			var strides [lanes]uint64
			idle := random(BlockSize, 99)
			for l := range lanes {
				addrs[l], strides[l] = &random(max(1, tc.blocks)*BlockSize, uint64(100*n+l))[0], BlockSize
			}
			for _, l := range tc.idle {
				addrs[l], strides[l] = &idle[0], 0
			}
			want, got := st, st
			block16Generic(&want, &addrs, &strides, tc.blocks)
			block16asm(&got, &addrs, &strides, tc.blocks)
			if got != want {
				t.Errorf("assembly\n%x\nGo\n%x", got, want)
			}
		})
	}
}

// TestDigest compares sums with crypto/md5's over lengths around the block and padding boundaries, written whole
// and in pieces, with Sum in the middle.
func TestDigest(t *testing.T) {
	for _, size := range []int{0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 64 << 10, 1<<20 + 17} {
		data := random(size, uint64(size))
		want := md5.Sum(data)
		for _, chunk := range []int{0, 1, 7, 64, 100, 32 << 10} {
			t.Run(fmt.Sprintf("%d bytes in writes of %d", size, chunk), func(t *testing.T) {
				d := New()
				defer d.Close()
				if chunk == 0 {
					d.Write(data)
				} else {
					for p := data; len(p) > 0; {
						n := min(chunk, len(p))
						d.Write(p[:n])
						p = p[n:]
						if len(p) == len(data)/2 {
							d.Sum(nil) // does not disturb the stream
						}
					}
				}
				if got := d.Sum([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), want[:]...)) {
					t.Errorf("sum %x, want prefix + %x", got, want)
				}
				d.Reset()
				d.Write([]byte("abc"))
				if got, want := d.Sum(nil), md5.Sum([]byte("abc")); !bytes.Equal(got, want[:]) {
					t.Errorf("after Reset: %x, want %x", got, want)
				}
			})
		}
	}
}

// TestConcurrentStreams hashes 40 streams at once (more than the lanes), each in writes of its own sizes.
func TestConcurrentStreams(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			data := random(100<<10+i*4099, uint64(i))
			d := New()
			defer d.Close()
			r := rand.New(rand.NewPCG(uint64(i), 3))
			for p := data; len(p) > 0; {
				n := min(1+r.IntN(20<<10), len(p))
				d.Write(p[:n])
				p = p[n:]
			}
			if got, want := d.Sum(nil), md5.Sum(data); !bytes.Equal(got, want[:]) {
				t.Errorf("stream %d: %x, want %x", i, got, want)
			}
		})
	}
	wg.Wait()
}

// TestUnderExecutionTracer hashes concurrent streams while Go's execution tracer runs. The tracer unwinds stacks
// by frame pointers; a kernel that clobbered BP (md5-simd v1.1.2's does) makes the process die with SIGSEGV here.
func TestUnderExecutionTracer(t *testing.T) {
	if err := trace.Start(io.Discard); err != nil {
		t.Skipf("another tracer runs: %v", err)
	}
	defer trace.Stop()
	TestConcurrentStreams(t)
}

func BenchmarkStreams(b *testing.B) {
	for _, streams := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("lanes-%d", streams), func(b *testing.B) { benchStreams(b, streams, func() io.Writer { return New() }) })
		b.Run(fmt.Sprintf("crypto-md5-%d", streams), func(b *testing.B) { benchStreams(b, streams, func() io.Writer { return md5.New() }) })
	}
}

func benchStreams(b *testing.B, streams int, mk func() io.Writer) {
	buf := random(1<<20, 1)
	b.SetBytes(int64(len(buf)) * int64(streams))
	for b.Loop() {
		var wg sync.WaitGroup
		for range streams {
			wg.Go(func() {
				h := mk()
				for range 4 {
					h.Write(buf)
				}
				if c, ok := h.(interface{ Close() }); ok {
					c.Close()
				}
			})
		}
		wg.Wait()
	}
}

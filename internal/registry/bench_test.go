package registry_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berth/berth/internal/registry"
	"github.com/opencontainers/go-digest"
)

// The registry's blob path end to end over loopback HTTP: upload (monolithic and chunked), commit and read. Each
// iteration stores new content (a counter in the first bytes), so no commit finds its blob already there.
// Run: go test -run '^$' -bench . ./internal/registry/

func benchServer(b *testing.B) (*httptest.Server, func(method, path string, body io.Reader, hdr ...string) *http.Response) {
	b.Helper()
	reg, err := registry.New(b.TempDir(), registry.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	b.Cleanup(srv.Close)
	do := func(method, path string, body io.Reader, hdr ...string) *http.Response {
		req, err := http.NewRequest(method, srv.URL+path, body)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	return srv, do
}

func benchData(b *testing.B, size int) []byte {
	b.Helper()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkUploadMonolithic(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			_, do := benchServer(b)
			data := benchData(b, size)
			b.SetBytes(int64(size))
			for i := 0; b.Loop(); i++ {
				binary.BigEndian.PutUint64(data, uint64(i))
				d := digest.FromBytes(data)
				if r := do(http.MethodPost, "/v2/bench/blobs/uploads/?digest="+d.String(), bytes.NewReader(data)); r.StatusCode != http.StatusCreated {
					b.Fatalf("upload: %d", r.StatusCode)
				}
			}
		})
	}
}

func BenchmarkUploadChunked(b *testing.B) {
	const size, chunk = 64 << 20, 8 << 20
	_, do := benchServer(b)
	data := benchData(b, size)
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(data, uint64(i))
		d := digest.FromBytes(data)
		r := do(http.MethodPost, "/v2/bench/blobs/uploads/", nil)
		if r.StatusCode != http.StatusAccepted {
			b.Fatalf("start: %d", r.StatusCode)
		}
		loc := r.Header.Get("Location")
		for off := 0; off < size; off += chunk {
			r = do(http.MethodPatch, loc, bytes.NewReader(data[off:off+chunk]),
				"Content-Range", fmt.Sprintf("%d-%d", off, off+chunk-1), "Content-Type", "application/octet-stream")
			if r.StatusCode != http.StatusAccepted {
				b.Fatalf("patch: %d", r.StatusCode)
			}
			loc = r.Header.Get("Location")
		}
		if r = do(http.MethodPut, loc+"?digest="+d.String(), nil); r.StatusCode != http.StatusCreated {
			b.Fatalf("commit: %d", r.StatusCode)
		}
	}
}

func BenchmarkPull(b *testing.B) {
	const size = 64 << 20
	_, do := benchServer(b)
	data := benchData(b, size)
	d := digest.FromBytes(data)
	if r := do(http.MethodPost, "/v2/bench/blobs/uploads/?digest="+d.String(), bytes.NewReader(data)); r.StatusCode != http.StatusCreated {
		b.Fatalf("upload: %d", r.StatusCode)
	}
	b.SetBytes(size)
	for b.Loop() {
		if r := do(http.MethodGet, "/v2/bench/blobs/"+d.String(), nil); r.StatusCode != http.StatusOK || r.ContentLength != size {
			b.Fatalf("pull: %d %d", r.StatusCode, r.ContentLength)
		}
	}
}

package archive_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/archive"
)

func TestDecompress(t *testing.T) {
	plain := bytes.Repeat([]byte("a line of a tar, or of anything\n"), 5000)
	tests := []struct {
		name string
		data []byte
		want archive.Compression
	}{
		{name: "plain", data: plain, want: archive.Uncompressed},
		{name: "empty", data: nil, want: archive.Uncompressed},
		{name: "shorter than a magic", data: []byte{0x1f}, want: archive.Uncompressed},
		{name: "gzip", data: compressedWith(t, "gzip", plain), want: archive.Gzip},
		{name: "gzip, two members", data: append(compressedWith(t, "gzip", plain[:100]), compressedWith(t, "gzip", plain[100:])...), want: archive.Gzip},
		{name: "bzip2", data: compressedWith(t, "bzip2", plain), want: archive.Bzip2},
		{name: "xz", data: compressedWith(t, "xz", plain), want: archive.Xz},
		{name: "zstd", data: compressedWith(t, "zstd", plain), want: archive.Zstd},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := archive.DetectCompression(tc.data); got != tc.want {
				t.Errorf("DetectCompression = %v, want %v", got, tc.want)
			}
			rc, err := archive.Decompress(bytes.NewReader(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			want := plain
			switch tc.name {
			case "empty":
				want = nil
			case "shorter than a magic":
				want = tc.data
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decompressed %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

// TestDecompressCorrupt: a stream that starts like a compressed one but is cut short or damaged is the
// sender's error, never a short read that looks like a complete stream.
func TestDecompressCorrupt(t *testing.T) {
	plain := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for _, tool := range []string{"gzip", "bzip2", "xz", "zstd"} {
		full := compressedWith(t, tool, plain)
		damaged := bytes.Clone(full)
		damaged[len(damaged)/2] ^= 0xff
		for _, tc := range []struct {
			name string
			data []byte
		}{
			{name: tool + " truncated", data: full[:len(full)/2]},
			{name: tool + " damaged", data: damaged},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rc, err := archive.Decompress(bytes.NewReader(tc.data))
				if err == nil {
					defer rc.Close()
					_, err = io.ReadAll(rc)
				}
				if !errors.Is(err, errdefs.ErrInvalidArgument) {
					t.Fatalf("error = %v, want one wrapping ErrInvalidArgument", err)
				}
			})
		}
	}
}

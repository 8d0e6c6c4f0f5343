package archive

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/errdefs"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compression is a stream compression Decompress recognises by its magic bytes.
type Compression int

// The compressions docker's pkg/archive detects.
const (
	Uncompressed Compression = iota
	Gzip
	Bzip2
	Xz
	Zstd
)

func (c Compression) String() string {
	return [...]string{"uncompressed", "gzip", "bzip2", "xz", "zstd"}[c]
}

var magics = []struct {
	c     Compression
	magic []byte
}{
	{Gzip, []byte{0x1f, 0x8b, 0x08}},
	{Bzip2, []byte{'B', 'Z', 'h'}},
	{Xz, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
}

// DetectCompression names the compression whose magic bytes start b (Uncompressed when none does).
func DetectCompression(b []byte) Compression {
	for _, m := range magics {
		if bytes.HasPrefix(b, m.magic) {
			return m.c
		}
	}
	return Uncompressed
}

// Decompress returns the uncompressed content of r: gzip, bzip2, xz and zstd streams are recognised by their
// magic bytes, as docker's pkg/archive recognises them, and anything else is returned unchanged. A stream that
// starts like a compressed one but is not is reported (by Decompress or by a later Read) as an error wrapping
// errdefs.ErrInvalidArgument. Close releases the decompressor; it does not close r.
func Decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("archive: reading: %w", err)
	}
	c := DetectCompression(magic)
	var rd io.Reader
	closer := func() {}
	switch c {
	case Uncompressed:
		return io.NopCloser(br), nil
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, invalidStream(c, err)
		}
		rd, closer = zr, func() { zr.Close() }
	case Bzip2:
		rd = bzip2.NewReader(br)
	case Xz:
		// A pure Go decoder: docker runs the xz binary, which a host may not have.
		zr, err := xz.NewReader(br)
		if err != nil {
			return nil, invalidStream(c, err)
		}
		rd = zr
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, invalidStream(c, err)
		}
		rd, closer = zr, zr.Close
	}
	return &decompressor{r: rd, c: c, close: closer}, nil
}

// decompressor classifies a decoder's failures as invalid input: the stream is the client's.
type decompressor struct {
	r     io.Reader
	c     Compression
	close func()
}

func (d *decompressor) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = invalidStream(d.c, err)
	}
	return n, err
}

func (d *decompressor) Close() error {
	d.close()
	return nil
}

func invalidStream(c Compression, err error) error {
	if errdefs.IsInvalidArgument(err) {
		return err
	}
	return fmt.Errorf("archive: %s stream: %w: %w", c, errdefs.ErrInvalidArgument, err)
}

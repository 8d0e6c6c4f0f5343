package image

import (
	"context"
	"io"

	berthtar "github.com/berth/berth/internal/archive"
)

// decompress returns r's uncompressed content, detecting gzip, bzip2, xz and zstd by their magic numbers as
// Docker does (anything else passes through as is): archive.Decompress, the engine's one decompressor. The
// reader stops with ctx when r does (the pull's readers are tied to it).
func decompress(ctx context.Context, r io.Reader) (io.ReadCloser, error) {
	return berthtar.Decompress(r)
}

package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"path/filepath"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"

	"github.com/berth/berth/internal/content"
)

// ChecksumInput is a write's additional checksum: the algorithm to compute and, when the client sent one, the value
// to check, in a header (Value) or in a trailer that is known only once the body has been read to its end
// (Trailer, e.g. an aws-chunked body's x-amz-checksum-crc32 trailer).
type ChecksumInput struct {
	Algorithm ChecksumAlgorithm
	Value     string
	Trailer   func() string
}

// ingested is a body that has been read, hashed and stored: inline bytes, or a blob committed to the content store
// and pinned until the caller's index transaction is done (the caller unpins).
type ingested struct {
	size     int64
	md5      []byte
	checksum []byte
	inline   []byte
	blob     *blobRef
}

type blobRef struct {
	id   blobID
	size int64
	sums []byte // the blobsums entry: block size, then a CRC32C per block
}

func (in *ingested) etag() string { return hex.EncodeToString(in.md5) }

// pinned returns the blobs the ingest pinned.
func (in *ingested) pinned() []blobID {
	if in == nil || in.blob == nil {
		return nil
	}
	return []blobID{in.blob.id}
}

// writeBehind is how much of a blob is written before it is handed to the disk.
const writeBehind = 8 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// ingest reads body to its end, hashing it in one pass (MD5 for the ETag, the requested checksum, a CRC32C per block
// and, in the content store's writer, the SHA-256 that names the blob). Bodies up to the inline limit (when inline is
// allowed) stay in memory for the index; larger ones stream into a blob, never buffered whole. size is the
// declared length (-1 when unknown) and limit the most the write may hold. Nothing is stored when the body is cut
// short, too long, or does not match contentMD5 or the checksum.
func (s *Store) ingest(ctx context.Context, body io.Reader, size, limit int64, inline bool, ck ChecksumInput, contentMD5 []byte) (*ingested, error) {
	if size > limit {
		return nil, tooLarge(size, limit)
	}
	if ck.Algorithm != "" && ck.Value != "" && !ValidChecksumValue(ck.Algorithm, ck.Value) {
		return nil, ErrInvalidRequest.With("Value for %s header is invalid.", ck.Algorithm.HeaderName())
	}
	in := &ingested{}
	md := md5.New()
	var ch hash.Hash
	if ck.Algorithm != "" {
		ch = ck.Algorithm.newHash()
	}
	hashAll := func(p []byte) {
		md.Write(p)
		if ch != nil {
			ch.Write(p)
		}
	}

	// Small bodies are read whole first; only one that outgrows the inline limit becomes a blob.
	var head []byte
	if inline && s.inlineLimit > 0 && size <= s.inlineLimit {
		n := s.inlineLimit + 1
		if size >= 0 {
			n = size + 1
		}
		buf := make([]byte, n)
		got, err := io.ReadFull(body, buf)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			head = buf[:got]
			hashAll(head)
			in.inline = head
			in.size = int64(got)
			if err := in.verify(size, md, ch, ck, contentMD5); err != nil {
				return nil, err
			}
			return in, nil
		case err != nil:
			return nil, bodyError(err)
		}
		head = buf[:got]
	}

	// Data goes to the disk as it streams in, so the fsync before the answer has little left to write.
	w, err := s.blobs.Writer(ctx, content.WithWriteBehind(writeBehind))
	if err != nil {
		return nil, err
	}
	defer w.Close()
	sums := newBlockSummer()
	write := func(p []byte) error {
		if in.size += int64(len(p)); in.size > limit {
			return tooLarge(in.size, limit)
		}
		if size >= 0 && in.size > size {
			return ErrIncompleteBody.With("You did not provide the number of bytes specified by the Content-Length HTTP header.")
		}
		hashAll(p)
		sums.Write(p)
		_, err := w.Write(p)
		return err
	}
	if len(head) > 0 {
		if err := write(head); err != nil {
			return nil, err
		}
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, rerr := io.ReadFull(body, buf)
		if n > 0 {
			if err := write(buf[:n]); err != nil {
				return nil, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return nil, bodyError(rerr)
		}
	}
	if err := in.verify(size, md, ch, ck, contentMD5); err != nil {
		return nil, err
	}
	var id blobID
	hexSum, _ := hex.DecodeString(w.Digest().Encoded())
	copy(id[:], hexSum)
	in.blob = &blobRef{id: id, size: in.size, sums: sums.table()}
	s.pin(id)
	if err := w.Commit(ctx, in.size, w.Digest()); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			s.unpin(id)
			return nil, fmt.Errorf("store object data: %w", err)
		}
		// The blob is there, fsynced, but the write that linked it may not have synced its directory entry yet
		// (it is linking the same content right now): sync it before the caller's index names the blob, or a
		// power cut could lose an acknowledged object.
		if err := syncDir(filepath.Join(s.dir, "content", "blobs", digest.SHA256.String())); err != nil {
			s.unpin(id)
			return nil, fmt.Errorf("store object data: %w", err)
		}
	}
	return in, nil
}

// verify checks the body against its declared length, Content-MD5 and checksum, once it was read to its end.
func (in *ingested) verify(size int64, md hash.Hash, ch hash.Hash, ck ChecksumInput, contentMD5 []byte) error {
	if size >= 0 && in.size != size {
		return ErrIncompleteBody.With("You did not provide the number of bytes specified by the Content-Length HTTP header.")
	}
	in.md5 = md.Sum(nil)
	if contentMD5 != nil && !bytes.Equal(contentMD5, in.md5) {
		return ErrBadDigest.With("The Content-MD5 you specified did not match what we received.")
	}
	if ch == nil {
		return nil
	}
	in.checksum = ch.Sum(nil)
	want := ck.Value
	if want == "" && ck.Trailer != nil {
		want = ck.Trailer()
		if want != "" && !ValidChecksumValue(ck.Algorithm, want) {
			return ErrInvalidRequest.With("Value for %s trailing header is invalid.", ck.Algorithm.HeaderName())
		}
	}
	if want != "" && want != encodeChecksum(in.checksum) {
		return ErrBadDigest.With("The %s you specified did not match the calculated checksum.", ck.Algorithm.HeaderName())
	}
	return nil
}

func tooLarge(size, limit int64) error {
	return ErrEntityTooLarge.With("Your proposed upload exceeds the maximum allowed size").
		WithExtra("ProposedSize", itoa(size)).WithExtra("MaxSizeAllowed", itoa(limit))
}

// bodyError words a failed body read: a client that went away mid-body sent an incomplete body; anything else
// (a chunk signature the endpoint refused) is passed on as it is.
func bodyError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrIncompleteBody.With("The request body terminated unexpectedly")
	}
	return fmt.Errorf("read request body: %w", err)
}

// blockSummer computes a CRC32C per blockSize bytes of what is written to it.
type blockSummer struct {
	cur  uint32
	n    int
	sums []byte
}

func newBlockSummer() *blockSummer {
	return &blockSummer{sums: binary.AppendUvarint(nil, blockSize)}
}

func (b *blockSummer) Write(p []byte) {
	for len(p) > 0 {
		k := min(blockSize-b.n, len(p))
		b.cur = crc32.Update(b.cur, castagnoli, p[:k])
		b.n += k
		p = p[k:]
		if b.n == blockSize {
			b.sums = binary.BigEndian.AppendUint32(b.sums, b.cur)
			b.cur, b.n = 0, 0
		}
	}
}

func (b *blockSummer) table() []byte {
	if b.n > 0 {
		b.sums = binary.BigEndian.AppendUint32(b.sums, b.cur)
		b.cur, b.n = 0, 0
	}
	return b.sums
}

// writeBlob stores r (already verified content, e.g. a range of another object) as a pinned blob.
func (s *Store) writeBlob(ctx context.Context, r io.Reader, alg ChecksumAlgorithm) (*ingested, error) {
	return s.ingest(ctx, r, -1, MaxObjectSize, false, ChecksumInput{Algorithm: alg}, nil)
}

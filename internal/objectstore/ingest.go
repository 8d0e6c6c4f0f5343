package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"path/filepath"
	"runtime"
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

// bodyChecks are what a body is checked against once read, besides its length.
type bodyChecks struct {
	checksum   ChecksumInput
	contentMD5 []byte
	// payloadSHA256, when set, is the SHA-256 the request's signature covers (the endpoint handed its check over:
	// the blob's own SHA-256 is the same pass).
	payloadSHA256 *[32]byte
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

// directMin is the smallest body written with O_DIRECT (bodies of unknown length are too): below it, the page
// cache's copy is cheap and a read soon after finds the object in memory.
const directMin = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// ingest reads body to its end, hashing it in one pass (MD5 for the ETag, the requested checksum, a CRC32C per block
// and, in the content store's writer, the SHA-256 that names the blob). Bodies up to the inline limit (when inline is
// allowed) stay in memory for the index; larger ones stream into a blob, never buffered whole. size is the
// declared length (-1 when unknown) and limit the most the write may hold. Nothing is stored when the body is cut
// short, too long, or does not match contentMD5 or the checksum.
func (s *Store) ingest(ctx context.Context, body io.Reader, size, limit int64, inline bool, checks bodyChecks) (*ingested, error) {
	ck, contentMD5 := checks.checksum, checks.contentMD5
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
			// The length first, as on the blob path below.
			if size < 0 || in.size == size {
				if err := checkPayload(checks.payloadSHA256, sha256.Sum256(head)); err != nil {
					return nil, err
				}
			}
			if err := in.verify(size, md, sumOf(ch), ck, contentMD5); err != nil {
				return nil, err
			}
			return in, nil
		case err != nil:
			return nil, bodyError(err)
		}
		head = buf[:got]
	}

	// A SHA-256 checksum of what goes to a blob is the blob's own address, which the content store computes as it
	// writes: one pass over the bytes instead of two.
	blobSHA256 := ck.Algorithm == SHA256
	if blobSHA256 {
		ch = nil
	}
	// Data goes to the disk as it streams in, so the fsync before the answer has little left to write. A large body
	// goes past the page cache (O_DIRECT where the filesystem allows it): copying it into cached pages cost as much
	// CPU as hashing it (27-43 % of the server's CPU on 64 MiB PUTs), and an object is rarely read back at once.
	opts := []content.WriterOpt{content.WithWriteBehind(writeBehind)}
	if size < 0 || size >= directMin {
		opts = append(opts, content.WithDirectIO())
	}
	w, err := s.blobs.Writer(ctx, opts...)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	sums := newBlockSummer()
	// take accounts for the next bytes of the body, refusing what is more than the write may hold.
	take := func(p []byte) error {
		if in.size += int64(len(p)); in.size > limit {
			return tooLarge(in.size, limit)
		}
		if size >= 0 && in.size > size {
			return ErrIncompleteBody.With("You did not provide the number of bytes specified by the Content-Length HTTP header.")
		}
		return nil
	}
	// store writes bytes to the blob: their block checksums, then the file (the content store hashes them with
	// SHA-256 as it writes).
	store := func(p []byte) error {
		sums.Write(p)
		_, err := w.Write(p)
		return err
	}
	if len(head) > 0 {
		if err := take(head); err != nil {
			return nil, err
		}
		hashAll(head)
		if err := store(head); err != nil {
			return nil, err
		}
	}
	// Each digest is a full pass over the body. While the store's large writes leave a core free for each (a lone
	// upload), the MD5 and the requested checksum run on a goroutine of their own over one buffer while this one
	// stores it and reads the body into the other: the upload goes at the pace of its slowest pass instead of
	// their sum. When the writes already keep every core busy, handing buffers between cores only costs (~5 %
	// more CPU per byte), so each write hashes its own buffers. Either way every digest covers every byte, in
	// order, before anything is committed, and the hasher is done with a buffer before it is read into again.
	b0, b1 := bufPool.Get().(*[]byte), bufPool.Get().(*[]byte)
	defer bufPool.Put(b0)
	defer bufPool.Put(b1)
	writes := s.largeWrites.Add(1)
	defer s.largeWrites.Add(-1)
	var hasher *hashing
	if 2*int(writes) <= runtime.GOMAXPROCS(0) {
		hasher = startHashing(md, ch)
	}
	defer hasher.stop() // before the buffers go back to the pool
	bufs := [2][]byte{*b0, *b1}
	cur := 0
	n, rerr := io.ReadFull(body, bufs[cur])
	for {
		if n > 0 {
			p := bufs[cur][:n]
			if err := take(p); err != nil {
				return nil, err
			}
			if hasher != nil {
				hasher.hash(p)
			} else {
				hashAll(p)
			}
			if err := store(p); err != nil {
				return nil, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return nil, bodyError(rerr)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next := 1 - cur
		n, rerr = io.ReadFull(body, bufs[next])
		hasher.wait() // done with bufs[cur]
		cur = next
	}
	hasher.wait()
	var id blobID
	hexSum, _ := hex.DecodeString(w.Digest().Encoded())
	copy(id[:], hexSum)
	// The length first, as the endpoint's own check would have run on the last byte it expected.
	if size < 0 || in.size == size {
		if err := checkPayload(checks.payloadSHA256, id); err != nil {
			return nil, err
		}
	}
	checksum := sumOf(ch)
	if blobSHA256 {
		checksum = id[:]
	}
	if err := in.verify(size, md, checksum, ck, contentMD5); err != nil {
		return nil, err
	}
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

// hashing feeds buffers to hashes on a goroutine of its own, one buffer at a time.
type hashing struct {
	work    chan []byte
	done    chan struct{}
	pending bool
}

// startHashing starts the goroutine that writes what hash is given to each of hs (nil ones skipped).
func startHashing(hs ...hash.Hash) *hashing {
	var use []hash.Hash
	for _, h := range hs {
		if h != nil {
			use = append(use, h)
		}
	}
	h := &hashing{work: make(chan []byte), done: make(chan struct{})}
	go func() {
		for p := range h.work {
			for _, x := range use {
				x.Write(p)
			}
			h.done <- struct{}{}
		}
	}()
	return h
}

// hash starts hashing p; p must not change until wait returns.
func (h *hashing) hash(p []byte) {
	h.work <- p
	h.pending = true
}

// wait returns once the buffer last given to hash is hashed (at once for a nil hashing).
func (h *hashing) wait() {
	if h != nil && h.pending {
		<-h.done
		h.pending = false
	}
}

// stop waits for the hashing under way and ends the goroutine.
func (h *hashing) stop() {
	if h == nil {
		return
	}
	h.wait()
	close(h.work)
}

// sumOf is h's digest (nil for no hash).
func sumOf(h hash.Hash) []byte {
	if h == nil {
		return nil
	}
	return h.Sum(nil)
}

// checkPayload compares a body's SHA-256 with the one its request's signature covers (none: nothing to check).
func checkPayload(want *[32]byte, got [32]byte) error {
	if want == nil || *want == got {
		return nil
	}
	return ErrContentSHA256Mismatch.With("The provided 'x-amz-content-sha256' header does not match what was computed.").
		WithExtra("ClientComputedContentSHA256", hex.EncodeToString(want[:])).WithExtra("S3ComputedContentSHA256", hex.EncodeToString(got[:]))
}

// verify checks the body against its declared length, Content-MD5 and checksum, once it was read to its end.
func (in *ingested) verify(size int64, md hash.Hash, checksum []byte, ck ChecksumInput, contentMD5 []byte) error {
	if size >= 0 && in.size != size {
		return ErrIncompleteBody.With("You did not provide the number of bytes specified by the Content-Length HTTP header.")
	}
	in.md5 = md.Sum(nil)
	if contentMD5 != nil && !bytes.Equal(contentMD5, in.md5) {
		return ErrBadDigest.With("The Content-MD5 you specified did not match what we received.")
	}
	if checksum == nil {
		return nil
	}
	in.checksum = checksum
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
	return s.ingest(ctx, r, -1, MaxObjectSize, false, bodyChecks{checksum: ChecksumInput{Algorithm: alg}})
}

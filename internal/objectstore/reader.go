package objectstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/berth/berth/internal/content"
)

// Object is an open read of one version. Info describes the version; reading yields the bytes
// [Start, Start+Length) of its content, each 64 KiB block checked against the CRC32C recorded when it was written
// before any byte of it is returned, so a corrupt block stops the read with ErrCorrupt. The blobs an Object reads
// stay on disk, whatever writes and deletes happen meanwhile, until Close.
type Object struct {
	Info ObjectInfo
	// Start and Length are the bytes the read returns.
	Start, Length int64
	// Partial is set when a Range or a part number selected the bytes (S3 answers 206 Partial Content).
	Partial bool

	s      *Store
	rec    *record // the version read (nil for a copy's internal read)
	segs   []segment
	pinned []blobID
	cur    int
	file   content.ReaderAt
	pos    int64 // next byte of the current segment's chunk to return
	buf    *[]byte
	err    error
	rest   []byte // verified bytes not yet returned by Read
}

// segment is the part of one chunk (or of the inline content) a read returns.
type segment struct {
	inline []byte // verified when the read was opened
	id     blobID
	sums   []byte // the chunk's CRC32C per block
	block  int64
	size   int64 // the chunk's size
	off, n int64 // the bytes of the chunk to return
}

// GetObject opens a read of the version opts selects, after checking its preconditions; a range that does not fit
// the object is ErrInvalidRange (an ObjectError carrying its size). The caller closes the Object.
func (s *Store) GetObject(ctx context.Context, bucket, key string, opts GetOptions) (*Object, error) {
	if opts.Range != nil && opts.PartNumber > 0 {
		return nil, ErrInvalidRequest.With("Cannot specify both Range header and partNumber query parameter")
	}
	v, err := s.openVersion(bucket, key, opts)
	if err != nil {
		return nil, err
	}
	o := &Object{s: s, Info: v.info, Start: 0, Length: v.rec.Size, pinned: v.pinned, rec: v.rec}
	switch {
	case opts.PartNumber > 0:
		start, n, err := partRange(v.rec, opts.PartNumber)
		if err != nil {
			o.Close()
			return nil, &ObjectError{Info: o.Info, Err: err}
		}
		o.Start, o.Length, o.Partial = start, n, true
	case opts.Range != nil:
		start, n, ok := opts.Range.Resolve(v.rec.Size)
		if !ok {
			o.Close()
			return nil, &ObjectError{Info: o.Info, Err: ErrInvalidRange.With("The requested range is not satisfiable").
				WithExtra("ActualObjectSize", itoa(v.rec.Size))}
		}
		o.Start, o.Length, o.Partial = start, n, true
	}
	o.segs = v.segments(o.Start, o.Length)
	o.startSegment()
	return o, nil
}

// Parts lists the parts of the version read, when it is a multipart object (as ObjectParts does).
func (o *Object) Parts() []Part {
	if o.rec == nil {
		return nil
	}
	return o.rec.partList()
}

// version is a version read from the index with its content's blobs pinned (and known to exist) until unpinned.
type version struct {
	rec    *record
	info   ObjectInfo
	refs   []blobRef
	pinned []blobID
}

// openVersion finds the version opts names (checking delete markers and preconditions), copies out what reading it
// needs and pins its blobs.
func (s *Store) openVersion(bucket, key string, opts GetOptions) (*version, error) {
	// A version's blobs can be deleted between the index read and their pinning when the version was overwritten
	// or deleted meanwhile; looking again finds the index as it is now.
	for attempt := 0; ; attempt++ {
		v, missing, err := s.tryOpenVersion(bucket, key, opts)
		if err != nil || !missing {
			return v, err
		}
		if attempt == 3 {
			s.log.Error("object store: index references a missing blob", "bucket", bucket, "key", key)
			return nil, ErrCorrupt.With("object data is missing")
		}
	}
}

func (s *Store) tryOpenVersion(bucket, key string, opts GetOptions) (*version, bool, error) {
	v := &version{}
	err := s.view(func(tx *bolt.Tx) error {
		rec, latest, err := lookup(tx, bucket, key, opts, true)
		if err != nil {
			return err
		}
		v.rec, v.info = rec, rec.info(bucket, key, latest)
		if rec.Chunks == nil {
			if crc32.Checksum(rec.inline, castagnoli) != rec.InlineCRC || int64(len(rec.inline)) != rec.Size {
				s.log.Error("object store: inline content does not match its checksum", "bucket", bucket, "key", key, "version", rec.VersionID)
				return ErrCorrupt.With("object data does not match its checksum")
			}
			return nil
		}
		v.refs, err = loadRefs(tx, rec.Chunks)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	for _, r := range v.refs {
		v.pinned = append(v.pinned, r.id)
	}
	s.pin(v.pinned...)
	for _, id := range v.pinned {
		if _, err := s.blobs.Info(context.Background(), digest.Digest(id.String())); err != nil {
			s.unpin(v.pinned...)
			if errdefs.IsNotFound(err) {
				return nil, true, nil
			}
			return nil, false, err
		}
	}
	return v, false, nil
}

func (v *version) unpin(s *Store) {
	s.unpin(v.pinned...)
	v.pinned = nil
}

// loadRefs copies the chunks' blob references and block checksums out of the transaction.
func loadRefs(tx *bolt.Tx, chunks []chunk) ([]blobRef, error) {
	sums := tx.Bucket(blobSumsName)
	refs := make([]blobRef, 0, len(chunks))
	for _, c := range chunks {
		id, err := parseBlobID(c.Blob)
		if err != nil {
			return nil, err
		}
		table := sums.Get(id[:])
		bs, w := binary.Uvarint(table)
		if table == nil || w <= 0 || bs == 0 || int64(len(table)-w) != 4*((c.Size+int64(bs)-1)/int64(bs)) {
			return nil, fmt.Errorf("index: blob %s has a missing or malformed checksum table", id)
		}
		refs = append(refs, blobRef{id: id, size: c.Size, sums: bytes.Clone(table)})
	}
	return refs, nil
}

// segments maps [start, start+length) of the version's content onto its inline bytes or its chunks.
func (v *version) segments(start, length int64) []segment {
	if length == 0 {
		return nil
	}
	if v.rec.Chunks == nil {
		return []segment{{inline: v.rec.inline[start : start+length]}}
	}
	var segs []segment
	var base int64
	end := start + length
	for _, r := range v.refs {
		cEnd := base + r.size
		if cEnd > start && base < end && r.size > 0 {
			bs, w := binary.Uvarint(r.sums)
			off := max(start, base) - base
			segs = append(segs, segment{
				id:    r.id,
				sums:  r.sums[w:],
				block: int64(bs),
				size:  r.size,
				off:   off,
				n:     min(end, cEnd) - base - off,
			})
		}
		base = cEnd
	}
	return segs
}

// next returns the next verified bytes of the read (valid until the following call), or io.EOF.
func (o *Object) next() ([]byte, error) {
	if o.err != nil {
		return nil, o.err
	}
	for o.cur < len(o.segs) {
		sg := &o.segs[o.cur]
		if sg.inline != nil {
			o.cur++
			o.startSegment()
			return sg.inline, nil
		}
		end := sg.off + sg.n
		if o.pos >= end {
			o.closeFile()
			o.cur++
			o.startSegment()
			continue
		}
		b, err := o.readBlocks(sg, end)
		if err != nil {
			o.err = err
			return nil, err
		}
		return b, nil
	}
	return nil, io.EOF
}

func (o *Object) startSegment() {
	if o.cur < len(o.segs) && o.segs[o.cur].inline == nil {
		o.pos = o.segs[o.cur].off
	}
}

// readBlocks reads the whole blocks holding the next bytes of sg (up to the buffer's size), verifies each, and
// returns the requested bytes among them.
func (o *Object) readBlocks(sg *segment, end int64) ([]byte, error) {
	if o.file == nil {
		f, err := o.s.blobs.ReaderAt(context.Background(), digest.Digest(sg.id.String()))
		if err != nil {
			return nil, fmt.Errorf("open object data: %w", err)
		}
		if f.Size() != sg.size {
			f.Close()
			o.s.log.Error("object store: blob has the wrong size", "blob", sg.id.String(), "size", f.Size(), "want", sg.size)
			return nil, ErrCorrupt.With("object data has the wrong size")
		}
		o.file = f
	}
	if o.buf == nil {
		o.buf = bufPool.Get().(*[]byte)
	}
	buf := *o.buf
	bs := sg.block
	first := o.pos / bs * bs
	span := min(int64(len(buf))/bs*bs, sg.size-first)
	if last := (end + bs - 1) / bs * bs; first+span > last {
		span = last - first
	}
	n, err := o.file.ReadAt(buf[:span], first)
	if int64(n) != span {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read object data: %w", err)
	}
	for b := int64(0); b < span; b += bs {
		blk := buf[b:min(b+bs, span)]
		i := (first + b) / bs
		want := binary.BigEndian.Uint32(sg.sums[4*i:])
		if crc32.Checksum(blk, castagnoli) != want {
			o.s.log.Error("object store: block does not match its checksum", "blob", sg.id.String(), "offset", first+b)
			return nil, ErrCorrupt.With("object data does not match its checksum")
		}
	}
	from := o.pos - first
	to := min(end, first+span) - first
	o.pos = first + to
	return buf[from:to], nil
}

func (o *Object) closeFile() {
	if o.file != nil {
		o.file.Close()
		o.file = nil
	}
}

// Prefetch reads and verifies the first bytes of the read, so a corrupt start is an error before anything is
// sent (a server can still answer with an error status); the bytes are returned by the next Read or WriteTo.
func (o *Object) Prefetch() error {
	if len(o.rest) > 0 {
		return nil
	}
	b, err := o.next()
	if err == io.EOF {
		return nil
	}
	o.rest = b
	return err
}

// Read implements io.Reader.
func (o *Object) Read(p []byte) (int, error) {
	if len(o.rest) == 0 {
		b, err := o.next()
		if err != nil {
			return 0, err
		}
		o.rest = b
	}
	n := copy(p, o.rest)
	o.rest = o.rest[n:]
	return n, nil
}

// WriteTo implements io.WriterTo: verified blocks go straight from the read buffer to w.
func (o *Object) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if len(o.rest) > 0 {
		n, err := w.Write(o.rest)
		total += int64(n)
		o.rest = nil
		if err != nil {
			return total, err
		}
	}
	for {
		b, err := o.next()
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		n, err := w.Write(b)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

// Close ends the read and lets the blobs it held go if nothing else references them.
func (o *Object) Close() error {
	o.closeFile()
	if o.buf != nil {
		bufPool.Put(o.buf)
		o.buf = nil
	}
	if o.pinned != nil {
		o.s.unpin(o.pinned...)
		o.pinned = nil
	}
	if o.err == nil {
		o.err = errors.New("read of a closed object")
	}
	return nil
}

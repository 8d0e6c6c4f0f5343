package objectstore

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"sort"
)

// A version record is stored in a compact binary form (every GET, HEAD and listing entry decodes one):
//
//	format byte (2)
//	uvarint flags (1: delete marker)
//	string VersionID, varint Size, string ETag, varint Modified (Unix nanoseconds)
//	Metadata: six strings (type, encoding, disposition, language, cache control, expires),
//	          uvarint count, then name and value strings, by name
//	Checksum: three strings (algorithm, type, value)
//	uvarint chunk count, then per chunk: 32 bytes of sha256, varint size
//	uvarint part count, then per part: varint size, string ETag, string checksum
//	4 bytes InlineCRC (big-endian)
//	Owner: three strings (account, canonical ID, display name)
//	uvarint sub-resource count, then name string and document bytes, by name
//	the inline content, to the end
//
// A string (or document) is its uvarint length and its bytes.
const recordFormat = 2

var errCorruptRecord = errors.New("index: malformed version record")

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// encodeRecord lays a record out as above.
func encodeRecord(r *record) ([]byte, error) {
	b := make([]byte, 0, 192+len(r.inline)+40*len(r.Chunks))
	b = append(b, recordFormat)
	var flags uint64
	if r.DeleteMarker {
		flags |= 1
	}
	b = binary.AppendUvarint(b, flags)
	b = appendString(b, r.VersionID)
	b = binary.AppendVarint(b, r.Size)
	b = appendString(b, r.ETag)
	b = binary.AppendVarint(b, r.Modified)
	m := r.Meta
	for _, s := range []string{m.ContentType, m.ContentEncoding, m.ContentDisposition, m.ContentLanguage, m.CacheControl, m.Expires} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(m.User)))
	for _, k := range sortedKeys(m.User) {
		b = appendString(appendString(b, k), m.User[k])
	}
	b = appendString(b, string(r.Checksum.Algorithm))
	b = appendString(b, string(r.Checksum.Type))
	b = appendString(b, r.Checksum.Value)
	b = binary.AppendUvarint(b, uint64(len(r.Chunks)))
	for _, c := range r.Chunks {
		id, err := parseBlobID(c.Blob)
		if err != nil {
			return nil, err
		}
		b = append(b, id[:]...)
		b = binary.AppendVarint(b, c.Size)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Parts)))
	for _, p := range r.Parts {
		b = binary.AppendVarint(b, p.Size)
		b = appendString(b, p.ETag)
		b = appendString(b, p.Checksum)
	}
	b = binary.BigEndian.AppendUint32(b, r.InlineCRC)
	b = appendString(b, r.Owner.AccountID)
	b = appendString(b, r.Owner.ID)
	b = appendString(b, r.Owner.DisplayName)
	b = binary.AppendUvarint(b, uint64(len(r.Sub)))
	for _, k := range sortedKeys(r.Sub) {
		b = appendString(b, k)
		b = append(binary.AppendUvarint(b, uint64(len(r.Sub[k]))), r.Sub[k]...)
	}
	return append(b, r.inline...), nil
}

// recordReader reads the fields of an encoded record; the first error sticks.
type recordReader struct {
	b   []byte
	err bool
}

func (d *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordReader) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordReader) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = true, nil
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *recordReader) string() string { return string(d.bytes()) }

func (d *recordReader) fixed(n int) []byte {
	if n > len(d.b) {
		d.err, d.b = true, nil
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// count reads a count of entries that each take at least min bytes, refusing one the rest cannot hold.
func (d *recordReader) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.err, d.b = true, nil
		return 0
	}
	return int(n)
}

// decodeRecord parses a stored record. The inline content is copied only when withData is set: the stored bytes
// are valid only during the transaction.
func decodeRecord(b []byte, withData bool) (*record, error) {
	if len(b) < 1 || b[0] != recordFormat {
		return nil, errCorruptRecord
	}
	d := &recordReader{b: b[1:]}
	r := &record{}
	flags := d.uvarint()
	r.DeleteMarker = flags&1 != 0
	r.VersionID = d.string()
	r.Size = d.varint()
	r.ETag = d.string()
	r.Modified = d.varint()
	m := &r.Meta
	for _, p := range []*string{&m.ContentType, &m.ContentEncoding, &m.ContentDisposition, &m.ContentLanguage, &m.CacheControl, &m.Expires} {
		*p = d.string()
	}
	if n := d.count(2); n > 0 {
		m.User = make(map[string]string, n)
		for range n {
			k := d.string()
			m.User[k] = d.string()
		}
	}
	r.Checksum.Algorithm = ChecksumAlgorithm(d.string())
	r.Checksum.Type = ChecksumType(d.string())
	r.Checksum.Value = d.string()
	if n := d.count(33); n > 0 {
		r.Chunks = make([]chunk, n)
		for i := range r.Chunks {
			r.Chunks[i].Blob = hex.EncodeToString(d.fixed(32))
			r.Chunks[i].Size = d.varint()
		}
	}
	if n := d.count(3); n > 0 {
		r.Parts = make([]partRecord, n)
		for i := range r.Parts {
			r.Parts[i].Size = d.varint()
			r.Parts[i].ETag = d.string()
			r.Parts[i].Checksum = d.string()
		}
	}
	r.InlineCRC = binary.BigEndian.Uint32(d.fixed(4))
	r.Owner.AccountID = d.string()
	r.Owner.ID = d.string()
	r.Owner.DisplayName = d.string()
	if n := d.count(2); n > 0 {
		r.Sub = make(map[string][]byte, n)
		for range n {
			k := d.string()
			r.Sub[k] = append([]byte{}, d.bytes()...)
		}
	}
	if d.err {
		return nil, errCorruptRecord
	}
	if withData {
		r.inline = append(make([]byte, 0, len(d.b)), d.b...)
	}
	return r, nil
}

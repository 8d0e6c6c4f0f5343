package objectstore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
)

// The index's layout in bbolt:
//
//	buckets          name -> bucketRecord (JSON)
//	blobrefs         sha256 (32 bytes) -> uvarint references, uvarint size
//	blobsums         sha256 (32 bytes) -> uvarint block size, then a big-endian CRC32C per block
//	b/<name>         one per bucket, holding:
//	  v              encKey(key) + ^seq (8 bytes)  -> version record  (newest version of a key first)
//	  u              encKey(key) + seq (8 bytes)   -> upload record   (oldest upload of a key first)
//	  p              upload seq (8) + part number (4) -> part record
//	  c              configuration name -> document
//	  d              uploads completed lately, for retried Completes (completed.go)
//
// seq comes from the bucket's bbolt sequence, so versions order by when they were written whatever the clock says.
var (
	bucketsName  = []byte("buckets")
	blobRefsName = []byte("blobrefs")
	blobSumsName = []byte("blobsums")
	versionsName = []byte("v")
	uploadsName  = []byte("u")
	partsName    = []byte("p")
	configName   = []byte("c")
)

func bucketDataName(name string) []byte { return []byte("b/" + name) }

// encKey encodes an object key so encoded keys sort as the keys do and none is a prefix of another's encoding:
// 0x00 becomes 0x00 0xFF and the key ends with 0x00 0x00.
func encKey(dst []byte, key string) []byte {
	for i := 0; i < len(key); i++ {
		dst = append(dst, key[i])
		if key[i] == 0 {
			dst = append(dst, 0xff)
		}
	}
	return append(dst, 0, 0)
}

// encPrefix encodes a key prefix: the encoded form of every key starting with prefix starts with it.
func encPrefix(prefix string) []byte {
	b := encKey(nil, prefix)
	return b[:len(b)-2]
}

// decKey decodes an encoded key at the start of b and returns it and the bytes after it.
func decKey(b []byte) (string, []byte, bool) {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			continue
		}
		if i+1 >= len(b) {
			return "", nil, false
		}
		if b[i+1] == 0 {
			if out == nil {
				return string(b[:i]), b[i+2:], true
			}
			out = append(out, b[:i]...)
			return string(out), b[i+2:], true
		}
		// an escaped 0x00
		out = append(out, b[:i+1]...)
		b = b[i+2:]
		i = -1
	}
	return "", nil, false
}

// keyEnd is the smallest encoded byte string after every entry of key (its versions or uploads).
func keyEnd(key string) []byte {
	b := encKey(nil, key)
	b[len(b)-1] = 1
	return b
}

// prefixEnd is the smallest byte string after every key starting with the encoded prefix p (nil: no end).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func versionKey(key string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(encKey(nil, key), ^seq)
}

func uploadKey(key string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(encKey(nil, key), seq)
}

func partKey(uploadSeq uint64, part int) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, uploadSeq), uint32(part))
}

// splitVersionKey returns the object key and seq of a versions entry.
func splitVersionKey(k []byte) (string, uint64, bool) {
	key, rest, ok := decKey(k)
	if !ok || len(rest) != 8 {
		return "", 0, false
	}
	return key, ^binary.BigEndian.Uint64(rest), true
}

func splitUploadKey(k []byte) (string, uint64, bool) {
	key, rest, ok := decKey(k)
	if !ok || len(rest) != 8 {
		return "", 0, false
	}
	return key, binary.BigEndian.Uint64(rest), true
}

// Version and upload IDs carry the entry's seq, so a lookup by ID is a seek; the random tail keeps an ID from
// a deleted and re-created bucket from naming a new version. The seq is scrambled by an invertible
// multiplication so IDs do not all start alike.
func newID(seq uint64, random int) string {
	b := make([]byte, 8+random)
	binary.BigEndian.PutUint64(b, seq*idMix)
	rand.Read(b[8:])
	return base64.RawURLEncoding.EncodeToString(b)
}

// seqOfID decodes the seq of a version or upload ID; ok is false for a malformed ID.
func seqOfID(id string, random int) (uint64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(b) != 8+random {
		return 0, false
	}
	return binary.BigEndian.Uint64(b) * idUnmix, true
}

// idMix is odd, so multiplying by it is a bijection of uint64; idUnmix is its inverse modulo 2^64.
const idMix = 0x9e3779b97f4a7c15

var idUnmix = func() uint64 {
	x := uint64(idMix) // Newton's iteration doubles the correct low bits each step: 3 -> 6 -> … -> 96
	for range 5 {
		x *= 2 - idMix*x
	}
	return x
}()

const (
	versionIDRandom = 4
	uploadIDRandom  = 16
)

func newVersionID(seq uint64) string { return newID(seq, versionIDRandom) }
func newUploadID(seq uint64) string  { return newID(seq, uploadIDRandom) }

// blobID is a blob's raw sha256.
type blobID [32]byte

func (id blobID) String() string { return "sha256:" + id.hex() }

func (id blobID) hex() string { return hex.EncodeToString(id[:]) }

func parseBlobID(s string) (blobID, error) {
	var id blobID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("index: malformed blob reference %q", s)
	}
	copy(id[:], b)
	return id, nil
}

// chunk is a piece of an object's content: a whole blob.
type chunk struct {
	Blob string // hex sha256
	Size int64
}

// partRecord is a multipart object's part, as Complete saw it.
type partRecord struct {
	Size     int64
	ETag     string
	Checksum string
}

// record is a version (or delete marker) as the index stores it. The content is either inline (the bytes after the
// JSON, with InlineCRC) or Chunks, in order.
type record struct {
	VersionID    string
	DeleteMarker bool
	Size         int64
	ETag         string
	Modified     int64
	Meta         Metadata
	Checksum     Checksum
	Chunks       []chunk
	Parts        []partRecord
	InlineCRC    uint32
	Owner        Owner
	Sub          map[string][]byte
	inline       []byte // the content of an inline object (after the encoded fields)
	seq          uint64 // the version's seq, from its index key (not encoded)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

package objectstore

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strconv"
	"strings"
)

// ChecksumAlgorithm is one of S3's additional checksum algorithms.
type ChecksumAlgorithm string

// The algorithms S3 offers (x-amz-checksum-*).
const (
	CRC32     ChecksumAlgorithm = "CRC32"
	CRC32C    ChecksumAlgorithm = "CRC32C"
	CRC64NVME ChecksumAlgorithm = "CRC64NVME"
	SHA1      ChecksumAlgorithm = "SHA1"
	SHA256    ChecksumAlgorithm = "SHA256"
)

// ChecksumAlgorithms lists the algorithms in the order S3 documents them.
var ChecksumAlgorithms = []ChecksumAlgorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256}

// ChecksumType says how a multipart object's checksum was computed.
type ChecksumType string

const (
	// FullObject: the checksum of the whole content (a CRC combined from the parts' CRCs for multipart).
	FullObject ChecksumType = "FULL_OBJECT"
	// Composite: the checksum of the concatenated part checksums, followed by -N.
	Composite ChecksumType = "COMPOSITE"
)

// Checksum is an object's (or a part's) additional checksum.
type Checksum struct {
	Algorithm ChecksumAlgorithm `json:"a,omitempty"`
	Type      ChecksumType      `json:"t,omitempty"`
	// Value is base64 as S3 returns it; a composite value ends in -N.
	Value string `json:"v,omitempty"`
}

// ParseChecksumAlgorithm recognises an algorithm name in any case ("crc32", "CRC64NVME"); ok is false otherwise.
func ParseChecksumAlgorithm(s string) (ChecksumAlgorithm, bool) {
	a := ChecksumAlgorithm(strings.ToUpper(s))
	for _, known := range ChecksumAlgorithms {
		if a == known {
			return a, true
		}
	}
	return "", false
}

// HeaderName is the algorithm's request and response header (x-amz-checksum-crc32, …).
func (a ChecksumAlgorithm) HeaderName() string { return "x-amz-checksum-" + strings.ToLower(string(a)) }

// supportsFullObject reports whether a multipart upload can carry a full-object checksum of a (CRCs combine).
func (a ChecksumAlgorithm) supportsFullObject() bool {
	return a == CRC32 || a == CRC32C || a == CRC64NVME
}

// supportsComposite reports whether a multipart upload can carry a composite checksum of a.
func (a ChecksumAlgorithm) supportsComposite() bool { return a != CRC64NVME && a != "" }

// rawSize is the length of the algorithm's digest in bytes.
func (a ChecksumAlgorithm) rawSize() int {
	switch a {
	case CRC32, CRC32C:
		return 4
	case CRC64NVME:
		return 8
	case SHA1:
		return sha1.Size
	case SHA256:
		return sha256.Size
	}
	return 0
}

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	// crc64NVMEPoly is CRC-64/NVME's polynomial, reflected (0xAD93D23594C93659 reversed).
	crc64NVMEPoly  = uint64(0x9a6c9329ac4bc9b5)
	crc64NVMETable = crc64.MakeTable(crc64NVMEPoly)
)

func (a ChecksumAlgorithm) newHash() hash.Hash {
	switch a {
	case CRC32:
		return crc32.NewIEEE()
	case CRC32C:
		return crc32.New(castagnoli)
	case CRC64NVME:
		return crc64.New(crc64NVMETable)
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	}
	return nil
}

// ValidChecksumValue reports whether v is a well-formed base64 value for a (the right length once decoded).
func ValidChecksumValue(a ChecksumAlgorithm, v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == a.rawSize()
}

func encodeChecksum(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }

// crcCombine returns the CRC of A||B from crc(A), crc(B) and len(B), for a reflected CRC with polynomial poly of
// width bits (zlib's crc32_combine, generalised). It lets a multipart upload's full-object CRC be computed from its
// parts' CRCs without reading the parts again.
func crcCombine(poly uint64, width int, crcA, crcB uint64, lenB int64) uint64 {
	if lenB <= 0 {
		return crcA
	}
	// odd is the operator for one zero bit; even and odd are squared in turn to apply 2^k zero bits.
	odd := make([]uint64, width)
	even := make([]uint64, width)
	odd[0] = poly
	row := uint64(1)
	for n := 1; n < width; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(even, odd) // two zero bits
	gf2Square(odd, even) // four zero bits
	for {
		gf2Square(even, odd)
		if lenB&1 != 0 {
			crcA = gf2Times(even, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
		gf2Square(odd, even)
		if lenB&1 != 0 {
			crcA = gf2Times(odd, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat []uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat []uint64) {
	for n := range mat {
		square[n] = gf2Times(mat, mat[n])
	}
}

// combineFullObject combines the parts' raw CRC values (in order, with their sizes) into the whole content's CRC.
func combineFullObject(a ChecksumAlgorithm, raws [][]byte, sizes []int64) []byte {
	var poly uint64
	var width int
	switch a {
	case CRC32:
		poly, width = uint64(crc32.IEEE), 32
	case CRC32C:
		poly, width = uint64(crc32.Castagnoli), 32
	case CRC64NVME:
		poly, width = crc64NVMEPoly, 64
	default:
		return nil
	}
	var crc uint64
	for i, raw := range raws {
		var c uint64
		if width == 32 {
			c = uint64(binary.BigEndian.Uint32(raw))
		} else {
			c = binary.BigEndian.Uint64(raw)
		}
		if i == 0 {
			crc = c
			continue
		}
		crc = crcCombine(poly, width, crc, c, sizes[i])
	}
	if width == 32 {
		return binary.BigEndian.AppendUint32(nil, uint32(crc))
	}
	return binary.BigEndian.AppendUint64(nil, crc)
}

// combineComposite returns the composite checksum of the parts' raw checksums: a checksum of their concatenation,
// followed by -N.
func combineComposite(a ChecksumAlgorithm, raws [][]byte) string {
	h := a.newHash()
	for _, r := range raws {
		h.Write(r)
	}
	return encodeChecksum(h.Sum(nil)) + "-" + strconv.Itoa(len(raws))
}

// NewChecksumHash returns a new hash of the algorithm (nil for an unknown one).
func NewChecksumHash(a ChecksumAlgorithm) hash.Hash { return a.newHash() }

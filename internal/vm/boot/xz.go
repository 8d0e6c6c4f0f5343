package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// Linux compresses an x86 kernel with xz's x86 branch filter before LZMA2 (`xz --x86 --lzma2`), which
// github.com/ulikunitz/xz's reader does not take. unxz reads such a stream: the xz container's first block
// through the LZMA2 decoder of that package, then the x86 filter undone here.

// xz filter IDs.
const (
	xzFilterX86   = 0x04
	xzFilterLZMA2 = 0x21
)

var errXZ = errors.New("xz: unsupported or corrupt stream")

// unxz decompresses the first block of an xz stream whose filters are [x86,] LZMA2.
func unxz(p []byte) ([]byte, error) {
	if len(p) < 12+8 || !bytes.HasPrefix(p, []byte{0xfd, '7', 'z', 'X', 'Z', 0}) {
		return nil, errXZ
	}
	p = p[12:] // stream header: magic, flags, CRC32
	hsize := (int(p[0]) + 1) * 4
	if p[0] == 0 || hsize > len(p) {
		return nil, errXZ
	}
	h := p[1 : hsize-4] // without the size byte and the CRC32
	flags := h[0]
	h = h[1:]
	nfilters := int(flags&3) + 1
	var err error
	if flags&0x40 != 0 { // compressed size present
		if _, h, err = uvarint(h); err != nil {
			return nil, err
		}
	}
	if flags&0x80 != 0 { // uncompressed size present
		if _, h, err = uvarint(h); err != nil {
			return nil, err
		}
	}
	x86 := false
	var dictCap int
	for i := 0; i < nfilters; i++ {
		var id, psize uint64
		if id, h, err = uvarint(h); err != nil {
			return nil, err
		}
		if psize, h, err = uvarint(h); err != nil || int(psize) > len(h) {
			return nil, errXZ
		}
		props := h[:psize]
		h = h[psize:]
		switch {
		case id == xzFilterX86 && i < nfilters-1:
			if len(props) == 4 && binary.LittleEndian.Uint32(props) != 0 {
				return nil, fmt.Errorf("%w: x86 filter with a start offset", errXZ)
			}
			x86 = true
		case id == xzFilterLZMA2 && i == nfilters-1 && len(props) == 1:
			d := props[0]
			if d > 40 {
				return nil, errXZ
			}
			if d == 40 {
				dictCap = 1<<32 - 1
			} else {
				dictCap = (2 | int(d&1)) << (d/2 + 11)
			}
		default:
			return nil, fmt.Errorf("%w: filter %#x", errXZ, id)
		}
	}
	if dictCap == 0 {
		return nil, errXZ
	}
	if dictCap < lzma.MinDictCap {
		dictCap = lzma.MinDictCap
	}
	r, err := lzma.Reader2Config{DictCap: dictCap}.NewReader2(bytes.NewReader(p[hsize:]))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if x86 {
		unfilterX86(out)
	}
	return out, nil
}

func uvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, errXZ
	}
	return v, b[n:], nil
}

// unfilterX86 undoes xz's x86 branch-call-jump filter in place, over a whole buffer that starts at offset 0 (the
// algorithm of xz's simple/x86.c, decoding direction).
func unfilterX86(buf []byte) {
	maskAllowed := [8]bool{true, true, true, false, true, false, false, false}
	maskBit := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	msb := func(b byte) bool { return b == 0x00 || b == 0xff }
	if len(buf) <= 4 {
		return
	}
	size := len(buf) - 4
	prevPos := -1
	var prevMask uint32
	for i := 0; i < size; i++ {
		if buf[i]&0xfe != 0xe8 {
			continue
		}
		d := i - prevPos
		if d > 3 {
			prevMask = 0
		} else {
			prevMask = (prevMask << (d - 1)) & 7
			if prevMask != 0 {
				b := buf[i+4-int(maskBit[prevMask])]
				if !maskAllowed[prevMask] || msb(b) {
					prevPos = i
					prevMask = prevMask<<1 | 1
					continue
				}
			}
		}
		prevPos = i
		if !msb(buf[i+4]) {
			prevMask = prevMask<<1 | 1
			continue
		}
		src := binary.LittleEndian.Uint32(buf[i+1:])
		var dest uint32
		for {
			dest = src - uint32(i+5)
			if prevMask == 0 {
				break
			}
			j := maskBit[prevMask] * 8
			if !msb(byte(dest >> (24 - j))) {
				break
			}
			src = dest ^ (1<<(32-j) - 1)
		}
		dest &= 0x01ffffff
		dest |= 0 - (dest & 0x01000000)
		binary.LittleEndian.PutUint32(buf[i+1:], dest)
		i += 4
	}
}

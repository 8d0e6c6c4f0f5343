// Package local is docker's "local" log format: each record is a protocol buffers LogEntry (moby's
// daemon/logger/internal/logdriver/entry.proto: source, time_nano, line, partial, partial_log_metadata,
// attrs) between two big-endian uint32 copies of its length, so the file can be read from either end. Files
// are kept, rotated and compressed by internal/logger/logfile, with docker's defaults for this driver (20 MiB,
// 5 files, compressed). The messages are encoded and decoded here by hand: the shim links this package, and a
// protobuf runtime would cost it far more than these few fields do.
package local

import (
	"encoding/binary"
	"errors"
	"io"
	"sort"
	"time"

	"github.com/berth/berth/internal/logger/logfile"
)

// Name is the driver's name.
const Name = "local"

// Docker's defaults for the driver.
const (
	DefaultMaxSize  = 20 * 1024 * 1024
	DefaultMaxFiles = 5
	DefaultCompress = true
)

// maxMsgLen is the largest record a reader accepts (docker's).
const maxMsgLen = 1_000_000

// Protobuf field numbers and wire types of LogEntry, PartialLogEntryMetadata and LogAttr.
const (
	wireVarint = 0
	wireI64    = 1
	wireLen    = 2
	wireI32    = 5

	fSource   = 1
	fTimeNano = 2
	fLine     = 3
	fPartial  = 4
	fPartMeta = 5
	fAttrs    = 6

	fMetaLast    = 1
	fMetaID      = 2
	fMetaOrdinal = 3

	fAttrKey   = 1
	fAttrValue = 2
)

// Encoder writes local records, each with the same attributes.
type Encoder struct {
	attrs []byte // the encoded attrs fields
}

var _ logfile.Encoder = (*Encoder)(nil)

// NewEncoder returns an Encoder whose records carry attrs, sorted by key as docker sorts them.
func NewEncoder(attrs map[string]string) *Encoder {
	keys := logfile.SortedKeys(attrs)
	e := &Encoder{}
	for _, k := range keys {
		var a []byte
		a = appendBytes(a, fAttrKey, []byte(k))
		a = appendBytes(a, fAttrValue, []byte(attrs[k]))
		e.attrs = appendBytes(e.attrs, fAttrs, a)
	}
	return e
}

// Append appends the framed LogEntry of m: the line without its newline, a part of a line marked partial.
func (e *Encoder) Append(dst []byte, m *logfile.Message) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0) // the length, once known
	if m.Stream != "" {
		dst = appendBytes(dst, fSource, []byte(m.Stream))
	}
	if ns := m.Time.UnixNano(); ns != 0 {
		dst = appendTag(dst, fTimeNano, wireVarint)
		dst = binary.AppendUvarint(dst, uint64(ns))
	}
	if len(m.Line) > 0 {
		dst = appendBytes(dst, fLine, m.Line)
	}
	if p := m.Partial; p != nil {
		dst = appendTag(dst, fPartial, wireVarint)
		dst = append(dst, 1)
		var md []byte
		if p.Last {
			md = appendTag(md, fMetaLast, wireVarint)
			md = append(md, 1)
		}
		if p.ID != "" {
			md = appendBytes(md, fMetaID, []byte(p.ID))
		}
		if p.Ordinal != 0 {
			md = appendTag(md, fMetaOrdinal, wireVarint)
			md = binary.AppendUvarint(md, uint64(int64(p.Ordinal)))
		}
		dst = appendBytes(dst, fPartMeta, md)
	}
	dst = append(dst, e.attrs...)
	n := len(dst) - start - 4
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

func appendTag(dst []byte, field int, wire int) []byte {
	return binary.AppendUvarint(dst, uint64(field<<3|wire))
}

func appendBytes(dst []byte, field int, b []byte) []byte {
	dst = appendTag(dst, field, wireLen)
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// Decoder reads local records.
type Decoder struct{}

var _ logfile.Decoder = Decoder{}

var errFraming = errors.New("local log: bad record framing")

// Split returns the length of the framed record data starts with.
func (Decoder) Split(data []byte) (int, error) {
	if len(data) < 4 {
		return 0, nil
	}
	n := int(binary.BigEndian.Uint32(data))
	if n > maxMsgLen {
		return 0, errFraming
	}
	if len(data) < n+8 {
		return 0, nil
	}
	if binary.BigEndian.Uint32(data[4+n:]) != uint32(n) {
		return 0, errFraming
	}
	return n + 8, nil
}

// Decode parses one framed LogEntry. The line gets its newline back unless the entry is a part of a line but
// its last, as docker's reader does.
func (Decoder) Decode(rec []byte, m *logfile.Message) bool {
	if len(rec) < 8 {
		return false
	}
	b := rec[4 : len(rec)-4]
	partial := false
	var meta logfile.Partial
	err := fields(b, func(field, wire int, v uint64, data []byte) error {
		switch {
		case field == fSource && wire == wireLen:
			m.Stream = string(data)
		case field == fTimeNano && wire == wireVarint:
			m.Time = time.Unix(0, int64(v)).UTC()
		case field == fLine && wire == wireLen:
			m.Line = append(m.Line[:0], data...)
		case field == fPartial && wire == wireVarint:
			partial = v != 0
		case field == fPartMeta && wire == wireLen:
			return fields(data, func(field, wire int, v uint64, data []byte) error {
				switch {
				case field == fMetaLast && wire == wireVarint:
					meta.Last = v != 0
				case field == fMetaID && wire == wireLen:
					meta.ID = string(data)
				case field == fMetaOrdinal && wire == wireVarint:
					meta.Ordinal = int(int32(v))
				}
				return nil
			})
		case field == fAttrs && wire == wireLen:
			var a logfile.Attr
			err := fields(data, func(field, wire int, _ uint64, data []byte) error {
				switch {
				case field == fAttrKey && wire == wireLen:
					a.Key = string(data)
				case field == fAttrValue && wire == wireLen:
					a.Value = string(data)
				}
				return nil
			})
			m.Attrs = append(m.Attrs, a)
			return err
		}
		return nil
	})
	if err != nil {
		return false
	}
	if partial {
		m.Partial = &meta
	}
	if m.Complete() {
		m.Line = append(m.Line, '\n')
	}
	sort.Slice(m.Attrs, func(i, j int) bool { return m.Attrs[i].Key < m.Attrs[j].Key })
	return true
}

var errProto = errors.New("local log: malformed entry")

// fields walks the protobuf fields of b.
func fields(b []byte, fn func(field, wire int, v uint64, data []byte) error) error {
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return errProto
		}
		b = b[n:]
		field, wire := int(tag>>3), int(tag&7)
		var v uint64
		var data []byte
		switch wire {
		case wireVarint:
			if v, n = binary.Uvarint(b); n <= 0 {
				return errProto
			}
			b = b[n:]
		case wireI64:
			if len(b) < 8 {
				return errProto
			}
			v, b = binary.LittleEndian.Uint64(b), b[8:]
		case wireI32:
			if len(b) < 4 {
				return errProto
			}
			v, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		case wireLen:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errProto
			}
			data, b = b[n:n+int(l)], b[n+int(l):]
		default:
			return errProto
		}
		if err := fn(field, wire, v, data); err != nil {
			return err
		}
	}
	return nil
}

// TailOffset walks back from the end through the records' trailing lengths, as docker's reader does. When the
// file does not end with a whole record (a write in progress) it finds the records from the start instead,
// counting the one being written.
func (d Decoder) TailOffset(r io.ReaderAt, size int64, n int) (int64, int, error) {
	var buf [4]byte
	off, found := size, 0
	for found < n && off > 0 {
		ok := off >= 8
		var start int64
		if ok {
			if _, err := r.ReadAt(buf[:], off-4); err != nil {
				return 0, 0, err
			}
			l := int64(binary.BigEndian.Uint32(buf[:]))
			start = off - 8 - l
			ok = l <= maxMsgLen && start >= 0
			if ok {
				if _, err := r.ReadAt(buf[:], start); err != nil {
					return 0, 0, err
				}
				ok = int64(binary.BigEndian.Uint32(buf[:])) == l
			}
		}
		if !ok {
			if off == size {
				return d.tailForward(r, size, n)
			}
			break // damage: start after it
		}
		off = start
		found++
	}
	return off, found, nil
}

// tailForward finds the start of the last n records by reading the records from the start of the file; an
// incomplete record at the end counts as one.
func (Decoder) tailForward(r io.ReaderAt, size int64, n int) (int64, int, error) {
	var starts []int64
	var buf [4]byte
	for off := int64(0); off < size; {
		starts = append(starts, off)
		if off+4 > size {
			break
		}
		if _, err := r.ReadAt(buf[:], off); err != nil {
			return 0, 0, err
		}
		off += 8 + int64(binary.BigEndian.Uint32(buf[:]))
	}
	if len(starts) <= n {
		return 0, len(starts), nil
	}
	return starts[len(starts)-n], n, nil
}

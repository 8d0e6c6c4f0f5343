// Package jsonfile owns docker's json-file log format: one JSON object per line,
// {"log":"hello\n","stream":"stdout","time":"2024-01-01T00:00:00.123456789Z"}. The shim writes it (Writer) and the
// daemon reads it back for `logs` (Read: tail, since/until, follow). Lines are split at '\n'; a line longer than
// 16 KiB is written as several partial records without the trailing newline, exactly as docker does.
package jsonfile

import (
	"bytes"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxRecord is the most bytes of container output one record holds, newline included. A longer line is split
// into partial records (no trailing '\n') of MaxRecord bytes, like docker's copier buffer.
const MaxRecord = 16 * 1024

// timeFormat is what docker's jsonlog writes: RFC 3339 with trailing zeros of the fraction dropped, in UTC.
const timeFormat = time.RFC3339Nano

// Writer appends container output to a json-file log. Output is buffered per stream until a newline, until
// MaxRecord bytes are pending, or until Flush/Close. It is safe for concurrent use by one goroutine per stream.
type Writer struct {
	mu      sync.Mutex
	f       *os.File
	pending []pending
	out     []byte
	now     func() time.Time
}

// pending is one stream's unterminated line and the time its first byte arrived.
type pending struct {
	stream string
	buf    []byte
	ts     time.Time
}

// NewWriter opens (or creates, mode 0640) the log at path for appending.
func NewWriter(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	return &Writer{f: f, now: time.Now}, nil
}

// Write logs p as output of stream ("stdout" or "stderr"). Complete lines are written at once; the rest is kept
// until the line ends, grows to MaxRecord bytes, or the stream is flushed.
func (w *Writer) Write(stream string, p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	now := w.now()
	pb := w.stream(stream)
	out := w.out[:0]
	for len(p) > 0 {
		if len(pb.buf) == 0 {
			pb.ts = now
		}
		room := MaxRecord - len(pb.buf)
		chunk := p
		if len(chunk) > room {
			chunk = chunk[:room]
		}
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			// A complete line: the pending prefix plus chunk[:i+1].
			out = appendRecord(out, pb.buf, chunk[:i+1], stream, pb.ts)
			pb.buf = pb.buf[:0]
			p = p[i+1:]
			continue
		}
		if len(chunk) < room {
			pb.buf = append(pb.buf, chunk...)
			break
		}
		// The buffer is full without a newline: flush it as a partial record.
		out = appendRecord(out, pb.buf, chunk, stream, pb.ts)
		pb.buf = pb.buf[:0]
		p = p[len(chunk):]
	}
	w.out = out
	return w.write(out)
}

// Flush writes stream's unterminated line, if any, as a partial record. The shim calls it at the stream's EOF.
func (w *Writer) Flush(stream string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	return w.flush(w.stream(stream))
}

// Close flushes every stream and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	var err error
	for i := range w.pending {
		if ferr := w.flush(&w.pending[i]); err == nil {
			err = ferr
		}
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

func (w *Writer) flush(pb *pending) error {
	if len(pb.buf) == 0 {
		return nil
	}
	w.out = appendRecord(w.out[:0], pb.buf, nil, pb.stream, pb.ts)
	pb.buf = pb.buf[:0]
	return w.write(w.out)
}

func (w *Writer) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, err := w.f.Write(b)
	if cap(w.out) > 4*MaxRecord {
		w.out = nil // don't pin a burst's buffer for the container's lifetime
	}
	return err
}

func (w *Writer) stream(name string) *pending {
	for i := range w.pending {
		if w.pending[i].stream == name {
			return &w.pending[i]
		}
	}
	w.pending = append(w.pending, pending{stream: name})
	return &w.pending[len(w.pending)-1]
}

// appendRecord appends one JSON line whose "log" is a+b. stream is written verbatim (it is "stdout" or "stderr").
func appendRecord(dst, a, b []byte, stream string, ts time.Time) []byte {
	dst = append(dst, `{"log":"`...)
	dst = appendEscaped(dst, a)
	dst = appendEscaped(dst, b)
	dst = append(dst, `","stream":"`...)
	dst = append(dst, stream...)
	dst = append(dst, `","time":"`...)
	dst = ts.UTC().AppendFormat(dst, timeFormat)
	return append(dst, "\"}\n"...)
}

// appendEscaped escapes s as a JSON string body the way docker's jsonlog does: \n \r \" \\ short forms, other
// control bytes and <, >, & as \u00XX, invalid UTF-8 as \ufffd, and U+2028/U+2029 escaped.
func appendEscaped(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '\\' && b != '"' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRune(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

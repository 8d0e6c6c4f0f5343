// Package jsonfile is docker's json-file log format: one JSON object per line,
// {"log":"hello\n","stream":"stdout","attrs":{"team":"web"},"time":"2024-01-01T00:00:00.123456789Z"}. The shim
// writes it through an Encoder, the daemon reads it back through Decoder; internal/logger/logfile writes and
// rotates the files, internal/logger/logread reads them (tail, since, follow). A part of a split line is a
// record whose "log" has no trailing newline, exactly as docker writes it.
package jsonfile

import (
	"time"
	"unicode/utf8"

	"github.com/berth/berth/internal/logger/logfile"
)

// Name is the driver's name.
const Name = "json-file"

// timeFormat is what docker's jsonlog writes: RFC 3339 with trailing zeros of the fraction dropped, in UTC.
const timeFormat = time.RFC3339Nano

// Encoder writes json-file records, each with the same attributes (docker's labels, env and tag log-opts).
type Encoder struct {
	attrs []byte // `"attrs":{...},` or empty
}

var _ logfile.Encoder = (*Encoder)(nil)

// NewEncoder returns an Encoder whose records carry attrs (none when empty), keys sorted as docker's
// json.Marshal of a map sorts them.
func NewEncoder(attrs map[string]string) *Encoder {
	e := &Encoder{}
	if len(attrs) == 0 {
		return e
	}
	keys := logfile.SortedKeys(attrs)
	b := []byte(`"attrs":{`)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = appendEscaped(b, []byte(k))
		b = append(b, `":"`...)
		b = appendEscaped(b, []byte(attrs[k]))
		b = append(b, '"')
	}
	e.attrs = append(b, "},"...)
	return e
}

// Append appends one JSON line for m: "log" is the line with its newline unless m is a part of a line but its
// last.
func (e *Encoder) Append(dst []byte, m *logfile.Message) []byte {
	dst = append(dst, `{"log":"`...)
	dst = appendEscaped(dst, m.Line)
	if m.Complete() {
		dst = append(dst, `\n`...)
	}
	dst = append(dst, `","stream":"`...)
	dst = append(dst, m.Stream...) // "stdout" or "stderr": nothing to escape
	dst = append(dst, `",`...)
	dst = append(dst, e.attrs...)
	dst = append(dst, `"time":"`...)
	dst = m.Time.UTC().AppendFormat(dst, timeFormat)
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

package jsonfile

import (
	"bytes"
	"encoding/json"
	"io"
	"sort"
	"time"

	"github.com/berth/berth/internal/logger/logfile"
)

// Decoder reads json-file records.
type Decoder struct{}

var _ logfile.Decoder = Decoder{}

// Split returns the length of the line data starts with, its newline included.
func (Decoder) Split(data []byte) (int, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, nil
	}
	return 0, nil
}

// Decode parses one JSON line; false when it is not a record.
func (Decoder) Decode(rec []byte, m *logfile.Message) bool {
	var r struct {
		Log    string            `json:"log"`
		Stream string            `json:"stream"`
		Time   time.Time         `json:"time"`
		Attrs  map[string]string `json:"attrs"`
	}
	if json.Unmarshal(rec, &r) != nil {
		return false
	}
	m.Stream, m.Time = r.Stream, r.Time
	m.Line = append(m.Line[:0], r.Log...)
	for k, v := range r.Attrs {
		m.Attrs = append(m.Attrs, logfile.Attr{Key: k, Value: v})
	}
	sort.Slice(m.Attrs, func(i, j int) bool { return m.Attrs[i].Key < m.Attrs[j].Key })
	return true
}

// TailOffset returns the offset of the n-th last record of the first size bytes of r, reading backwards from
// the end in blocks, so the cost is proportional to what is returned rather than to the file's size.
func (Decoder) TailOffset(r io.ReaderAt, size int64, n int) (int64, int, error) {
	end := size
	if n == 0 || end == 0 {
		return end, 0, nil
	}
	const block = 32 * 1024
	buf := make([]byte, block)
	// Records end with '\n', so the n-th last record starts after the (n+1)-th last newline. An unterminated
	// record at the very end (a write in progress) counts as a record of its own.
	need := n
	first := true
	found := 0
	for pos := end; pos > 0; {
		size := int64(block)
		if pos < size {
			size = pos
		}
		pos -= size
		b := buf[:size]
		if _, err := r.ReadAt(b, pos); err != nil && err != io.EOF {
			return 0, 0, err
		}
		if first {
			first = false
			if b[len(b)-1] == '\n' {
				need++
				found--
			}
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				continue
			}
			found++
			if need--; need == 0 {
				return pos + int64(i) + 1, found, nil
			}
		}
	}
	return 0, found + 1, nil
}

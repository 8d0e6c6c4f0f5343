// Package logfile owns a container's log files as docker's json-file and local drivers keep them, on the
// writer's side: one writer (the shim) turns output into records appended to <path>; once the file has reached
// Options.MaxSize it is rotated: renamed to <path>.1 (the older ones to <path>.2 ... <path>.N-1, the oldest
// removed; gzip-compressed to <path>.1.gz ... with Options.Compress), or, with a single file, replaced.
// internal/logger/logread reads them back as one log for the daemon; the shim links only this package.
//
// What a record looks like is a driver's business: an Encoder (the writer's side) and a Decoder (the
// reader's), which internal/logger/jsonfile and internal/logger/local implement.
//
//	w, _ := logfile.NewWriter(path, jsonfile.NewEncoder(attrs), logfile.Options{MaxSize: 10e6, MaxFiles: 3})
//	w.Write("stdout", output) // lines become records
//	w.Close()
//	logread.Read(ctx, path, jsonfile.Decoder{}, logread.ReadConfig{Tail: 100, MaxFiles: 3}, show)
package logfile

import (
	"io"
	"time"
)

// MaxLine is the most bytes of output one record holds, newline included. A longer line is split into partial
// records of MaxLine bytes, like docker's copier does with its 16 KiB buffer.
const MaxLine = 16 * 1024

// Message is one record: a line of a container's output or a part of one.
type Message struct {
	// Stream is "stdout" or "stderr".
	Stream string
	// Line is what the record holds. To an Encoder: the line without its newline. From a Decoder: the bytes
	// `docker logs` shows, with the newline unless the record is a part of a line but its last.
	Line []byte
	// Time is when the line's first byte was read (all parts of a split line share it, as in docker).
	Time time.Time
	// Partial, when set, says the record is a part of a line: split for its length, or unterminated when the
	// output ended (then Last is false).
	Partial *Partial
	// Attrs are the record's attributes (docker's log-opts labels, env and tag), sorted by key. A Decoder fills
	// them; an Encoder writes its own.
	Attrs []Attr
}

// Partial describes a part of a split line, as docker's PartialLogMetaData.
type Partial struct {
	ID      string // the same for every part of one line
	Ordinal int    // 1 for the first part
	Last    bool   // the part that ends the line
}

// Attr is one attribute of a record.
type Attr struct{ Key, Value string }

// Decoder reads records in one driver's format (internal/logger/logread reads logs with it).
type Decoder interface {
	// Split returns the length of the record data starts with, or 0 when data does not hold a whole one yet.
	// An error says the data cannot be records of this format (the rest of the file is then skipped).
	Split(data []byte) (int, error)
	// Decode parses one record Split delimited into m (Line as `docker logs` shows it). It returns false for a
	// malformed record, which is skipped.
	Decode(rec []byte, m *Message) bool
	// TailOffset returns where the last n records among the first size bytes of r start, and how many records
	// that is (fewer than n when there are not as many). A record being written (incomplete at size) counts.
	TailOffset(r io.ReaderAt, size int64, n int) (off int64, found int, err error)
}

// Complete reports whether the record ends a line: a whole line, or the last part of a split one.
func (m *Message) Complete() bool { return m.Partial == nil || m.Partial.Last }

// SortedKeys returns m's keys in order. An insertion sort: encoders run in every shim, and attributes are few,
// so this spares the shim the sort package's generic code.
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		i := len(keys)
		keys = append(keys, k)
		for ; i > 0 && keys[i-1] > k; i-- {
			keys[i] = keys[i-1]
		}
		keys[i] = k
	}
	return keys
}

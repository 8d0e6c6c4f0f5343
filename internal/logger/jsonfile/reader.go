package jsonfile

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"time"
)

// Message is one record of a json-file log. Line holds the output bytes including the trailing '\n' (absent for
// a partial record).
type Message struct {
	Stream string
	Line   []byte
	Time   time.Time
}

// ReadConfig selects what Read returns.
type ReadConfig struct {
	// Tail is how many records to start with, counted from the end over both streams (like docker); < 0 is all.
	Tail int
	// Since and Until bound the records' times; zero means unbounded. Until also ends a Follow.
	Since, Until time.Time
	// Follow keeps reading records as they are appended, until ctx is done, Until is passed, or Done is closed.
	Follow bool
	// Done, if not nil, says the writer is finished: Read drains the file to its end and returns nil.
	Done <-chan struct{}
	// Stdout and Stderr select the streams; if neither is set, both are read.
	Stdout, Stderr bool
}

// PollInterval is how often a following Read looks for new records.
var PollInterval = 100 * time.Millisecond

// Read calls fn for each record of the log at path selected by cfg, in file order. It returns fn's first error,
// ctx.Err() when ctx ends a Follow, or nil when the records are exhausted (without Follow), Until is passed, or
// cfg.Done is closed and the file is drained. Malformed records are skipped.
//
// A typical `logs -f` on a running container:
//
//	err := jsonfile.Read(ctx, path, jsonfile.ReadConfig{Tail: 100, Follow: true, Done: exited}, send)
func Read(ctx context.Context, path string, cfg ReadConfig, fn func(Message) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if cfg.Tail >= 0 {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		off, err := tailOffset(f, st.Size(), cfg.Tail)
		if err != nil {
			return err
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return err
		}
	}
	if !cfg.Stdout && !cfg.Stderr {
		cfg.Stdout, cfg.Stderr = true, true
	}

	br := bufio.NewReaderSize(f, 64*1024)
	var (
		partial  []byte // an unterminated record at EOF: the writer is mid-write
		done     = cfg.Done
		finished bool // done was closed; this pass reads to EOF and returns
		ticker   *time.Ticker
	)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if len(partial) > 0 {
				line = append(partial, line...)
				partial = partial[:0]
			}
			stop, ferr := emit(line, &cfg, fn)
			if ferr != nil || stop {
				return ferr
			}
			continue
		case errors.Is(err, bufio.ErrBufferFull):
			partial = append(partial, line...)
			continue
		case err != io.EOF:
			return err
		}
		partial = append(partial, line...)
		if !cfg.Follow || finished {
			return nil
		}
		if ticker == nil {
			ticker = time.NewTicker(PollInterval)
			defer ticker.Stop()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			finished = true
		case <-ticker.C:
		}
	}
}

// emit decodes one record and passes it to fn if cfg selects it. stop reports that Until was passed.
func emit(line []byte, cfg *ReadConfig, fn func(Message) error) (stop bool, err error) {
	var rec struct {
		Log    string    `json:"log"`
		Stream string    `json:"stream"`
		Time   time.Time `json:"time"`
	}
	if json.Unmarshal(line, &rec) != nil {
		return false, nil
	}
	if !cfg.Until.IsZero() && rec.Time.After(cfg.Until) {
		return true, nil
	}
	if !cfg.Since.IsZero() && rec.Time.Before(cfg.Since) {
		return false, nil
	}
	switch rec.Stream {
	case "stdout":
		if !cfg.Stdout {
			return false, nil
		}
	case "stderr":
		if !cfg.Stderr {
			return false, nil
		}
	}
	return false, fn(Message{Stream: rec.Stream, Line: []byte(rec.Log), Time: rec.Time})
}

// tailOffset returns the offset of the n-th last record of the first size bytes of f, reading backwards from the
// end in blocks, so the cost is proportional to what is returned rather than to the file's size.
func tailOffset(f io.ReaderAt, size int64, n int) (int64, error) {
	end := size
	if n == 0 || end == 0 {
		return end, nil
	}
	const block = 32 * 1024
	buf := make([]byte, block)
	// Records end with '\n', so the n-th last record starts after the (n+1)-th last newline. An unterminated
	// record at the very end (a write in progress) counts as a record of its own.
	need := n
	first := true
	for pos := end; pos > 0; {
		size := int64(block)
		if pos < size {
			size = pos
		}
		pos -= size
		b := buf[:size]
		if _, err := f.ReadAt(b, pos); err != nil && err != io.EOF {
			return 0, err
		}
		if first {
			first = false
			if b[len(b)-1] == '\n' {
				need++
			}
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				continue
			}
			if need--; need == 0 {
				return pos + int64(i) + 1, nil
			}
		}
	}
	return 0, nil
}

// Package logread reads a container's log files back as the daemon's `logs` does: the files
// internal/logger/logfile's writer rotates, in any driver's format (a logfile.Decoder), read as one log: all of
// it, its last n records, between two times, or following the writes through rotations. It is the daemon's half
// of the logs; the shim links only the writer's.
package logread

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/berth/berth/internal/logger/logfile"
)

// ReadConfig selects what Read returns.
type ReadConfig struct {
	// Tail is how many records to start with, counted from the end over both streams (like docker); < 0 is all.
	Tail int
	// Since and Until bound the records' times; zero means unbounded. Until also ends a Follow.
	Since, Until time.Time
	// Follow keeps reading records as they are appended, through rotations, until ctx is done, Until is
	// passed, or Done is closed.
	Follow bool
	// Done, if not nil, says the writer is finished: Read drains the log to its end and returns nil.
	Done <-chan struct{}
	// Stdout and Stderr select the streams; if neither is set, both are read.
	Stdout, Stderr bool
	// MaxFiles is the log's Options.MaxFiles: the rotated files <path>.1 ... <path>.MaxFiles-1 (or .gz) are
	// read before <path>.
	MaxFiles int
}

// PollInterval is how often a following Read looks for new records and rotations.
var PollInterval = 100 * time.Millisecond

// maxRecord bounds a record the reader buffers: far above what the writers make (MaxLine, escaped).
const maxRecord = 4 << 20

// Read calls fn for each record of the log at path selected by cfg, oldest first, across its rotated files. m is
// valid only during the call. Read returns fn's first error, ctx.Err() when ctx ends a Follow, or nil when the
// records are exhausted (without Follow), Until is passed, or cfg.Done is closed and the log is drained.
// Malformed records are skipped. A log whose current file does not exist is an error wrapping fs.ErrNotExist.
//
// A typical `logs -f` on a running container:
//
//	err := logread.Read(ctx, path, jsonfile.Decoder{}, logread.ReadConfig{Tail: 100, Follow: true, Done: exited, MaxFiles: 3}, send)
func Read(ctx context.Context, path string, dec logfile.Decoder, cfg ReadConfig, fn func(*logfile.Message) error) error {
	if !cfg.Stdout && !cfg.Stderr {
		cfg.Stdout, cfg.Stderr = true, true
	}
	files, err := openFiles(path, cfg.MaxFiles, dec, nil)
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			f.close()
		}
	}()
	r := &reader{dec: dec, cfg: cfg, fn: fn}
	segs, err := r.plan(files)
	if err != nil {
		return err
	}
	last := len(segs) - 1 // the current file: its reader goes on into a Follow
	for _, s := range segs[:last] {
		if err := r.readAll(s.f, s.skip, s.off); err != nil {
			return r.result(err)
		}
	}
	cur := segs[last].f
	src, err := cur.open(segs[last].off)
	if err != nil {
		return err
	}
	rr := newRecords(src, dec)
	if err := r.drain(rr); err != nil || !cfg.Follow {
		return r.result(err)
	}
	return r.result(r.follow(ctx, path, cur, rr))
}

// reader is the state of one Read.
type reader struct {
	dec      logfile.Decoder
	cfg      ReadConfig
	fn       func(*logfile.Message) error
	msg      logfile.Message
	lastTime time.Time // of the last record read
}

// errUntil ends a Read at the first record past Until.
var errUntil = errors.New("past until")

func (r *reader) result(err error) error {
	if errors.Is(err, errUntil) {
		return nil
	}
	return err
}

// segment is where reading a file starts: a byte offset (plain files) or a number of records to skip.
type segment struct {
	f    *logFile
	off  int64
	skip int
}

// plan chooses, newest file first, where the requested tail starts, and returns the segments to read oldest
// first. The current file is always among them (a Follow continues in it).
func (r *reader) plan(files []*logFile) ([]segment, error) {
	need := r.cfg.Tail
	var segs []segment
	for i, f := range files {
		if i > 0 && need == 0 {
			break
		}
		if i > 0 && f.gz && !r.cfg.Since.IsZero() && !f.lastTime.IsZero() && f.lastTime.Before(r.cfg.Since) {
			break // docker's shortcut: a compressed file whose last record is older than Since, and those before it
		}
		s := segment{f: f}
		switch {
		case need < 0:
		case f.gz:
			n, err := f.count(r.dec)
			if err != nil {
				return nil, err
			}
			s.skip = max(n-need, 0)
			need -= n - s.skip
		default:
			off, found, err := r.dec.TailOffset(f.f, f.size, need)
			if err != nil {
				return nil, err
			}
			s.off = off
			need -= found
		}
		segs = append(segs, s)
	}
	slices.Reverse(segs)
	return segs, nil
}

// readAll emits the records of f from offset off (plain) or after skip records (compressed).
func (r *reader) readAll(f *logFile, skip int, off int64) error {
	src, err := f.open(off)
	if err != nil {
		return err
	}
	defer src.Close()
	rr := newRecords(src, r.dec)
	for ; skip > 0; skip-- {
		if _, err := rr.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
	return r.drain(rr)
}

// drain emits rr's records up to the end of its data.
func (r *reader) drain(rr *records) error {
	for {
		rec, err := rr.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := r.emit(rec); err != nil {
			return err
		}
	}
}

// emit decodes one record and passes it to fn if the config selects it.
func (r *reader) emit(rec []byte) error {
	m := &r.msg
	*m = logfile.Message{Line: m.Line[:0], Attrs: m.Attrs[:0]}
	if !r.dec.Decode(rec, m) {
		return nil
	}
	r.lastTime = m.Time
	if !r.cfg.Until.IsZero() && m.Time.After(r.cfg.Until) {
		return errUntil
	}
	if !r.cfg.Since.IsZero() && m.Time.Before(r.cfg.Since) {
		return nil
	}
	switch m.Stream {
	case "stdout":
		if !r.cfg.Stdout {
			return nil
		}
	case "stderr":
		if !r.cfg.Stderr {
			return nil
		}
	}
	return r.fn(m)
}

// follow keeps reading the current file (rr reads it) as it grows. When the writer rotates it (the path names
// another file), the rest of it is read, then the files written after it, oldest first, and the newest is
// followed.
func (r *reader) follow(ctx context.Context, path string, cur *logFile, rr *records) error {
	defer func() { cur.close() }()
	var ticker *time.Ticker
	finished := false
	for {
		if err := r.drain(rr); err != nil {
			return err
		}
		rotated, err := cur.rotated(path)
		if err != nil {
			return err
		}
		if rotated {
			// The writer never comes back to cur: read what it added before the rotation, then what came after.
			if err := r.drain(rr); err != nil {
				return err
			}
			next, err := r.successors(path, cur)
			if err != nil {
				return err
			}
			for _, f := range next[:len(next)-1] {
				err := r.readAll(f, 0, 0)
				f.close()
				if err != nil {
					return err
				}
			}
			cur.close()
			cur = next[len(next)-1]
			src, err := cur.open(0)
			if err != nil {
				return err
			}
			rr = newRecords(src, r.dec)
			continue
		}
		if finished {
			return nil
		}
		if ticker == nil {
			ticker = time.NewTicker(PollInterval)
			defer ticker.Stop()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.cfg.Done:
			finished = true // one more pass: what the writer wrote last, through a last rotation
		case <-ticker.C:
		}
	}
}

// successors opens the log's files again and returns those written after prev, oldest first; the last is the
// current file. prev is found by its inode or, compressed since, by its first record; if it is gone, the files
// whose first record is newer than the last one read follow it.
func (r *reader) successors(path string, prev *logFile) ([]*logFile, error) {
	for tries := 0; ; tries++ {
		files, err := openFiles(path, r.cfg.MaxFiles, r.dec, func(f *logFile) bool { return sameFile(f, prev, r.dec) })
		if errors.Is(err, fs.ErrNotExist) && tries < 100 {
			time.Sleep(10 * time.Millisecond) // between the rename of the current file and the creation of the next
			continue
		}
		if err != nil {
			return nil, err
		}
		k := slices.IndexFunc(files, func(f *logFile) bool { return sameFile(f, prev, r.dec) })
		var next []*logFile
		if k >= 0 {
			next = files[:k]
		} else {
			for i, f := range files {
				var m logfile.Message
				if i == 0 || !r.dec.Decode(f.identity(r.dec), &m) || m.Time.After(r.lastTime) {
					next = append(next, f)
					continue
				}
				break
			}
		}
		for _, f := range files[len(next):] {
			f.close()
		}
		slices.Reverse(next)
		return next, nil
	}
}

// logFile is one file of a log, open.
type logFile struct {
	f        *os.File
	gz       bool
	size     int64     // at open
	lastTime time.Time // a compressed file's, from its gzip header (zero if unknown)
	first    []byte    // the first record (or its first bytes): the file's identity once compressed
}

// openFiles opens the log's files newest first: path, then path.1 (or path.1.gz) ... path.maxFiles-1, up to the
// first for which stop (if not nil) is true. The order is the files' age only if the writer did not rotate
// meanwhile (a file written after path was opened could be found among the older ones): then it starts over.
// A file met twice while the writer rotates (renamed to the next name between two opens, or compressed under
// it) is kept once, so that a writer rotating faster than the retries can never make a file read twice.
func openFiles(path string, maxFiles int, dec logfile.Decoder, stop func(*logFile) bool) ([]*logFile, error) {
	var files []*logFile
	closeAll := func() {
		for _, f := range files {
			f.close()
		}
		files = nil
	}
	waits := 0
	for tries := 0; ; tries++ {
		cur, err := openLogFile(path, false)
		if errors.Is(err, fs.ErrNotExist) && waits < 100 && rotating(path) {
			// Between the rename of the current file and the creation of the next: wait for the next.
			waits++
			tries-- // a wait is not a look at the files
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			return nil, err
		}
		files = append(files, cur)
		for i := 1; i < maxFiles; i++ {
			if stop != nil && stop(files[len(files)-1]) {
				break
			}
			name := path + "." + strconv.Itoa(i)
			f, err := openLogFile(name, false)
			if errors.Is(err, fs.ErrNotExist) {
				f, err = openLogFile(name+".gz", true)
			}
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				closeAll()
				return nil, err
			}
			if f.size == 0 || seenBefore(files, f, dec) {
				f.close()
				continue
			}
			files = append(files, f)
		}
		st, err := os.Stat(path)
		mine, _ := cur.f.Stat()
		if tries >= 20 || err == nil && mine != nil && os.SameFile(st, mine) {
			return files, nil
		}
		closeAll() // rotated while we looked: the order may be wrong
	}
}

// rotating reports whether path's log has rotated files: path missing beside them is a rotation under way.
func rotating(path string) bool {
	for _, name := range []string{path + ".1", path + ".1.gz"} {
		if _, err := os.Lstat(name); err == nil {
			return true
		}
	}
	return false
}

// seenBefore reports whether f is one of files under another name: the same inode (a rename keeps it), or, f
// being compressed, the same first record as an uncompressed one (compressing makes a new file of an old one).
func seenBefore(files []*logFile, f *logFile, dec logfile.Decoder) bool {
	st, err := f.f.Stat()
	if err != nil {
		return false
	}
	for _, g := range files {
		if gs, err := g.f.Stat(); err == nil && os.SameFile(gs, st) {
			return true
		}
		if f.gz && !g.gz && sameFile(f, g, dec) {
			return true
		}
	}
	return false
}

func openLogFile(name string, gz bool) (*logFile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	lf := &logFile{f: f, gz: gz, size: st.Size()}
	if gz {
		if zr, err := gzip.NewReader(f); err == nil {
			var meta struct {
				LastTime time.Time `json:"lastTime"`
			}
			if json.Unmarshal(zr.Header.Extra, &meta) == nil {
				lf.lastTime = meta.LastTime
			}
		}
	}
	return lf, nil
}

func (f *logFile) close() {
	if f.f != nil {
		f.f.Close()
		f.f = nil
	}
}

// identity returns the file's first record (its first 128 KiB when the record is longer), read without moving
// the file's offset; empty while the file is.
func (f *logFile) identity(dec logfile.Decoder) []byte {
	if len(f.first) > 0 {
		return f.first
	}
	read := func(size int) []byte {
		buf := make([]byte, size)
		var n int
		if f.gz {
			zr, err := gzip.NewReader(io.NewSectionReader(f.f, 0, 1<<62))
			if err != nil {
				return nil
			}
			n, _ = io.ReadFull(zr, buf)
		} else {
			n, _ = f.f.ReadAt(buf, 0)
		}
		return buf[:n]
	}
	const small, large = 4 << 10, 128 << 10
	buf := read(small)
	l, err := dec.Split(buf)
	if err == nil && l == 0 && len(buf) == small {
		buf = read(large)
		l, err = dec.Split(buf)
	}
	switch {
	case err == nil && l > 0:
		buf = buf[:l]
	case !f.gz && len(buf) < large:
		return buf // the first record is still being written: no identity to keep yet
	}
	f.first = buf
	return buf
}

// sameFile reports whether a and b are one file: the same inode, or, for a compressed file, the same first
// record (a file is compressed once it is rotated).
func sameFile(a, b *logFile, dec logfile.Decoder) bool {
	if !a.gz && !b.gz {
		sa, _ := a.f.Stat()
		sb, _ := b.f.Stat()
		return sa != nil && sb != nil && os.SameFile(sa, sb)
	}
	ida := a.identity(dec)
	return len(ida) > 0 && bytes.Equal(ida, b.identity(dec))
}

// rotated reports whether the writer has moved on from f: path names another file now.
func (f *logFile) rotated(path string) (bool, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // renamed, the next not created yet: the next poll sees it
	}
	if err != nil {
		return false, err
	}
	mine, err := f.f.Stat()
	if err != nil {
		return false, err
	}
	return !os.SameFile(st, mine), nil
}

// open returns a reader of f's bytes: a plain file's from byte off, a compressed one's from its start.
func (f *logFile) open(off int64) (io.ReadCloser, error) {
	if f.gz {
		zr, err := gzip.NewReader(io.NewSectionReader(f.f, 0, 1<<62))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.f.Name(), err)
		}
		return zr, nil
	}
	return &plainReader{f: f.f, off: off}, nil
}

// count returns the number of records in a compressed file.
func (f *logFile) count(dec logfile.Decoder) (int, error) {
	src, err := f.open(0)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	rr := newRecords(src, dec)
	n := 0
	for {
		if _, err := rr.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

// plainReader reads a plain log file from an offset with ReadAt: reading on after io.EOF returns what was
// appended since.
type plainReader struct {
	f   *os.File
	off int64
}

func (p *plainReader) Read(b []byte) (int, error) {
	n, err := p.f.ReadAt(b, p.off)
	p.off += int64(n)
	if n > 0 && errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

func (p *plainReader) Close() error { return nil }

// records splits a stream into records. At the end of the data it returns io.EOF and keeps what it has of an
// incomplete record: a later next (the file grew) continues it.
type records struct {
	r          io.Reader
	dec        logfile.Decoder
	buf        []byte
	start, end int
	broken     bool
}

func newRecords(r io.Reader, dec logfile.Decoder) *records {
	return &records{r: r, dec: dec, buf: make([]byte, 64<<10)}
}

func (rr *records) next() ([]byte, error) {
	for {
		if rr.broken {
			return nil, io.EOF
		}
		if rr.end > rr.start {
			n, err := rr.dec.Split(rr.buf[rr.start:rr.end])
			if err != nil {
				rr.broken = true // not this format from here on: the rest is skipped
				return nil, io.EOF
			}
			if n > 0 {
				rec := rr.buf[rr.start : rr.start+n]
				rr.start += n
				return rec, nil
			}
		}
		if rr.start > 0 {
			rr.end = copy(rr.buf, rr.buf[rr.start:rr.end])
			rr.start = 0
		}
		if rr.end == len(rr.buf) {
			if len(rr.buf) >= maxRecord {
				rr.broken = true
				return nil, io.EOF
			}
			rr.buf = append(rr.buf, make([]byte, len(rr.buf))...)
		}
		n, err := rr.r.Read(rr.buf[rr.end:])
		rr.end += n
		if n > 0 {
			continue
		}
		if err == nil || errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, syscall.EIO) {
			rr.broken = true
			return nil, io.EOF
		}
		return nil, err
	}
}

package logfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"
)

// Encoder appends records in one driver's format.
type Encoder interface {
	// Append appends the record of m to dst; m.Line is the line without its newline.
	Append(dst []byte, m *Message) []byte
}

// Options say when and how a writer rotates its file, as docker's max-size, max-file and compress log-opts do.
type Options struct {
	// MaxSize is the size at which the file is rotated, checked before each record (so a file may pass it by
	// one record, as docker's do); 0 never rotates.
	MaxSize int64
	// MaxFiles is how many files the log keeps, the current one included: rotation renames the current file to
	// <path>.1 and the others one up, removing <path>.MaxFiles-1. Below 2 the current file is replaced.
	MaxFiles int
	// Compress gzips each rotated file (<path>.1.gz ...) through Gzip, with the time of its last record in the
	// gzip header as docker writes it ({"lastTime":...} in the extra field).
	Compress bool
	// Gzip compresses src into dst, a gzip stream with any header. The shim runs the host's gzip here: a
	// compressor linked into the shim (compress/flate, and the fmt and reflect it brings) would cost every
	// container its pages for a rare rotation. Without it rotated files stay uncompressed.
	Gzip func(dst, src *os.File) error
	// Now is the clock that stamps records (time.Now when nil).
	Now func() time.Time
}

// Perm is the mode of log files (docker's).
const Perm = 0o640

// Writer turns a container's output into records appended to a log file, and rotates the file. Output is
// buffered per stream until a newline, until MaxLine bytes are pending, or until Flush/Close. It is safe for
// concurrent use (one goroutine per stream, as the shim copies them).
type Writer struct {
	mu       sync.Mutex
	path     string
	f        *os.File
	size     int64 // of the current file, records in out included once written
	enc      Encoder
	opts     Options
	pending  []pending
	out      []byte // records not yet written
	msg      Message
	part     Partial
	lastTime time.Time // of the last record of the current file: a rotated file's gzip header carries it
	// compressed is closed when the compression of the last rotated file has ended; a rotation waits for it,
	// so <path>.1 is compressed before the next one takes its name.
	compressed chan struct{}
	idBase     string
	idSeq      uint64
	err        error // of the last rotation, reported by the next Write
}

// pending is one stream's unterminated line, and the split line it continues.
type pending struct {
	stream    string
	buf       []byte
	ts        time.Time // when buf's first byte arrived
	partialID string    // set while a line is being split
	ordinal   int
	partialTS time.Time
}

// NewWriter opens (or creates, mode Perm) the log at path for appending, records encoded by enc.
func NewWriter(path string, enc Encoder, opts Options) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, Perm)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Writer{path: path, f: f, size: st.Size(), enc: enc, opts: opts,
		idBase: strconv.FormatInt(time.Now().UnixNano(), 36) + "-"}, nil
}

// Write logs p as output of stream ("stdout" or "stderr"). Complete lines are written at once; the rest is kept
// until the line ends, grows to MaxLine bytes, or the stream is flushed.
func (w *Writer) Write(stream string, p []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	now := w.opts.Now()
	pb := w.stream(stream)
	for len(p) > 0 {
		if len(pb.buf) == 0 {
			pb.ts = now
		}
		room := MaxLine - len(pb.buf)
		chunk := p
		if len(chunk) > room {
			chunk = chunk[:room]
		}
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			w.record(pb, chunk[:i], true)
			p = p[i+1:]
			continue
		}
		if len(chunk) < room {
			pb.buf = append(pb.buf, chunk...)
			break
		}
		// MaxLine bytes without a newline: a part of a line.
		w.record(pb, chunk, false)
		p = p[len(chunk):]
	}
	return w.writeOut()
}

// Flush writes stream's unterminated line, if any, as a partial record. The shim calls it at the stream's EOF.
func (w *Writer) Flush(stream string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	w.flush(w.stream(stream))
	return w.writeOut()
}

// Close flushes every stream, closes the file and waits for a compression in progress.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return os.ErrClosed
	}
	for i := range w.pending {
		w.flush(&w.pending[i])
	}
	err := w.writeOut()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	if w.compressed != nil {
		<-w.compressed
	}
	return err
}

func (w *Writer) flush(pb *pending) {
	if len(pb.buf) > 0 {
		w.record(pb, nil, false)
	}
	pb.partialID = "" // the stream ended: its next output starts a new line
}

// record encodes pb's pending bytes followed by rest as one record: a complete line, or a part of one.
func (w *Writer) record(pb *pending, rest []byte, complete bool) {
	line := rest
	if len(pb.buf) > 0 {
		pb.buf = append(pb.buf, rest...)
		line = pb.buf
	}
	m := &w.msg
	m.Stream, m.Line, m.Time, m.Partial = pb.stream, line, pb.ts, nil
	switch {
	case !complete:
		if pb.partialID == "" {
			w.idSeq++
			pb.partialID = w.idBase + strconv.FormatUint(w.idSeq, 36)
			pb.ordinal, pb.partialTS = 0, pb.ts
		}
		pb.ordinal++
		w.part = Partial{ID: pb.partialID, Ordinal: pb.ordinal}
		m.Partial, m.Time = &w.part, pb.partialTS
	case pb.partialID != "":
		w.part = Partial{ID: pb.partialID, Ordinal: pb.ordinal + 1, Last: true}
		m.Partial, m.Time = &w.part, pb.partialTS
		pb.partialID = ""
	}
	w.emit(m)
	pb.buf = pb.buf[:0]
}

// emit appends m's record, rotating first when the current file has reached MaxSize.
func (w *Writer) emit(m *Message) {
	if w.opts.MaxSize > 0 && w.size+int64(len(w.out)) >= w.opts.MaxSize {
		w.writeOut()
		if err := w.rotate(); err != nil {
			// The current file stays: it grows past MaxSize rather than lose a line.
			w.err = err
		}
	}
	w.out = w.enc.Append(w.out, m)
	w.lastTime = m.Time
}

func (w *Writer) writeOut() error {
	err := w.err
	w.err = nil
	if len(w.out) > 0 {
		n, werr := w.f.Write(w.out)
		w.size += int64(n)
		if err == nil {
			err = werr
		}
	}
	w.out = w.out[:0]
	if cap(w.out) > 4*MaxLine {
		w.out = nil // don't pin a burst's buffer for the container's lifetime
	}
	return err
}

// rotate moves the current file out of the way and starts a new one, as docker's json-file does: with one file
// the current one is unlinked (a reader holding it reads it to its end); with more, the rotated files move one
// up and the current one becomes <path>.1, compressed in the background when asked. On error the current file
// is kept as it is.
func (w *Writer) rotate() error {
	if w.compressed != nil {
		<-w.compressed // <path>.1 is compressed and may move up
		w.compressed = nil
	}
	compress := w.opts.Compress && w.opts.Gzip != nil && w.opts.MaxFiles > 1
	if w.opts.MaxFiles < 2 {
		if err := os.Remove(w.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	} else {
		// Both forms of each name move: a file whose compression failed, or one kept from before the
		// container's options changed, moves with the others instead of being overwritten.
		for _, ext := range []string{"", ".gz"} {
			name := func(i int) string { return w.path + "." + strconv.Itoa(i) + ext }
			if err := os.Remove(name(w.opts.MaxFiles - 1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			for i := w.opts.MaxFiles - 1; i > 1; i-- {
				if err := os.Rename(name(i-1), name(i)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
		if err := os.Rename(w.path, w.path+".1"); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, Perm)
	if err != nil {
		return err // the old file, renamed, still takes the records
	}
	w.f.Close()
	w.f, w.size = f, 0
	if compress {
		done := make(chan struct{})
		w.compressed = done
		go func(name string, last time.Time) {
			defer close(done)
			compressFile(name, last, w.opts.Gzip)
		}(w.path+".1", w.lastTime)
	}
	return nil
}

// compressFile gzips name into name.gz with gz, gives it docker's header, and removes name once name.gz is
// complete, so a reader always finds one whole copy (docker's readers, and logread, try name first).
func compressFile(name string, last time.Time, gz func(dst, src *os.File) error) error {
	in, err := os.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.OpenFile(name+".gz.tmp", os.O_RDWR|os.O_CREATE|os.O_TRUNC, Perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := gz(tmp, in); err != nil {
		return err
	}
	if _, err := tmp.Seek(0, 0); err != nil {
		return err
	}
	out, err := os.OpenFile(name+".gz", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, Perm)
	if err != nil {
		return err
	}
	err = regzip(out, tmp, last)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name + ".gz")
		return err
	}
	return os.Remove(name)
}

var errNotGzip = errors.New("compressor output is not gzip")

// regzip copies the gzip stream src to dst with docker's header for a rotated log: no name, no time, the
// last record's time in the extra field (the deflate data and trailer are kept as they are).
func regzip(dst io.Writer, src io.Reader, last time.Time) error {
	buf := make([]byte, 32<<10)
	n, err := io.ReadAtLeast(src, buf, 10)
	if err != nil {
		return errNotGzip
	}
	b := buf[:n]
	if b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 {
		return errNotGzip
	}
	flg, xfl := b[3], b[8]
	b = b[10:]
	// The optional fields of RFC 1952, in their order: extra (FEXTRA), name (FNAME), comment (FCOMMENT),
	// header CRC (FHCRC). A header longer than what was read is not what gzip -n writes.
	if flg&0x04 != 0 {
		if len(b) < 2 {
			return errNotGzip
		}
		xlen := int(b[0]) | int(b[1])<<8
		if len(b) < 2+xlen {
			return errNotGzip
		}
		b = b[2+xlen:]
	}
	for _, f := range []byte{0x08, 0x10} {
		if flg&f != 0 {
			i := bytes.IndexByte(b, 0)
			if i < 0 {
				return errNotGzip
			}
			b = b[i+1:]
		}
	}
	if flg&0x02 != 0 {
		if len(b) < 2 {
			return errNotGzip
		}
		b = b[2:]
	}
	extra := appendLastTime(nil, last)
	hdr := append([]byte{0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, xfl, 255, byte(len(extra)), byte(len(extra) >> 8)}, extra...)
	if _, err := dst.Write(hdr); err != nil {
		return err
	}
	// A plain loop: io.Copy would reach for (*os.File).ReadFrom and link its splice paths into the shim.
	for {
		if _, err := dst.Write(b); err != nil {
			return err
		}
		n, err := src.Read(buf)
		b = buf[:n]
		if err == io.EOF {
			_, err = dst.Write(b)
			return err
		}
		if err != nil {
			return err
		}
	}
}

// appendLastTime appends docker's gzip extra field of a rotated log: {"lastTime":"<RFC 3339>"}.
func appendLastTime(dst []byte, t time.Time) []byte {
	dst = append(dst, `{"lastTime":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, `"}`...)
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

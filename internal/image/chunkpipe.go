package image

import (
	"errors"
	"io"
	"sync"
)

// chunkPipe is an asynchronous in-memory pipe: the writer fills fixed-size chunks and hands them over through a
// small queue, so the stages of a pull (receive and verify, decompress and store, unpack) run at the same time
// on different cores instead of taking turns as they do over io.Pipe.
type chunkPipe struct {
	full chan []byte
	free chan []byte
	size int

	wbuf []byte // chunk being filled
	rbuf []byte // chunk being read
	rown []byte // rbuf's backing chunk, returned to free when consumed

	mu      sync.Mutex
	werr    error // the writer's closing error (io.EOF for a clean close)
	closed  chan struct{}
	rclosed chan struct{}
	once    sync.Once
	ronce   sync.Once
}

var errPipeReaderClosed = errors.New("chunk pipe: reader closed")

func newChunkPipe(chunks, size int) *chunkPipe {
	p := &chunkPipe{full: make(chan []byte, chunks), free: make(chan []byte, chunks), size: size,
		closed: make(chan struct{}), rclosed: make(chan struct{})}
	for range chunks {
		p.free <- make([]byte, 0, size)
	}
	return p
}

// Write copies b into chunks, blocking while all chunks are full.
func (p *chunkPipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.wbuf == nil {
			select {
			case p.wbuf = <-p.free:
			case <-p.rclosed:
				return n, errPipeReaderClosed
			}
		}
		c := copy(p.wbuf[len(p.wbuf):cap(p.wbuf)], b)
		p.wbuf = p.wbuf[:len(p.wbuf)+c]
		b, n = b[c:], n+c
		if len(p.wbuf) == cap(p.wbuf) {
			if err := p.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (p *chunkPipe) flush() error {
	if len(p.wbuf) == 0 {
		return nil
	}
	select {
	case p.full <- p.wbuf:
		p.wbuf = nil
		return nil
	case <-p.rclosed:
		return errPipeReaderClosed
	}
}

// CloseWithError ends the stream after what was written; the reader sees err (io.EOF when nil) at its end.
func (p *chunkPipe) CloseWithError(err error) {
	if err == nil {
		err = io.EOF
	}
	p.once.Do(func() {
		if err == io.EOF {
			p.flush()
		}
		p.mu.Lock()
		p.werr = err
		p.mu.Unlock()
		close(p.closed)
	})
}

// Read reads what was written, then the writer's closing error.
func (p *chunkPipe) Read(b []byte) (int, error) {
	for len(p.rbuf) == 0 {
		if p.rown != nil {
			p.free <- p.rown[:0]
			p.rown = nil
		}
		select {
		case c := <-p.full:
			p.rbuf, p.rown = c, c
		case <-p.closed:
			// Drain chunks sent before the close.
			select {
			case c := <-p.full:
				p.rbuf, p.rown = c, c
			default:
				p.mu.Lock()
				err := p.werr
				p.mu.Unlock()
				return 0, err
			}
		}
	}
	n := copy(b, p.rbuf)
	p.rbuf = p.rbuf[n:]
	return n, nil
}

// CloseRead tells the writer nobody reads any more: its writes fail from now on.
func (p *chunkPipe) CloseRead() {
	p.ronce.Do(func() { close(p.rclosed) })
}

package content

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An O_DIRECT writer (WithDirectIO) hands the kernel whole aligned blocks straight from memory: the caller's own
// buffer when it is aligned and no bytes are held (the object store's 1 MiB reads are: Go allocates large buffers
// page-aligned), otherwise a copy gathered in an aligned buffer of the writer's. Every direct write is a multiple
// of dioAlign at an offset that is one too, so the file offset always is. What is left below a block is written
// through the page cache by endDirect, before Commit's fsync.

// dioAlign is the alignment O_DIRECT asks of offsets, lengths and memory: 4096 covers disks with 512-byte and
// 4 KiB logical blocks.
const dioAlign = 4096

// dioBufSize is how much an O_DIRECT writer gathers when the caller's buffers are not aligned.
const dioBufSize = 1 << 20

// directBuf is an O_DIRECT writer's aligned buffer and how many bytes it holds.
type directBuf struct {
	buf []byte
	n   int
}

var dioPool = sync.Pool{New: func() any {
	b := make([]byte, dioBufSize+dioAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) % dioAlign); r != 0 {
		off = dioAlign - r
	}
	return &directBuf{buf: b[off : off+dioBufSize : off+dioBufSize]}
}}

func newDirectBuf() *directBuf {
	d := dioPool.Get().(*directBuf)
	d.n = 0
	return d
}

func aligned(p []byte) bool { return uintptr(unsafe.Pointer(&p[0]))%dioAlign == 0 }

// setDirect turns O_DIRECT on or off for f; it fails (EINVAL) where the filesystem does not support it.
func setDirect(f *os.File, on bool) error {
	fd := f.Fd()
	flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if on {
		flags |= unix.O_DIRECT
	} else {
		flags &^= unix.O_DIRECT
	}
	_, err = unix.FcntlInt(fd, unix.F_SETFL, flags)
	return err
}

// writeDirect takes p: whole aligned blocks go to the file at once, the rest waits in w.direct. A failed write
// leaves the writer failed (w.derr): what reached the file is no longer known to match the hash.
func (w *writer) writeDirect(p []byte) (int, error) {
	if w.derr != nil {
		return 0, w.derr
	}
	all := p
	for len(p) > 0 && w.direct != nil {
		d := w.direct
		if d.n == 0 && len(p) >= dioAlign && aligned(p) {
			k := len(p) &^ (dioAlign - 1)
			if err := w.writeBlocks(p[:k]); err != nil {
				return 0, err
			}
			p = p[k:]
			continue
		}
		k := copy(d.buf[d.n:], p)
		d.n += k
		p = p[k:]
		if d.n == len(d.buf) {
			if err := w.writeBlocks(d.buf); err != nil {
				return 0, err
			}
			if w.direct != nil {
				d.n = 0
			}
		}
	}
	if len(p) > 0 { // O_DIRECT was refused midway: the rest goes through the page cache
		if _, err := w.f.Write(p); err != nil {
			w.derr = fmt.Errorf("content writer: %w", err)
			return 0, w.derr
		}
	}
	w.h.Write(all)
	w.n += int64(len(all))
	return len(all), nil
}

// writeBlocks writes whole aligned blocks with O_DIRECT. A filesystem that refuses them (EINVAL: an alignment it
// wants larger than dioAlign) makes the writer write through the page cache from there on, these blocks first.
func (w *writer) writeBlocks(b []byte) error {
	_, err := w.f.Write(b)
	if errors.Is(err, unix.EINVAL) {
		if err = setDirect(w.f, false); err == nil {
			// What the writer holds comes after b: the rest of its buffer when b is the buffer's head, else all of
			// it (none, in fact: b is the caller's only when nothing is held).
			held := w.direct
			rest := held.buf[:held.n]
			if &b[0] == &held.buf[0] {
				rest = held.buf[len(b):held.n]
			}
			w.direct = nil
			if _, err = w.f.Write(b); err == nil && len(rest) > 0 {
				_, err = w.f.Write(rest)
			}
			held.release()
		}
	}
	if err != nil {
		w.derr = fmt.Errorf("content writer: %w", err)
	}
	return w.derr
}

// endDirect writes what an O_DIRECT writer holds (its whole blocks directly, the tail through the page cache) and
// leaves the file in buffered mode, so that everything is in the file before it is synced.
func (w *writer) endDirect() error {
	if w.derr != nil {
		return w.derr
	}
	d := w.direct
	if d == nil {
		return nil
	}
	if k := d.n &^ (dioAlign - 1); k > 0 {
		if err := w.writeBlocks(d.buf[:k]); err != nil {
			return err
		}
		if w.direct == nil { // fell back: writeBlocks wrote the rest too
			return nil
		}
		copy(d.buf, d.buf[k:d.n])
		d.n -= k
	}
	if err := setDirect(w.f, false); err != nil {
		w.derr = fmt.Errorf("content writer: %w", err)
		return w.derr
	}
	if d.n > 0 {
		if _, err := w.f.Write(d.buf[:d.n]); err != nil {
			w.derr = fmt.Errorf("content writer: %w", err)
			return w.derr
		}
	}
	w.releaseDirect()
	return nil
}

// releaseDirect gives the aligned buffer back.
func (w *writer) releaseDirect() {
	if w.direct != nil {
		w.direct.release()
		w.direct = nil
	}
}

// release puts d back in the pool, if it is still a whole aligned buffer.
func (d *directBuf) release() {
	if len(d.buf) == dioBufSize && aligned(d.buf) {
		dioPool.Put(d)
	}
}

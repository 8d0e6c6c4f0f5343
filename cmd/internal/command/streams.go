package command

import (
	"errors"
	"io"
	"os"

	"github.com/moby/term"
)

// InStream is the CLI's stdin, aware of whether it is a terminal.
type InStream struct {
	io.ReadCloser
	fd         uintptr
	isTerminal bool
	state      *term.State
}

func newInStream(r io.Reader) *InStream {
	rc, ok := r.(io.ReadCloser)
	if !ok {
		rc = io.NopCloser(r)
	}
	fd, isTerm := term.GetFdInfo(r)
	return &InStream{ReadCloser: rc, fd: fd, isTerminal: isTerm}
}

// IsTerminal reports whether stdin is a terminal.
func (i *InStream) IsTerminal() bool { return i.isTerminal }

// CheckTty refuses to attach a non-terminal stdin to a tty container, as docker does.
func (i *InStream) CheckTty(attachStdin, tty bool) error {
	if tty && attachStdin && !i.isTerminal {
		return errors.New("the input device is not a TTY")
	}
	return nil
}

// SetRawTerminal puts the terminal in raw mode (unless NORAW is set), so keys reach the container as typed.
func (i *InStream) SetRawTerminal() error {
	if !i.isTerminal || os.Getenv("NORAW") != "" {
		return nil
	}
	st, err := term.SetRawTerminal(i.fd)
	if err != nil {
		return err
	}
	i.state = st
	return nil
}

// RestoreTerminal undoes SetRawTerminal.
func (i *InStream) RestoreTerminal() {
	if i.state != nil {
		_ = term.RestoreTerminal(i.fd, i.state)
		i.state = nil
	}
}

// OutStream is the CLI's stdout, aware of whether it is a terminal.
type OutStream struct {
	io.Writer
	fd         uintptr
	isTerminal bool
	state      *term.State
}

func newOutStream(w io.Writer) *OutStream {
	fd, isTerm := term.GetFdInfo(w)
	return &OutStream{Writer: w, fd: fd, isTerminal: isTerm}
}

// IsTerminal reports whether stdout is a terminal.
func (o *OutStream) IsTerminal() bool { return o.isTerminal }

// SetRawTerminal puts the output side in raw mode too (no-op on Unix besides bookkeeping).
func (o *OutStream) SetRawTerminal() error {
	if !o.isTerminal || os.Getenv("NORAW") != "" {
		return nil
	}
	st, err := term.SetRawTerminalOutput(o.fd)
	if err != nil {
		return err
	}
	o.state = st
	return nil
}

// RestoreTerminal undoes SetRawTerminal.
func (o *OutStream) RestoreTerminal() {
	if o.state != nil {
		_ = term.RestoreTerminal(o.fd, o.state)
		o.state = nil
	}
}

// TtySize returns the terminal's height and width, or zeros.
func (o *OutStream) TtySize() (height, width uint) {
	if !o.isTerminal {
		return 0, 0
	}
	ws, err := term.GetWinsize(o.fd)
	if err != nil || ws == nil {
		return 0, 0
	}
	return uint(ws.Height), uint(ws.Width)
}

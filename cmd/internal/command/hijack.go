package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/berth/berth/client"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/term"
)

// defaultDetachKeys is ctrl-p ctrl-q.
var defaultDetachKeys = []byte{16, 17}

func validateDetachKeys(keys string) error {
	if keys == "" {
		return nil
	}
	if _, err := term.ToBytes(keys); err != nil {
		return fmt.Errorf("invalid detach keys (%s): %w", keys, err)
	}
	return nil
}

// hijackedStreamer copies the local streams to and from a hijacked attach/exec connection.
type hijackedStreamer struct {
	c          *CLI
	resp       *client.HijackedResponse
	in         io.ReadCloser // nil: stdin not attached
	out, errw  io.Writer     // nil: not attached
	tty        bool
	detachKeys string
}

// errDetached is returned when the user typed the detach sequence.
var errDetached = errors.New("detached")

// stream runs until the output ends, the user detaches (errDetached), or ctx ends.
func (h *hijackedStreamer) stream(ctx context.Context) error {
	restore, err := h.setupInput()
	if err != nil {
		return fmt.Errorf("unable to setup input stream: %w", err)
	}
	defer restore()

	outputDone := h.copyOutput(restore)
	inputDone, detached := h.copyInput(restore)

	select {
	case err := <-outputDone:
		return err
	case <-inputDone:
		if h.out != nil || h.errw != nil {
			select {
			case err := <-outputDone:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	case <-detached:
		return errDetached
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setupInput puts the terminal in raw mode and watches stdin for the detach keys (tty only).
func (h *hijackedStreamer) setupInput() (restore func(), err error) {
	if h.in == nil || !h.tty {
		return func() {}, nil
	}
	keys := defaultDetachKeys
	if h.detachKeys != "" {
		if keys, err = term.ToBytes(h.detachKeys); err != nil {
			return nil, fmt.Errorf("invalid detach keys (%s): %w", h.detachKeys, err)
		}
	}
	if err := h.c.in.SetRawTerminal(); err != nil {
		return nil, fmt.Errorf("unable to set IO streams as raw terminal: %w", err)
	}
	if err := h.c.out.SetRawTerminal(); err != nil {
		h.c.in.RestoreTerminal()
		return nil, fmt.Errorf("unable to set IO streams as raw terminal: %w", err)
	}
	restore = sync.OnceFunc(func() {
		h.c.in.RestoreTerminal()
		h.c.out.RestoreTerminal()
	})
	orig := h.in
	h.in = readCloser{Reader: term.NewEscapeProxy(orig, keys), close: orig.Close}
	return restore, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

func (h *hijackedStreamer) multiplexed() bool {
	if _, ok := h.resp.MediaType(); ok {
		return h.resp.Multiplexed()
	}
	return !h.tty
}

func (h *hijackedStreamer) copyOutput(restore func()) <-chan error {
	if h.out == nil && h.errw == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() {
		var err error
		if h.multiplexed() {
			out, errw := h.out, h.errw
			if out == nil {
				out = io.Discard
			}
			if errw == nil {
				errw = io.Discard
			}
			_, err = stdcopy.StdCopy(out, errw, h.resp.Reader)
		} else {
			out := h.out
			if out == nil {
				out = h.errw
			}
			_, err = io.Copy(out, h.resp.Reader)
			// Restore the terminal as soon as the output ends, so messages print normally.
			restore()
		}
		slog.Debug("end of hijacked output", "error", err)
		done <- err
	}()
	return done
}

func (h *hijackedStreamer) copyInput(restore func()) (<-chan struct{}, <-chan struct{}) {
	inputDone := make(chan struct{})
	detached := make(chan struct{})
	go func() {
		if h.in != nil {
			_, err := io.Copy(h.resp.Conn, h.in)
			restore()
			var escape term.EscapeError
			if errors.As(err, &escape) {
				close(detached)
				return
			}
			if err != nil {
				slog.Debug("error sending stdin", "error", err)
			}
		}
		if err := h.resp.CloseWrite(); err != nil {
			slog.Debug("could not half-close the attach connection", "error", err)
		}
		close(inputDone)
	}()
	return inputDone, detached
}

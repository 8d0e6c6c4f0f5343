package containers

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/task"
)

type attachStream struct {
	opts   AttachOptions
	tty    bool
	keys   []byte
	result chan error
	once   sync.Once
}

func (s *attachStream) finish(err error) { s.once.Do(func() { s.result <- err }) }

// AttachTTY reports whether the container has a tty (output is raw, not multiplexed).
func (d *Service) AttachTTY(ref string) (bool, error) {
	c, err := d.containers.get(ref)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Config.Tty, nil
}

// Attach connects the client to the container's stdio until the container exits, the client detaches, or the
// client goes away. A container that is not running is attached at its next start, as `docker start -a` and
// `docker run` expect.
func (d *Service) Attach(ctx context.Context, ref string, opts AttachOptions) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	keys, err := parseDetachKeys(opts.DetachKeys)
	if err != nil {
		return err
	}
	c.mu.Lock()
	s := &attachStream{opts: opts, tty: c.Config.Tty, keys: keys, result: make(chan error, 1)}
	if opts.Stdin != nil && !c.Config.OpenStdin {
		s.opts.Stdin = nil
	}
	if c.running() && c.task != nil {
		t := c.task
		c.mu.Unlock()
		conn, err := t.Attach(ctx, s.opts.Stdin != nil, s.opts.Stdout, s.opts.Stderr)
		if err != nil {
			return err
		}
		if opts.Ready != nil {
			if err := opts.Ready(); err != nil {
				conn.Close()
				return err
			}
		}
		d.containerEvent(c, events.ActionAttach, nil)
		d.pipeConn(conn, s)
	} else {
		c.pending = append(c.pending, s)
		c.mu.Unlock()
		if opts.Ready != nil {
			if err := opts.Ready(); err != nil {
				d.dropPending(c, s)
				return err
			}
		}
		d.containerEvent(c, events.ActionAttach, nil)
	}
	select {
	case err := <-s.result:
		return err
	case <-ctx.Done():
		d.dropPending(c, s)
		return ctx.Err()
	}
}

func (d *Service) dropPending(c *Container, s *attachStream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.pending {
		if p == s {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return
		}
	}
}

// connectPending joins streams that were waiting for this start to the new task; the caller holds c.mu.
func (d *Service) connectPending(ctx context.Context, c *Container) {
	pending := c.pending
	c.pending = nil
	for _, s := range pending {
		d.pipe(ctx, c.task, s)
	}
}

// failPending ends streams waiting for a start that failed; the caller holds c.mu.
func (d *Service) failPending(c *Container) {
	for _, s := range c.pending {
		s.finish(nil)
	}
	c.pending = nil
}

// pipe copies between one client stream and the task until output ends or the client detaches.
func (d *Service) pipe(ctx context.Context, t task.Task, s *attachStream) {
	conn, err := t.Attach(ctx, s.opts.Stdin != nil, s.opts.Stdout, s.opts.Stderr)
	if err != nil {
		s.finish(err)
		return
	}
	d.pipeConn(conn, s)
}

func (d *Service) pipeConn(conn io.ReadWriteCloser, s *attachStream) {
	go func() {
		err := copyFrames(s.opts.Out, conn, s.tty)
		conn.Close()
		s.finish(err)
	}()
	if s.opts.Stdin != nil {
		go func() {
			err := copyDetach(conn, s.opts.Stdin, s.keys)
			if errors.Is(err, ErrDetached) {
				conn.Close()
				s.finish(ErrDetached)
				return
			}
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
}

// copyFrames forwards shim output (stdcopy frames) to the client, unwrapped to raw bytes for a tty.
func copyFrames(dst io.Writer, src io.Reader, tty bool) error {
	if !tty {
		_, err := io.Copy(dst, src)
		return ignoreClosed(err)
	}
	br := bufio.NewReader(src)
	hdr := make([]byte, 8)
	buf := make([]byte, 32*1024)
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return ignoreClosed(err)
		}
		n := int(binary.BigEndian.Uint32(hdr[4:]))
		for n > 0 {
			m := min(n, len(buf))
			if _, err := io.ReadFull(br, buf[:m]); err != nil {
				return ignoreClosed(err)
			}
			if _, err := dst.Write(buf[:m]); err != nil {
				return err
			}
			n -= m
		}
	}
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

// copyDetach copies client input to dst until EOF, stopping with ErrDetached when the detach sequence is typed.
// Bytes that begin a sequence but do not complete it are passed through.
func copyDetach(dst io.Writer, src io.Reader, keys []byte) error {
	buf := make([]byte, 32*1024)
	matched := 0
	for {
		n, err := src.Read(buf)
		if n > 0 {
			out := make([]byte, 0, n+matched)
			for _, b := range buf[:n] {
				if len(keys) > 0 && b == keys[matched] {
					matched++
					if matched == len(keys) {
						if len(out) > 0 {
							dst.Write(out)
						}
						return ErrDetached
					}
					continue
				}
				if matched > 0 {
					out = append(out, keys[:matched]...)
					matched = 0
				}
				out = append(out, b)
			}
			if len(out) > 0 {
				if _, werr := dst.Write(out); werr != nil {
					return werr
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// parseDetachKeys parses docker's detach key syntax: "ctrl-p,ctrl-q" (default), "a,ctrl-@", ...
func parseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		s = "ctrl-p,ctrl-q"
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case strings.HasPrefix(strings.ToLower(k), "ctrl-") && len(k) == 6:
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+1)
			case c >= '@' && c <= '_':
				out = append(out, c-'@')
			default:
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Unknown character: '%s'", k))
			}
		default:
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Unknown character: '%s'", k))
		}
	}
	return out, nil
}

// Resize changes the container's tty size.
func (d *Service) Resize(ctx context.Context, ref string, h, w uint16) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	running, tty, t := c.running(), c.Config.Tty, c.task
	c.mu.Unlock()
	if !running || t == nil {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is not running", c.ID))
	}
	if !tty {
		return nil
	}
	if err := t.Resize(ctx, w, h); err != nil {
		slog.DebugContext(ctx, "resize", "container", c.ID, "error", err)
		return err
	}
	d.containerEvent(c, events.ActionResize, map[string]string{"height": fmt.Sprint(h), "width": fmt.Sprint(w)})
	return nil
}

package shim

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// maxRequest bounds a request line.
const maxRequest = 256

func (s *shim) serve(l *net.UnixListener) {
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.requests.Add(1)
		go func() {
			defer s.requests.Done()
			s.handle(conn)
		}()
	}
}

// handle serves one request; attach connections stay open after it returns.
func (s *shim) handle(conn *net.UnixConn) {
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := readLine(conn, maxRequest)
	if err != nil {
		conn.Close()
		return
	}
	conn.SetReadDeadline(time.Time{})
	f := strings.Fields(line)
	if len(f) == 0 {
		reply(conn, errors.New("empty request"))
		conn.Close()
		return
	}
	switch f[0] {
	case "start":
		reply(conn, s.start())
	case "attach":
		if len(f) == 4 {
			s.attach(conn, f[1] == "1", f[2] == "1", f[3] == "1")
			return
		}
		reply(conn, errors.New("usage: attach <stdin> <stdout> <stderr>"))
	case "resize":
		var w, h uint64
		var err error
		if len(f) != 3 {
			err = errors.New("usage: resize <width> <height>")
		} else if w, err = strconv.ParseUint(f[1], 10, 16); err == nil {
			h, err = strconv.ParseUint(f[2], 10, 16)
		}
		if err == nil {
			err = s.resize(uint16(w), uint16(h))
		}
		reply(conn, err)
	case "wait":
		<-s.exited
		conn.Write([]byte("exit " + strconv.Itoa(s.exitCode) + "\n"))
	case "closestdin":
		s.closeStdin()
		reply(conn, nil)
	default:
		reply(conn, errors.New("unknown request "+strconv.Quote(f[0])))
	}
	conn.Close()
}

func (s *shim) start() error {
	s.startMu.Lock()
	defer s.startMu.Unlock()
	s.mu.Lock()
	state := s.state
	s.mu.Unlock()
	if s.cfg.RunDetached {
		// Already running (or even finished): the request only ends the replay of early output.
		s.mu.Lock()
		if s.state == stateCreated {
			s.state = stateStarted
		}
		s.replayOn = false
		s.early, s.earlySize = nil, 0
		s.mu.Unlock()
		s.startOnce.Do(func() { close(s.startReq) })
		return nil
	}
	switch state {
	case stateStarted:
		return errors.New("container already started")
	case stateExited:
		return errors.New("container has exited")
	}
	if err := s.runtimeCmd(s.nullFiles(), "start", s.cfg.ID); err != nil {
		return err
	}
	s.mu.Lock()
	if s.state == stateCreated {
		s.state = stateStarted
	}
	s.mu.Unlock()
	return nil
}

func (s *shim) resize(w, h uint16) error {
	if s.console == nil {
		return errors.New("container has no tty")
	}
	s.mu.Lock()
	exited := s.state == stateExited
	s.mu.Unlock()
	if exited {
		return errors.New("container has exited")
	}
	return setWinsize(s.console, w, h)
}

// attach answers ok and, from then on, streams the selected output to conn and conn's bytes to the container's
// stdin. The connection is closed once the container exited and its output is written.
func (s *shim) attach(conn *net.UnixConn, stdin, stdout, stderr bool) {
	c := &client{conn: conn, stdout: stdout, stderr: stderr}
	c.cond.L = &c.mu
	s.mu.Lock()
	replay := s.replayOn && s.early != nil
	if s.drained && !replay {
		// Output is drained already: nothing will ever be sent.
		s.mu.Unlock()
		reply(conn, nil)
		conn.Close()
		return
	}
	if replay {
		// Before the start request: this client gets what the container printed so far.
		for _, f := range s.early {
			if c.wants(f.stream) {
				c.send(f.frame)
			}
		}
	}
	if s.drained {
		c.closing = true
		s.writers.Add(1)
		s.mu.Unlock()
		reply(conn, nil)
		// The shim is finishing: write the replay within this request, which Run waits for.
		c.writeLoop()
		s.writers.Done()
		return
	}
	// Registered before the reply, so the client sees every byte produced after "ok".
	s.clients = append(s.clients, c)
	s.writers.Add(1)
	s.mu.Unlock()
	if err := reply(conn, nil); err != nil {
		c.finish(0)
	}
	go func() {
		defer s.writers.Done()
		c.writeLoop()
		s.removeClient(c)
	}()
	if stdin && s.cfg.Stdin {
		go s.copyStdin(c)
	}
}

func (s *shim) removeClient(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.clients {
		if x == c {
			s.clients = append(s.clients[:i], s.clients[i+1:]...)
			return
		}
	}
}

// copyStdin forwards a client's bytes to the container's stdin. The end of the client's stdin (half-close or
// disconnect) closes the container's stdin with StdinOnce; a broken connection also ends the client.
func (s *shim) copyStdin(c *client) {
	buf := make([]byte, 8*1024)
	for {
		n, err := c.conn.Read(buf)
		if n > 0 {
			// An error means stdin is closed: keep reading to see the client's end, dropping its bytes.
			s.writeStdin(buf[:n])
		}
		if err != nil {
			if s.cfg.StdinOnce {
				s.closeStdin()
			}
			if err != io.EOF {
				c.finish(0)
			}
			return
		}
	}
}

// readLine reads one request or reply line byte by byte: nothing after the newline may be consumed, since on an
// attach connection it is stdin data or output frames.
func readLine(r io.Reader, max int) (string, error) {
	b := make([]byte, 0, 64)
	var c [1]byte
	for len(b) < max {
		if _, err := io.ReadFull(r, c[:]); err != nil {
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			return "", err
		}
		if c[0] == '\n' {
			return string(b), nil
		}
		b = append(b, c[0])
	}
	return "", errors.New("line too long")
}

func reply(conn net.Conn, err error) error {
	msg := "ok\n"
	if err != nil {
		msg = "error " + oneLine(err.Error()) + "\n"
	}
	_, werr := conn.Write([]byte(msg))
	return werr
}

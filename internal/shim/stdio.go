package shim

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Stream numbers of stdcopy frames.
const (
	streamStdout = 1
	streamStderr = 2
)

// maxQueued bounds the output buffered for one attached client; a client further behind is dropped, so a slow
// reader never stalls the container or the log.
const maxQueued = 1 << 20

// stdio is the container's side of the shim's stdio, before and during create.
type stdio struct {
	child            [3]int            // fds the runtime process gets as 0, 1, 2 (the container init inherits them)
	closeAfterCreate []int             // the shim's copies of child's pipe ends
	stdout, stderr   *os.File          // read ends (non-tty)
	stdin            *os.File          // write end (non-tty with Stdin)
	consoleListener  *net.UnixListener // tty: the --console-socket the runtime sends the pty master to
	consolePath      string            // the path given to the runtime
	consoleBind      string
}

// newPipe returns a pipe whose shim end is non-blocking (served by the Go poller) and whose child end stays
// blocking: O_NONBLOCK lives on the open file, and the container must not inherit it.
func newPipe(shimReads bool) (shimEnd *os.File, childEnd int, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, -1, err
	}
	shimFd, childFd := p[1], p[0]
	if shimReads {
		shimFd, childFd = p[0], p[1]
	}
	if err := syscall.SetNonblock(shimFd, true); err != nil {
		syscall.Close(p[0])
		syscall.Close(p[1])
		return nil, -1, err
	}
	return os.NewFile(uintptr(shimFd), "pipe"), childFd, nil
}

func (s *shim) setupStdio() (*stdio, error) {
	sio := &stdio{child: s.nullFiles()}
	if s.cfg.Tty {
		// The runtime connects from the bundle directory, so give it a path that works from anywhere.
		path, bind := sockPaths(s.dir, consoleSocketFile)
		l, err := listenUnix(bind)
		if err != nil {
			sio.close()
			return nil, err
		}
		sio.consoleListener, sio.consolePath, sio.consoleBind = l, path, bind
		return sio, nil
	}
	for i := 1; i <= 2; i++ {
		f, fd, err := newPipe(true)
		if err != nil {
			sio.close()
			return nil, err
		}
		sio.child[i] = fd
		sio.closeAfterCreate = append(sio.closeAfterCreate, fd)
		if i == 1 {
			sio.stdout = f
		} else {
			sio.stderr = f
		}
	}
	if s.cfg.Stdin {
		f, fd, err := newPipe(false)
		if err != nil {
			sio.close()
			return nil, err
		}
		sio.child[0] = fd
		sio.closeAfterCreate = append(sio.closeAfterCreate, fd)
		sio.stdin = f
	}
	return sio, nil
}

// closeChildEnds closes the shim's copies of the fds given to the runtime, so that EOF on stdout/stderr means
// every process of the container has closed them.
func (sio *stdio) closeChildEnds() {
	for _, fd := range sio.closeAfterCreate {
		syscall.Close(fd)
	}
	sio.closeAfterCreate = nil
}

func (sio *stdio) close() {
	sio.closeChildEnds()
	for _, f := range []*os.File{sio.stdout, sio.stderr, sio.stdin} {
		if f != nil {
			f.Close()
		}
	}
	sio.closeConsoleListener()
}

func (sio *stdio) closeConsoleListener() {
	if sio.consoleListener != nil {
		sio.consoleListener.Close()
		os.Remove(sio.consoleBind)
		sio.consoleListener = nil
	}
}

// receiveConsole accepts the runtime's connection on the console socket and returns the pty master it sends.
func receiveConsole(l *net.UnixListener) (*os.File, error) {
	uc, err := l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer uc.Close()
	uc.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 256)
	oob := make([]byte, syscall.CmsgSpace(4*4))
	_, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		rights, err := syscall.ParseUnixRights(&msgs[i])
		if err == nil {
			fds = append(fds, rights...)
		}
	}
	if len(fds) == 0 {
		return nil, errors.New("console socket: no file descriptor received")
	}
	for _, fd := range fds[1:] {
		syscall.Close(fd)
	}
	syscall.CloseOnExec(fds[0])
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		syscall.Close(fds[0])
		return nil, err
	}
	return os.NewFile(uintptr(fds[0]), "console"), nil
}

func setWinsize(f *os.File, width, height uint16) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: height, Col: width})
	})
	if err != nil {
		return err
	}
	return serr
}

// copyOutput copies one output stream of the container to the log and the attached clients until EOF (or EIO:
// the pty's slave side is closed).
func (s *shim) copyOutput(f *os.File, stream byte, name string) {
	defer s.copiers.Done()
	buf := make([]byte, 8*1024)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if s.log != nil {
				s.log.Write(name, buf[:n])
			}
			s.broadcast(stream, buf[:n])
		}
		if err != nil {
			break
		}
	}
	if s.log != nil {
		s.log.Flush(name)
	}
}

// broadcast queues p as a stdcopy frame to every attached client that wants stream.
func (s *shim) broadcast(stream byte, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var frame []byte
	if s.replayOn && s.earlySize+len(p) <= maxEarly {
		frame = make([]byte, 8+len(p))
		frame[0] = stream
		binary.BigEndian.PutUint32(frame[4:8], uint32(len(p)))
		copy(frame[8:], p)
		s.early = append(s.early, earlyFrame{stream, frame})
		s.earlySize += len(p)
	}
	for _, c := range s.clients {
		if !c.wants(stream) {
			continue
		}
		if frame == nil {
			frame = make([]byte, 8+len(p))
			frame[0] = stream
			binary.BigEndian.PutUint32(frame[4:8], uint32(len(p)))
			copy(frame[8:], p)
		}
		c.send(frame)
	}
}

// writeStdin writes p to the container's stdin; several attached clients may do so concurrently.
func (s *shim) writeStdin(p []byte) error {
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	f := s.stdin.Load()
	if f == nil {
		return os.ErrClosed
	}
	_, err := f.Write(p)
	return err
}

// closeStdin ends the container's stdin. A tty has no separate stdin to close: forwarding just stops.
func (s *shim) closeStdin() {
	f := s.stdin.Swap(nil)
	if f != nil && !s.cfg.Tty {
		f.Close() // unblocks a pending Write; no stdinMu needed
	}
}

// client is one attach connection. Output frames are queued (bounded) and written by the client's own
// goroutine, so a slow client blocks only itself.
type client struct {
	conn           *net.UnixConn
	stdout, stderr bool

	mu      sync.Mutex
	cond    sync.Cond
	queue   [][]byte
	queued  int
	closing bool // no more frames: flush what is queued, then close
}

func (c *client) wants(stream byte) bool {
	return (stream == streamStdout && c.stdout) || (stream == streamStderr && c.stderr)
}

func (c *client) send(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	if c.queued+len(frame) > maxQueued {
		c.closing = true
		c.queue, c.queued = nil, 0
		c.conn.Close()
		c.cond.Signal()
		return
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	c.cond.Signal()
}

// finish closes the connection once the queued output is written, or after timeout.
func (c *client) finish(timeout time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	c.conn.SetWriteDeadline(time.Now().Add(timeout))
	c.cond.Signal()
}

func (c *client) writeLoop() {
	defer c.conn.Close()
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closing {
			c.cond.Wait()
		}
		q := c.queue
		c.queue, c.queued = nil, 0
		c.mu.Unlock()
		if len(q) == 0 {
			return // closing, and everything is written
		}
		bufs := net.Buffers(q)
		if _, err := bufs.WriteTo(c.conn); err != nil {
			c.mu.Lock()
			c.closing = true
			c.queue, c.queued = nil, 0
			c.mu.Unlock()
			return
		}
	}
}

// sockPaths returns, for the socket file name in dir, a path any process can connect to and the path to bind.
// When dir is too long for sockaddr_un, the shim binds relative to its working directory (dir) and others go
// through /proc/<shim>/cwd.
func sockPaths(dir, name string) (connect, bind string) {
	p := dir + "/" + name
	if len(p) <= maxSockPath {
		return p, p
	}
	return "/proc/" + strconv.Itoa(os.Getpid()) + "/cwd/" + name, name
}

// listenUnix listens on a unix socket at path, replacing a stale one. It builds the socket by hand: net.Listen
// would bring the address resolver into the shim and read somaxconn into a 64 KiB buffer.
func listenUnix(path string) (*net.UnixListener, error) {
	os.Remove(path)
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		syscall.Close(fd)
		return nil, errors.New("bind " + path + ": " + err.Error())
	}
	if err := syscall.Listen(fd, 128); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	l, err := net.FileListener(f) // dups the fd
	f.Close()
	if err != nil {
		return nil, err
	}
	return l.(*net.UnixListener), nil
}

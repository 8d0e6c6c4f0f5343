package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/atomicfile"
)

// maxReply bounds a reply line from the shim (an error can carry the runtime's message).
const maxReply = 64 * 1024

// Spawn writes cfg to stateDir/shim.json, starts shimBinary for it in a new session and waits until the
// container is created. It returns the container init's pid, or the runtime's error message (for example runc's
// `exec: "foo": executable file not found in $PATH`) if create failed. The shim outlives ctx and the daemon;
// Spawn reaps it when it exits so that no zombie is left while the daemon runs.
func Spawn(ctx context.Context, shimBinary, stateDir string, cfg Config) (initPid int, err error) {
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return 0, err
	}
	// A previous run's leftovers would answer for this one.
	for _, name := range []string{ExitFile, SocketFile, InitPidFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
	}
	extra := []*os.File{nil} // fd 3: the ready pipe
	if cfg.RuntimeBinary != nil && cfg.RuntimeExe != "" {
		extra = append(extra, cfg.RuntimeBinary) // fd 4, RuntimeBinaryFD
		cfg.RuntimeFD = RuntimeBinaryFD
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return 0, err
	}
	// Read once by the shim started below, in a state directory that does not outlive a reboot: no fsync.
	if err := atomicfile.WriteFile(filepath.Join(dir, ConfigFile), data, 0o600, atomicfile.NoSync()); err != nil {
		return 0, err
	}

	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	pidfd := -1
	cmd := exec.Command(shimBinary, dir) // not CommandContext: the shim must outlive ctx
	extra[0] = w
	cmd.ExtraFiles = extra
	if _, ok := os.LookupEnv("GOMAXPROCS"); !ok {
		// One P from the runtime's start saves the other Ps' caches and threads (~170 KiB per shim); Run
		// drops the variable again so that the OCI runtime does not inherit it.
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1", gomaxprocsMarker+"=1")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, PidFD: &pidfd}
	if len(cfg.HideMounts) > 0 {
		// A private mount namespace (Go makes it MS_PRIVATE recursively) in which the shim detaches HideMounts.
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("start shim: %w", err)
	}
	exited := make(chan error, 1)
	go reapShim(cmd, pidfd, exited)

	stop := context.AfterFunc(ctx, func() { r.SetReadDeadline(time.Unix(1, 0)) })
	line, err := readLine(r, maxReply)
	if !stop() {
		return 0, fmt.Errorf("shim %s: %w", cfg.ID, ctx.Err())
	}
	if err != nil {
		// The shim died before answering; its status is the only clue.
		select {
		case werr := <-exited:
			return 0, fmt.Errorf("shim %s exited before ready: %v", cfg.ID, werr)
		case <-time.After(time.Second):
			return 0, fmt.Errorf("shim %s: reading ready pipe: %w", cfg.ID, err)
		}
	}
	switch verb, rest, _ := strings.Cut(line, " "); verb {
	case "ok":
		pid, err := strconv.Atoi(rest)
		if err != nil {
			return 0, fmt.Errorf("shim %s: bad ready line %q", cfg.ID, line)
		}
		return pid, nil
	case "error":
		return 0, errors.New(strings.TrimSpace(rest))
	default:
		return 0, fmt.Errorf("shim %s: bad ready line %q", cfg.ID, line)
	}
}

// reapShim waits for the shim to exit. With a pidfd the wait parks in the netpoller, not in a thread per shim.
func reapShim(cmd *exec.Cmd, pidfd int, exited chan<- error) {
	if pidfd >= 0 {
		if syscall.SetNonblock(pidfd, true) == nil {
			f := os.NewFile(uintptr(pidfd), "pidfd")
			if rc, err := f.SyscallConn(); err == nil {
				rc.Read(func(fd uintptr) bool {
					p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
					n, _ := unix.Poll(p, 0)
					return n > 0
				})
			}
			f.Close()
		} else {
			syscall.Close(pidfd)
		}
	}
	exited <- cmd.Wait()
}

// Client talks to the shim of one container. Each call uses its own connection, so a Client is safe for
// concurrent use and holds no resources between calls.
type Client struct {
	dir string
}

// Dial returns a client for the shim serving stateDir. It succeeds if the shim answers, or if the shim is gone
// but left an exit file (Wait then returns the recorded code); otherwise the error wraps errdefs.ErrUnavailable.
func Dial(ctx context.Context, stateDir string) (*Client, error) {
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	c := &Client{dir: dir}
	conn, err := c.dial(ctx)
	if err == nil {
		conn.Close()
		return c, nil
	}
	if _, _, ok, rerr := ReadExit(dir); rerr == nil && ok {
		return c, nil
	}
	return nil, fmt.Errorf("shim %s: %w: %w", dir, errdefs.ErrUnavailable, err)
}

// Start runs `runtime start`: the container's process begins.
func (c *Client) Start(ctx context.Context) error {
	conn, err := c.request(ctx, "start")
	if err != nil {
		return err
	}
	conn.Close()
	return nil
}

// Attach subscribes to the container's output and, with stdin, feeds its input. From the returned connection
// read stdcopy frames (8-byte header: stream 1 or 2, three zero bytes, big-endian uint32 length; a tty's output
// is stream 1) and write stdin bytes; CloseWrite (*net.UnixConn) ends stdin, which closes the container's stdin
// if it was created with StdinOnce. The shim closes the connection after the container exited and its output is
// written.
func (c *Client) Attach(ctx context.Context, stdin, stdout, stderr bool) (net.Conn, error) {
	return c.request(ctx, "attach "+bit(stdin)+" "+bit(stdout)+" "+bit(stderr))
}

// Resize sets the container's tty size.
func (c *Client) Resize(ctx context.Context, width, height uint16) error {
	conn, err := c.request(ctx, "resize "+strconv.Itoa(int(width))+" "+strconv.Itoa(int(height)))
	if err != nil {
		return err
	}
	conn.Close()
	return nil
}

// CloseStdin closes the container's stdin (a no-op for a tty).
func (c *Client) CloseStdin(ctx context.Context) error {
	conn, err := c.request(ctx, "closestdin")
	if err != nil {
		return err
	}
	conn.Close()
	return nil
}

// Wait blocks until the container exits and returns its exit code (128+signal if it was killed). If the shim is
// gone it returns the code recorded in the exit file, or an error wrapping errdefs.ErrUnavailable if there is
// none.
func (c *Client) Wait(ctx context.Context) (exitCode int, err error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return c.recordedExit(err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	line, err := "", writeString(conn, "wait\n")
	if err == nil {
		line, err = readLine(conn, maxReply)
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if err != nil {
		// The shim went away without answering: it may have crashed after writing the exit file, or before.
		return c.recordedExit(err)
	}
	code, ok := strings.CutPrefix(line, "exit ")
	if !ok {
		return 0, fmt.Errorf("shim %s: bad wait reply %q", c.dir, line)
	}
	return strconv.Atoi(code)
}

func (c *Client) recordedExit(cause error) (int, error) {
	code, _, ok, err := ReadExit(c.dir)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("shim %s: %w: %w", c.dir, errdefs.ErrUnavailable, cause)
	}
	return code, nil
}

// request sends line and reads the reply; on "ok" it returns the connection, positioned after the reply.
func (c *Client) request(ctx context.Context, line string) (*net.UnixConn, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		if _, _, ok, _ := ReadExit(c.dir); ok {
			return nil, fmt.Errorf("shim %s: container has exited: %w", c.dir, errdefs.ErrConflict)
		}
		return nil, fmt.Errorf("shim %s: %w: %w", c.dir, errdefs.ErrUnavailable, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	reply, err := "", writeString(conn, line+"\n")
	if err == nil {
		reply, err = readLine(conn, maxReply)
	}
	if !stop() {
		conn.Close()
		return nil, ctx.Err()
	}
	if err != nil {
		conn.Close()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("shim %s: %s: %w: %w", c.dir, line, errdefs.ErrUnavailable, err)
	}
	if reply == "ok" {
		return conn, nil
	}
	conn.Close()
	if msg, ok := strings.CutPrefix(reply, "error "); ok {
		return nil, errors.New(msg)
	}
	return nil, fmt.Errorf("shim %s: bad reply %q", c.dir, reply)
}

func (c *Client) dial(ctx context.Context) (*net.UnixConn, error) {
	path := filepath.Join(c.dir, SocketFile)
	if len(path) > maxSockPath {
		// Too long for sockaddr_un: go through a descriptor of the directory.
		d, err := os.Open(c.dir)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		path = "/proc/self/fd/" + strconv.Itoa(int(d.Fd())) + "/" + SocketFile
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	return conn.(*net.UnixConn), nil
}

func writeString(w io.Writer, s string) error {
	_, err := io.WriteString(w, s)
	return err
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// WaitGone blocks until the shim of stateDir has exited (it still runs the runtime's delete after reporting the
// exit), or ctx ends. A state directory without a live shim returns at once.
func WaitGone(ctx context.Context, stateDir string) error {
	data, err := os.ReadFile(filepath.Join(stateDir, PidFile))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return nil
	}
	alive := func() bool {
		cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			return false
		}
		// A zombie has an empty cmdline; a reused pid runs something else.
		return strings.Contains(string(cmd), stateDir)
	}
	for alive() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

package daemon

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/creack/pty"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/containers"
	"github.com/berth/berth/internal/oci"
)

// frameWriter writes docker's multiplexed stream format: an 8-byte header (stream, 0, 0, 0, uint32 BE length)
// before each payload.
type frameWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	stream byte
}

func (f *frameWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if f.mu != nil {
		f.mu.Lock()
		defer f.mu.Unlock()
	}
	hdr := [8]byte{f.stream}
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	if _, err := f.w.Write(append(hdr[:], p...)); err != nil {
		return 0, err
	}
	if fl, ok := f.w.(interface{ Flush() }); ok {
		fl.Flush()
	}
	return len(p), nil
}

type execProcess struct {
	mu          sync.Mutex
	ID          string
	ContainerID string
	Config      container.ExecCreateRequest
	Running     bool
	ExitCode    *int
	Pid         int
	started     bool
	ptmx        *os.File
	done        chan struct{}
	// pidFile is where the runtime writes the process's pid once it runs; cmd is the runtime's exec command.
	pidFile string
	cmd     *exec.Cmd
}

// pid returns the exec process's host pid, reading the runtime's pid file the first time it is known;
// the caller holds e.mu.
func (e *execProcess) pid() int {
	if e.Pid == 0 && e.pidFile != "" {
		e.Pid = readPid(e.pidFile)
	}
	return e.Pid
}

type execStore struct {
	mu sync.Mutex
	m  map[string]*execProcess
}

func newExecStore() *execStore { return &execStore{m: map[string]*execProcess{}} }

// removeContainer forgets the exec records of a removed container.
func (s *execStore) removeContainer(containerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.m {
		if e.ContainerID == containerID {
			delete(s.m, id)
		}
	}
}

func (s *execStore) remove(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

func (s *execStore) get(id string) (*execProcess, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[id]; ok {
		return e, nil
	}
	return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("No such exec instance: %s", id))
}

// ExecCreate registers a process to run in a running container.
func (d *Daemon) ExecCreate(ctx context.Context, ref string, cfg container.ExecCreateRequest) (string, error) {
	c, err := d.containers.get(ref)
	if err != nil {
		return "", err
	}
	if err := d.execAllowed(c); err != nil {
		return "", err
	}
	if len(cfg.Cmd) == 0 {
		return "", errdefs.ErrInvalidArgument.WithMessage("No exec command specified")
	}
	if _, err := parseDetachKeys(cfg.DetachKeys); err != nil {
		return "", err
	}
	e := &execProcess{ID: newID(), ContainerID: c.ID, Config: cfg, done: make(chan struct{})}
	d.execs.mu.Lock()
	d.execs.m[e.ID] = e
	d.execs.mu.Unlock()
	d.containerEvent(c, events.Action("exec_create: "+strings.Join(cfg.Cmd, " ")), map[string]string{"execID": e.ID})
	return e.ID, nil
}

func (d *Daemon) execAllowed(c *Container) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.State.Status {
	case container.StateRunning:
		return nil
	case container.StatePaused:
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is paused, unpause the container before exec", c.ID))
	case container.StateRestarting:
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is restarting, wait until the container is running", c.ID))
	}
	return errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", c.ID))
}

// execPrimeTime is how long an exec start holds the cgroup primer: past the runtime's move of the process into
// the container's cgroup (~10–30 ms after the runtime starts).
const execPrimeTime = 100 * time.Millisecond

// ExecStart runs the exec process and, unless detached, streams its stdio until it exits.
func (d *Daemon) ExecStart(ctx context.Context, id string, opts containers.ExecStartOptions) error {
	e, err := d.execs.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Error: Exec command %s is already running", id))
	}
	e.started = true
	e.mu.Unlock()
	c, err := d.containers.get(e.ContainerID)
	if err != nil {
		return err
	}
	if err := d.execAllowed(c); err != nil {
		return err
	}
	rt, err := d.runtime(c.Runtime)
	if err != nil {
		return err
	}
	stateDir := d.stateDir(c.ID)
	var base specs.Spec
	b, err := os.ReadFile(filepath.Join(stateDir, "config.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &base); err != nil {
		return err
	}
	cfg := e.Config
	proc, err := oci.ExecProcess(&base, oci.ExecConfig{Cmd: cfg.Cmd, Env: cfg.Env, User: cfg.User, WorkingDir: cfg.WorkingDir, Tty: cfg.Tty, Privileged: cfg.Privileged, DaemonCaps: d.daemonCaps}, base.Root.Path)
	if err != nil {
		return err
	}
	pb, err := json.Marshal(proc)
	if err != nil {
		return err
	}
	procFile := filepath.Join(stateDir, "exec-"+e.ID+".json")
	// Read once by the runtime and gone with the state directory: atomic, no fsync.
	if err := atomicfile.WriteFile(procFile, pb, 0o600, atomicfile.NoSync()); err != nil {
		return err
	}
	pidFile := filepath.Join(stateDir, "exec-"+e.ID+".pid")
	// The runtime moves the exec'd process into the container's cgroup within its first tens of milliseconds.
	time.AfterFunc(execPrimeTime, d.primer.Hold())
	cmd := rt.ExecCommand(c.ID, procFile, pidFile)
	var errBuf tailBuffer
	var ptmx *os.File
	var copyDone sync.WaitGroup
	if opts.Detach {
		opts.Stdin, opts.Out = nil, io.Discard
	}
	if !cfg.AttachStdin {
		opts.Stdin = nil
	}
	if cfg.Tty {
		master, slave, err := pty.Open()
		if err != nil {
			return err
		}
		ptmx = master
		if cfg.ConsoleSize != nil && cfg.ConsoleSize[0] > 0 {
			pty.Setsize(master, &pty.Winsize{Rows: uint16(cfg.ConsoleSize[0]), Cols: uint16(cfg.ConsoleSize[1])})
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if err := cmd.Start(); err != nil {
			slave.Close()
			master.Close()
			return err
		}
		slave.Close()
		copyDone.Add(1)
		go func() {
			defer copyDone.Done()
			io.Copy(io.MultiWriter(opts.Out, &errBuf), master)
		}()
	} else {
		var mu sync.Mutex
		stdout := io.Writer(&frameWriter{mu: &mu, w: opts.Out, stream: 1})
		stderr := io.Writer(&frameWriter{mu: &mu, w: opts.Out, stream: 2})
		if !cfg.AttachStdout {
			stdout = io.Discard
		}
		if !cfg.AttachStderr {
			stderr = io.Discard
		}
		if opts.Stdout != nil {
			stdout = opts.Stdout
		}
		if opts.Stderr != nil {
			stderr = opts.Stderr
		}
		cmd.Stdout = stdout
		cmd.Stderr = io.MultiWriter(stderr, &errBuf)
		if opts.Stdin != nil {
			w, err := cmd.StdinPipe()
			if err != nil {
				return err
			}
			go func() {
				copyDetach(w, opts.Stdin, nil)
				w.Close()
			}()
		}
		if err := cmd.Start(); err != nil {
			return err
		}
	}
	e.mu.Lock()
	e.Running = true
	e.ptmx = ptmx
	e.pidFile, e.cmd = pidFile, cmd
	e.pid()
	e.mu.Unlock()
	d.containerEvent(c, events.Action("exec_start: "+strings.Join(cfg.Cmd, " ")), map[string]string{"execID": e.ID})

	detached := make(chan struct{})
	if ptmx != nil && opts.Stdin != nil {
		keys, _ := parseDetachKeys(cfg.DetachKeys)
		go func() {
			if errors.Is(copyDetach(ptmx, opts.Stdin, keys), containers.ErrDetached) {
				close(detached)
			}
		}()
	}
	finish := func() {
		err := cmd.Wait()
		copyDone.Wait()
		code := 0
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					code = 128 + int(ws.Signal())
				}
			} else {
				code = 126
			}
		}
		if code == 255 {
			// The runtime could not start the process: docker reports 126, or 127 for a missing command.
			msg := errBuf.String()
			if strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory") {
				code = 127
			} else if strings.Contains(msg, "exec failed") || strings.Contains(msg, "unable to start") {
				code = 126
			}
		}
		if ptmx != nil {
			ptmx.Close()
		}
		e.mu.Lock()
		e.pid()
		e.pidFile = ""
		os.Remove(procFile)
		os.Remove(pidFile)
		e.Running = false
		e.ExitCode = &code
		e.ptmx = nil
		e.mu.Unlock()
		close(e.done)
		d.containerEvent(c, events.Action("exec_die"), map[string]string{"execID": e.ID, "exitCode": fmt.Sprint(code)})
	}
	if opts.Detach {
		go finish()
		return nil
	}
	waited := make(chan struct{})
	go func() { finish(); close(waited) }()
	select {
	case <-waited:
	case <-detached:
	case <-ctx.Done():
	}
	return nil
}

// ExecResize changes the tty size of a running exec process.
func (d *Daemon) ExecResize(ctx context.Context, id string, h, w uint16) error {
	e, err := d.execs.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ptmx == nil {
		if !e.Running {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Exec %s is not running, so it can not be resized.", id))
		}
		return nil
	}
	return pty.Setsize(e.ptmx, &pty.Winsize{Rows: h, Cols: w})
}

// ExecInspect describes an exec process.
func (d *Daemon) ExecInspect(ctx context.Context, id string) (container.ExecInspectResponse, error) {
	e, err := d.execs.get(id)
	if err != nil {
		return container.ExecInspectResponse{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg := e.Config
	priv := cfg.Privileged
	resp := container.ExecInspectResponse{
		ID:          e.ID,
		Running:     e.Running,
		ExitCode:    e.ExitCode,
		OpenStdin:   cfg.AttachStdin,
		OpenStdout:  cfg.AttachStdout,
		OpenStderr:  cfg.AttachStderr,
		ContainerID: e.ContainerID,
		Pid:         e.pid(),
		DetachKeys:  []byte(cfg.DetachKeys),
		ProcessConfig: &container.ExecProcessConfig{
			Tty:        cfg.Tty,
			Entrypoint: cfg.Cmd[0],
			Arguments:  cfg.Cmd[1:],
			Privileged: &priv,
			User:       cfg.User,
		},
	}
	return resp, nil
}

// ExecTTY reports whether the exec process uses a tty (raw stream).
func (d *Daemon) ExecTTY(id string) (bool, error) {
	e, err := d.execs.get(id)
	if err != nil {
		return false, err
	}
	return e.Config.Tty, nil
}

func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	var pid int
	fmt.Sscan(string(bytes.TrimSpace(b)), &pid)
	return pid
}

// tailBuffer keeps the last few KiB written, to classify a runtime's failure message.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

package containers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/oci"
	"github.com/berth/berth/internal/task"
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
	done        chan struct{}
	// proc is the running process; nil before it starts and after it exits.
	proc task.Process
}

// pid returns the exec process's host pid once the runtime has reported it; the caller holds e.mu.
func (e *execProcess) pid() int {
	if e.Pid == 0 && e.proc != nil {
		e.Pid = e.proc.Pid()
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
func (d *Service) ExecCreate(ctx context.Context, ref string, cfg container.ExecCreateRequest) (string, error) {
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

func (d *Service) execAllowed(c *Container) error {
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
func (d *Service) ExecStart(ctx context.Context, id string, opts ExecStartOptions) error {
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
	c.mu.Lock()
	t := c.task
	c.mu.Unlock()
	if t == nil {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", c.ID))
	}
	base, err := t.Spec(ctx)
	if err != nil {
		return err
	}
	cfg := e.Config
	proc, err := oci.ExecProcess(base, oci.ExecConfig{Cmd: cfg.Cmd, Env: cfg.Env, User: cfg.User, WorkingDir: cfg.WorkingDir, Tty: cfg.Tty, Privileged: cfg.Privileged, DaemonCaps: d.daemonCaps}, base.Root.Path)
	if err != nil {
		return err
	}
	if cfg.Tty && cfg.ConsoleSize != nil && cfg.ConsoleSize[0] > 0 {
		proc.ConsoleSize = &specs.Box{Height: cfg.ConsoleSize[0], Width: cfg.ConsoleSize[1]}
	}
	// The runtime moves the exec'd process into the container's cgroup within its first tens of milliseconds.
	time.AfterFunc(execPrimeTime, d.primer.Hold())
	if opts.Detach {
		opts.Stdin, opts.Out = nil, io.Discard
	}
	if !cfg.AttachStdin {
		opts.Stdin = nil
	}
	detached := make(chan struct{})
	var stdin io.Reader
	if opts.Stdin != nil {
		var keys []byte
		if cfg.Tty {
			keys, _ = parseDetachKeys(cfg.DetachKeys)
		}
		pr, pw := io.Pipe()
		stdin = pr
		go func() {
			if errors.Is(copyDetach(pw, opts.Stdin, keys), ErrDetached) {
				close(detached)
			}
			pw.Close()
		}()
	}
	spec := task.ExecSpec{ID: e.ID, Process: proc, Stdin: stdin}
	if cfg.Tty {
		spec.Stdout = opts.Out
	} else {
		var mu sync.Mutex
		spec.Stdout, spec.Stderr = io.Discard, io.Discard
		if cfg.AttachStdout {
			spec.Stdout = &frameWriter{mu: &mu, w: opts.Out, stream: 1}
		}
		if cfg.AttachStderr {
			spec.Stderr = &frameWriter{mu: &mu, w: opts.Out, stream: 2}
		}
		if opts.Stdout != nil {
			spec.Stdout = opts.Stdout
		}
		if opts.Stderr != nil {
			spec.Stderr = opts.Stderr
		}
	}
	p, err := t.Exec(ctx, spec)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.Running = true
	e.proc = p
	e.Pid = p.Pid()
	e.mu.Unlock()
	d.containerEvent(c, events.Action("exec_start: "+strings.Join(cfg.Cmd, " ")), map[string]string{"execID": e.ID})

	finish := func() {
		exit, _ := p.Wait(context.WithoutCancel(ctx))
		e.mu.Lock()
		if e.Pid == 0 {
			e.Pid = p.Pid()
		}
		e.Running = false
		e.ExitCode = &exit.Code
		e.proc = nil
		e.mu.Unlock()
		close(e.done)
		d.containerEvent(c, events.Action("exec_die"), map[string]string{"execID": e.ID, "exitCode": fmt.Sprint(exit.Code)})
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
func (d *Service) ExecResize(ctx context.Context, id string, h, w uint16) error {
	e, err := d.execs.get(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	p := e.proc
	e.mu.Unlock()
	if p == nil {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Exec %s is not running, so it can not be resized.", id))
	}
	return p.Resize(ctx, w, h)
}

// ExecInspect describes an exec process.
func (d *Service) ExecInspect(ctx context.Context, id string) (container.ExecInspectResponse, error) {
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
func (d *Service) ExecTTY(id string) (bool, error) {
	e, err := d.execs.get(id)
	if err != nil {
		return false, err
	}
	return e.Config.Tty, nil
}

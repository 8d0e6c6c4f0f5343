package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/cgroups"
	"github.com/berth/berth/internal/shim"
	"github.com/berth/berth/internal/task"
)

// Tasks runs tasks with one OCI runtime, each through its own berth-shim so that the task outlives the daemon:
// it is the OCI implementation of task.Runtime.
//
// In a task's bundle it keeps config.json (the OCI spec), rootfs/ (where the root filesystem is mounted when it
// is not a single bind mount), the shim's files (shim.json, shim.sock, shim.pid, init.pid, exit) and an exec's
// exec-<id>.json and exec-<id>.pid; callers may keep files of their own there under other names.
type Tasks struct {
	rt       *Runtime
	shimPath string
	v2       bool
	bpf      bpfCache // compiled seccomp filters, when rt.CompiledSeccomp
}

var _ task.Runtime = (*Tasks)(nil)

// NewTasks returns the task runtime of rt, whose shims run the berth-shim binary at shimPath.
func NewTasks(rt *Runtime, shimPath string) *Tasks {
	return &Tasks{rt: rt, shimPath: shimPath, v2: cgroups.V2()}
}

// Runtime is the OCI runtime the tasks run with.
func (t *Tasks) Runtime() *Runtime { return t.rt }

// The OCI spec version written to config.json: the oldest every supported runtime accepts (crun 1.8 rejects
// newer ones); Berth uses no newer field.
const specVersion = "1.0.2"

const configFile = "config.json"

// Create writes the bundle's config.json and starts a shim that creates the task with the runtime.
func (t *Tasks) Create(ctx context.Context, spec task.Spec) (task.Task, error) {
	if spec.OCI == nil || spec.ID == "" || spec.Bundle == "" {
		return nil, fmt.Errorf("task %q: spec without ID, bundle or OCI spec: %w", spec.ID, errdefs.ErrInvalidArgument)
	}
	root, err := task.MountRootfs(spec)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			task.UnmountRootfs(spec.Bundle)
		}
	}()
	oci := *spec.OCI
	if oci.Root == nil {
		oci.Root = &specs.Root{}
	}
	r := *oci.Root
	r.Path = root
	oci.Root = &r
	oci.Version = specVersion
	learnBPF := ""
	if t.rt.CompiledSeccomp {
		learnBPF = t.bpf.apply(&oci)
	}
	b, err := json.Marshal(&oci)
	if err != nil {
		return nil, err
	}
	// Regenerated at every start and read only by the runtime's create: no need to outlive a host crash.
	if err := atomicfile.WriteFile(filepath.Join(spec.Bundle, configFile), b, 0o600, atomicfile.NoSync()); err != nil {
		return nil, err
	}
	// A stale runtime record (e.g. after a host crash) would make create fail with "already exists".
	t.rt.Delete(ctx, spec.ID)
	rtPath := t.rt.Path
	if t.rt.ShimPath != "" {
		rtPath = t.rt.ShimPath
	}
	scfg := shim.Config{
		ID:          spec.ID,
		HideMounts:  t.rt.HideMounts,
		RunDetached: true,
		Bundle:      spec.Bundle,
		Runtime:     rtPath,
		RuntimeArgs: t.rt.Args,
		RuntimeRoot: t.rt.Root,
		LogPath:     spec.IO.LogPath,
		LogFormat:   spec.IO.Log.Format,
		LogMaxSize:  spec.IO.Log.MaxSize,
		LogMaxFiles: spec.IO.Log.MaxFiles,
		LogCompress: spec.IO.Log.Compress,
		LogAttrs:    spec.IO.Log.Attrs,
		Tty:         spec.IO.Terminal,
		Stdin:       spec.IO.Stdin,
		StdinOnce:   spec.IO.StdinOnce,
	}
	if t.rt.Sealed != nil {
		// Without the copy (the file changed and could not be copied) the shim runs the file itself.
		f, err := t.rt.Sealed.File()
		exe, lerr := t.rt.Sealed.ChildExe(shim.RuntimeBinaryFD)
		if err == nil && lerr == nil {
			scfg.RuntimeBinary, scfg.RuntimeExe = f, exe
		}
	}
	scfg.ConsoleWidth, scfg.ConsoleHeight = spec.IO.ConsoleWidth, spec.IO.ConsoleHeight
	if oci.Linux != nil && oci.Linux.CgroupsPath != "" {
		scfg.OOMFile = cgroups.OOMFile(oci.Linux.CgroupsPath, t.v2)
	}
	pid, err := shim.Spawn(ctx, t.shimPath, spec.Bundle, scfg)
	if err != nil {
		return nil, fmt.Errorf("failed to create task for container: OCI runtime create failed: %s: %w", err, errdefs.ErrUnknown)
	}
	sc, err := shim.Dial(ctx, spec.Bundle)
	if err != nil {
		t.rt.Delete(context.WithoutCancel(ctx), spec.ID)
		return nil, err
	}
	ok = true
	t.bpf.learn(learnBPF, filepath.Join(t.rt.Root, spec.ID))
	cg := ""
	if oci.Linux != nil {
		cg = oci.Linux.CgroupsPath
	}
	return &ociTask{tasks: t, id: spec.ID, bundle: spec.Bundle, pid: pid, sc: sc, cgroup: cg}, nil
}

// Connect finds the shim of task id in bundle; a task whose shim is gone but left its exit record is returned
// too (Wait reports that exit).
func (t *Tasks) Connect(ctx context.Context, id, bundle string) (task.Task, error) {
	sc, err := shim.Dial(ctx, bundle)
	if err != nil {
		if errdefs.IsUnavailable(err) {
			return nil, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
		}
		return nil, err
	}
	pid := readPid(filepath.Join(bundle, shim.InitPidFile))
	return &ociTask{tasks: t, id: id, bundle: bundle, pid: pid, sc: sc}, nil
}

// Delete waits (up to 10 s) for a shim still finishing, deletes the runtime's record (normally the shim did;
// one that died did not) and unmounts the root filesystem it mounted.
func (t *Tasks) Delete(ctx context.Context, id, bundle string) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	shim.WaitGone(wctx, bundle)
	cancel()
	err := t.rt.Delete(ctx, id)
	task.UnmountRootfs(bundle)
	return err
}

// ReadExit returns the exit recorded in a task's bundle, for a task whose shim is gone.
func ReadExit(bundle string) (task.Exit, bool) {
	rec, ok, _ := shim.ReadExitRecord(bundle)
	return task.Exit{Code: rec.ExitCode, At: rec.ExitedAt, OOMKilled: rec.OOMKilled}, ok
}

// ociTask is one task of a Tasks.
type ociTask struct {
	tasks  *Tasks
	id     string
	bundle string
	pid    int
	sc     *shim.Client

	cgOnce sync.Once
	cgroup string
}

func (o *ociTask) ID() string   { return o.id }
func (o *ociTask) Pid() int     { return o.pid }
func (o *ociTask) rt() *Runtime { return o.tasks.rt }

func (o *ociTask) Start(ctx context.Context) error {
	if err := o.sc.Start(ctx); err != nil {
		return fmt.Errorf("failed to start container: %s: %w", err, errdefs.ErrUnknown)
	}
	return nil
}

// Wait returns the exit the shim reports, timed by the shim's exit record. A shim gone without a record is an
// error wrapping errdefs.ErrUnavailable.
func (o *ociTask) Wait(ctx context.Context) (task.Exit, error) {
	code, err := o.sc.Wait(ctx)
	if ctx.Err() != nil {
		return task.Exit{}, ctx.Err()
	}
	if err != nil {
		if e, ok := ReadExit(o.bundle); ok {
			return e, nil
		}
		return task.Exit{}, err
	}
	exit := task.Exit{Code: code, At: time.Now().UTC()}
	if e, ok := ReadExit(o.bundle); ok {
		exit.At, exit.OOMKilled = e.At, e.OOMKilled
	}
	return exit, nil
}

func (o *ociTask) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	return o.rt().Kill(ctx, o.id, sig, all)
}

func (o *ociTask) Pause(ctx context.Context) error  { return o.rt().Pause(ctx, o.id) }
func (o *ociTask) Resume(ctx context.Context) error { return o.rt().Resume(ctx, o.id) }

func (o *ociTask) Update(ctx context.Context, res *specs.LinuxResources) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	f := filepath.Join(o.bundle, "update.json")
	if err := atomicfile.WriteFile(f, b, 0o600, atomicfile.NoSync()); err != nil {
		return err
	}
	defer os.Remove(f)
	return o.rt().Update(ctx, o.id, f)
}

func (o *ociTask) Pids(ctx context.Context) ([]int, error) { return o.rt().Pids(ctx, o.id) }

// Spec reads the OCI spec the task was created from, with Root.Path where its root filesystem is.
func (o *ociTask) Spec(ctx context.Context) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(o.bundle, configFile))
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", o.id, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("task %s: %s: %w", o.id, configFile, err)
	}
	return &s, nil
}

// Metrics reads the task's cgroup; a task found by Connect learns its cgroup from the bundle's config.json.
func (o *ociTask) Metrics(ctx context.Context) (*task.Metrics, error) {
	o.cgOnce.Do(func() {
		if o.cgroup != "" {
			return
		}
		var s specs.Spec
		if b, err := os.ReadFile(filepath.Join(o.bundle, configFile)); err == nil && json.Unmarshal(b, &s) == nil && s.Linux != nil {
			o.cgroup = s.Linux.CgroupsPath
		}
	})
	if o.cgroup == "" {
		return nil, fmt.Errorf("task %s: no cgroup: %w", o.id, errdefs.ErrNotFound)
	}
	m := cgroups.ReadMetrics(o.cgroup, o.tasks.v2)
	if o.pid > 0 {
		m.Networks = netDev(fmt.Sprintf("/proc/%d/net/dev", o.pid))
	}
	return m, nil
}

// netDev reads a network namespace's interface counters from its /proc/<pid>/net/dev (loopback left out).
func netDev(path string) map[string]task.NetworkMetrics {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	out := map[string]task.NetworkMetrics{}
	for _, line := range strings.Split(string(data), "\n")[2:] {
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 16 {
			continue
		}
		n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
		// Receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs drop ...
		out[name] = task.NetworkMetrics{RxBytes: n(0), RxPackets: n(1), RxErrors: n(2), RxDropped: n(3),
			TxBytes: n(8), TxPackets: n(9), TxErrors: n(10), TxDropped: n(11)}
	}
	return out
}

func (o *ociTask) Attach(ctx context.Context, stdin, stdout, stderr bool) (io.ReadWriteCloser, error) {
	return o.sc.Attach(ctx, stdin, stdout, stderr)
}

func (o *ociTask) Resize(ctx context.Context, width, height uint16) error {
	return o.sc.Resize(ctx, width, height)
}

func (o *ociTask) CloseStdin(ctx context.Context) error { return o.sc.CloseStdin(ctx) }

// Exec runs `runtime exec` as the daemon's child: the process lives as long as the daemon does (docker's
// exec processes die with dockerd's connection too).
func (o *ociTask) Exec(ctx context.Context, spec task.ExecSpec) (task.Process, error) {
	pb, err := json.Marshal(spec.Process)
	if err != nil {
		return nil, err
	}
	procFile := filepath.Join(o.bundle, "exec-"+spec.ID+".json")
	if err := atomicfile.WriteFile(procFile, pb, 0o600, atomicfile.NoSync()); err != nil {
		return nil, err
	}
	p := &ociProcess{pidFile: filepath.Join(o.bundle, "exec-"+spec.ID+".pid"), procFile: procFile, done: make(chan struct{})}
	cmd := o.rt().ExecCommand(o.id, procFile, p.pidFile)
	p.cmd = cmd
	stdout, stderr := spec.Stdout, spec.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if spec.Process.Terminal {
		master, slave, err := pty.Open()
		if err != nil {
			os.Remove(procFile)
			return nil, err
		}
		if cs := spec.Process.ConsoleSize; cs != nil && cs.Height > 0 {
			pty.Setsize(master, &pty.Winsize{Rows: uint16(cs.Height), Cols: uint16(cs.Width)})
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		err = cmd.Start()
		slave.Close()
		if err != nil {
			master.Close()
			os.Remove(procFile)
			return nil, err
		}
		p.ptmx = master
		p.copies.Add(1)
		go func() {
			defer p.copies.Done()
			io.Copy(io.MultiWriter(stdout, &p.errTail), master)
		}()
		if spec.Stdin != nil {
			go io.Copy(master, spec.Stdin)
		}
	} else {
		cmd.Stdout = stdout
		cmd.Stderr = io.MultiWriter(stderr, &p.errTail)
		if spec.Stdin != nil {
			w, err := cmd.StdinPipe()
			if err != nil {
				os.Remove(procFile)
				return nil, err
			}
			go func() {
				io.Copy(w, spec.Stdin)
				w.Close()
			}()
		}
		if err := cmd.Start(); err != nil {
			os.Remove(procFile)
			return nil, err
		}
	}
	go p.wait()
	return p, nil
}

// ociProcess is a `runtime exec` child.
type ociProcess struct {
	cmd               *exec.Cmd
	pidFile, procFile string
	ptmx              *os.File
	copies            sync.WaitGroup
	errTail           tailBuffer

	mu   sync.Mutex
	pid  int
	exit task.Exit
	done chan struct{}
}

// Pid reads the runtime's pid file the first time the pid is known.
func (p *ociProcess) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pid == 0 {
		p.pid = readPid(p.pidFile)
	}
	return p.pid
}

func (p *ociProcess) wait() {
	err := p.cmd.Wait()
	p.copies.Wait()
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
		// The runtime could not start the process: 126, or 127 for a missing command, as a shell reports them.
		msg := shim.DockerWords(strings.TrimSpace(p.errTail.String()))
		if strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory") {
			code = 127
		} else if strings.Contains(msg, "exec failed") || strings.Contains(msg, "unable to start") || strings.Contains(msg, "permission denied") {
			code = 126
		}
	}
	p.Pid()
	p.mu.Lock()
	if p.ptmx != nil {
		p.ptmx.Close()
		p.ptmx = nil
	}
	p.exit = task.Exit{Code: code, At: time.Now().UTC()}
	p.mu.Unlock()
	os.Remove(p.procFile)
	os.Remove(p.pidFile)
	close(p.done)
}

func (p *ociProcess) Wait(ctx context.Context) (task.Exit, error) {
	select {
	case <-p.done:
		return p.exit, nil
	case <-ctx.Done():
		return task.Exit{}, ctx.Err()
	}
}

func (p *ociProcess) Resize(ctx context.Context, width, height uint16) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ptmx == nil {
		return nil
	}
	return pty.Setsize(p.ptmx, &pty.Winsize{Rows: height, Cols: width})
}

// Kill signals the process in the container once its pid is known, else the runtime's exec command (which
// has not started it yet).
func (p *ociProcess) Kill(ctx context.Context, sig syscall.Signal) error {
	if pid := p.Pid(); pid > 0 {
		return syscall.Kill(pid, sig)
	}
	return p.cmd.Process.Signal(sig)
}

func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(string(bytes.TrimSpace(b)))
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

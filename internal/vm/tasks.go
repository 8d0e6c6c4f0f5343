package vm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/shim"
	"github.com/berth/berth/internal/task"
	"github.com/berth/berth/internal/vm/agent"
	"github.com/berth/berth/internal/vm/boot"
	"github.com/berth/berth/internal/vm/qemu"
)

// RuntimeName is the name the engine registers Tasks under (`docker run --runtime berth-vm`).
const RuntimeName = "berth-vm"

// Config configures Tasks.
type Config struct {
	// ShimPath is berth-shim, RuntimePath berth-vm (RuntimeMain), InitPath berth-vm-init (the guest's init).
	ShimPath, RuntimePath, InitPath string
	// Root is the sandboxes' state directory (<exec-root>/vm); CacheDir keeps the boot artifacts.
	Root, CacheDir string
	// Kernel is a vmlinuz, or a directory of unpacked linux-image packages (boot.FindKernel).
	Kernel string
	// Qemu is qemu-system-x86_64 ("" looks it up in $PATH).
	Qemu string
	// Accel is "kvm", "tcg" or "" (choose: qemu.ChooseAccel).
	Accel string
	// CPUs and MemoryMiB size a container without limits (defaults 1 and 512).
	CPUs, MemoryMiB int
	// BootTimeout bounds a machine's boot (default 2 minutes).
	BootTimeout time.Duration
	// Debug makes guests log their boot on their console.
	Debug bool
}

// Tasks runs VM-isolated containers: each task is a qemu machine booted from the engine's kernel, whose root is
// the container's root directory shared over 9p and whose network is the container's namespace. A task is kept
// by a berth-shim like any other (its stdio, log and exit status), with the berth-vm binary as its runtime: the
// shim's "container init" is the sandbox process (sandbox.go), which owns the machine. Kill, pause, exec and the
// process list go to the sandbox's control socket; metrics are qemu's own CPU time and memory.
//
// A task's bundle holds the OCI spec (config.json, Root.Path the root directory), the machine (vm.json), the
// guest's console (console.log), the sandbox's log (sandbox.log) and the shim's files.
type Tasks struct {
	cfg Config

	mu      sync.Mutex
	machine *Machine
}

var (
	_ task.Runtime    = (*Tasks)(nil)
	_ task.Cgroupless = (*Tasks)(nil)
)

// Cgroupless reports that a task's processes run in its machine's kernel: none joins a cgroup of the host.
func (t *Tasks) Cgroupless() bool { return true }

// NewTasks returns the VM task runtime. It checks nothing: the machine is resolved (kernel found, boot files
// prepared, accelerator chosen) at the first task, and again after a failure.
func NewTasks(cfg Config) *Tasks {
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = 512
	}
	if cfg.BootTimeout == 0 {
		cfg.BootTimeout = 2 * time.Minute
	}
	return &Tasks{cfg: cfg}
}

// Machine resolves how machines run: the kernel and initramfs (prepared once, cached on disk), qemu, and the
// accelerator. Its error says what is missing.
func (t *Tasks) Machine() (Machine, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.machine != nil {
		return *t.machine, nil
	}
	m, err := ResolveMachine(t.cfg)
	if err != nil {
		return Machine{}, err
	}
	t.machine = &m
	return m, nil
}

// ResolveMachine finds what a machine needs and prepares its boot files.
func ResolveMachine(cfg Config) (Machine, error) {
	unavailable := func(err error) error {
		return fmt.Errorf("the %s runtime cannot run virtual machines: %w: %w", RuntimeName, err, errdefs.ErrFailedPrecondition)
	}
	q := cfg.Qemu
	if q == "" {
		q = qemu.Binary
	}
	qp, err := exec.LookPath(q)
	if err != nil {
		return Machine{}, unavailable(fmt.Errorf("%s not found (Debian's qemu-system-x86 package)", q))
	}
	if _, err := os.Stat(cfg.InitPath); err != nil {
		return Machine{}, unavailable(fmt.Errorf("guest init: %v", err))
	}
	k, err := boot.FindKernel(cfg.Kernel)
	if err != nil {
		return Machine{}, unavailable(err)
	}
	a, err := boot.Prepare(cfg.CacheDir, k, cfg.InitPath, boot.ContainerProfile)
	if err != nil {
		return Machine{}, unavailable(err)
	}
	choice := qemu.ChooseAccel(cfg.Accel, filepath.Join(filepath.Dir(k.Image), "config-"+k.Release))
	return Machine{Qemu: qp, Kernel: a.Kernel, Initrd: a.Initrd, Type: qemu.MicroVM, Accel: choice.Accel,
		AccelReason: choice.Reason, TSCKHz: qemu.HostTSCKHz(), CPUs: cfg.CPUs, MemoryMiB: cfg.MemoryMiB,
		BootTimeout: cfg.BootTimeout, Debug: cfg.Debug}, nil
}

// Create writes the bundle and starts the task's shim, which runs the sandbox; it returns once the
// container's process runs in its machine.
func (t *Tasks) Create(ctx context.Context, spec task.Spec) (task.Task, error) {
	if spec.OCI == nil || spec.ID == "" || spec.Bundle == "" {
		return nil, fmt.Errorf("task %q: spec without ID, bundle or OCI spec: %w", spec.ID, errdefs.ErrInvalidArgument)
	}
	m, err := t.Machine()
	if err != nil {
		return nil, err
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
	r := specs.Root{}
	if oci.Root != nil {
		r = *oci.Root
	}
	r.Path = root
	oci.Root = &r
	b, err := json.Marshal(&oci)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(spec.Bundle, "config.json"), b, 0o600, atomicfile.NoSync()); err != nil {
		return nil, err
	}
	if err := writeMachine(spec.Bundle, m); err != nil {
		return nil, err
	}
	// A sandbox left by a crash (its state directory, a process) would be taken for this task's.
	deleteSandbox(stateDir(t.cfg.Root, spec.ID))
	scfg := shim.Config{ID: spec.ID, Bundle: spec.Bundle, Runtime: t.cfg.RuntimePath, RuntimeRoot: t.cfg.Root,
		RunDetached: true, LogPath: spec.IO.LogPath, Tty: spec.IO.Terminal, Stdin: spec.IO.Stdin,
		StdinOnce: spec.IO.StdinOnce, ConsoleWidth: spec.IO.ConsoleWidth, ConsoleHeight: spec.IO.ConsoleHeight}
	pid, err := shim.Spawn(ctx, t.cfg.ShimPath, spec.Bundle, scfg)
	if err != nil {
		deleteSandbox(stateDir(t.cfg.Root, spec.ID))
		return nil, fmt.Errorf("failed to create task for container: OCI runtime create failed: %s: %w", err, errdefs.ErrUnknown)
	}
	sc, err := shim.Dial(ctx, spec.Bundle)
	if err != nil {
		deleteSandbox(stateDir(t.cfg.Root, spec.ID))
		return nil, err
	}
	ok = true
	return t.newTask(spec.ID, spec.Bundle, pid, sc), nil
}

// Connect finds the shim of task id; a task whose shim is gone but left its exit is returned too.
func (t *Tasks) Connect(ctx context.Context, id, bundle string) (task.Task, error) {
	sc, err := shim.Dial(ctx, bundle)
	if err != nil {
		if errdefs.IsUnavailable(err) {
			return nil, fmt.Errorf("task %s: %w", id, errdefs.ErrNotFound)
		}
		return nil, err
	}
	pid := 0
	if b, err := os.ReadFile(filepath.Join(bundle, shim.InitPidFile)); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	return t.newTask(id, bundle, pid, sc), nil
}

// Delete waits (up to 10 s) for a shim still finishing, then removes what is left of the sandbox: its processes
// and state directory.
func (t *Tasks) Delete(ctx context.Context, id, bundle string) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	shim.WaitGone(wctx, bundle)
	cancel()
	err := deleteSandbox(stateDir(t.cfg.Root, id))
	task.UnmountRootfs(bundle)
	return err
}

func (t *Tasks) newTask(id, bundle string, pid int, sc *shim.Client) *vmTask {
	dir := stateDir(t.cfg.Root, id)
	return &vmTask{id: id, bundle: bundle, dir: dir, pid: pid, sc: sc, ctl: newCtlClient(dir)}
}

// vmTask is one VM-isolated container.
type vmTask struct {
	id, bundle, dir string
	pid             int
	sc              *shim.Client
	ctl             *ctlClient
}

func (v *vmTask) ID() string { return v.id }

// Pid is the sandbox process's pid: the container's process is not a host process.
func (v *vmTask) Pid() int { return v.pid }

func (v *vmTask) Start(ctx context.Context) error {
	if err := v.sc.Start(ctx); err != nil {
		return fmt.Errorf("failed to start container: %s: %w", err, errdefs.ErrUnknown)
	}
	return nil
}

func (v *vmTask) Wait(ctx context.Context) (task.Exit, error) {
	code, err := v.sc.Wait(ctx)
	if ctx.Err() != nil {
		return task.Exit{}, ctx.Err()
	}
	c, at, ok, _ := shim.ReadExit(v.bundle)
	if err != nil {
		if ok {
			return task.Exit{Code: c, At: at}, nil
		}
		return task.Exit{}, err
	}
	if !ok {
		at = time.Now().UTC()
	}
	return task.Exit{Code: code, At: at}, nil
}

// do sends a control request; a sandbox that is gone means the container is not running.
func (v *vmTask) do(ctx context.Context, req ctlRequest) (ctlResponse, error) {
	resp, err := v.ctl.do(ctx, req)
	if errdefs.IsUnavailable(err) {
		if st, serr := readState(v.dir); serr != nil || !alive(st.Pid) {
			return resp, fmt.Errorf("container %s is not running: %w", v.id, errdefs.ErrNotFound)
		}
	}
	return resp, err
}

func (v *vmTask) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	_, err := v.do(ctx, ctlRequest{Op: "kill", Signal: int(sig), All: all})
	return err
}

func (v *vmTask) Pause(ctx context.Context) error {
	_, err := v.do(ctx, ctlRequest{Op: "pause"})
	return err
}

func (v *vmTask) Resume(ctx context.Context) error {
	_, err := v.do(ctx, ctlRequest{Op: "resume"})
	return err
}

// Update is not supported: a machine's memory and CPUs are fixed when it boots.
func (v *vmTask) Update(ctx context.Context, res *specs.LinuxResources) error {
	return fmt.Errorf("a VM-isolated container's resources are fixed when its machine boots: %w", errdefs.ErrNotImplemented)
}

// Pids are the host processes that make the container: its sandbox and its qemu.
func (v *vmTask) Pids(ctx context.Context) ([]int, error) {
	resp, err := v.do(ctx, ctlRequest{Op: "pids"})
	return resp.Pids, err
}

func (v *vmTask) Spec(ctx context.Context) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(v.bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", v.id, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("task %s: config.json: %w", v.id, err)
	}
	return &s, nil
}

// Metrics are the machine's: qemu's CPU time and resident memory, against the guest's memory size.
func (v *vmTask) Metrics(ctx context.Context) (*task.Metrics, error) {
	st, err := readState(v.dir)
	if err != nil {
		return nil, err
	}
	u, err := qemu.ReadUsage(st.QemuPid)
	if err != nil {
		return nil, fmt.Errorf("container %s is not running: %w", v.id, errdefs.ErrNotFound)
	}
	m := &task.Metrics{Read: time.Now().UTC()}
	m.CPU = task.CPUMetrics{Total: u.CPU, User: u.User, Kernel: u.System, System: hostCPU(), OnlineCPUs: uint32(goruntime.NumCPU())}
	m.Memory = task.MemoryMetrics{Usage: u.RSS, MaxUsage: u.RSS, Limit: guestMemory(v.bundle)}
	m.Pids = task.PidsMetrics{Current: 2}
	return m, nil
}

// guestMemory is the machine's RAM in bytes, as its configuration says.
func guestMemory(bundle string) uint64 {
	m, err := readMachine(bundle)
	if err != nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	var s specs.Spec
	if err == nil && json.Unmarshal(b, &s) == nil && s.Linux != nil && s.Linux.Resources != nil &&
		s.Linux.Resources.Memory != nil && s.Linux.Resources.Memory.Limit != nil && *s.Linux.Resources.Memory.Limit > 0 {
		return uint64(*s.Linux.Resources.Memory.Limit)
	}
	return uint64(m.MemoryMiB) << 20
}

// hostCPU is the host's total CPU time in nanoseconds, from /proc/stat (docker's system_cpu_usage).
func hostCPU() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if sc.Scan() {
		fs := strings.Fields(sc.Text())
		var total uint64
		for i := 1; i < len(fs) && i < 8; i++ {
			n, _ := strconv.ParseUint(fs[i], 10, 64)
			total += n
		}
		return total * 1e7 // USER_HZ = 100
	}
	return 0
}

func (v *vmTask) Attach(ctx context.Context, stdin, stdout, stderr bool) (io.ReadWriteCloser, error) {
	return v.sc.Attach(ctx, stdin, stdout, stderr)
}

func (v *vmTask) Resize(ctx context.Context, width, height uint16) error {
	return v.sc.Resize(ctx, width, height)
}

func (v *vmTask) CloseStdin(ctx context.Context) error { return v.sc.CloseStdin(ctx) }

// Exec runs a process in the machine through the sandbox; its stdio travels over the control connection.
func (v *vmTask) Exec(ctx context.Context, spec task.ExecSpec) (task.Process, error) {
	sp := spec.Process
	if sp == nil || len(sp.Args) == 0 {
		return nil, fmt.Errorf("exec %s: no command: %w", spec.ID, errdefs.ErrInvalidArgument)
	}
	p := agent.Process{Args: sp.Args, Env: sp.Env, Cwd: sp.Cwd, UID: sp.User.UID, GID: sp.User.GID,
		AdditionalGIDs: sp.User.AdditionalGids, Terminal: sp.Terminal, Stdin: spec.Stdin != nil}
	if sp.ConsoleSize != nil {
		p.Width, p.Height = uint16(sp.ConsoleSize.Width), uint16(sp.ConsoleSize.Height)
	}
	_, conn, r, err := v.ctl.call(ctx, ctlRequest{Op: "exec", Process: &p})
	if err != nil {
		if errdefs.IsUnavailable(err) {
			return nil, fmt.Errorf("container %s is not running: %w", v.id, errdefs.ErrConflict)
		}
		return nil, err
	}
	ep := &vmProcess{w: agent.NewWriter(conn), done: make(chan struct{})}
	stdout, stderr := spec.Stdout, spec.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	go func() {
		defer conn.Close()
		defer close(ep.done)
		ep.exit = task.Exit{Code: 255}
		for {
			f, err := agent.ReadFrame(r)
			if err != nil {
				ep.exit.At = time.Now().UTC()
				return
			}
			switch f.Type {
			case agent.TypeStdout:
				stdout.Write(f.Data)
			case agent.TypeStderr:
				stderr.Write(f.Data)
			case agent.TypeControl:
				m, err := f.Decode()
				if err == nil && m.Op == agent.OpExit {
					ep.exit = task.Exit{Code: m.Code, At: time.Now().UTC()}
					if m.Error != "" {
						stderr.Write([]byte(m.Error + "\n"))
					}
					return
				}
			}
		}
	}()
	if spec.Stdin != nil {
		go func() {
			io.Copy(ep.w.StreamWriter(agent.TypeStdin, 0), spec.Stdin)
			ep.w.Write(agent.Frame{Type: agent.TypeStdin})
		}()
	}
	return ep, nil
}

// vmProcess is a process exec'd in a machine.
type vmProcess struct {
	w    *agent.Writer
	done chan struct{}
	exit task.Exit
}

// Pid is 0: the process is the guest's, not the host's.
func (p *vmProcess) Pid() int { return 0 }

func (p *vmProcess) Wait(ctx context.Context) (task.Exit, error) {
	select {
	case <-p.done:
		return p.exit, nil
	case <-ctx.Done():
		return task.Exit{}, ctx.Err()
	}
}

func (p *vmProcess) Resize(ctx context.Context, width, height uint16) error {
	return p.w.Send(agent.Message{Op: agent.OpResize, Width: width, Height: height})
}

func (p *vmProcess) Kill(ctx context.Context, sig syscall.Signal) error {
	select {
	case <-p.done:
		return errors.New("process already finished")
	default:
	}
	return p.w.Send(agent.Message{Op: agent.OpSignal, Signal: int(sig)})
}

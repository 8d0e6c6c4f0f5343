// Package task is the engine's seam to whatever runs a container's processes: an OCI runtime (runc, crun)
// through Berth's per-container shim today (internal/runtime), a virtual machine and a remote node's agent later.
// The containers service drives every kind the same way, in these terms:
//
//   - a Spec is what to run: the process and its isolation as an OCI runtime spec (the field's standard, which a
//     VM runtime reads too, as Kata Containers does), the root filesystem as mount specs, the stdio arrangement,
//     and a bundle directory the caller made for the task;
//   - a Runtime creates tasks from specs and finds them again after a daemon restart (tasks outlive the daemon);
//   - a Task is one created container: started once, waited on, signalled, paused, measured, attached to, exec'd
//     into, and finally deleted.
//
// A task's life:
//
//	t, err := rt.Create(ctx, spec)   // created: the init process exists but has not run the command yet
//	err = t.Start(ctx)               // running
//	exit, err := t.Wait(ctx)         // blocks until the init exits; any number of waiters
//	err = rt.Delete(ctx, id, bundle) // gone: the runtime's record, the shim, everything but the bundle's files
//
// After a daemon restart, rt.Connect(ctx, id, bundle) returns the running task, or one whose Wait reports the exit
// recorded while nobody watched. Errors are errdefs categories: ErrNotFound for a task that is gone, ErrConflict
// for one in the wrong state (signalling an exited task), ErrUnavailable when the runtime cannot be reached.
package task

import (
	"context"
	"io"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth/berth/internal/mount"
)

// Spec describes a task to create.
type Spec struct {
	// ID names the task; the containers service uses the container's ID.
	ID string
	// Bundle is a directory the caller made for the task. The runtime keeps its state there (an OCI runtime's
	// config.json, the shim's socket and exit record); the caller may keep its own files there too, under names
	// the runtime does not use (see the runtime's documentation), and removes the directory after Delete.
	Bundle string
	// OCI describes the process and its isolation. Its Root.Path is ignored: Rootfs says what the root is.
	OCI *specs.Spec
	// Rootfs are the mounts that make the task's root filesystem, in order. A single bind mount of a host
	// directory (the engine's already mounted snapshot) is used in place.
	Rootfs []mount.Mount
	// IO is how the init's stdio is arranged.
	IO IO
}

// IO is the arrangement of a task's init stdio. Output always goes to the log; clients attach to it live.
type IO struct {
	// Terminal gives the init a pty; its output is then one stream.
	Terminal bool
	// ConsoleWidth and ConsoleHeight size the pty at creation (0: the runtime's default).
	ConsoleWidth, ConsoleHeight uint16
	// Stdin keeps a stdin open for attached clients; StdinOnce closes it when the first attached client leaves.
	Stdin, StdinOnce bool
	// LogPath is where the output is written; empty discards it (attached clients still see it).
	LogPath string
	// Log says the log's format and rotation.
	Log LogOptions
}

// LogOptions are the format and rotation of a task's log (internal/logger/logfile).
type LogOptions struct {
	// Format is "json-file" (the default) or "local".
	Format string
	// MaxSize rotates the file once it has reached this many bytes (0: never); MaxFiles is how many files
	// are kept, the current one included; Compress gzips the rotated ones.
	MaxSize  int64
	MaxFiles int
	Compress bool
	// Attrs are stored with every record (docker's labels, env and tag log-opts).
	Attrs map[string]string
}

// Exit is how a process ended.
type Exit struct {
	// Code is the exit status, or 128+N for a process killed by signal N.
	Code int
	// At is when the exit was observed (by the shim, not by a late waiter).
	At time.Time
	// OOMKilled says the kernel killed a process of the task for memory during its life.
	OOMKilled bool
}

// Runtime creates tasks and finds existing ones.
type Runtime interface {
	// Create makes the task described by spec, created but not started, and returns it with its init's pid
	// known. On error nothing of the task is left but the bundle directory.
	Create(ctx context.Context, spec Spec) (Task, error)
	// Connect finds the task id that an earlier Create (possibly by an earlier daemon) made in bundle. It returns
	// a live task, or one that has exited and whose Wait reports the recorded exit; a task of which nothing is
	// known returns an error wrapping errdefs.ErrNotFound.
	Connect(ctx context.Context, id, bundle string) (Task, error)
	// Delete removes what is left of task id: its runtime record, a lingering shim, its processes. It waits (a
	// bounded time) for a shim that is still finishing after reporting the exit. Deleting a task that does not
	// exist is not an error.
	Delete(ctx context.Context, id, bundle string) error
}

// Cgroupless is implemented by a Runtime whose tasks' processes join no cgroup of the host (a virtual machine's
// run in the guest's kernel): the engine then skips work that only speeds up a process's move into a cgroup.
type Cgroupless interface {
	Cgroupless() bool
}

// Task is one created task.
type Task interface {
	// ID is the task's name.
	ID() string
	// Pid is the init process's pid on the host (0 where processes are not host processes).
	Pid() int
	// Start runs the init's command.
	Start(ctx context.Context) error
	// Wait blocks until the init exits or ctx ends.
	Wait(ctx context.Context) (Exit, error)
	// Kill signals the init, or with all every process of the task.
	Kill(ctx context.Context, sig syscall.Signal, all bool) error
	// Pause freezes every process; Resume thaws them.
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
	// Update changes the resource limits of the running task.
	Update(ctx context.Context, res *specs.LinuxResources) error
	// Pids lists the task's processes (host pids).
	Pids(ctx context.Context) ([]int, error)
	// Spec returns the OCI spec the task runs, its Root.Path naming where the root filesystem is (for the
	// defaults of an exec'd process: user, environment, capabilities).
	Spec(ctx context.Context) (*specs.Spec, error)
	// Metrics samples the task's resource usage.
	Metrics(ctx context.Context) (*Metrics, error)
	// Attach joins the init's stdio from now on. Read output from the returned stream as frames of 8-byte
	// headers (stream 1 stdout or 2 stderr, three zero bytes, big-endian uint32 length; a terminal's output is
	// stream 1) followed by the bytes; write stdin bytes; CloseWrite, when the stream has it, ends stdin. The
	// stream ends after the init exited and its output was delivered.
	Attach(ctx context.Context, stdin, stdout, stderr bool) (io.ReadWriteCloser, error)
	// Resize sets the terminal's size.
	Resize(ctx context.Context, width, height uint16) error
	// CloseStdin closes the init's stdin.
	CloseStdin(ctx context.Context) error
	// Exec runs another process in the task.
	Exec(ctx context.Context, spec ExecSpec) (Process, error)
}

// ExecSpec describes a process to run in a task.
type ExecSpec struct {
	// ID names the process within the task.
	ID string
	// Process is what to run, in the task's namespaces, as an OCI process.
	Process *specs.Process
	// With Process.Terminal, a pty carries stdio: Stdin is written to it and its output goes to Stdout; the
	// console size is Process.ConsoleSize. Otherwise Stdin (nil: /dev/null), Stdout and Stderr (nil: discarded)
	// are the process's own.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Process is a running exec'd process.
type Process interface {
	// Pid is the process's host pid, once known (0 before).
	Pid() int
	// Wait blocks until the process exits and its output has been delivered. A process the runtime could not
	// start at all reports Code 126 (cannot execute) or 127 (not found), as a shell would.
	Wait(ctx context.Context) (Exit, error)
	// Resize sets the process's terminal size.
	Resize(ctx context.Context, width, height uint16) error
	// Kill signals the process.
	Kill(ctx context.Context, sig syscall.Signal) error
}

// Metrics is a sample of a task's resource usage. Counters are cumulative since the task started.
type Metrics struct {
	// Read is when the sample was taken.
	Read time.Time
	CPU  CPUMetrics
	// Memory in bytes.
	Memory MemoryMetrics
	Pids   PidsMetrics
	// Networks are the task's network interfaces' counters, by interface name (loopback left out).
	Networks map[string]NetworkMetrics
}

// NetworkMetrics are one interface's counters since it was created.
type NetworkMetrics struct {
	RxBytes, RxPackets, RxErrors, RxDropped uint64
	TxBytes, TxPackets, TxErrors, TxDropped uint64
}

// CPUMetrics are CPU time counters in nanoseconds.
type CPUMetrics struct {
	Total, User, Kernel uint64
	// PerCPU is the total per CPU, where the runtime reports it.
	PerCPU []uint64
	// System is the host's total CPU time (all CPUs, all processes), for computing a share of it.
	System uint64
	// OnlineCPUs is how many CPUs the host has online.
	OnlineCPUs uint32
	// Throttling, from the CPU controller.
	Periods, ThrottledPeriods, ThrottledTime uint64
}

// MemoryMetrics are memory figures in bytes.
type MemoryMetrics struct {
	Usage, MaxUsage, Limit uint64
	// Failcnt counts hits of the limit (cgroup v1).
	Failcnt uint64
	// Stats are the controller's detailed counters (memory.stat), by their kernel names.
	Stats map[string]uint64
}

// PidsMetrics count processes.
type PidsMetrics struct {
	Current, Limit uint64
}

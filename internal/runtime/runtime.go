// Package runtime invokes a standard OCI runtime binary (runc or crun) for the operations the daemon performs
// directly on a running container: signals, pause/resume, process listing, exec and forced deletion. Creating and
// starting a container's init is the shim's job (internal/shim), so the init outlives the daemon.
package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
)

// Runtime is one configured OCI runtime: a binary, the global arguments it is always given, and its state root.
type Runtime struct {
	Name string   // "runc", "crun", or a name from daemon.json "runtimes"
	Path string   // binary path
	Args []string // global arguments placed before the subcommand (daemon.json runtimeArgs)
	Root string   // state directory passed as --root
	// ShimPath and HideMounts, when set, are what a shim runs instead of Path: the real binary, inside a private
	// mount namespace without HideMounts (Path is then a wrapper doing the same for the daemon's own calls).
	ShimPath   string
	HideMounts []string
	// Sealed, when set, is a sealed in-memory copy of the binary shims run (ShimPath, else Path): shims and the
	// daemon's own calls execute it instead of the file (see SealedBinary).
	Sealed *SealedBinary
	// CompiledSeccomp says the runtime takes a compiled seccomp filter in annotation run.oci.seccomp_bpf_data and
	// leaves the one it compiles in its state directory as seccomp.bpf (crun): tasks then reuse compiled filters.
	CompiledSeccomp bool
}

// GlobalArgs is the argument prefix for every invocation: extra args then --root.
func (r *Runtime) GlobalArgs() []string {
	args := append([]string{}, r.Args...)
	return append(args, "--root", r.Root)
}

func (r *Runtime) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.Path, append(r.GlobalArgs(), args...)...)
	r.useSealed(cmd)
	return cmd
}

// useSealed points cmd at the sealed copy of the binary when Path is that binary; argv[0] stays Path (crun
// reads its own name).
func (r *Runtime) useSealed(cmd *exec.Cmd) {
	if r.Sealed == nil || r.ShimPath != "" {
		return
	}
	if exe, err := r.Sealed.Exe(); err == nil {
		cmd.Path = exe
	}
}

func (r *Runtime) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := r.command(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return out, classify(fmt.Errorf("%s %s: %s", r.Name, args[0], cleanMessage(msg)))
	}
	return out, nil
}

// classify maps well-known runtime failures to error categories.
func classify(err error) error {
	s := err.Error()
	switch {
	case strings.Contains(s, "does not exist"), strings.Contains(s, "not found"), strings.Contains(s, "container not running"),
		strings.Contains(s, "process already finished"), strings.Contains(s, "No such file or directory"),
		strings.Contains(s, "No such process"): // crun: the init exited between the caller's check and the signal
		return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	}
	return err
}

// cleanMessage strips runc's logrus framing (`time="..." level=error msg="..."`) down to the message.
func cleanMessage(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if j := strings.Index(l, `msg="`); j >= 0 {
			m := l[j+5:]
			if k := strings.LastIndex(m, `"`); k >= 0 {
				m = m[:k]
			}
			if u, err := strconv.Unquote(`"` + m + `"`); err == nil {
				m = u
			}
			lines[i] = m
		}
	}
	return strings.Join(lines, "; ")
}

// Kill sends sig to the container's init, or to every process in it when all is set.
func (r *Runtime) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	_, err := r.run(ctx, append(args, id, strconv.Itoa(int(sig)))...)
	return err
}

// Pause freezes every process of the container.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	_, err := r.run(ctx, "pause", id)
	return err
}

// Resume thaws a paused container.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	_, err := r.run(ctx, "resume", id)
	return err
}

// Exists reports whether the runtime has a record of the container. runc and crun keep one directory per
// container under their --root; checking it spares a runtime invocation (tens of milliseconds) when there is none.
func (r *Runtime) Exists(id string) bool {
	_, err := os.Stat(filepath.Join(r.Root, id))
	return err == nil
}

// Delete forcibly removes the runtime's record of the container, killing what is left of it. Without a record it
// does nothing.
func (r *Runtime) Delete(ctx context.Context, id string) error {
	if !r.Exists(id) {
		return nil
	}
	_, err := r.run(ctx, "delete", "--force", id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// State is the subset of `runtime state` output the daemon uses.
type State struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Status string `json:"status"` // creating, created, running, paused, stopped
}

// State reports the runtime's view of a container.
func (r *Runtime) State(ctx context.Context, id string) (State, error) {
	out, err := r.run(ctx, "state", id)
	if err != nil {
		return State{}, err
	}
	var st State
	if err := json.Unmarshal(out, &st); err != nil {
		return State{}, fmt.Errorf("%s state %s: %w", r.Name, id, err)
	}
	return st, nil
}

// Pids lists the host pids of every process in the container.
func (r *Runtime) Pids(ctx context.Context, id string) ([]int, error) {
	out, err := r.run(ctx, "ps", "--format", "json", id)
	if err != nil {
		return nil, err
	}
	var pids []int
	if err := json.Unmarshal(bytes.TrimSpace(out), &pids); err != nil {
		return nil, fmt.Errorf("%s ps %s: %w", r.Name, id, err)
	}
	return pids, nil
}

// ExecCommand prepares `runtime exec` of the process described by processFile in container id. The caller owns
// stdio: with a terminal the process's stdin must be a pty slave (the runtime proxies it and follows SIGWINCH).
func (r *Runtime) ExecCommand(id, processFile, pidFile string) *exec.Cmd {
	args := append(r.GlobalArgs(), "exec", "--process", processFile)
	if pidFile != "" {
		args = append(args, "--pid-file", pidFile)
	}
	cmd := exec.Command(r.Path, append(args, id)...)
	cmd.Env = os.Environ()
	r.useSealed(cmd)
	return cmd
}

// Update applies the resources in the JSON file at resourcesFile to a running container.
func (r *Runtime) Update(ctx context.Context, id, resourcesFile string) error {
	_, err := r.run(ctx, "update", "--resources", resourcesFile, id)
	return err
}

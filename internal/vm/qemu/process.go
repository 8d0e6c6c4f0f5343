package qemu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
)

// Start runs qemu daemonized (c.Daemonize and c.PIDFile must be set): it returns once the machine is initialised,
// with qemu running in a session of its own, reparented away from the caller, so that it outlives the caller.
// files become descriptors 3, 4, ... of qemu (the NICs' taps). A qemu that fails to start returns its own
// error message.
func Start(ctx context.Context, binary string, c Config, files []*os.File) (int, error) {
	if !c.Daemonize || c.PIDFile == "" {
		return 0, fmt.Errorf("qemu.Start needs a daemonized machine with a pid file: %w", errdefs.ErrInvalidArgument)
	}
	args, err := c.Args()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	os.Remove(c.PIDFile)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.ExtraFiles = files
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Run(); err != nil {
		slog.Debug("qemu failed to start", "args", strings.Join(args, " "), "output", stderr.String())
		return 0, fmt.Errorf("qemu: %s: %w", firstLine(stderr.String(), err), errdefs.ErrUnknown)
	}
	pid, err := ReadPID(c.PIDFile)
	if err != nil {
		return 0, fmt.Errorf("qemu started but wrote no pid: %w", err)
	}
	return pid, nil
}

// Command prepares qemu as a child of the caller that dies with it (the per-container process keeps its
// machine this way): not daemonized, in its own session.
func Command(binary string, c Config) (*exec.Cmd, error) {
	if c.Daemonize {
		return nil, fmt.Errorf("qemu.Command runs qemu undaemonized: %w", errdefs.ErrInvalidArgument)
	}
	args, err := c.Args()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
	}
	cmd := exec.Command(binary, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	return cmd, nil
}

func firstLine(s string, err error) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return err.Error()
	}
	// qemu prefixes its messages with its own name.
	s = strings.TrimPrefix(s, Binary+": ")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// ReadPID reads a qemu pid file.
func ReadPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a pid", path, b)
	}
	return pid, nil
}

// Alive reports whether pid is a running qemu started with pidFile: a pid reused by another process after
// qemu exited does not count.
func Alive(pid int, pidFile string) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		// A zombie (exited, not yet reaped by its parent) is not running.
		if i := bytes.LastIndexByte(st, ')'); i >= 0 && i+2 < len(st) && st[i+2] == 'Z' {
			return false
		}
	}
	return bytes.Contains(b, []byte("\x00"+pidFile+"\x00")) || bytes.HasSuffix(b, []byte("\x00"+pidFile))
}

// WaitExit waits until pid is no longer the qemu of pidFile, or ctx ends.
func WaitExit(ctx context.Context, pid int, pidFile string) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for Alive(pid, pidFile) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Kill ends the qemu of pidFile with SIGKILL and waits for it to be gone (bounded by ctx).
func Kill(ctx context.Context, pid int, pidFile string) error {
	if !Alive(pid, pidFile) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return WaitExit(ctx, pid, pidFile)
}

// Usage is a qemu process's resource use.
type Usage struct {
	// CPU is user plus system time, in nanoseconds.
	CPU, User, System uint64
	// RSS is its resident memory in bytes.
	RSS uint64
}

// ReadUsage reads a process's CPU time and resident memory from /proc.
func ReadUsage(pid int) (Usage, error) {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Usage{}, err
	}
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return Usage{}, errors.New("malformed stat")
	}
	f := strings.Fields(string(st[i+1:]))
	if len(f) < 13 {
		return Usage{}, errors.New("malformed stat")
	}
	// Fields after the command: state(0) ... utime(11) stime(12), in clock ticks (USER_HZ is 100 on Linux).
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	stt, _ := strconv.ParseUint(f[12], 10, 64)
	u := Usage{User: ut * 1e7, System: stt * 1e7}
	u.CPU = u.User + u.System
	status, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return u, nil
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			u.RSS = kb << 10
		}
	}
	return u, nil
}

// HostTSCKHz is the host CPU's TSC frequency as /proc/cpuinfo gives it (TCG guests read the host's TSC).
func HostTSCKHz() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int(mhz * 1000)
			}
		}
	}
	return 0
}

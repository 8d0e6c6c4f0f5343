package guest

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// reaper is PID 1's child reaping: every exited process is reaped (orphans too, which the kernel reparents to
// PID 1), and the status of a process started through start goes to its waiter. os/exec's Wait cannot be used
// alongside it (whoever calls wait4 first gets the status), so processes start through start.
type reaper struct {
	mu      sync.Mutex
	waiting map[int]chan syscall.WaitStatus
}

func newReaper() *reaper {
	r := &reaper{waiting: map[int]chan syscall.WaitStatus{}}
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, syscall.SIGCHLD)
	go func() {
		for range ch {
			r.reap()
		}
	}()
	return r
}

// start runs fork (which starts one process and returns its pid) with the reaper held, so that a process
// exiting at once is not reaped before its waiter is registered.
func (r *reaper) start(fork func() (int, error)) (int, <-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := fork()
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiting[pid] = ch
	return pid, ch, nil
}

func (r *reaper) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		r.mu.Lock()
		if ch, ok := r.waiting[pid]; ok {
			ch <- ws
			delete(r.waiting, pid)
		}
		r.mu.Unlock()
	}
}

// exitCode is a shell's view of a wait status: the exit status, or 128+N for a process killed by signal N.
func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// run starts argv with stdio on /dev/null (or the given output) and waits for it: for the init's own helpers.
func (r *reaper) run(argv []string, env []string, out *os.File) (int, error) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	o := null
	if out != nil {
		o = out
	}
	_, ch, err := r.start(func() (int, error) {
		return syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{Env: env, Files: []uintptr{null.Fd(), o.Fd(), o.Fd()},
			Sys: &syscall.SysProcAttr{Setsid: true}})
	})
	if err != nil {
		return 0, err
	}
	return exitCode(<-ch), nil
}

// killAll signals every process but PID 1.
func killAll(sig syscall.Signal) { unix.Kill(-1, sig) }

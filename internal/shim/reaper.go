package shim

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// reaper owns every wait4 in the shim. The shim is a child subreaper, so besides the runtime processes it starts,
// the container init (once the runtime exits) and any orphan of the container become its children; one loop reaps
// them all and routes each status to whoever waits for that pid. Nothing else in the shim may wait for a child
// (so no os/exec): a second waiter would steal statuses.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
	// early holds statuses of pids nobody waits for yet: the container init can exit (and be reaped) between the
	// runtime's exit and the shim reading the pid file. It is dropped once init is claimed.
	early map[int]syscall.WaitStatus
}

func newReaper() *reaper {
	r := &reaper{waiters: map[int]chan syscall.WaitStatus{}, early: map[int]syscall.WaitStatus{}}
	sigs := make(chan os.Signal, 1)
	// Besides SIGCHLD: survive the daemon. With no controlling terminal, SIGHUP/SIGINT only come from a stray
	// kill, and SIGPIPE must not end the shim. Notify, not Ignore, so that the runtime and the container do not
	// inherit ignored signals. One Notify call: os/signal parks a thread for its loop.
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGCHLD {
				r.reap()
			}
		}
	}()
	return r
}

// start forks and execs path with argv and files as its fds 0, 1, 2, and returns a channel that receives its status.
// Holding mu across the fork means the child cannot be reaped before its waiter is registered.
func (r *reaper) start(path string, argv []string, files [3]int) (<-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{uintptr(files[0]), uintptr(files[1]), uintptr(files[2])},
	})
	if err != nil {
		return nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiters[pid] = ch
	return ch, nil
}

// claim returns a channel that receives pid's status, even if pid was reaped already. After the first claim,
// statuses of unknown pids (orphans) are discarded.
func (r *reaper) claim(pid int) <-chan syscall.WaitStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan syscall.WaitStatus, 1)
	if ws, ok := r.early[pid]; ok {
		ch <- ws
	} else {
		r.waiters[pid] = ch
	}
	r.early = nil
	return ch
}

func (r *reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if ch, ok := r.waiters[pid]; ok {
			ch <- ws
			delete(r.waiters, pid)
		} else if r.early != nil {
			r.early[pid] = ws
		}
	}
}

// exitCode is docker's convention: the exit status, or 128+signal for a process killed by a signal.
func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

package shim

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The reaper waits for every child of its process, so its scenario runs in a re-executed test binary: in the
// test process it would steal the statuses of os/exec's children.
const reaperScenarioEnv = "BERTH_SHIM_TEST_REAPER"

func init() {
	if os.Getenv(reaperScenarioEnv) != "" {
		if err := reaperScenario(); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func TestReaper(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), reaperScenarioEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reaper scenario: %v\n%s", err, out)
	}
}

func reaperScenario() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return err
	}
	r := newReaper()
	null, _ := syscall.Open("/dev/null", syscall.O_RDWR, 0)
	files := [3]int{null, null, null}

	// A started process reports its status; a signal is 128+n.
	for _, tc := range []struct {
		script string
		want   int
	}{{"exit 3", 3}, {"kill -KILL $$", 137}, {"kill -TERM $$", 143}} {
		done, err := r.start("/bin/sh", []string{"/bin/sh", "-c", tc.script}, files)
		if err != nil {
			return err
		}
		if got := exitCode(<-done); got != tc.want {
			return errors.New(tc.script + ": wrong exit code")
		}
	}

	// The init race: a child that is already reaped when it is claimed still delivers its status.
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 42"}, &syscall.ProcAttr{Files: []uintptr{uintptr(null), uintptr(null), uintptr(null)}})
	if err != nil {
		return err
	}
	if !poll(func() bool { r.mu.Lock(); _, ok := r.early[pid]; r.mu.Unlock(); return ok }) {
		return errors.New("early exit not recorded")
	}
	select {
	case ws := <-r.claim(pid):
		if exitCode(ws) != 42 {
			return errors.New("claimed early exit: wrong code")
		}
	case <-time.After(5 * time.Second):
		return errors.New("claimed early exit not delivered")
	}

	// Orphans reparented to the subreaper are reaped too, and not kept once init is claimed.
	done, err := r.start("/bin/sh", []string{"/bin/sh", "-c", "sleep 0.2 & exit 0"}, files)
	if err != nil {
		return err
	}
	<-done
	if !poll(func() bool { return !hasChildren() }) {
		return errors.New("orphan left as a zombie")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.early != nil || len(r.waiters) != 0 {
		return errors.New("reaper kept state after claim")
	}
	return nil
}

func poll(cond func() bool) bool {
	for i := 0; i < 500; i++ {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// hasChildren reports whether the process has any child, zombies included.
func hasChildren() bool {
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		data, _ := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if strings.TrimSpace(string(data)) != "" {
			return true
		}
	}
	return false
}

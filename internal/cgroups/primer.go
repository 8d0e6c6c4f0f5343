// Package cgroups owns what the daemon does with the host's control groups outside the OCI runtime: finding its
// own cgroup, and priming the kernel's cgroup migration lock while containers start.
package cgroups

import (
	"bufio"
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Primer keeps cgroup migrations cheap while container starts are under way.
//
// Moving a process into a cgroup (writing its pid to cgroup.procs, which runc and crun do for every container
// init and exec) takes the kernel's global cgroup_threadgroup_rwsem for writing. Unless a hierarchy is mounted
// with favordynmods, the first writer after a quiet period waits for an RCU grace period (5–18 ms measured on
// the project's VM), while a writer arriving within a grace period of the last one passes at once. A container
// start therefore spends that wait serially, inside the runtime, after its other work.
//
// The primer starts the grace period early: from the moment a start begins and every few milliseconds while
// any start is in flight, it moves the daemon into the cgroup it is already in (a no-op migration). The wait
// then overlaps the start's own work, and the runtime's migration finds the lock's fast path. Outside starts
// the primer does nothing, so the rest of the host keeps the cheap fork/exit path of an idle lock.
//
//	p := cgroups.NewPrimer()
//	release := p.Hold() // a start begins
//	...                 // the shim runs the runtime, which moves the container's init into its cgroup
//	release()
type Primer struct {
	interval time.Duration
	write    func(path string) error // writeZero; tests count calls

	mu      sync.Mutex
	path    string // cgroup.procs of the daemon's own cgroup; "" once the primer is off
	holds   int
	running bool
}

// primeInterval is shorter than the shortest grace period measured (~5 ms), so the lock never goes idle while
// a start is in flight; each write in the fast path costs ~0.1 ms.
const primeInterval = 3 * time.Millisecond

// NewPrimer returns a primer for the daemon's own cgroup; it does nothing where that cgroup cannot be found.
func NewPrimer() *Primer {
	data, _ := os.ReadFile("/proc/self/cgroup")
	return newPrimer(procsPath("/sys/fs/cgroup", data, exists), primeInterval)
}

func newPrimer(path string, interval time.Duration) *Primer {
	return &Primer{path: path, interval: interval, write: writeZero}
}

// Hold marks a start in flight until the returned function is called (once). A nil Primer does nothing.
func (p *Primer) Hold() (release func()) {
	if p == nil {
		return func() {}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.path == "" {
		return func() {}
	}
	p.holds++
	if !p.running {
		p.running = true
		go p.loop()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.holds--
			p.mu.Unlock()
		})
	}
}

func (p *Primer) loop() {
	for {
		p.mu.Lock()
		path := p.path
		if p.holds == 0 || path == "" {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if err := p.write(path); err != nil {
			slog.Debug("cgroup primer off", "path", path, "error", err)
			p.mu.Lock()
			p.path = ""
			p.mu.Unlock()
			continue
		}
		time.Sleep(p.interval)
	}
}

// writeZero writes "0" to path: in cgroup.procs, the writing task's own process, which stays where it is.
func writeZero(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte("0"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// procsPath returns the cgroup.procs file of the process whose /proc/PID/cgroup is data, under the cgroup
// mounts at root: the unified hierarchy on cgroup v2, else the first v1 controller hierarchy found.
func procsPath(root string, data []byte, exists func(string) bool) string {
	if exists(filepath.Join(root, "cgroup.controllers")) { // v2
		for _, line := range lines(data) {
			if p, ok := strings.CutPrefix(line, "0::"); ok {
				return filepath.Join(root, p, "cgroup.procs")
			}
		}
		return ""
	}
	for _, line := range lines(data) {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[1] == "" || strings.HasPrefix(f[1], "name=") {
			continue
		}
		// A co-mounted hierarchy is mounted as "cpu,cpuacct" or under one of its controllers' names.
		for _, dir := range append([]string{f[1]}, strings.Split(f[1], ",")...) {
			if p := filepath.Join(root, dir, f[2], "cgroup.procs"); exists(p) {
				return p
			}
		}
	}
	return ""
}

func lines(data []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

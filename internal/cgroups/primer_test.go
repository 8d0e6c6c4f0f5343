package cgroups

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth/berth/internal/testutil"
)

func TestProcsPath(t *testing.T) {
	v1 := "12:pids:/user.slice\n4:memory:/process_api/f1\n3:cpu,cpuacct:/\n1:name=systemd:/init.scope\n0::/\n"
	tests := []struct {
		name   string
		data   string
		exists []string
		want   string
	}{
		{"v2", "0::/system.slice/berth.service\n", []string{"/c/cgroup.controllers", "/c/system.slice/berth.service/cgroup.procs"}, "/c/system.slice/berth.service/cgroup.procs"},
		{"v2 root", "0::/\n", []string{"/c/cgroup.controllers"}, "/c/cgroup.procs"},
		{"v2 without own line", "1:name=systemd:/\n", []string{"/c/cgroup.controllers"}, ""},
		{"v1 first controller", v1, []string{"/c/pids/user.slice/cgroup.procs", "/c/memory/process_api/f1/cgroup.procs"}, "/c/pids/user.slice/cgroup.procs"},
		{"v1 skips unmounted", v1, []string{"/c/memory/process_api/f1/cgroup.procs"}, "/c/memory/process_api/f1/cgroup.procs"},
		{"v1 co-mounted under one name", "3:cpu,cpuacct:/x\n", []string{"/c/cpu/x/cgroup.procs"}, "/c/cpu/x/cgroup.procs"},
		{"v1 named hierarchies only", "1:name=systemd:/\n0::/\n", []string{"/c/systemd/cgroup.procs"}, ""},
		{"nothing", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			has := func(p string) bool {
				for _, e := range tt.exists {
					if e == p {
						return true
					}
				}
				return false
			}
			if got := procsPath("/c", []byte(tt.data), has); got != tt.want {
				t.Errorf("procsPath = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPrimerWritesOnlyWhileHeld(t *testing.T) {
	var n atomic.Int64
	p := newPrimer("/cgroup.procs", time.Millisecond)
	p.write = func(path string) error {
		if path != "/cgroup.procs" {
			t.Errorf("write to %q", path)
		}
		n.Add(1)
		return nil
	}
	writes := func(*testing.T, string) int { return int(n.Load()) }
	path := ""
	time.Sleep(20 * time.Millisecond)
	if n := writes(t, path); n != 0 {
		t.Fatalf("%d writes before any hold", n)
	}

	release := p.Hold()
	release2 := p.Hold()
	deadline := time.Now().Add(5 * time.Second)
	for writes(t, path) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := writes(t, path); n < 3 {
		t.Fatalf("%d writes while held, want a write every interval", n)
	}
	release()
	release() // a second call of the same release is a no-op: the other hold keeps the primer going
	before := writes(t, path)
	for writes(t, path) == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if writes(t, path) == before {
		t.Fatal("primer stopped while a hold remained")
	}
	release2()
	waitStopped(t, p)
	after := writes(t, path)
	time.Sleep(20 * time.Millisecond)
	if n := writes(t, path); n != after {
		t.Fatalf("%d writes after the last release", n-after)
	}
}

func TestPrimerTurnsOffWhenTheWriteFails(t *testing.T) {
	p := newPrimer(filepath.Join(t.TempDir(), "missing", "cgroup.procs"), time.Millisecond)
	release := p.Hold()
	defer release()
	waitStopped(t, p)
	p.mu.Lock()
	path := p.path
	p.mu.Unlock()
	if path != "" {
		t.Fatalf("primer still on after a failed write: %q", path)
	}
	p.Hold()() // a hold of a primer that is off starts nothing
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running {
		t.Fatal("a primer that is off started its loop")
	}
}

func waitStopped(t *testing.T, p *Primer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		running := p.running
		p.mu.Unlock()
		if !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("primer loop still running")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPrimerOnThisHost: the primer finds this process's cgroup, and its writes leave the process where it was.
func TestPrimerOnThisHost(t *testing.T) {
	testutil.RequiresRoot(t)
	before, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	p := NewPrimer()
	if p.path == "" {
		t.Fatal("no cgroup.procs found for this process")
	}
	var n atomic.Int64
	p.write = func(path string) error {
		err := writeZero(path)
		if err == nil {
			n.Add(1)
		}
		return err
	}
	release := p.Hold()
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	release()
	waitStopped(t, p)
	if n.Load() < 2 || p.path == "" {
		t.Fatalf("%d successful writes to %s", n.Load(), p.path)
	}
	after, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Fatalf("the primer moved the process:\n%s\nbecame\n%s", before, after)
	}
}

package scheduler

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/berth/berth/internal/cluster/placement"
)

// BenchmarkPlace places 100,000 tasks (1,000 services of 100 replicas) on 10,000 nodes, the scale, and
// reports tasks placed per second. A quarter of the services have a constraint, a fifth spread over zones, a
// third reserve resources. "all" hands the scheduler every task at once; "batches" in ticks of 1,000 tasks, as
// the shell does when tasks arrive over time.
//
//	go test ./internal/cluster/scheduler -run '^$' -bench Place -benchmem
func BenchmarkPlace(b *testing.B) {
	const nodes, services, replicas = 10_000, 1_000, 100
	ns := benchNodes(nodes)
	pending := benchTasks(services, replicas)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, batch := range []int{len(pending), 1_000} {
		name := "all"
		if batch < len(pending) {
			name = fmt.Sprintf("batches-of-%d", batch)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			placed := 0
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				s := New()
				for _, n := range ns {
					s.SetNode(n)
				}
				b.StartTimer()
				start := cpuTime()
				for i := 0; i < len(pending); i += batch {
					for _, d := range s.Schedule(pending[i:min(i+batch, len(pending))], now) {
						if d.Placed() {
							placed++
						}
					}
				}
				cpu += cpuTime() - start
			}
			if placed != b.N*len(pending) {
				b.Fatalf("placed %d of %d tasks", placed, b.N*len(pending))
			}
			b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "tasks/s")
			// On a machine shared with other work the wall clock undercounts; the process's CPU time does not.
			b.ReportMetric(float64(placed)/cpu.Seconds(), "tasks/cpu-s")
		})
	}
}

// cpuTime is the CPU time the process used so far (user and system, every thread: the GC's too).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchNodes(n int) []placement.Node {
	ns := make([]placement.Node, n)
	for i := range ns {
		role := placement.RoleWorker
		if i%5 == 0 {
			role = placement.RoleManager
		}
		ns[i] = placement.Node{
			ID: fmt.Sprintf("node%05d", i), Hostname: fmt.Sprintf("host%05d", i), Role: role,
			Availability: placement.AvailabilityActive, State: placement.NodeStateReady,
			Labels:    map[string]string{"zone": fmt.Sprintf("zone%d", i%3)},
			Platform:  placement.Platform{OS: "linux", Architecture: "amd64"},
			Resources: placement.Resources{NanoCPUs: 8e9, MemoryBytes: 32 << 30},
		}
	}
	return ns
}

func benchTasks(services, replicas int) []Task {
	ts := make([]Task, 0, services*replicas)
	for s := range services {
		t := Task{ServiceID: fmt.Sprintf("svc%04d", s), SpecVersion: 1}
		if s%4 == 0 {
			t.Placement.Constraints = []string{"node.role==worker"}
		}
		if s%5 == 0 {
			t.Placement.Preferences = []placement.Preference{{Spread: "node.labels.zone"}}
		}
		if s%3 == 0 {
			t.Reservations = placement.Resources{NanoCPUs: 1e8, MemoryBytes: 64 << 20}
		}
		for r := range replicas {
			t.ID = fmt.Sprintf("%s.%d", t.ServiceID, r+1)
			ts = append(ts, t)
		}
	}
	return ts
}

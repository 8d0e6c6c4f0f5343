package orchestrator

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/berth/berth/internal/cluster/placement"
)

// BenchmarkReconcile reconciles 1,000 services of 100 replicas over 10,000 nodes, the scale: making all
// 100,000 tasks; a converged cluster (nothing to do); and 1,000 nodes lost (their 10,000 tasks replaced).
//
//	go test ./internal/cluster/orchestrator -run '^$' -bench Reconcile -benchmem
func BenchmarkReconcile(b *testing.B) {
	const nodes, services, replicas = 10_000, 1_000, 100
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	snap := Snapshot{TaskHistoryLimit: 5}
	for i := range nodes {
		snap.Nodes = append(snap.Nodes, placement.Node{ID: fmt.Sprintf("node%05d", i), State: placement.NodeStateReady,
			Availability: placement.AvailabilityActive})
	}
	for s := range services {
		snap.Services = append(snap.Services, Service{ID: fmt.Sprintf("svc%04d", s), Version: 1, SpecVersion: 1,
			Spec: ServiceSpec{Replicas: replicas, Task: TaskSpec{Digest: "image=v1"}}})
	}
	running := snap
	running.Tasks = nil
	n := 0
	for _, svc := range snap.Services {
		for slot := range uint64(replicas) {
			running.Tasks = append(running.Tasks, Task{ID: fmt.Sprintf("task%06d", n), Version: 1, ServiceID: svc.ID,
				Slot: slot + 1, NodeID: snap.Nodes[n%nodes].ID, SpecVersion: 1, Spec: svc.Spec.Task,
				DesiredState: TaskStateRunning, Status: TaskStatus{State: TaskStateRunning, Timestamp: now},
				CreatedAt: now, StartedAt: now})
			n++
		}
	}
	lost := running
	lost.Nodes = append([]placement.Node(nil), running.Nodes...)
	for i := range 1_000 {
		lost.Nodes[i].State = placement.NodeStateDown
	}

	// tasks is what each case reports per second: the tasks made, or the tasks looked at.
	for _, bc := range []struct {
		name  string
		snap  Snapshot
		tasks int
		check func(Plan) error
	}{
		{"create-100000", snap, services * replicas, func(p Plan) error { return want(len(p.Create), services*replicas) }},
		{"converged", running, len(running.Tasks), func(p Plan) error { return want(len(p.Create)+len(p.Update)+len(p.Remove), 0) }},
		{"1000-nodes-lost", lost, len(lost.Tasks), func(p Plan) error { return want(len(p.Create), 10_000) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				if err := bc.check(Reconcile(bc.snap, now.Add(time.Minute))); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.tasks*b.N)/b.Elapsed().Seconds(), "tasks/s")
			// On a machine shared with other work the wall clock undercounts; the process's CPU time does not.
			b.ReportMetric(float64(bc.tasks*b.N)/(cpuTime()-start).Seconds(), "tasks/cpu-s")
		})
	}
}

func want(got, n int) error {
	if got != n {
		return fmt.Errorf("got %d, want %d", got, n)
	}
	return nil
}

// cpuTime is the CPU time the process used so far (user and system, every thread: the GC's too).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package orchestrator

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/berth/berth/internal/cluster/placement"
)

// The plan depends on the snapshot's content, not on the order the store listed services and nodes in, and the
// snapshot is left as it was.
func TestReconcileIsPureAndOrderFree(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	snap := Snapshot{TaskHistoryLimit: 5}
	for i := range 6 {
		snap.Nodes = append(snap.Nodes, placement.Node{ID: fmt.Sprintf("n%d", i), State: placement.NodeStateReady,
			Availability: placement.AvailabilityActive, Labels: map[string]string{"zone": fmt.Sprint(i % 2)}})
	}
	snap.Nodes[1].State = placement.NodeStateDown
	snap.Nodes[2].Availability = placement.AvailabilityDrain
	snap.Services = []Service{
		{ID: "web", Version: 3, SpecVersion: 3, Spec: ServiceSpec{Replicas: 4, Task: TaskSpec{Digest: "v2"}},
			PreviousSpec: &ServiceSpec{Replicas: 4, Task: TaskSpec{Digest: "v1"}}, PreviousSpecVersion: 1},
		{ID: "mon", Version: 1, SpecVersion: 1, Spec: ServiceSpec{Mode: ModeGlobal,
			Task: TaskSpec{Placement: placement.Placement{Constraints: []string{"node.labels.zone==0"}}}}},
		{ID: "job", Version: 1, SpecVersion: 1, Spec: ServiceSpec{Mode: ModeReplicatedJob, MaxConcurrent: 2, TotalCompletions: 3}},
	}
	for slot := range uint64(4) {
		snap.Tasks = append(snap.Tasks, Task{ID: fmt.Sprintf("w%d", slot), Version: 1, ServiceID: "web", Slot: slot + 1,
			NodeID: fmt.Sprintf("n%d", slot), SpecVersion: 1, Spec: TaskSpec{Digest: "v1"}, DesiredState: TaskStateRunning,
			Status: TaskStatus{State: TaskStateRunning, Timestamp: now}, CreatedAt: now})
	}
	snap.Tasks[3].Status.State = TaskStateFailed
	snap.Tasks = append(snap.Tasks, Task{ID: "gone", Version: 1, ServiceID: "removed", Slot: 1, DesiredState: TaskStateRunning,
		Status: TaskStatus{State: TaskStatePending}})

	before := deepCopy(snap)
	plan := Reconcile(snap, now.Add(time.Second))
	if !reflect.DeepEqual(snap, before) {
		t.Fatal("Reconcile modified its snapshot")
	}
	if plan.Empty() {
		t.Fatal("nothing planned for a cluster with work to do")
	}
	shuffled := deepCopy(snap)
	slices.Reverse(shuffled.Services)
	slices.Reverse(shuffled.Nodes)
	if again := Reconcile(shuffled, now.Add(time.Second)); !reflect.DeepEqual(plan, again) {
		t.Errorf("another order of services and nodes gave another plan:\n%+v\n%+v", plan, again)
	}
}

func deepCopy(s Snapshot) Snapshot {
	out := s
	out.Services = slices.Clone(s.Services)
	for i := range out.Services {
		if p := out.Services[i].PreviousSpec; p != nil {
			cp := *p
			out.Services[i].PreviousSpec = &cp
		}
	}
	out.Nodes = slices.Clone(s.Nodes)
	out.Tasks = slices.Clone(s.Tasks)
	return out
}

func TestTaskStateNames(t *testing.T) {
	for _, tt := range []struct {
		name  string
		state TaskState
	}{
		{"new", TaskStateNew}, {"pending", TaskStatePending}, {"assigned", TaskStateAssigned},
		{"accepted", TaskStateAccepted}, {"preparing", TaskStatePreparing}, {"ready", TaskStateReady},
		{"starting", TaskStateStarting}, {"running", TaskStateRunning}, {"complete", TaskStateComplete},
		{"shutdown", TaskStateShutdown}, {"failed", TaskStateFailed}, {"rejected", TaskStateRejected},
		{"remove", TaskStateRemove}, {"orphaned", TaskStateOrphaned},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.state.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			if got, ok := ParseTaskState(tt.name); !ok || got != tt.state {
				t.Errorf("ParseTaskState(%q) = %v, %v", tt.name, got, ok)
			}
		})
	}
	if _, ok := ParseTaskState("allocated"); ok {
		t.Error("ParseTaskState accepted a state swarmkit no longer has")
	}
}

package api

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func TestValidateClusterSpec(t *testing.T) {
	neg := int64(-1)
	tests := []struct {
		name   string
		modify func(*ClusterSpec)
		want   string // "" for valid
	}{
		{name: "defaults", modify: func(*ClusterSpec) {}},
		{name: "renamed", modify: func(s *ClusterSpec) { s.Name = "other" }, want: "rpc error: code = InvalidArgument desc = modification of cluster name is not allowed"},
		{name: "cert expiry too short", modify: func(s *ClusterSpec) { s.CAConfig.NodeCertExpiry = 15 * time.Minute }, want: "minimum certificate expiry time is: 1h0m0s"},
		{name: "cert expiry one hour", modify: func(s *ClusterSpec) { s.CAConfig.NodeCertExpiry = time.Hour }},
		{name: "negative heartbeat", modify: func(s *ClusterSpec) { s.Dispatcher.HeartbeatPeriod = -time.Second }, want: "heartbeat time period cannot be a negative duration"},
		{name: "negative history", modify: func(s *ClusterSpec) { s.Orchestration.TaskHistoryRetentionLimit = &neg }, want: "task history retention limit cannot be negative"},
		{name: "election not above heartbeat", modify: func(s *ClusterSpec) { s.Raft.ElectionTick = 1 }, want: "ElectionTick (1) must be greater than HeartbeatTick (1)"},
		{name: "unknown external CA", modify: func(s *ClusterSpec) { s.CAConfig.ExternalCAs = []ExternalCA{{Protocol: "acme"}} }, want: `unknown external CA protocol "acme"`},
		{name: "key without cert", modify: func(s *ClusterSpec) { s.CAConfig.SigningCAKey = "k" }, want: "the signing CA cert must also be provided"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultClusterSpec()
			tc.modify(&s)
			err := ValidateClusterSpec(s)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("error %v is not an invalid argument", err)
			}
		})
	}
}

func TestValidateNodeSpec(t *testing.T) {
	tests := []struct {
		name string
		spec NodeSpec
		want string
	}{
		{name: "worker active", spec: NodeSpec{DesiredRole: RoleWorker, Availability: AvailabilityActive}},
		{name: "manager drain", spec: NodeSpec{DesiredRole: RoleManager, Availability: AvailabilityDrain}},
		{name: "bad role", spec: NodeSpec{DesiredRole: "boss", Availability: AvailabilityActive}, want: `invalid role "boss"`},
		{name: "bad availability", spec: NodeSpec{DesiredRole: RoleWorker, Availability: "sleep"}, want: `invalid availability "sleep"`},
		{name: "empty label key", spec: NodeSpec{DesiredRole: RoleWorker, Availability: AvailabilityPause, Annotations: Annotations{Labels: map[string]string{"": "x"}}}, want: "label key cannot be empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateNodeSpec(tc.spec)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("error %v, want an invalid argument containing %q", err, tc.want)
			}
		})
	}
}

func TestTaskStates(t *testing.T) {
	tests := []struct {
		name     string
		state    TaskState
		terminal bool
	}{
		{name: "new", state: TaskNew},
		{name: "pending", state: TaskPending},
		{name: "running", state: TaskRunning},
		{name: "complete", state: TaskComplete, terminal: true},
		{name: "shutdown", state: TaskShutdown, terminal: true},
		{name: "failed", state: TaskFailed, terminal: true},
		{name: "rejected", state: TaskRejected, terminal: true},
		{name: "orphaned", state: TaskOrphaned, terminal: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.state.String(); got != tc.name {
				t.Fatalf("String() = %q", got)
			}
			back, ok := ParseTaskState(tc.name)
			if !ok || back != tc.state {
				t.Fatalf("ParseTaskState(%q) = %v, %v", tc.name, back, ok)
			}
			if tc.state.Terminal() != tc.terminal {
				t.Fatalf("Terminal() = %v", !tc.terminal)
			}
		})
	}
	if !(TaskPending < TaskAssigned && TaskAssigned < TaskRunning && TaskRunning < TaskShutdown) {
		t.Fatal("task states are not ordered as swarmkit's")
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if len(id) != 25 || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("id %q is not 25 base-36 characters", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}

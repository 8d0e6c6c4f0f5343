package agent

import (
	"context"
	"testing"
	"time"

	"github.com/berth/berth/internal/cluster/api"
)

func TestNeedsDrain(t *testing.T) {
	onNet := &api.Task{ID: "t1", Networks: []api.TaskNetwork{{NetworkID: "n1"}}}
	for _, tc := range []struct {
		name     string
		task     *api.Task
		observed api.TaskState
		want     bool
	}{
		{name: "running on a cluster network", task: onNet, observed: api.TaskRunning, want: true},
		{name: "running without a network (the node's bridge: no VIP)", task: &api.Task{ID: "t2"}, observed: api.TaskRunning},
		{name: "still starting: never a backend", task: onNet, observed: api.TaskStarting},
		{name: "already ended", task: onNet, observed: api.TaskFailed},
		{name: "no task", observed: api.TaskRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsDrain(tc.task, tc.observed); got != tc.want {
				t.Fatalf("needsDrain = %v, want %v", got, tc.want)
			}
		})
	}
}

// balancers is a node whose balancers drop the task when left is closed (nil: never).
type balancers struct {
	Backend
	left  chan struct{}
	asked []string
}

func (b *balancers) WaitNotBackend(ctx context.Context, taskID string) error {
	b.asked = append(b.asked, taskID)
	select {
	case <-b.left:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// plainBackend has no balancers.
type plainBackend struct{ Backend }

func TestLeaveBalancers(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	task := &api.Task{ID: "t1", Networks: []api.TaskNetwork{{NetworkID: "n1"}}}
	p := drainPolicy{timeout: 10 * time.Millisecond, delay: 700 * time.Millisecond}
	for _, tc := range []struct {
		name      string
		backend   Backend
		cancelled bool
		want      string
		wantSleep bool
	}{
		{name: "the node's balancers drop it, then the delay for the others", backend: &balancers{left: closed}, want: "left the node's balancers", wantSleep: true},
		{name: "the node's balancers never drop it: bounded, then the delay", backend: &balancers{}, want: "timed out waiting for the node's balancers", wantSleep: true},
		{name: "a backend without balancers: the delay only", backend: plainBackend{}, want: "delay only", wantSleep: true},
		{name: "the agent stopping: no wait", backend: &balancers{}, cancelled: true, want: "cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelled {
				cancel()
			}
			var slept []time.Duration
			got := leaveBalancers(ctx, tc.backend, task, p, func(_ context.Context, d time.Duration) { slept = append(slept, d) })
			if got != tc.want {
				t.Fatalf("outcome %q, want %q", got, tc.want)
			}
			if tc.wantSleep != (len(slept) == 1 && slept[0] == p.delay) {
				t.Fatalf("slept %v (want the delay: %v)", slept, tc.wantSleep)
			}
			if b, ok := tc.backend.(*balancers); ok && !tc.cancelled && (len(b.asked) != 1 || b.asked[0] != "t1") {
				t.Fatalf("asked the balancers about %v", b.asked)
			}
		})
	}
}

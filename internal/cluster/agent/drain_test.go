package agent

import (
	"context"
	"errors"
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

// balancers is a node whose balancers drop the task at revision 42 when left is closed (nil: never).
type balancers struct {
	Backend
	left  chan struct{}
	asked []string
}

func (b *balancers) WaitNotBackend(ctx context.Context, taskID string) (int64, error) {
	b.asked = append(b.asked, taskID)
	select {
	case <-b.left:
		return 42, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// plainBackend has no balancers.
type plainBackend struct{ Backend }

// acks is a leader that answers a wait for revision 42 with behind and err.
type acks struct {
	behind []string
	err    error
	asked  []int64
}

func (a *acks) WaitApplied(_ context.Context, rev int64, _ time.Duration) ([]string, error) {
	a.asked = append(a.asked, rev)
	return a.behind, a.err
}

func TestLeaveBalancers(t *testing.T) {
	closed := make(chan struct{})
	close(closed)
	task := &api.Task{ID: "t1", Networks: []api.TaskNetwork{{NetworkID: "n1"}}}
	p := drainPolicy{timeout: 10 * time.Millisecond, delay: 700 * time.Millisecond}
	for _, tc := range []struct {
		name      string
		backend   Backend
		acks      *acks
		cancelled bool
		want      string
		wantSleep bool
		// wantAsked is whether the leader is asked (for revision 42)
		wantAsked bool
	}{
		{name: "every node acknowledges: no delay", backend: &balancers{left: closed}, acks: &acks{},
			want: "left every node's balancers", wantAsked: true},
		{name: "a node behind past the bound: stopped without more delay", backend: &balancers{left: closed},
			acks: &acks{behind: []string{"n2", "n3"}}, want: "timed out waiting for the balancers of nodes n2, n3", wantAsked: true},
		{name: "the leader cannot be reached: the delay", backend: &balancers{left: closed},
			acks: &acks{err: errors.New("no manager answered")}, wantSleep: true, wantAsked: true,
			want: "the leader could not tell the other nodes' balancers (no manager answered); delay for them"},
		{name: "no acknowledgements: the node's balancers drop it, then the delay", backend: &balancers{left: closed},
			want: "left the node's balancers; delay for the others", wantSleep: true},
		{name: "the node's balancers never drop it: bounded, then the delay", backend: &balancers{}, acks: &acks{},
			want: "timed out waiting for the node's balancers", wantSleep: true},
		{name: "a backend without balancers: the delay only", backend: plainBackend{}, acks: &acks{}, want: "delay only", wantSleep: true},
		{name: "the agent stopping: no wait", backend: &balancers{}, acks: &acks{}, cancelled: true, want: "cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelled {
				cancel()
			}
			var slept []time.Duration
			var a BalancerAcks
			if tc.acks != nil {
				a = tc.acks
			}
			got := leaveBalancers(ctx, tc.backend, a, task, p, func(_ context.Context, d time.Duration) { slept = append(slept, d) })
			if got != tc.want {
				t.Fatalf("outcome %q, want %q", got, tc.want)
			}
			if tc.wantSleep != (len(slept) == 1 && slept[0] == p.delay) {
				t.Fatalf("slept %v (want the delay: %v)", slept, tc.wantSleep)
			}
			if b, ok := tc.backend.(*balancers); ok && !tc.cancelled && (len(b.asked) != 1 || b.asked[0] != "t1") {
				t.Fatalf("asked the balancers about %v", b.asked)
			}
			if tc.acks != nil && tc.wantAsked != (len(tc.acks.asked) == 1 && tc.acks.asked[0] == 42) {
				t.Fatalf("asked the leader for %v (want revision 42: %v)", tc.acks.asked, tc.wantAsked)
			}
		})
	}
}

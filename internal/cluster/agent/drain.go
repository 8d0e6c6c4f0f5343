package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/berth/berth/internal/cluster/api"
)

// Leaving the load balancers before the stop signal. The orchestrator's decision to stop a task (scale-down,
// update, drain, service rm) reaches the node twice: as the task's new desired state in the agent's
// assignments, and as "no longer a backend" in the networks watch that every node's balancers follow. Nothing
// orders the two, so a task stopped on the first could still be picked for new connections by a balancer that
// has not applied the second: a refused connection or a cut request. As moby's executor deactivates a task's
// service binding and waits for gossip to converge before it stops the container, the agent, before stopping a
// task that was a backend, waits until the node's own balancers no longer list it (bounded by the policy's
// timeout: the networks watch may be down), which tells the store revision they dropped it at, and then until
// every other node's balancers are written from that revision or a later one, as the leader hears from them
// (BalancerAcks; bounded too, since a partitioned node never answers and moby, too, stops the task after its
// wait). Where the node cannot tell (a Backend without Balancers, a Dispatcher without acknowledgements, a
// leader that cannot be reached) a fixed delay stands in. Then the container gets its stop signal and grace
// period. Connections already made to the task stay with it (conntrack) until it closes them. A running task
// whose container turns unhealthy goes the same way (task.go's wait): its agent reports it unhealthy, which
// takes it out of the balancers as the orchestrator's decision does, then drains and stops it.

// Balancers is the node's view of the services' load balancers, which the agent waits on before it stops a
// task. The Backend implements it where the node balances services.
type Balancers interface {
	// WaitNotBackend returns once none of the node's balancers sends new connections to the task (at once
	// when the task is not a backend there) with the store revision of the cluster state they were written from
	// then, or with ctx's error.
	WaitNotBackend(ctx context.Context, taskID string) (rev int64, err error)
}

// BalancerAcks is a Dispatcher that knows how far every node's balancers are.
type BalancerAcks interface {
	// WaitApplied waits up to wait until the balancers of every node in session with the leader are written
	// from revision rev or a later one, and returns the nodes still behind then (none: all are).
	WaitApplied(ctx context.Context, rev int64, wait time.Duration) (behind []string, err error)
}

// drainPolicy bounds the wait before a task's stop signal.
type drainPolicy struct {
	// timeout bounds the wait for the node's own balancers, and again the wait for the other nodes'.
	timeout time.Duration
	// delay is waited for the other nodes' balancers when they cannot be asked.
	delay time.Duration
}

// defaultDrain: the balancers change within milliseconds of the orchestrator's decision while the networks
// watch is up; a node that has not caught up in 5 s is taken to be cut off. Without acknowledgements, the delay
// gives the other nodes ample time (moby waits 2 s for gossip).
var defaultDrain = drainPolicy{timeout: 5 * time.Second, delay: time.Second}

// needsDrain is whether a task must leave the balancers before it stops: it reached RUNNING (only a running
// task is a backend) and joined a cluster network (only there do balancers send it connections).
func needsDrain(t *api.Task, observed api.TaskState) bool {
	return t != nil && observed == api.TaskRunning && len(t.Networks) > 0
}

// Outcomes of leaveBalancers, for the log.
const (
	drainedEverywhere = "left every node's balancers"
	drainedDelayOnly  = "left the node's balancers; delay for the others"
	drainedCancelled  = "cancelled"
)

// leaveBalancers waits until t is out of every node's balancers, as far as p allows; acks may be nil; sleep
// waits d or until ctx ends. It returns how it ended, for the log.
func leaveBalancers(ctx context.Context, b Backend, acks BalancerAcks, t *api.Task, p drainPolicy, sleep func(context.Context, time.Duration)) string {
	lb, ok := b.(Balancers)
	if !ok {
		sleep(ctx, p.delay)
		return "delay only"
	}
	wctx, cancel := context.WithTimeout(ctx, p.timeout)
	rev, err := lb.WaitNotBackend(wctx, t.ID)
	cancel()
	switch {
	case ctx.Err() != nil:
		return drainedCancelled
	case err != nil:
		sleep(ctx, p.delay)
		return "timed out waiting for the node's balancers"
	case acks == nil || rev == 0:
		sleep(ctx, p.delay)
		return drainedDelayOnly
	}
	behind, err := acks.WaitApplied(ctx, rev, p.timeout)
	switch {
	case ctx.Err() != nil:
		return drainedCancelled
	case err != nil:
		sleep(ctx, p.delay)
		return "the leader could not tell the other nodes' balancers (" + err.Error() + "); delay for them"
	case len(behind) > 0:
		return fmt.Sprintf("timed out waiting for the balancers of nodes %s", strings.Join(behind, ", "))
	}
	return drainedEverywhere
}

// drain takes the runner's task out of the balancers before its container is stopped (see above).
func (r *runner) drain(ctx context.Context, t *api.Task, observed api.TaskState) {
	if !needsDrain(t, observed) {
		return
	}
	start := time.Now()
	acks, _ := r.a.cfg.Dispatcher.(BalancerAcks)
	outcome := leaveBalancers(ctx, r.a.cfg.Backend, acks, t, defaultDrain, sleep)
	lvl := slog.LevelDebug
	if outcome != drainedEverywhere && outcome != drainedDelayOnly && outcome != "delay only" {
		lvl = slog.LevelWarn
	}
	r.a.log.Log(ctx, lvl, "task left the load balancers before its stop", "task", t.ID, "outcome", outcome, "took", time.Since(start))
}

package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth/berth/internal/cluster/api"
)

// Leaving the load balancers before the stop signal. The orchestrator's decision to stop a task (scale-down,
// update, drain, service rm) reaches the node twice: as the task's new desired state in the agent's
// assignments, and as "no longer a backend" in the networks watch that every node's balancers follow. Nothing
// orders the two, so a task stopped on the first could still be picked for new connections by a balancer that
// has not applied the second: a refused connection or a cut request. As moby's executor deactivates a task's
// service binding and waits for gossip to converge before it stops the container, the agent, before stopping a
// task that was a backend, waits until the node's own balancers no longer list it (bounded by drainTimeout:
// the networks watch may be down) and then drainDelay more, the time the other nodes, which follow the same
// change from the same store revision, need to apply it. Then the container gets its stop signal and grace
// period. Connections already made to the task stay with it (conntrack) until it closes them. A running task
// whose container turns unhealthy goes the same way (task.go's wait): its agent reports it unhealthy, which
// takes it out of the balancers as the orchestrator's decision does, then drains and stops it.

// Balancers is the node's view of the services' load balancers, which the agent waits on before it stops a
// task. The Backend implements it where the node balances services; a Backend without it gets only the delay.
type Balancers interface {
	// WaitNotBackend returns once none of the node's balancers sends new connections to the task (at once
	// when the task is not a backend there), or with ctx's error.
	WaitNotBackend(ctx context.Context, taskID string) error
}

// drainPolicy bounds the wait before a task's stop signal.
type drainPolicy struct {
	// timeout bounds the wait for the node's own balancers.
	timeout time.Duration
	// delay is waited after, for the other nodes' balancers.
	delay time.Duration
}

// defaultDrain: the node's balancers change within milliseconds of the orchestrator's decision while the
// networks watch is up; the delay gives the other nodes ample time for the same (moby waits 2 s for gossip).
var defaultDrain = drainPolicy{timeout: 5 * time.Second, delay: time.Second}

// needsDrain is whether a task must leave the balancers before it stops: it reached RUNNING (only a running
// task is a backend) and joined a cluster network (only there do balancers send it connections).
func needsDrain(t *api.Task, observed api.TaskState) bool {
	return t != nil && observed == api.TaskRunning && len(t.Networks) > 0
}

// leaveBalancers waits until t is out of every node's balancers, as far as p allows; sleep waits d or until
// ctx ends. It returns how it ended, for the log.
func leaveBalancers(ctx context.Context, b Backend, t *api.Task, p drainPolicy, sleep func(context.Context, time.Duration)) string {
	outcome := "delay only"
	if lb, ok := b.(Balancers); ok {
		wctx, cancel := context.WithTimeout(ctx, p.timeout)
		err := lb.WaitNotBackend(wctx, t.ID)
		cancel()
		switch {
		case err == nil:
			outcome = "left the node's balancers"
		case ctx.Err() != nil:
			return "cancelled"
		default:
			outcome = "timed out waiting for the node's balancers"
		}
	}
	if ctx.Err() != nil {
		return "cancelled"
	}
	sleep(ctx, p.delay)
	return outcome
}

// drain takes the runner's task out of the balancers before its container is stopped (see above).
func (r *runner) drain(ctx context.Context, t *api.Task, observed api.TaskState) {
	if !needsDrain(t, observed) {
		return
	}
	start := time.Now()
	outcome := leaveBalancers(ctx, r.a.cfg.Backend, t, defaultDrain, sleep)
	lvl := slog.LevelDebug
	if outcome != "left the node's balancers" && outcome != "delay only" {
		lvl = slog.LevelWarn
	}
	r.a.log.Log(ctx, lvl, "task left the load balancers before its stop", "task", t.ID, "outcome", outcome, "took", time.Since(start))
}

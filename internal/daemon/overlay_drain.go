package daemon

import (
	"context"
	"sync"

	"github.com/berth/berth/internal/cluster"
)

// backendSet is the swarm tasks the node's VIP balancers send new connections to, as last written into the
// containers' namespaces from the cluster's state: the swarm agent waits on it before it stops a task
// (agent.Balancers), so that the task leaves this node's balancers before its stop signal, and learns the
// store revision they were written from then, which it waits for every other node to reach. The zero value
// is an empty set.
type backendSet struct {
	mu    sync.Mutex
	rev   int64
	tasks map[string]bool
	// changed is closed, and replaced, whenever tasks changes.
	changed chan struct{}
}

// set replaces the set once the balancers have been written from running, the state at store revision rev.
func (b *backendSet) set(rev int64, running []cluster.TaskRun) {
	next := make(map[string]bool, len(running))
	for _, r := range running {
		if r.Running {
			next[r.ID] = true
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rev, b.tasks = rev, next
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
}

// has is whether task is a backend, the revision the set is at, and a channel closed at the next change.
func (b *backendSet) has(task string) (bool, int64, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.tasks[task], b.rev, b.changed
}

// wait returns once task is not a backend, with the revision of the first set without it, or with ctx's error.
func (b *backendSet) wait(ctx context.Context, task string) (int64, error) {
	for {
		in, rev, changed := b.has(task)
		if !in {
			return rev, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// WaitNotBackend implements agent.Balancers.
func (e swarmExecutor) WaitNotBackend(ctx context.Context, taskID string) (int64, error) {
	return e.d.backends.wait(ctx, taskID)
}

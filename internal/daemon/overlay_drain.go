package daemon

import (
	"context"
	"sync"

	"github.com/berth/berth/internal/cluster"
)

// backendSet is the swarm tasks the node's VIP balancers send new connections to, as last written into the
// containers' namespaces from the cluster's state: the swarm agent waits on it before it stops a task
// (agent.Balancers), so that the task leaves this node's balancers before its stop signal. The zero value is
// an empty set.
type backendSet struct {
	mu    sync.Mutex
	tasks map[string]bool
	// changed is closed, and replaced, whenever tasks changes.
	changed chan struct{}
}

// set replaces the set once the balancers have been written from running.
func (b *backendSet) set(running []cluster.TaskRun) {
	next := make(map[string]bool, len(running))
	for _, r := range running {
		if r.Running {
			next[r.ID] = true
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tasks = next
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
}

// has is whether task is a backend, and a channel closed at the next change.
func (b *backendSet) has(task string) (bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.tasks[task], b.changed
}

// wait returns once task is not a backend, or with ctx's error.
func (b *backendSet) wait(ctx context.Context, task string) error {
	for {
		in, changed := b.has(task)
		if !in {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitNotBackend implements agent.Balancers.
func (e swarmExecutor) WaitNotBackend(ctx context.Context, taskID string) error {
	return e.d.backends.wait(ctx, taskID)
}

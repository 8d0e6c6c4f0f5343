package agent

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
)

// reporter sends tasks' statuses to the dispatcher: the latest of each task, many tasks a call, one call at a
// time (so that statuses that follow one another fast coalesce), again after a failure, and again in a new
// session when the last one ended before they were taken.
type reporter struct {
	a    *Agent
	wake chan struct{}

	mu      sync.Mutex
	pending map[string]api.TaskStatus
	session string
}

func newReporter(a *Agent) *reporter {
	return &reporter{a: a, wake: make(chan struct{}, 1), pending: map[string]api.TaskStatus{}}
}

func (rp *reporter) poke() {
	select {
	case rp.wake <- struct{}{}:
	default:
	}
}

// report queues a task's status, replacing one not sent yet.
func (rp *reporter) report(taskID string, st api.TaskStatus) {
	rp.mu.Lock()
	if old, ok := rp.pending[taskID]; !ok || old.State <= st.State {
		rp.pending[taskID] = st
	}
	rp.mu.Unlock()
	rp.poke()
}

// setSession is the session statuses go in ("" while there is none).
func (rp *reporter) setSession(id string) {
	rp.mu.Lock()
	rp.session = id
	rp.mu.Unlock()
	rp.poke()
}

// Pending is how many statuses wait to be sent (for tests).
func (rp *reporter) pendingCount() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return len(rp.pending)
}

func (rp *reporter) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-rp.wake:
		}
		for ctx.Err() == nil {
			rp.mu.Lock()
			session := rp.session
			if session == "" || len(rp.pending) == 0 {
				rp.mu.Unlock()
				break
			}
			batch := rp.pending
			rp.pending = map[string]api.TaskStatus{}
			rp.mu.Unlock()
			updates := make([]api.StatusUpdate, 0, len(batch))
			for id, st := range batch {
				updates = append(updates, api.StatusUpdate{TaskID: id, Status: st})
			}
			sort.Slice(updates, func(i, j int) bool { return updates[i].TaskID < updates[j].TaskID })
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := rp.a.cfg.Dispatcher.UpdateStatus(cctx, session, updates)
			cancel()
			if err == nil {
				continue
			}
			// Put back what was not superseded meanwhile, and try again.
			rp.mu.Lock()
			for id, st := range batch {
				if _, newer := rp.pending[id]; !newer {
					rp.pending[id] = st
				}
			}
			if errdefs.IsFailedPrecondition(err) && rp.session == session {
				rp.session = "" // a new session brings a new ID
			}
			rp.mu.Unlock()
			rp.a.log.Debug("reporting task statuses", "tasks", len(updates), "error", err)
			sleep(ctx, 200*time.Millisecond)
		}
	}
}

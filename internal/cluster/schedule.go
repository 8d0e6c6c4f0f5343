package cluster

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/containerd/errdefs"
	"github.com/jonboulle/clockwork"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/scheduler"
	"github.com/berth/berth/internal/cluster/store"
)

// The leader's scheduler shell: it keeps a scheduler.Scheduler told of every node and of every task that holds
// a node's resources (ASSIGNED to RUNNING), from a watch of the store; hands it the PENDING tasks; and writes
// its decisions with compare-and-swap: a placed task becomes ASSIGNED to its node, one no node takes keeps
// PENDING with swarmkit's reason in its status. A decision whose task changed meanwhile is dropped (and
// undone in the scheduler); the task's change comes through the watch and it is scheduled again if it is still
// pending.

// schedTask is what the shell remembers of a task: enough to tell how a change moves it.
type schedTask struct {
	version uint64
	held    bool // recorded in the scheduler as holding its node's resources
	stop    bool // held while stopping
	pending bool
	err     string // the reason it last stayed pending
}

type schedule struct {
	st    *store.Store
	clock clockwork.Clock
	log   *slog.Logger
	// known is a task as the dispatcher's view has it (nil: read from the store).
	known func(id string) (*api.Task, bool)

	rev     int64
	s       *scheduler.Scheduler
	tasks   map[string]*schedTask
	pending map[string]scheduler.Task
	// retry is set when something changed that may let a pending task be placed (a node, resources freed).
	retry bool
	fresh map[string]bool // pending tasks not tried yet
	// placed counts the tasks written ASSIGNED (for tests and benchmarks).
	placed int
}

func newSchedule(st *store.Store, clock clockwork.Clock, log *slog.Logger) *schedule {
	return &schedule{st: st, clock: clock, log: log.With("loop", "scheduler")}
}

func (sc *schedule) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := sc.load(ctx); err != nil {
			if ctx.Err() == nil {
				sc.log.Warn("loading the cluster's tasks", "error", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		w := sc.st.Watch(ctx, sc.rev, api.KindTask, api.KindNode)
		sc.follow(ctx, w)
		if ctx.Err() == nil {
			sc.log.Info("the store's watch ended; reloading", "error", w.Err())
		}
	}
}

func (sc *schedule) load(ctx context.Context) error {
	v, err := sc.st.View(ctx)
	if err != nil {
		return err
	}
	nodes, err := store.List[api.Node](ctx, v)
	if err != nil {
		return err
	}
	tasks, err := store.List[api.Task](ctx, v)
	if err != nil {
		return err
	}
	sc.rev = v.Rev()
	sc.s = scheduler.New()
	sc.tasks = make(map[string]*schedTask, len(tasks))
	sc.pending = map[string]scheduler.Task{}
	sc.fresh = map[string]bool{}
	for _, n := range nodes {
		sc.s.SetNode(toPlacementNode(n))
	}
	for _, t := range tasks {
		sc.putTask(t)
	}
	sc.retry = true
	return nil
}

// putTask classifies a task's new state: pending, holding resources, or neither.
func (sc *schedule) putTask(t *api.Task) {
	old := sc.tasks[t.ID]
	cur := &schedTask{version: t.Version}
	if old != nil {
		cur.err = old.err
	}
	switch {
	case t.Status.State == api.TaskPending && t.DesiredState <= api.TaskComplete:
		cur.pending = true
		sc.pending[t.ID] = toSchedTask(t)
		if old == nil || !old.pending {
			sc.fresh[t.ID] = true
		}
	case t.Status.State >= api.TaskAssigned && t.Status.State <= api.TaskRunning && t.NodeID != "":
		cur.held, cur.stop = true, t.DesiredState > api.TaskComplete
		delete(sc.pending, t.ID)
		if old == nil || !old.held || old.stop != cur.stop {
			sc.s.AddTask(toSchedTask(t))
		}
	default:
		delete(sc.pending, t.ID)
		if old != nil && old.held {
			if t.Status.State == api.TaskFailed || t.Status.State == api.TaskRejected {
				sc.s.TaskFailed(t.ID, t.Status.Timestamp)
			} else {
				sc.s.RemoveTask(t.ID)
			}
			sc.retry = true
		}
	}
	sc.tasks[t.ID] = cur
}

func (sc *schedule) removeTask(id string) {
	if old := sc.tasks[id]; old != nil && old.held {
		sc.s.RemoveTask(id)
		sc.retry = true
	}
	delete(sc.tasks, id)
	delete(sc.pending, id)
	delete(sc.fresh, id)
}

func (sc *schedule) apply(ev store.Event) {
	if ev.Rev > sc.rev {
		sc.rev = ev.Rev
	}
	switch ev.Kind {
	case api.KindNode:
		if ev.Action == store.ActionRemove {
			sc.s.RemoveNode(ev.ID)
		} else {
			sc.s.SetNode(toPlacementNode(ev.Object.(*api.Node)))
		}
		sc.retry = true
	case api.KindTask:
		if ev.Action == store.ActionRemove {
			sc.removeTask(ev.ID)
			return
		}
		sc.putTask(ev.Object.(*api.Task))
	}
}

func (sc *schedule) follow(ctx context.Context, w *store.Watcher) {
	for {
		if len(sc.pending) > 0 && (sc.retry || len(sc.fresh) > 0) {
			if err := sc.scheduleOnce(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				sc.log.Warn("writing the scheduler's decisions", "error", err)
				sc.retry = true
				sleepCtx(ctx, 500*time.Millisecond)
			}
		}
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events():
			if !ok {
				return
			}
			sc.apply(ev)
			for more := true; more; {
				select {
				case ev, ok := <-w.Events():
					if !ok {
						return
					}
					sc.apply(ev)
				default:
					more = false
				}
			}
		}
	}
}

// scheduleOnce places the pending tasks (only the new ones, unless something changed that may let the others
// be placed now) and writes the decisions.
func (sc *schedule) scheduleOnce(ctx context.Context) error {
	ids := make([]string, 0, len(sc.pending))
	if sc.retry {
		for id := range sc.pending {
			ids = append(ids, id)
		}
	} else {
		for id := range sc.fresh {
			if _, ok := sc.pending[id]; ok {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	pending := make([]scheduler.Task, 0, len(ids))
	for _, id := range ids {
		pending = append(pending, sc.pending[id])
	}
	sc.retry, sc.fresh = false, map[string]bool{}
	now := sc.clock.Now().UTC()
	decisions := sc.s.Schedule(pending, now)
	var writes []scheduler.Decision
	for _, d := range decisions {
		st := sc.tasks[d.TaskID]
		if d.Placed() {
			delete(sc.pending, d.TaskID)
			writes = append(writes, d)
		} else if st != nil && st.err != d.Err {
			st.err = d.Err
			writes = append(writes, d)
		}
	}
	for start := 0; start < len(writes); start += maxWrites {
		chunk := writes[start:min(start+maxWrites, len(writes))]
		if err := sc.write(ctx, chunk, now); err != nil {
			for _, d := range chunk {
				if d.Placed() {
					sc.s.RemoveTask(d.TaskID)
				}
				if t, ok := sc.tasks[d.TaskID]; ok && t.pending {
					sc.pending[d.TaskID] = pendingTaskFor(d.TaskID, pending)
				}
			}
			return err
		}
	}
	return nil
}

func pendingTaskFor(id string, ts []scheduler.Task) scheduler.Task {
	for _, t := range ts {
		if t.ID == id {
			return t
		}
	}
	return scheduler.Task{ID: id}
}

// known2 is the dispatcher's copy of a task when blind writes are in order.
func (sc *schedule) known2(blind bool, id string) (*api.Task, bool) {
	if !blind {
		return nil, false
	}
	return sc.known(id)
}

// maxWrites bounds the tasks of one transaction.
const maxWrites = 256

// write applies decisions; one whose task changed since is dropped and undone.
func (sc *schedule) write(ctx context.Context, ds []scheduler.Decision, now time.Time) error {
	var dropped []string
	attempt := 0
	err := sc.st.Update(ctx, func(tx *store.Tx) error {
		dropped = dropped[:0]
		attempt++
		blind := attempt == 1 && sc.known != nil
		for _, d := range ds {
			known := sc.tasks[d.TaskID]
			var t *api.Task
			fromView := false
			if v, ok := sc.known2(blind, d.TaskID); ok && known != nil && v.Version == known.version {
				c := *v
				t, fromView = &c, true
			} else {
				var err error
				t, err = store.Get[api.Task](ctx, tx, d.TaskID)
				if errdefs.IsNotFound(err) {
					dropped = append(dropped, d.TaskID)
					continue
				}
				if err != nil {
					return err
				}
			}
			if known == nil || t.Version != known.version || t.Status.State != api.TaskPending {
				dropped = append(dropped, d.TaskID)
				continue
			}
			if d.Placed() {
				t.NodeID = d.NodeID
				t.Status = api.TaskStatus{State: api.TaskAssigned, Timestamp: now, Message: d.Message}
			} else {
				t.Status.Err = d.Err
			}
			if len(t.Networks) > 0 && t.NodeID != "" {
				// The task's endpoints are on its node from now: the nodes' peers learn where they live.
				if err := PlaceTaskAttachments(ctx, tx, t.ID, t.NodeID); err != nil {
					return err
				}
			}
			var err error
			if fromView {
				err = store.PutAt(tx, t)
			} else {
				err = store.Put(tx, t)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.Placed() {
			if slices.Contains(dropped, d.TaskID) {
				sc.s.RemoveTask(d.TaskID)
			} else {
				sc.placed++
			}
		}
	}
	return nil
}

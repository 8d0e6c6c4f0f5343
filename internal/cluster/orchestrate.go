package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/containerd/errdefs"
	"github.com/jonboulle/clockwork"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/orchestrator"
	"github.com/berth/berth/internal/cluster/placement"
	"github.com/berth/berth/internal/cluster/store"
)

// The leader's orchestrator shell: it mirrors the services, tasks, nodes and the task history limit from a
// watch of the store, runs orchestrator.Reconcile over the services that changed (all of them when a node
// changed, or when a plan asked to be woken), and applies each plan with compare-and-swap: a task or service
// that changed since the plan was made is left alone and its service reconciled again from the new state.
// Before reconciling again it waits for its watch to have seen its own writes, so that a plan is never made
// from a state that misses the last one's tasks. It keeps nothing the store does not have: a new leader starts
// one from the store alone.

// msgPending is the status message of a task waiting for the scheduler, swarmkit's.
const msgPending = "pending task scheduling"

// planChunk bounds the writes of one transaction of a plan.
const planChunk = 200

// errReplan aborts a transaction whose service changed since the plan.
var errReplan = errors.New("the service changed since the plan was made")

type orchTask struct {
	orchestrator.Task
}

type specKey struct {
	service string
	version uint64
}

type orchestrate struct {
	st    *store.Store
	clock clockwork.Clock
	log   *slog.Logger
	// known is a task as the dispatcher's view has it (nil: read it from the store), so that a plan's writes
	// need no read when the view has the version the plan was made from.
	known func(id string) (*api.Task, bool)

	rev int64
	// seen is the last revision whose every change the mirror has (Event.Complete).
	seen     int64
	limit    int64
	services map[string]*api.Service
	tasks    map[string]*orchTask
	bySvc    map[string]map[string]*orchTask
	nodes    map[string]placement.Node
	specs    map[specKey]orchestrator.TaskSpec
	dirty    map[string]bool
	all      bool
	// applied is the revision the last plan's writes reached: no reconcile before the mirror has it.
	applied int64
	wake    time.Time
	// passes counts reconciles (for tests).
	passes int
}

func newOrchestrate(st *store.Store, clock clockwork.Clock, log *slog.Logger) *orchestrate {
	return &orchestrate{st: st, clock: clock, log: log.With("loop", "orchestrator")}
}

// run follows the store and reconciles until ctx ends.
func (o *orchestrate) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := o.load(ctx); err != nil {
			if ctx.Err() == nil {
				o.log.Warn("loading the cluster's services", "error", err)
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		w := o.st.Watch(ctx, o.rev, api.KindService, api.KindTask, api.KindNode, api.KindCluster)
		o.follow(ctx, w)
		if ctx.Err() == nil {
			o.log.Info("the store's watch ended; reloading", "error", w.Err())
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (o *orchestrate) load(ctx context.Context) error {
	v, err := o.st.View(ctx)
	if err != nil {
		return err
	}
	services, err := store.List[api.Service](ctx, v)
	if err != nil {
		return err
	}
	tasks, err := store.List[api.Task](ctx, v)
	if err != nil {
		return err
	}
	nodes, err := store.List[api.Node](ctx, v)
	if err != nil {
		return err
	}
	cl, err := clusterObject(ctx, v)
	if err != nil && !errors.Is(err, ErrNoSwarm) {
		return err
	}
	o.rev, o.seen, o.applied = v.Rev(), v.Rev(), 0
	o.services = map[string]*api.Service{}
	o.tasks = make(map[string]*orchTask, len(tasks))
	o.bySvc = map[string]map[string]*orchTask{}
	o.nodes = map[string]placement.Node{}
	o.specs = map[specKey]orchestrator.TaskSpec{}
	o.limit = api.DefaultTaskHistoryRetentionLimit
	if cl != nil {
		o.setLimit(cl)
	}
	for _, s := range services {
		o.services[s.ID] = s
	}
	for _, t := range tasks {
		o.putTask(t)
	}
	for _, n := range nodes {
		o.nodes[n.ID] = toPlacementNode(n)
	}
	o.all = true
	return nil
}

func (o *orchestrate) setLimit(cl *api.Cluster) {
	if l := cl.Spec.Orchestration.TaskHistoryRetentionLimit; l != nil {
		o.limit = *l
	}
}

// spec is a task's spec as the orchestrator reads it, shared by the tasks of one spec version.
func (o *orchestrate) spec(t *api.Task) orchestrator.TaskSpec {
	k := specKey{t.ServiceID, t.SpecVersion}
	if s, ok := o.specs[k]; ok && s.Digest == t.Spec.Digest && s.ForceUpdate == t.Spec.ForceUpdate {
		return s
	}
	s := toOrchTaskSpec(&t.Spec)
	o.specs[k] = s
	return s
}

func (o *orchestrate) putTask(t *api.Task) {
	ot := &orchTask{orchestrator.Task{ID: t.ID, Version: t.Version, ServiceID: t.ServiceID, Slot: t.Slot, NodeID: t.NodeID,
		SpecVersion: t.SpecVersion, Spec: o.spec(t), JobIteration: t.JobIteration, DesiredState: orchState(t.DesiredState),
		Status: toOrchStatus(t.Status), CreatedAt: t.CreatedAt, StartedAt: t.StartedAt, StartAfter: t.StartAfter}}
	if old := o.tasks[t.ID]; old != nil && old.ServiceID != t.ServiceID {
		delete(o.bySvc[old.ServiceID], t.ID)
	}
	o.tasks[t.ID] = ot
	m := o.bySvc[t.ServiceID]
	if m == nil {
		m = map[string]*orchTask{}
		o.bySvc[t.ServiceID] = m
	}
	m[t.ID] = ot
}

// apply follows one change.
func (o *orchestrate) apply(ev store.Event) {
	if ev.Rev > o.rev {
		o.rev = ev.Rev
	}
	if ev.Complete && ev.Rev > o.seen {
		o.seen = ev.Rev
	}
	switch ev.Kind {
	case api.KindService:
		if ev.Action == store.ActionRemove {
			delete(o.services, ev.ID)
		} else {
			o.services[ev.ID] = ev.Object.(*api.Service)
		}
		o.markDirty(ev.ID)
	case api.KindTask:
		t := ev.Object.(*api.Task)
		if ev.Action == store.ActionRemove {
			if old := o.tasks[ev.ID]; old != nil {
				delete(o.tasks, ev.ID)
				if m := o.bySvc[old.ServiceID]; m != nil {
					delete(m, ev.ID)
					if len(m) == 0 {
						delete(o.bySvc, old.ServiceID)
					}
				}
			}
			o.markDirty(t.ServiceID)
			return
		}
		old := o.tasks[ev.ID]
		o.putTask(t)
		if old == nil || orchRelevant(&old.Task, &o.tasks[ev.ID].Task) {
			o.markDirty(t.ServiceID)
		}
	case api.KindNode:
		if ev.Action == store.ActionRemove {
			delete(o.nodes, ev.ID)
		} else {
			n := toPlacementNode(ev.Object.(*api.Node))
			if old, ok := o.nodes[ev.ID]; ok && sameForOrchestrator(old, n) {
				return
			}
			o.nodes[ev.ID] = n
		}
		o.all = true
	case api.KindCluster:
		if ev.Action != store.ActionRemove {
			old := o.limit
			o.setLimit(ev.Object.(*api.Cluster))
			if o.limit != old {
				o.all = true
			}
		}
	}
}

// orchRelevant reports whether a task's change can change a plan: its desired state, its node (one assigned
// to a node that went down meanwhile must be replaced), its start, or its observed state reaching or leaving
// RUNNING (the steps from ASSIGNED to STARTING change nothing the orchestrator decides on).
func orchRelevant(old, cur *orchestrator.Task) bool {
	if old.DesiredState != cur.DesiredState || old.NodeID != cur.NodeID || !old.StartedAt.Equal(cur.StartedAt) ||
		!old.StartAfter.Equal(cur.StartAfter) {
		return true
	}
	if old.Status.State == cur.Status.State {
		return false
	}
	return old.Status.State >= orchestrator.TaskStateRunning || cur.Status.State >= orchestrator.TaskStateRunning
}

// sameForOrchestrator reports whether a node change matters nothing to placement (a heartbeat's description
// refresh with the same content, say).
func sameForOrchestrator(a, b placement.Node) bool {
	return a.ID == b.ID && a.Hostname == b.Hostname && a.Role == b.Role && a.Availability == b.Availability &&
		a.State == b.State && a.Addr == b.Addr && maps.Equal(a.Labels, b.Labels) && maps.Equal(a.EngineLabels, b.EngineLabels) &&
		a.Platform == b.Platform && a.Resources == b.Resources
}

func (o *orchestrate) markDirty(id string) {
	if o.dirty == nil {
		o.dirty = map[string]bool{}
	}
	o.dirty[id] = true
}

func (o *orchestrate) pending() bool { return o.all || len(o.dirty) > 0 }

// follow reconciles as the watch delivers changes, and when a plan's wake comes.
func (o *orchestrate) follow(ctx context.Context, w *store.Watcher) {
	var last time.Time     // when the last pass ended
	var cost time.Duration // what it took
	var settle <-chan time.Time
	for {
		if o.pending() && o.seen >= o.applied && settle == nil {
			// Under a stream of changes, passes are spaced by what a pass costs, its writes included (at least
			// a few milliseconds), so that changes coalesce instead of the orchestrator reconciling each.
			// (Counting only the reconcile let later failures of a burst be replaced a write sooner, but at
			// scale it cost placement rate: bench/swarm-scale.sh, docs/benchmarks.md.)
			if gap := max(cost, 5*time.Millisecond); time.Since(last) < gap {
				settle = time.After(gap - time.Since(last))
			}
		}
		if o.pending() && o.seen >= o.applied && settle == nil {
			began := time.Now()
			err := o.reconcile(ctx)
			last = time.Now()
			cost = last.Sub(began)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				o.log.Warn("applying the orchestrator's plan", "error", err)
				o.all = true
				sleepCtx(ctx, 500*time.Millisecond)
				continue
			}
		}
		var wakeC <-chan time.Time
		var timer clockwork.Timer
		if !o.wake.IsZero() {
			timer = o.clock.NewTimer(o.wake.Sub(o.clock.Now()))
			wakeC = timer.Chan()
		}
		stop := func() {
			if timer != nil {
				timer.Stop()
			}
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case ev, ok := <-w.Events():
			stop()
			if !ok {
				return
			}
			o.apply(ev)
			// Take whatever else already arrived before reconciling.
			for more := true; more; {
				select {
				case ev, ok := <-w.Events():
					if !ok {
						return
					}
					o.apply(ev)
				default:
					more = false
				}
			}
		case <-wakeC:
			o.wake = time.Time{}
			o.all = true
		case <-settle:
			stop()
			settle = nil
		}
	}
}

// snapshot is the orchestrator's input for the services to reconcile.
func (o *orchestrate) snapshot() orchestrator.Snapshot {
	ids := slices.Collect(maps.Keys(o.dirty))
	if o.all {
		ids = slices.Collect(maps.Keys(o.services))
		for id := range o.bySvc {
			if o.services[id] == nil {
				ids = append(ids, id) // tasks of removed services
			}
		}
	}
	snap := orchestrator.Snapshot{TaskHistoryLimit: o.limit, Nodes: make([]placement.Node, 0, len(o.nodes))}
	for _, n := range o.nodes {
		snap.Nodes = append(snap.Nodes, n)
	}
	for _, id := range ids {
		if s := o.services[id]; s != nil {
			snap.Services = append(snap.Services, toOrchService(s))
		}
		for _, t := range o.bySvc[id] {
			snap.Tasks = append(snap.Tasks, t.Task)
		}
	}
	return snap
}

// reconcile makes and applies a plan for the services that changed.
func (o *orchestrate) reconcile(ctx context.Context) error {
	snap := o.snapshot()
	o.dirty, o.all = nil, false
	now := o.clock.Now()
	plan := orchestrator.Reconcile(snap, now)
	o.passes++
	if !plan.Wake.IsZero() && (o.wake.IsZero() || plan.Wake.Before(o.wake)) {
		o.wake = plan.Wake
	}
	if plan.Empty() {
		return nil
	}
	replan, rev, err := o.applyPlan(ctx, plan)
	for _, id := range replan {
		o.markDirty(id)
	}
	if err != nil {
		o.applied = max(o.applied, rev)
		return err
	}
	if len(replan) > 0 {
		// Something changed under the plan: replan once the watch brought that change, the store's latest.
		v, err := o.st.View(ctx)
		if err != nil {
			return err
		}
		rev = v.Rev()
	}
	// Otherwise the next pass waits for the watch to bring this one's writes: their commit revision, without a
	// read of the store (a round trip to etcd on every pass).
	o.applied = max(o.applied, rev)
	return nil
}

// planGroup is a plan's changes to one service and its tasks.
type planGroup struct {
	service string
	creates []orchestrator.Task
	updates []orchestrator.TaskUpdate
	removes []orchestrator.TaskRef
	svc     *orchestrator.ServiceUpdate
}

func (g *planGroup) size() int { return len(g.creates) + len(g.updates) + len(g.removes) }

// applyPlan writes a plan, a service at a time; it returns the services to reconcile again and the revision
// of its last write.
func (o *orchestrate) applyPlan(ctx context.Context, plan orchestrator.Plan) ([]string, int64, error) {
	groups := map[string]*planGroup{}
	group := func(id string) *planGroup {
		g := groups[id]
		if g == nil {
			g = &planGroup{service: id}
			groups[id] = g
		}
		return g
	}
	for _, t := range plan.Create {
		g := group(t.ServiceID)
		g.creates = append(g.creates, t)
	}
	for _, u := range plan.Update {
		if t := o.tasks[u.ID]; t != nil {
			g := group(t.ServiceID)
			g.updates = append(g.updates, u)
		}
	}
	for _, r := range plan.Remove {
		if t := o.tasks[r.ID]; t != nil {
			g := group(t.ServiceID)
			g.removes = append(g.removes, r)
		}
	}
	for i := range plan.Services {
		su := plan.Services[i]
		group(su.ID).svc = &su
	}
	var replan []string
	var last int64
	for _, id := range slices.Sorted(maps.Keys(groups)) {
		again, rev, err := o.applyGroup(ctx, groups[id])
		last = max(last, rev)
		if err != nil {
			return append(replan, id), last, err
		}
		if again {
			replan = append(replan, id)
		}
	}
	return replan, last, nil
}

// applyGroup writes one service's share of a plan in transactions of at most planChunk tasks, each checking
// that the service is still the one the plan was made from; the service's own change goes with the last. rev
// is the revision of its last write.
func (o *orchestrate) applyGroup(ctx context.Context, g *planGroup) (replan bool, rev int64, err error) {
	mine := o.services[g.service]
	type item struct {
		create *orchestrator.Task
		update *orchestrator.TaskUpdate
		remove *orchestrator.TaskRef
	}
	items := make([]item, 0, g.size())
	for i := range g.removes {
		items = append(items, item{remove: &g.removes[i]})
	}
	for i := range g.updates {
		items = append(items, item{update: &g.updates[i]})
	}
	for i := range g.creates {
		items = append(items, item{create: &g.creates[i]})
	}
	for start := 0; start == 0 || start < len(items); start += planChunk {
		chunk := items[start:min(start+planChunk, len(items))]
		last := start+planChunk >= len(items)
		conflict := false
		attempt := 0
		committed, err := o.st.UpdateRev(ctx, func(tx *store.Tx) error {
			conflict = false
			attempt++
			// The first attempt writes what it knows at the plan's versions without reading; one that
			// conflicted reads what changed.
			blind := attempt == 1
			task := func(id string, version uint64) (*api.Task, bool, error) {
				if blind && o.known != nil {
					if t, ok := o.known(id); ok && t.Version == version {
						c := *t
						return &c, true, nil
					}
				}
				t, err := store.Get[api.Task](ctx, tx, id)
				return t, false, err
			}
			var svc *api.Service
			if mine != nil && blind && mine.Version != 0 {
				// The service as the plan saw it, checked at commit instead of read (a round trip): if it
				// changed, the transaction conflicts and the next attempt reads it and replans.
				if err := store.AssertAt(tx, api.KindService, g.service, mine.Version); err != nil {
					return err
				}
				c := *mine
				svc = &c
			} else if mine != nil {
				s, err := store.Get[api.Service](ctx, tx, g.service)
				if errdefs.IsNotFound(err) {
					return errReplan
				}
				if err != nil {
					return err
				}
				if s.Version != mine.Version {
					return errReplan
				}
				svc = s
			}
			for _, it := range chunk {
				switch {
				case it.create != nil:
					if svc == nil || it.create.SpecVersion != svc.SpecVersion {
						return errReplan
					}
					nt := newTaskFor(svc, it.create)
					if nets := taskNetworks(svc); len(nets) > 0 {
						// The task's addresses come with it, in its transaction (docs/design.md, "Task attachments").
						if _, err := AllocateTaskAttachments(ctx, tx, nt, nets); err != nil {
							return fmt.Errorf("service %s: %w", svc.Spec.Name, err)
						}
					}
					if err := store.CreateFresh(tx, nt); err != nil {
						return err
					}
				case it.update != nil:
					u := it.update
					t, fromView, err := task(u.ID, u.Version)
					if errdefs.IsNotFound(err) {
						conflict = true
						continue
					}
					if err != nil {
						return err
					}
					if t.Version != u.Version {
						conflict = true
						continue
					}
					if ds := apiState(u.DesiredState); ds > t.DesiredState {
						t.DesiredState = ds
					}
					if u.Status != nil && orchState(t.Status.State) <= u.Status.State {
						t.Status = toAPIStatus(*u.Status)
					}
					if fromView {
						err = store.PutAt(tx, t)
					} else {
						err = store.Put(tx, t)
					}
					if err != nil {
						return err
					}
				case it.remove != nil:
					// A task without networks known at the plan's version goes without a read; one with
					// networks gives its addresses back.
					if k, ok := o.viewTask(blind, it.remove.ID); ok && k.Version == it.remove.Version && len(k.Networks) == 0 {
						if err := store.DeleteAt(tx, api.KindTask, it.remove.ID, it.remove.Version); err != nil {
							return err
						}
						continue
					}
					t, err := store.Get[api.Task](ctx, tx, it.remove.ID)
					if errdefs.IsNotFound(err) {
						continue
					}
					if err != nil {
						return err
					}
					if t.Version != it.remove.Version {
						conflict = true
						continue
					}
					if len(t.Networks) > 0 {
						if err := ReleaseTaskAttachments(ctx, tx, t.ID); err != nil {
							return err
						}
					}
					if err := store.Delete(tx, api.KindTask, t.ID); err != nil {
						return err
					}
				}
			}
			if last && g.svc != nil && svc != nil {
				applyServiceUpdate(svc, g.svc)
				if err := store.Put(tx, svc); err != nil {
					return err
				}
			}
			return nil
		})
		rev = max(rev, committed)
		if errors.Is(err, errReplan) || errors.Is(err, store.ErrOutOfSequence) {
			return true, rev, nil
		}
		if err != nil {
			return false, rev, err
		}
		if conflict {
			replan = true
		}
	}
	return replan, rev, nil
}

// viewTask is the dispatcher's copy of a task when blind writes are in order.
func (o *orchestrate) viewTask(blind bool, id string) (*api.Task, bool) {
	if !blind || o.known == nil {
		return nil, false
	}
	return o.known(id)
}

// newTaskFor is a task the plan makes for svc, waiting for the scheduler (swarmkit's allocator moves a new
// task to PENDING; Berth has nothing to allocate before scheduling, so the task starts there).
func newTaskFor(svc *api.Service, t *orchestrator.Task) *api.Task {
	at := &api.Task{ID: api.NewID(), ServiceID: svc.ID, Slot: t.Slot, NodeID: t.NodeID, Spec: svc.Spec.Task,
		SpecVersion: svc.SpecVersion, DesiredState: apiState(t.DesiredState), JobIteration: t.JobIteration,
		ServiceAnnotations: svc.Spec.Annotations, Endpoint: svc.Spec.Endpoint, StartAfter: t.StartAfter,
		Status: api.TaskStatus{State: api.TaskPending, Timestamp: t.Status.Timestamp.UTC(), Message: msgPending}}
	at.CreatedAt = t.CreatedAt.UTC()
	return at
}

// applyServiceUpdate carries out the orchestrator's change of a service: its update status, and a rollback
// (the previous spec becomes the spec again, as swarmkit's updater does).
func applyServiceUpdate(svc *api.Service, su *orchestrator.ServiceUpdate) {
	if su.Rollback && svc.PreviousSpec != nil {
		svc.Spec = *svc.PreviousSpec
		svc.SpecVersion = svc.PreviousSpecVersion
		svc.PreviousSpec, svc.PreviousSpecVersion = nil, 0
	}
	if u := su.UpdateStatus; u != nil {
		svc.UpdateStatus = &api.UpdateStatus{State: string(u.State), StartedAt: u.StartedAt.UTC(), CompletedAt: u.CompletedAt.UTC(), Message: u.Message}
		if u.CompletedAt.IsZero() {
			svc.UpdateStatus.CompletedAt = time.Time{}
		}
	} else {
		svc.UpdateStatus = nil
	}
}

// Package orchestrator reconciles the swarm's services into tasks, as swarmkit's replicated, global and job
// orchestrators, its restart supervisor, updater, constraint enforcer and task reaper do together: a pure
// function from a snapshot of services, tasks and nodes, and the time, to a plan of tasks to create, tasks
// whose desired state changes, tasks to delete, and services whose rolling update moves on.
//
// Terms. A slot is where one of a service's tasks lives: a number for replicated services (1…Replicas) and
// replicated jobs (0…TotalCompletions-1), a node for global ones. A slot keeps the history of its tasks: when a
// task ends and the restart policy allows, a replacement is made in the same slot. A task is out of date when
// the service's spec changed since it was made (another Digest, ForceUpdate or resources, or a placement its
// node no longer satisfies); a rolling update replaces out-of-date tasks a few slots at a time.
//
// Everything the orchestrator needs to remember is in the store: a slot's restarts are its tasks of the same
// spec version (as swarmkit rebuilds them when a manager takes over), a delayed start is a task desired READY
// with StartAfter, and a rolling update is the service's UpdateStatus and the tasks made since it started. So a
// new leader carries on where the last one stopped, and the same snapshot and time give the same plan.
//
// The cluster's shell drives it:
//
//	plan := orchestrator.Reconcile(snapshot, clock.Now())
//	// write plan.Create (NEW tasks: the allocator or the shell moves them to PENDING for the scheduler),
//	// plan.Update, plan.Remove and plan.Services with compare-and-swap; on a conflict, reconcile again
//	// reconcile again when the store changes (a task's status, a node, a service), and at plan.Wake
//
// Where Berth differs from swarmkit on purpose, so that the result is the same every time: ties are broken by
// slot number, node ID and task ID; a stop-first replacement does not wait for an old task that was never
// assigned; a start-first slot keeps its old task until the replacement runs even after a failure in between;
// a job whose failed task may not restart (restart condition none, or its attempts spent) does not run that
// slot again; an automatic rollback restarts UpdateStatus.StartedAt.
package orchestrator

import (
	"cmp"
	"slices"
	"time"

	"github.com/berth/berth/internal/cluster/placement"
)

const (
	// taskTimeout is how long a replacement waits for the task it replaces to stop (swarmkit's).
	taskTimeout = time.Minute
	// The messages swarmkit writes.
	msgCreated          = "created"
	msgUpdating         = "update in progress"
	msgUpdateDone       = "update completed"
	msgRollbackDone     = "rollback completed"
	msgEnforcerRejected = "task rejected by constraint enforcer"
	errEnforcer         = "assigned node no longer meets constraints"
)

// Reconcile compares the services of a snapshot with their tasks and nodes at time now and returns what to
// change. It does not modify the snapshot.
func Reconcile(snap Snapshot, now time.Time) Plan {
	r := newReconciler(&snap, now)
	r.enforce()
	for _, svc := range r.services {
		switch svc.Spec.Mode {
		case ModeReplicated:
			r.replicated(svc)
		case ModeGlobal:
			r.global(svc)
		case ModeReplicatedJob:
			r.replicatedJob(svc)
		case ModeGlobalJob:
			r.globalJob(svc)
		}
		r.promote(svc)
		r.reap(svc)
	}
	r.removed()
	return r.plan()
}

// wtask is a task being reconciled: the snapshot's, changed in place, or one made in this pass (orig nil).
type wtask struct {
	Task
	orig *Task
	gone bool // to be deleted
}

type wservice struct {
	Service
	orig        *Service
	tasks       []*wtask // not gone, in the snapshot's order and then the new ones
	constraints []placement.Constraint
	changed     bool // UpdateStatus changed
	rollback    bool
}

type reconciler struct {
	now      time.Time
	limit    int64
	nodes    map[string]*placement.Node
	nodeIDs  []string // sorted
	services []*wservice
	byID     map[string]*wservice
	tasks    []*wtask // the snapshot's, then the new ones
	orphans  []*wtask // tasks of removed services
	wake     time.Time
}

func newReconciler(snap *Snapshot, now time.Time) *reconciler {
	r := &reconciler{
		now:   now,
		limit: snap.TaskHistoryLimit,
		nodes: make(map[string]*placement.Node, len(snap.Nodes)),
		byID:  make(map[string]*wservice, len(snap.Services)),
	}
	for i := range snap.Nodes {
		n := &snap.Nodes[i]
		r.nodes[n.ID] = n
		r.nodeIDs = append(r.nodeIDs, n.ID)
	}
	slices.Sort(r.nodeIDs)
	for i := range snap.Services {
		s := &snap.Services[i]
		w := &wservice{Service: *s, orig: s}
		if s.UpdateStatus != nil {
			st := *s.UpdateStatus
			w.UpdateStatus = &st
		}
		// Specs were checked when the service was created or updated: one that does not parse now constrains
		// nothing, as swarmkit's orchestrators take it.
		w.constraints, _ = placement.Parse(s.Spec.Task.Placement.Constraints)
		r.services = append(r.services, w)
		r.byID[s.ID] = w
	}
	slices.SortFunc(r.services, func(a, b *wservice) int { return cmp.Compare(a.ID, b.ID) })
	ws := make([]wtask, len(snap.Tasks)) // one allocation for the snapshot's tasks
	r.tasks = make([]*wtask, 0, len(snap.Tasks))
	for i := range snap.Tasks {
		t := &ws[i]
		*t = wtask{Task: snap.Tasks[i], orig: &snap.Tasks[i]}
		r.tasks = append(r.tasks, t)
		if svc := r.byID[t.ServiceID]; svc != nil {
			svc.tasks = append(svc.tasks, t)
		} else {
			r.orphans = append(r.orphans, t)
		}
	}
	return r
}

// at notes a time to reconcile again.
func (r *reconciler) at(t time.Time) {
	if t.After(r.now) && (r.wake.IsZero() || t.Before(r.wake)) {
		r.wake = t
	}
}

// setDesired moves a task's desired state forward (never back: "time travel is not allowed", as swarmkit says).
func setDesired(t *wtask, s TaskState) {
	if t.DesiredState < s {
		t.DesiredState = s
	}
}

// invalidNode reports whether tasks cannot stay on a node: it is gone, down or drained.
func (r *reconciler) invalidNode(id string) bool {
	n := r.nodes[id]
	return n == nil || n.State == placement.NodeStateDown || n.Availability == placement.AvailabilityDrain
}

// newTask makes a task of the service's current spec in a slot (replicated) or on a node (global).
func (r *reconciler) newTask(svc *wservice, slot uint64, nodeID string) *wtask {
	t := &wtask{Task: Task{
		ServiceID:    svc.ID,
		Slot:         slot,
		NodeID:       nodeID,
		SpecVersion:  svc.SpecVersion,
		Spec:         svc.Spec.Task,
		DesiredState: TaskStateRunning,
		Status:       TaskStatus{State: TaskStateNew, Timestamp: r.now, Message: msgCreated},
		CreatedAt:    r.now,
	}}
	if svc.Spec.Mode.job() {
		t.JobIteration = svc.JobIteration
		t.DesiredState = TaskStateComplete
	}
	r.tasks = append(r.tasks, t)
	svc.tasks = append(svc.tasks, t)
	return t
}

// slotKey names a slot: a number, or a node for global services.
type slotKey struct {
	slot uint64
	node string
}

func keyOf(mode Mode, t *wtask) slotKey {
	if mode.global() {
		return slotKey{node: t.NodeID}
	}
	return slotKey{slot: t.Slot}
}

// slots groups a service's tasks by slot, each slot's tasks oldest first; keys are in order (slot number, then
// node). The groups share one sorted array.
func (r *reconciler) slots(svc *wservice) (map[slotKey][]*wtask, []slotKey) {
	ts := make([]*wtask, 0, len(svc.tasks))
	for _, t := range svc.tasks {
		if !t.gone {
			ts = append(ts, t)
		}
	}
	global := svc.Spec.Mode.global()
	slices.SortFunc(ts, func(a, b *wtask) int {
		if global {
			if c := cmp.Compare(a.NodeID, b.NodeID); c != 0 {
				return c
			}
		} else if c := cmp.Compare(a.Slot, b.Slot); c != 0 {
			return c
		}
		return byCreation(a, b)
	})
	m := make(map[slotKey][]*wtask)
	var keys []slotKey
	for i := 0; i < len(ts); {
		k := keyOf(svc.Spec.Mode, ts[i])
		j := i + 1
		for j < len(ts) && keyOf(svc.Spec.Mode, ts[j]) == k {
			j++
		}
		m[k] = ts[i:j:j]
		keys = append(keys, k)
		i = j
	}
	return m, keys
}

func byCreation(a, b *wtask) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// byStatusTime orders tasks by when their status was last set, as swarmkit's TasksByTimestamp.
func byStatusTime(a, b *wtask) int {
	if c := a.Status.Timestamp.Compare(b.Status.Timestamp); c != 0 {
		return c
	}
	return byCreation(a, b)
}

// sameSlot is the slot's tasks of a task's service.
func (r *reconciler) sameSlot(svc *wservice, t *wtask) []*wtask {
	k := keyOf(svc.Spec.Mode, t)
	var out []*wtask
	for _, o := range svc.tasks {
		if !o.gone && keyOf(svc.Spec.Mode, o) == k {
			out = append(out, o)
		}
	}
	slices.SortStableFunc(out, byCreation)
	return out
}

// enforce rejects the tasks whose node no longer satisfies their service's constraints or no longer has the
// resources they reserve, as swarmkit's constraint enforcer does: it sets their observed state to REJECTED, and
// the orchestrators then replace them elsewhere. Paused and drained nodes are left alone (drain moves every
// task anyway).
func (r *reconciler) enforce() {
	onNode := make(map[string][]*wtask)
	for _, t := range r.tasks {
		if t.NodeID != "" && r.byID[t.ServiceID] != nil {
			onNode[t.NodeID] = append(onNode[t.NodeID], t)
		}
	}
	for _, id := range r.nodeIDs {
		n := r.nodes[id]
		if n.Availability != placement.AvailabilityActive && n.Availability != "" {
			continue
		}
		ts := onNode[id]
		slices.SortFunc(ts, func(a, b *wtask) int { return cmp.Compare(a.ID, b.ID) })
		avail := n.Resources
		for _, t := range ts {
			if t.DesiredState < TaskStateAssigned || t.DesiredState > TaskStateComplete || t.Status.State >= TaskStateComplete {
				continue
			}
			svc := r.byID[t.ServiceID]
			if len(svc.constraints) > 0 && !placement.Match(svc.constraints, n) {
				r.reject(t)
				continue
			}
			res := t.Spec.Reservations
			if !res.IsZero() {
				if res.MemoryBytes > avail.MemoryBytes || res.NanoCPUs > avail.NanoCPUs {
					r.reject(t)
					continue
				}
				avail.MemoryBytes -= res.MemoryBytes
				avail.NanoCPUs -= res.NanoCPUs
			}
		}
	}
}

func (r *reconciler) reject(t *wtask) {
	t.Status = TaskStatus{State: TaskStateRejected, Timestamp: r.now, Message: msgEnforcerRejected, Err: errEnforcer}
}

// shouldRestart is swarmkit's: whether a task that ended (or must leave its node) gets a replacement, by its
// restart condition and, when MaxAttempts is set, the restarts its slot already had for its spec version (in
// the Window before the task ended, when one is set). A slot's restarts are its tasks of that spec version but
// the first.
func (r *reconciler) shouldRestart(svc *wservice, t *wtask) bool {
	switch t.Spec.Restart.condition() {
	case RestartAny:
		// A job that completed is not run again, whatever the policy says.
		if svc.Spec.Mode.job() && t.Status.State == TaskStateComplete {
			return false
		}
	case RestartOnFailure:
		if t.Status.State == TaskStateComplete {
			return false
		}
	default:
		return false
	}
	max := t.Spec.Restart.MaxAttempts
	if max == 0 {
		return true
	}
	var restarts []time.Time
	first := true
	for _, o := range r.sameSlot(svc, t) {
		if o.SpecVersion != t.SpecVersion {
			continue
		}
		if first {
			first = false
			continue
		}
		restarts = append(restarts, o.CreatedAt)
	}
	window, end := t.Spec.Restart.Window, t.Status.Timestamp
	if window == 0 || end.IsZero() {
		return uint64(len(restarts)) < max
	}
	lookback := end.Add(-window)
	n := uint64(0)
	for _, at := range restarts {
		if at.After(lookback) && at.Before(end) {
			n++
		}
	}
	return n < max
}

// restart is swarmkit's restart supervisor: the task is shut down and, if its policy allows, replaced in its
// slot by a task desired READY that starts after the restart delay (none when the task leaves a drained node)
// and once the task it replaces has stopped.
func (r *reconciler) restart(svc *wservice, t *wtask) {
	setDesired(t, TaskStateShutdown)
	if !r.shouldRestart(svc, t) {
		return
	}
	var nt *wtask
	if svc.Spec.Mode.global() {
		nt = r.newTask(svc, 0, t.NodeID)
	} else {
		nt = r.newTask(svc, t.Slot, "")
	}
	nt.DesiredState = TaskStateReady
	if n := r.nodes[t.NodeID]; n == nil || n.Availability != placement.AvailabilityDrain {
		if d := t.Spec.Restart.delay(); d > 0 {
			nt.StartAfter = r.now.Add(d)
		}
	}
}

// delayed reports whether a task desired READY is still in its restart delay; a failure of such a task waits
// for the delay's end before it is acted on, so that a task failing at once does not restart in a tight loop.
func (r *reconciler) delayed(t *wtask) bool {
	if t.DesiredState == TaskStateReady && r.now.Before(t.StartAfter) {
		r.at(t.StartAfter)
		return true
	}
	return false
}

// updatable is swarmkit's UpdatableTasksInSlot: the slot's tasks desired to run; or, when none is, its latest
// task if it may not be restarted (it keeps the slot, and an update still replaces it); or nothing (the slot is
// dead). A rollback in progress takes no dead task.
func (r *reconciler) updatable(svc *wservice, slot []*wtask) []*wtask {
	var up []*wtask
	for _, t := range slot {
		if t.DesiredState <= TaskStateRunning {
			up = append(up, t)
		}
	}
	if len(up) > 0 || len(slot) == 0 {
		return up
	}
	if svc.UpdateStatus != nil && svc.UpdateStatus.State == UpdateRollbackStarted {
		return nil
	}
	newest := slices.MaxFunc(slot, byStatusTime)
	if !r.shouldRestart(svc, newest) {
		return []*wtask{newest}
	}
	return nil
}

// promote starts the tasks desired READY whose delay is over and whose predecessors in the slot stopped (or
// did not stop within a minute, or are on a node that is down): their desired state becomes RUNNING, COMPLETE
// for a job's.
func (r *reconciler) promote(svc *wservice) {
	for _, t := range svc.tasks {
		if t.gone || t.DesiredState != TaskStateReady || t.Status.State > TaskStateRunning {
			continue
		}
		if r.delayed(t) {
			continue
		}
		waiting := false
		for _, o := range r.sameSlot(svc, t) {
			if o == t || o.CreatedAt.After(t.CreatedAt) || o.DesiredState <= TaskStateRunning {
				continue
			}
			// A predecessor being shut down that still runs (a task never assigned holds nothing).
			if o.Status.State >= TaskStateAssigned && o.Status.State <= TaskStateRunning {
				if n := r.nodes[o.NodeID]; n != nil && n.State != placement.NodeStateDown {
					waiting = true
				}
			}
		}
		if deadline := t.CreatedAt.Add(taskTimeout); waiting && r.now.Before(deadline) {
			r.at(deadline)
			continue
		}
		if svc.Spec.Mode.job() {
			t.DesiredState = TaskStateComplete
		} else {
			t.DesiredState = TaskStateRunning
		}
	}
}

// reap deletes what swarmkit's task reaper deletes: tasks desired REMOVE that stopped or never reached a node,
// and, past the history limit of a slot of a replicated or global service (MaxAttempts+1 when the restart policy
// caps attempts, so that the restarts can still be counted), its oldest tasks that ended or will never run.
// Jobs keep their tasks: they count the completions.
func (r *reconciler) reap(svc *wservice) {
	for _, t := range svc.tasks {
		if t.DesiredState == TaskStateRemove && (t.Status.State < TaskStateAssigned || t.Status.State >= TaskStateComplete) {
			t.gone = true
		}
	}
	if svc.Spec.Mode.job() {
		return
	}
	limit := r.limit
	if m := svc.Spec.Task.Restart.MaxAttempts; m > 0 {
		limit = int64(m) + 1
	}
	if limit < 0 {
		return
	}
	m, keys := r.slots(svc)
	for _, k := range keys {
		ts := m[k]
		if int64(len(ts)) <= limit {
			continue
		}
		slices.SortStableFunc(ts, byStatusTime)
		left := int64(len(ts))
		for _, t := range ts {
			if left <= limit {
				break
			}
			if t.Status.State > TaskStateRunning || (t.Status.State < TaskStateAssigned && t.DesiredState > TaskStateRunning) {
				t.gone = true
				left--
			}
		}
	}
}

// removed handles the tasks of services that were removed: desired REMOVE, and deleted once stopped.
func (r *reconciler) removed() {
	for _, t := range r.orphans {
		setDesired(t, TaskStateRemove)
		if t.Status.State < TaskStateAssigned || t.Status.State >= TaskStateComplete {
			t.gone = true
		}
	}
}

// plan is the difference between the snapshot and the reconciled tasks and services.
func (r *reconciler) plan() Plan {
	p := Plan{Wake: r.wake}
	if made := len(r.tasks) - len(r.orphans); made > 0 {
		p.Create = make([]Task, 0, made/2)
	}
	for _, t := range r.tasks {
		switch {
		case t.orig == nil:
			if !t.gone {
				p.Create = append(p.Create, t.Task)
			}
		case t.gone:
			p.Remove = append(p.Remove, TaskRef{ID: t.ID, Version: t.Version})
		case t.DesiredState != t.orig.DesiredState || t.Status != t.orig.Status:
			u := TaskUpdate{ID: t.ID, Version: t.Version, DesiredState: t.DesiredState}
			if t.Status != t.orig.Status {
				st := t.Status
				u.Status = &st
			}
			p.Update = append(p.Update, u)
		}
	}
	for _, s := range r.services {
		if s.changed || s.rollback {
			p.Services = append(p.Services, ServiceUpdate{ID: s.ID, Version: s.Version, UpdateStatus: s.UpdateStatus,
				Rollback: s.rollback})
		}
	}
	return p
}

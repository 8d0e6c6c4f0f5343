package orchestrator

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/berth/berth/internal/cluster/placement"
)

// A rolling update as a state machine, swarmkit's updater without its goroutines. The service's UpdateStatus
// says where the update stands; the update's tasks are the first task of the service's spec version made in a
// slot since the update started that replaced a task of another version. Each pass:
//
//   - a slot that already has an up-to-date task keeps it and sheds the others (start-first: once it runs);
//   - if the update is in progress and more than MaxFailureRatio of its slots have a task that failed within
//     Monitor of its start (or before starting), FailureAction is taken: pause, or roll back (a rollback that
//     fails pauses);
//   - unless paused, out-of-date slots get a new task, as many as Parallelism allows beside the update's tasks
//     still starting or in their Delay after starting: stop-first shuts the old task down and starts the new one
//     when it stopped; start-first starts the new one beside it;
//   - when no slot is out of date and every update task started, the update completes after Monitor (after
//     Delay and one second more, when Delay is the longer).

// updateConfig is the configuration in force: the rollback's during a rollback, the update's otherwise.
func updateConfig(svc *wservice) UpdateConfig {
	c := svc.Spec.Update
	if st := svc.UpdateStatus; st != nil && (st.State == UpdateRollbackStarted || st.State == UpdateRollbackPaused) {
		c = svc.Spec.Rollback
	}
	if c == nil {
		return defaultUpdate
	}
	cfg := *c
	if cfg.Monitor == 0 {
		cfg.Monitor = DefaultMonitor
	}
	if cfg.FailureAction == "" {
		cfg.FailureAction = FailurePause
	}
	if cfg.Order == "" {
		cfg.Order = StopFirst
	}
	return cfg
}

// dirty is swarmkit's IsTaskDirty: a task is out of date when the service's spec changed since it was made, in
// what tasks are made from, or in placement its node no longer satisfies.
func (r *reconciler) dirty(svc *wservice, t *wtask) bool {
	if t.SpecVersion == svc.SpecVersion {
		return false
	}
	want, have := &svc.Spec.Task, &t.Spec
	if want.Digest != have.Digest || want.ForceUpdate != have.ForceUpdate || want.Reservations != have.Reservations ||
		!reflect.DeepEqual(want.Restart, have.Restart) {
		return true
	}
	if reflect.DeepEqual(want.Placement, have.Placement) {
		return false
	}
	n := r.nodes[t.NodeID]
	return n == nil || !placement.Match(svc.constraints, n)
}

func (r *reconciler) slotDirty(svc *wservice, slot []*wtask) bool {
	return len(slot) > 1 || (len(slot) == 1 && r.dirty(svc, slot[0]))
}

// update runs a pass of the service's rolling update over the slots the mode keeps (each slot its updatable
// tasks).
func (r *reconciler) update(svc *wservice, slots [][]*wtask) {
	cfg := updateConfig(svc)
	st := svc.UpdateStatus

	// Slots with an up-to-date task keep it; the others are out of date.
	var outdated [][]*wtask
	dirtyKeys := map[slotKey]bool{}
	for _, slot := range slots {
		if !r.slotDirty(svc, slot) {
			continue
		}
		dirtyKeys[keyOf(svc.Spec.Mode, slot[0])] = true
		clean := r.cleanTask(svc, slot)
		if clean == nil {
			outdated = append(outdated, slot)
			continue
		}
		if cfg.Order == StartFirst && clean.Status.State < TaskStateRunning {
			continue // the old task runs until its replacement does
		}
		for _, t := range slot {
			if t != clean && t.DesiredState <= TaskStateRunning {
				setDesired(t, TaskStateShutdown)
			}
		}
	}

	if st != nil && (st.State == UpdatePaused || st.State == UpdateRollbackPaused) {
		return
	}
	updating := st != nil && (st.State == UpdateUpdating || st.State == UpdateRollbackStarted)
	since := r.now
	if st != nil {
		since = st.StartedAt
		if !updating && !st.CompletedAt.IsZero() {
			since = st.CompletedAt
		}
	}
	ups := r.updateTasks(svc, since)

	if updating {
		total := len(dirtyKeys)
		for k := range ups {
			if !dirtyKeys[k] {
				total++
			}
		}
		if r.failureAction(svc, cfg, ups, total) {
			return
		}
	}

	busy := 0
	var last time.Time // when the last update task's worker is done: started, then its delay
	started := true
	for _, u := range ups {
		at, ok := reached(u)
		if !ok {
			if u.DesiredState <= TaskStateRunning {
				busy++
				started = false
			}
			continue
		}
		if done := at.Add(cfg.Delay); done.After(last) {
			last = done
		}
		if cfg.Delay > 0 && r.now.Before(at.Add(cfg.Delay)) {
			busy++
			r.at(at.Add(cfg.Delay))
		}
	}

	if len(dirtyKeys) == 0 {
		if updating && started {
			r.complete(svc, cfg, ups, last)
		}
		return
	}
	if st == nil {
		svc.UpdateStatus = &UpdateStatus{State: UpdateUpdating, StartedAt: r.now, Message: msgUpdating}
		svc.changed = true
	}
	free := len(outdated)
	if cfg.Parallelism > 0 {
		free = int(cfg.Parallelism) - busy
	}
	for _, slot := range outdated {
		if free <= 0 {
			break
		}
		free--
		old := slot[0]
		var nt *wtask
		if svc.Spec.Mode.global() {
			nt = r.newTask(svc, 0, old.NodeID)
		} else {
			nt = r.newTask(svc, old.Slot, "")
		}
		if cfg.Order == StartFirst {
			continue // desired RUNNING from the start; the old one goes once it runs
		}
		nt.DesiredState = TaskStateReady
		for _, t := range slot {
			if t.DesiredState <= TaskStateRunning {
				setDesired(t, TaskStateShutdown)
			}
		}
	}
}

// cleanTask is a slot's up-to-date task that is desired to run and has not ended, if it has one.
func (r *reconciler) cleanTask(svc *wservice, slot []*wtask) *wtask {
	var ready *wtask
	for _, t := range slot {
		if r.dirty(svc, t) || t.DesiredState > TaskStateRunning || t.Status.State > TaskStateRunning {
			continue
		}
		if t.DesiredState == TaskStateRunning {
			return t
		}
		ready = t
	}
	return ready
}

// updateTasks are the tasks the update made, by slot: in each slot, the first task of the service's spec version
// made since the update started, if the slot had a task of another version before it.
func (r *reconciler) updateTasks(svc *wservice, since time.Time) map[slotKey]*wtask {
	out := map[slotKey]*wtask{}
	m, keys := r.slots(svc)
	for _, k := range keys {
		other := false
		for _, t := range m[k] { // oldest first
			if t.SpecVersion != svc.SpecVersion {
				other = true
				continue
			}
			if other && !t.CreatedAt.Before(since) {
				out[k] = t
				break
			}
		}
	}
	return out
}

// reached is when an update task started (or ended, if it never started): from then on its worker only waits
// for the update's Delay.
func reached(t *wtask) (time.Time, bool) {
	switch {
	case !t.StartedAt.IsZero():
		return t.StartedAt, true
	case t.Status.State >= TaskStateRunning:
		return t.Status.Timestamp, true
	}
	return time.Time{}, false
}

// failed reports whether an update task counts as a failure: it ended (failed, was rejected, exited — "early
// termination" — or was orphaned; not shut down on request) before starting or within the monitor period after.
func failed(t *wtask, monitor time.Duration) bool {
	switch t.Status.State {
	case TaskStateComplete, TaskStateFailed, TaskStateRejected, TaskStateOrphaned:
	default:
		return false
	}
	return t.StartedAt.IsZero() || t.Status.Timestamp.Sub(t.StartedAt) <= monitor
}

// failureAction takes the update's failure action when more than MaxFailureRatio of its slots failed, and
// reports whether the update stops there.
func (r *reconciler) failureAction(svc *wservice, cfg UpdateConfig, ups map[slotKey]*wtask, total int) bool {
	var fails []*wtask
	for _, u := range ups {
		if failed(u, cfg.Monitor) {
			fails = append(fails, u)
		}
	}
	if len(fails) == 0 || total == 0 || float32(len(fails))/float32(total) <= cfg.MaxFailureRatio {
		return false
	}
	// The failure that crossed the ratio names the task, as swarmkit's updater names the one it saw last.
	first := slices.MaxFunc(fails, byStatusTime)
	st := *svc.UpdateStatus
	rollingBack := st.State == UpdateRollbackStarted
	switch cfg.FailureAction {
	case FailureContinue:
		return false
	case FailureRollback:
		if rollingBack {
			// Never roll back a rollback.
			st.State = UpdateRollbackPaused
			st.Message = fmt.Sprintf("rollback paused due to failure or early termination of task %s", first.ID)
			break
		}
		if svc.PreviousSpec == nil {
			st.State = UpdatePaused
			st.Message = fmt.Sprintf("update paused due to failure or early termination of task %s "+
				"(no previous spec to roll back to)", first.ID)
			break
		}
		st = UpdateStatus{State: UpdateRollbackStarted, StartedAt: r.now,
			Message: fmt.Sprintf("update rolled back due to failure or early termination of task %s", first.ID)}
		svc.rollback = true
	default:
		if rollingBack {
			st.State = UpdateRollbackPaused
		} else {
			st.State = UpdatePaused
		}
		st.Message = fmt.Sprintf("update paused due to failure or early termination of task %s", first.ID)
	}
	svc.UpdateStatus = &st
	svc.changed = true
	return true
}

// complete ends the update once Monitor passed after the last update task's worker was done.
func (r *reconciler) complete(svc *wservice, cfg UpdateConfig, ups map[slotKey]*wtask, last time.Time) {
	period := cfg.Monitor
	if cfg.Delay >= period {
		period = cfg.Delay + time.Second
	}
	if len(ups) > 0 {
		if at := last.Add(period); r.now.Before(at) {
			r.at(at)
			return
		}
	}
	st := *svc.UpdateStatus
	st.CompletedAt = r.now
	if st.State == UpdateRollbackStarted {
		st.State, st.Message = UpdateRollbackCompleted, msgRollbackDone
	} else {
		st.State, st.Message = UpdateCompleted, msgUpdateDone
	}
	svc.UpdateStatus = &st
	svc.changed = true
}

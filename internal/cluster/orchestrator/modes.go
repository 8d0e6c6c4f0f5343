package orchestrator

import (
	"cmp"
	"slices"

	"github.com/berth/berth/internal/cluster/placement"
)

// replicated reconciles a replicated service, as swarmkit's replicated orchestrator: tasks that ended or whose
// node went away are restarted, then the slots are counted against Replicas — missing ones made (the lowest
// free numbers first), extra ones removed (the least useful first: not running, doubled up on a node, highest
// numbers) — and the slots kept go to the rolling update.
func (r *reconciler) replicated(svc *wservice) {
	for _, t := range svc.tasks {
		if t.gone || t.DesiredState > TaskStateRunning || r.delayed(t) {
			continue
		}
		if t.Status.State > TaskStateRunning || (t.NodeID != "" && r.invalidNode(t.NodeID)) {
			r.restart(svc, t)
		}
	}

	m, keys := r.slots(svc)
	var running [][]*wtask
	runningSlot := map[uint64]bool{}
	var dead []slotKey
	for _, k := range keys {
		if up := r.updatable(svc, m[k]); len(up) > 0 {
			running = append(running, up)
			runningSlot[k.slot] = true
		} else {
			dead = append(dead, k)
		}
	}
	want := svc.Spec.Replicas
	keepDead := map[uint64]bool{}
	switch n := uint64(len(running)); {
	case want > n:
		r.update(svc, running)
		if svc.rollback {
			break // the tasks to add are made from the spec the rollback returns to, in the next pass
		}
		slot := uint64(0)
		for range want - n {
			for slot++; runningSlot[slot]; slot++ {
			}
			keepDead[slot] = true // a dead slot given a new task keeps its history
			r.newTask(svc, slot, "")
		}
	case want < n:
		running = scaleDownOrder(running)
		r.update(svc, running[:want])
		for _, slot := range running[want:] {
			for _, t := range slot {
				setDesired(t, TaskStateRemove)
			}
		}
	default:
		r.update(svc, running)
	}
	// Dead slots (no task desired to run, and the last one may restart: a slot scaled away, or whose tasks the
	// restart supervisor could not replace) go, as swarmkit deletes them — each task once it has stopped (or
	// never reached a node), as swarmkit's reaper waits for: a task scaled away still runs while its agent takes
	// it out of the balancers and stops it, and deleting it would release its network addresses, and every
	// node's route to it, under the connections it still serves.
	for _, k := range dead {
		if keepDead[k.slot] {
			continue
		}
		for _, t := range m[k] {
			if t.Status.State < TaskStateAssigned || t.Status.State >= TaskStateComplete {
				t.gone = true
			}
		}
	}
}

// scaleDownOrder sorts slots best kept first: swarmkit's order, made stable. Running slots before the others,
// lower slot numbers before higher; then each slot counted as the nth of the service on its node, the first on
// every node before the seconds, so that removing the tail leaves the nodes balanced.
func scaleDownOrder(slots [][]*wtask) [][]*wtask {
	isRunning := func(s []*wtask) bool {
		return slices.ContainsFunc(s, func(t *wtask) bool { return t.Status.State == TaskStateRunning })
	}
	slices.SortStableFunc(slots, func(a, b []*wtask) int {
		if ra, rb := isRunning(a), isRunning(b); ra != rb {
			if ra {
				return -1
			}
			return 1
		}
		return cmp.Compare(a[0].Slot, b[0].Slot)
	})
	index := make(map[*wtask]int, len(slots))
	perNode := map[string]int{}
	for _, s := range slots {
		if len(s) == 1 && s[0].NodeID != "" {
			perNode[s[0].NodeID]++
			index[s[0]] = perNode[s[0].NodeID]
		} else {
			index[s[0]] = -1
		}
	}
	slices.SortStableFunc(slots, func(a, b []*wtask) int {
		ia, ib := index[a[0]], index[b[0]]
		switch {
		case ia < 0 && ib >= 0:
			return 1
		case ib < 0 && ia >= 0:
			return -1
		}
		return cmp.Compare(ia, ib)
	})
	return slots
}

// global reconciles a global service, as swarmkit's global orchestrator: one task on every node that is not
// drained or down and satisfies the constraints; a paused node keeps what it has and gets nothing new; tasks on
// other nodes are shut down; a task that ended is restarted on its node.
func (r *reconciler) global(svc *wservice) {
	for _, t := range svc.tasks {
		if t.gone || t.DesiredState > TaskStateRunning || r.delayed(t) {
			continue
		}
		if r.invalidNode(t.NodeID) {
			setDesired(t, TaskStateShutdown)
			continue
		}
		if t.Status.State > TaskStateRunning {
			n := r.nodes[t.NodeID]
			if n.Availability == placement.AvailabilityPause || !placement.Match(svc.constraints, n) {
				setDesired(t, TaskStateShutdown)
			} else {
				r.restart(svc, t)
			}
		}
	}

	m, _ := r.slots(svc)
	var slots [][]*wtask
	for _, id := range r.nodeIDs {
		n := r.nodes[id]
		if r.invalidNode(id) {
			continue
		}
		k := slotKey{node: id}
		up := r.updatable(svc, m[k])
		delete(m, k)
		if !placement.Match(svc.constraints, n) {
			for _, t := range up {
				setDesired(t, TaskStateShutdown)
			}
			continue
		}
		if n.Availability == placement.AvailabilityPause {
			continue
		}
		if len(up) == 0 {
			r.newTask(svc, 0, id)
		} else {
			slots = append(slots, up)
		}
	}
	// What is left is on nodes that are drained, down or gone.
	for _, ts := range m {
		for _, t := range r.updatable(svc, ts) {
			setDesired(t, TaskStateShutdown)
		}
	}
	r.update(svc, slots)
}

// replicatedJob reconciles a replicated job, as swarmkit's: tasks of older iterations go, failed ones are
// restarted, and new tasks are made until TotalCompletions are complete or in flight, MaxConcurrent at most in
// flight, each in a slot of its own.
func (r *reconciler) replicatedJob(svc *wservice) {
	m, keys := r.jobSlots(svc)
	spec := &svc.Spec
	var running, occupied uint64
	used := map[uint64]bool{}
	for _, k := range keys {
		busy, done := r.jobSlot(svc, m[k])
		if busy {
			running++
		}
		if busy || done {
			occupied++
			used[k.slot] = true
		}
	}
	if running >= spec.MaxConcurrent || occupied >= spec.TotalCompletions {
		return
	}
	n := min(spec.MaxConcurrent-running, spec.TotalCompletions-occupied)
	slot := uint64(0)
	for range n {
		for used[slot] {
			slot++
		}
		used[slot] = true
		r.newTask(svc, slot, "")
	}
}

// globalJob reconciles a global job, as swarmkit's: one task of the iteration on every ready, active node that
// satisfies the constraints; failed ones restarted; tasks on nodes that went down or were drained shut down.
func (r *reconciler) globalJob(svc *wservice) {
	m, _ := r.jobSlots(svc)
	for _, id := range r.nodeIDs {
		n := r.nodes[id]
		if !placement.Match(svc.constraints, n) {
			continue
		}
		ts := m[slotKey{node: id}]
		if r.invalidNode(id) {
			for _, t := range ts {
				if t.DesiredState <= TaskStateComplete && t.Status.State <= TaskStateRunning {
					setDesired(t, TaskStateShutdown)
				}
			}
			continue
		}
		busy, done := r.jobSlot(svc, ts)
		if busy || done || !n.Usable() {
			continue
		}
		r.newTask(svc, 0, id)
	}
}

// jobSlots retires the tasks of the job's older iterations (desired REMOVE while they may still run) and groups
// the current iteration's by slot.
func (r *reconciler) jobSlots(svc *wservice) (map[slotKey][]*wtask, []slotKey) {
	for _, t := range svc.tasks {
		if !t.gone && t.JobIteration != svc.JobIteration && t.Status.State <= TaskStateRunning {
			setDesired(t, TaskStateRemove)
		}
	}
	m, keys := r.slots(svc)
	for _, k := range keys {
		ts := slices.DeleteFunc(m[k], func(t *wtask) bool { return t.JobIteration != svc.JobIteration })
		if len(ts) == 0 {
			delete(m, k)
		} else {
			m[k] = ts
		}
	}
	keys = slices.DeleteFunc(keys, func(k slotKey) bool { return m[k] == nil })
	return m, keys
}

// jobSlot restarts a job slot's failed task and says whether the slot has a task in flight, or is done: it
// completed, or its last task failed and may not restart (its policy is none, or its attempts are spent), so
// that the job does not run it again.
func (r *reconciler) jobSlot(svc *wservice, ts []*wtask) (busy, done bool) {
	if len(ts) == 0 {
		return false, false
	}
	for _, t := range ts {
		if t.DesiredState > TaskStateComplete || r.delayed(t) {
			continue
		}
		failed := t.Status.State > TaskStateComplete
		lost := t.Status.State < TaskStateComplete && t.NodeID != "" && r.invalidNode(t.NodeID)
		if failed || lost {
			r.restart(svc, t)
		}
	}
	cur := slices.DeleteFunc(r.sameSlot(svc, ts[0]), func(t *wtask) bool { return t.JobIteration != svc.JobIteration })
	for _, t := range cur {
		if t.Status.State == TaskStateComplete {
			done = true
		} else if t.DesiredState <= TaskStateComplete {
			busy = true
		}
	}
	if !busy && !done {
		last := slices.MaxFunc(cur, byStatusTime)
		if last.Status.State > TaskStateComplete && !r.shouldRestart(svc, last) {
			done = true
		}
	}
	return busy, done
}

package dispatcher

import (
	"context"
	"slices"
)

// The balancers' acknowledgements. Every node writes its services' load balancers (VIP tables, the ingress
// sandbox, DNS answers) from the cluster's networks watch and tells the dispatcher the store revision its
// tables were last written from (NoteApplied). An agent about to stop a task that was a backend first waits
// until its own node's balancers dropped the task, at some revision R, and then asks WaitApplied(R): every
// node with an open session has written its tables from R or later, so none of them picks the task for a new
// connection any more. This is moby's "deactivate the service binding, wait for gossip" with a reply instead
// of a fixed wait. The revisions are the store's, which every manager's watch stream shares, so a node's report
// means the same whichever manager it follows. Only nodes with a session are waited for: a node that lost its
// session (partitioned, or gone) cannot answer, and the caller bounds its wait for the same reason.

// NoteApplied records that node's balancers were written from the cluster's state at rev (an older report
// arriving late changes nothing).
func (d *Dispatcher) NoteApplied(node string, rev int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if rev <= d.applied[node] {
		return
	}
	d.applied[node] = rev
	d.wakeAppliedLocked()
}

// WaitApplied waits until every node with an open session reported a revision of rev or later. It returns
// nil once they all have; when ctx ends first, the nodes still behind, in ID order, with ctx's error; when the
// dispatcher stops (its leader stepped down), ErrStopped.
func (d *Dispatcher) WaitApplied(ctx context.Context, rev int64) ([]string, error) {
	for {
		d.mu.Lock()
		behind := d.behindLocked(rev)
		stopped := d.stopped
		if d.appliedWake == nil {
			d.appliedWake = make(chan struct{})
		}
		wake := d.appliedWake
		d.mu.Unlock()
		switch {
		case stopped: // its sessions ended with it: it knows of no node any more
			return nil, ErrStopped
		case len(behind) == 0:
			return nil, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return behind, ctx.Err()
		}
	}
}

// behindLocked are the nodes with a session whose balancers are older than rev.
func (d *Dispatcher) behindLocked(rev int64) []string {
	var out []string
	for node := range d.sessions {
		if d.applied[node] < rev {
			out = append(out, node)
		}
	}
	slices.Sort(out)
	return out
}

// wakeAppliedLocked wakes the waiters: a report came, or the set of nodes with a session changed.
func (d *Dispatcher) wakeAppliedLocked() {
	if d.appliedWake != nil {
		close(d.appliedWake)
		d.appliedWake = nil
	}
}

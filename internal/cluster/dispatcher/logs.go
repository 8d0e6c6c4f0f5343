package dispatcher

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
)

// The log broker, as swarmkit's manager/logbroker: a subscriber names tasks; the dispatcher asks the nodes
// running them, down their sessions, to publish those tasks' logs; each node streams its lines back and
// ends its stream when it has sent all (unless following). A node without a session cannot be asked: the
// subscriber is told which, at the end, in swarmkit's words.

// logSub is one subscription being served.
type logSub struct {
	sub  api.LogSubscription
	out  chan api.LogMessage
	ctx  context.Context
	mu   sync.Mutex
	left map[string]bool // nodes that have not finished publishing
	// unavailable are the nodes that could not be asked.
	unavailable []string
	closed      bool

	// asked are the tasks whose node was asked for their logs, and extra the further subscriptions (ID and
	// node) that asked for the tasks a following service subscription found starting (guarded by d.mu).
	asked map[string]bool
	extra []extraSub
}

// extraSub is a node's subscription for a task that started after its service's follow subscription began.
type extraSub struct{ id, node string }

// SubscribeLogs asks the nodes running tasks for their logs; the messages come on the channel, which is
// closed when every node sent what it has (never while following, until ctx ends).
func (d *Dispatcher) SubscribeLogs(ctx context.Context, sub api.LogSubscription) (<-chan api.LogMessage, error) {
	if err := d.waitReady(ctx); err != nil {
		return nil, err
	}
	sub.ID = api.NewID()
	ls := &logSub{sub: sub, out: make(chan api.LogMessage, 256), ctx: ctx, left: map[string]bool{}, asked: map[string]bool{}}
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return nil, ErrStopped
	}
	byNode := map[string][]string{}
	for _, id := range sub.TaskIDs {
		t := d.tasks[id]
		if t == nil || t.NodeID == "" || t.Status.State < api.TaskAssigned {
			continue
		}
		byNode[t.NodeID] = append(byNode[t.NodeID], id)
	}
	nodes := make([]string, 0, len(byNode))
	for n := range byNode {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		s := d.sessions[n]
		if s == nil {
			ls.unavailable = append(ls.unavailable, n)
			continue
		}
		ns := sub
		ns.TaskIDs = byNode[n]
		s.logs = append(s.logs, &ns)
		s.poke()
		ls.left[n] = true
		// A task not yet starting has no container for the node to read: a follow of its service asks again
		// once it runs.
		for _, id := range byNode[n] {
			if d.tasks[id].Status.State >= api.TaskStarting {
				ls.asked[id] = true
			}
		}
	}
	d.subs[sub.ID] = ls
	d.mu.Unlock()
	go func() {
		<-ctx.Done()
		d.endSub(ls)
	}()
	ls.mu.Lock()
	ls.finishLocked()
	ls.mu.Unlock()
	return ls.out, nil
}

// finishLocked closes the subscription's channel once no node is left to publish (after the message that
// names the nodes that could not be asked); a follow subscription stays open until its context ends.
func (ls *logSub) finishLocked() {
	if ls.closed || len(ls.left) > 0 || (ls.sub.Follow && ls.ctx.Err() == nil) {
		return
	}
	ls.closed = true
	if len(ls.unavailable) > 0 {
		var why []string
		for _, n := range ls.unavailable {
			why = append(why, fmt.Sprintf("node %s is not available", n))
		}
		msg := api.LogMessage{Err: "warning: incomplete log stream. some logs could not be retrieved for the following reasons: " + strings.Join(why, ", ")}
		select {
		case ls.out <- msg:
		case <-ls.ctx.Done():
		}
	}
	close(ls.out)
}

// endSub forgets a subscription whose subscriber went away, and tells following nodes to stop.
func (d *Dispatcher) endSub(ls *logSub) {
	d.mu.Lock()
	delete(d.subs, ls.sub.ID)
	ls.mu.Lock()
	left := slices.Collect(mapsKeys(ls.left))
	ls.left = map[string]bool{}
	ls.finishLocked()
	ls.mu.Unlock()
	if ls.sub.Follow {
		for _, n := range left {
			if s := d.sessions[n]; s != nil {
				s.logs = append(s.logs, &api.LogSubscription{ID: ls.sub.ID, Close: true})
				s.poke()
			}
		}
		for _, x := range ls.extra {
			delete(d.subs, x.id)
			if s := d.sessions[x.node]; s != nil {
				s.logs = append(s.logs, &api.LogSubscription{ID: x.id, Close: true})
				s.poke()
			}
		}
		ls.extra = nil
	}
	d.mu.Unlock()
}

// followNewTaskLocked asks a task's node for its logs when a following subscription of its service has not yet
// (a task that started since: a scale-up, an update, a replacement), as swarmkit's log broker follows its
// selector. Each such request is a subscription of its own for the node, sending the task's whole log, whose
// messages join the original's channel. d.mu is held.
func (d *Dispatcher) followNewTaskLocked(t *api.Task) {
	if t.NodeID == "" || t.Status.State < api.TaskRunning {
		return
	}
	for id, ls := range d.subs {
		if id != ls.sub.ID || !ls.sub.Follow || ls.sub.ServiceID == "" || ls.sub.ServiceID != t.ServiceID || ls.asked[t.ID] || ls.ctx.Err() != nil {
			continue
		}
		s := d.sessions[t.NodeID]
		if s == nil {
			continue
		}
		ls.asked[t.ID] = true
		ns := ls.sub
		ns.ID = ls.sub.ID + "-" + t.ID
		ns.TaskIDs = []string{t.ID}
		ns.Tail = -1
		ns.ServiceID = ""
		d.subs[ns.ID] = ls
		ls.extra = append(ls.extra, extraSub{id: ns.ID, node: t.NodeID})
		s.logs = append(s.logs, &ns)
		s.poke()
	}
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// PublishLogs takes a node's messages for a subscription until next reports the end (ok false); then the
// node is done with it.
func (d *Dispatcher) PublishLogs(ctx context.Context, nodeID, subID string, next func() (api.LogMessage, bool, error)) error {
	d.mu.Lock()
	ls := d.subs[subID]
	d.mu.Unlock()
	if ls == nil {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("log subscription %s not found", subID))
	}
	defer func() {
		ls.mu.Lock()
		// A node's stream for a task found later (followNewTaskLocked) does not end its first one.
		if subID == ls.sub.ID {
			delete(ls.left, nodeID)
		}
		ls.finishLocked()
		ls.mu.Unlock()
	}()
	for {
		msg, ok, err := next()
		if err != nil || !ok {
			return err
		}
		msg.NodeID = nodeID
		// Sent under the lock: the channel is closed under it too.
		ls.mu.Lock()
		if ls.closed {
			ls.mu.Unlock()
			return nil
		}
		select {
		case ls.out <- msg:
		case <-ls.ctx.Done():
		case <-ctx.Done():
		}
		ls.mu.Unlock()
		if ctx.Err() != nil || ls.ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

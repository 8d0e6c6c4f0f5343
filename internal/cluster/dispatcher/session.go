package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// ErrSessionReplaced ends a session when its node opens another.
var ErrSessionReplaced = errors.New("the node opened another session")

// Session is one node's session: the assignments streamed to it and what it was sent, so that each message
// after the first carries only changes.
type Session struct {
	d      *Dispatcher
	id     string
	node   string
	notify chan struct{}
	done   chan struct{}
	once   sync.Once
	err    error

	// What the node was sent, by ID, at which version (guarded by d.mu).
	first       bool
	sentTasks   map[string]uint64
	sentSecrets map[string]uint64
	sentConfigs map[string]uint64
	logs        []*api.LogSubscription
}

// ID names the session.
func (s *Session) ID() string { return s.id }

// Node is the session's node.
func (s *Session) Node() string { return s.node }

func (s *Session) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *Session) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// Open starts a node's session; one the node had ends.
func (d *Dispatcher) Open(ctx context.Context, nodeID string) (*Session, error) {
	if err := d.waitReady(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return nil, ErrStopped
	}
	if _, ok := d.nodes[nodeID]; !ok {
		return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("node %s not found", nodeID))
	}
	if old := d.sessions[nodeID]; old != nil {
		old.end(ErrSessionReplaced)
	}
	s := &Session{d: d, id: api.NewID(), node: nodeID, notify: make(chan struct{}, 1), done: make(chan struct{}),
		first: true, sentTasks: map[string]uint64{}, sentSecrets: map[string]uint64{}, sentConfigs: map[string]uint64{}}
	d.sessions[nodeID] = s
	d.wakeAppliedLocked()
	s.poke()
	return s, nil
}

// Close ends the session (its node went away).
func (s *Session) Close() {
	s.end(errors.New("session closed"))
	s.d.mu.Lock()
	if s.d.sessions[s.node] == s {
		delete(s.d.sessions, s.node)
		s.d.wakeAppliedLocked()
	}
	s.d.mu.Unlock()
}

// Done is closed when the session ended; Err then says why.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session ended.
func (s *Session) Err() error { return s.err }

// Next waits for the node's next message: its complete assignment set first, then changes.
func (s *Session) Next(ctx context.Context) (*api.Assignments, error) {
	for {
		select {
		case <-s.done:
			return nil, s.err
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.notify:
		}
		if msg := s.d.diff(s); msg != nil {
			return msg, nil
		}
	}
}

// diff is what the session's node was not sent yet, nil when nothing.
func (d *Dispatcher) diff(s *Session) *api.Assignments {
	d.mu.Lock()
	defer d.mu.Unlock()
	msg := &api.Assignments{Type: api.AssignmentsIncremental, SessionID: s.id}
	if s.first {
		msg.Type = api.AssignmentsComplete
	}
	tasks := d.byNode[s.node]
	secrets, configs := map[string]bool{}, map[string]bool{}
	for _, t := range tasks {
		if s.first || s.sentTasks[t.ID] != t.Version {
			msg.Tasks = append(msg.Tasks, t)
			s.sentTasks[t.ID] = t.Version
		}
		// The dependencies of tasks that may still run.
		if c := t.Spec.Container; c != nil && t.DesiredState <= api.TaskRunning && t.Status.State <= api.TaskRunning {
			for _, r := range c.Secrets {
				secrets[r.SecretID] = true
			}
			for _, r := range c.Configs {
				configs[r.ConfigID] = true
			}
		}
	}
	for id := range s.sentTasks {
		if _, ok := tasks[id]; !ok {
			msg.RemoveTasks = append(msg.RemoveTasks, id)
			delete(s.sentTasks, id)
		}
	}
	for id := range secrets {
		sec := d.secrets[id]
		if sec == nil || (!s.first && s.sentSecrets[id] == sec.Version) {
			continue
		}
		data, err := d.unseal(sec.Spec.DataSealed)
		if err != nil {
			d.log.Warn("dispatcher: opening a secret", "secret", id, "error", err)
			continue
		}
		msg.Secrets = append(msg.Secrets, api.SecretData{ID: id, Name: sec.Spec.Name, Data: data})
		s.sentSecrets[id] = sec.Version
	}
	for id := range s.sentSecrets {
		if !secrets[id] || d.secrets[id] == nil {
			msg.RemoveSecrets = append(msg.RemoveSecrets, id)
			delete(s.sentSecrets, id)
		}
	}
	for id := range configs {
		cfg := d.configs[id]
		if cfg == nil || (!s.first && s.sentConfigs[id] == cfg.Version) {
			continue
		}
		msg.Configs = append(msg.Configs, cfg)
		s.sentConfigs[id] = cfg.Version
	}
	for id := range s.sentConfigs {
		if !configs[id] || d.configs[id] == nil {
			msg.RemoveConfigs = append(msg.RemoveConfigs, id)
			delete(s.sentConfigs, id)
		}
	}
	if len(s.logs) > 0 {
		msg.Logs, s.logs = s.logs[0], s.logs[1:]
		if len(s.logs) > 0 {
			s.poke()
		}
	}
	slices.SortFunc(msg.Tasks, func(a, b *api.Task) int { return compareStrings(a.ID, b.ID) })
	slices.Sort(msg.RemoveTasks)
	if s.first {
		s.first = false
		return msg
	}
	if msg.Empty() {
		return nil
	}
	return msg
}

// pendingBatch is one call's status updates waiting to be written.
type pendingBatch struct {
	node    string
	updates []api.StatusUpdate
	done    chan error
}

// UpdateStatus records the status its node reports of some of its tasks; it returns once they are written.
// Updates of tasks not on the node, or that would move a task back, are ignored, as swarmkit's.
func (d *Dispatcher) UpdateStatus(ctx context.Context, nodeID, sessionID string, updates []api.StatusUpdate) error {
	if err := d.waitReady(ctx); err != nil {
		return err
	}
	d.mu.Lock()
	s := d.sessions[nodeID]
	if s == nil || s.id != sessionID {
		d.mu.Unlock()
		return ErrSessionInvalid
	}
	keep := updates[:0:0]
	for _, u := range updates {
		t := d.tasks[u.TaskID]
		if t == nil || t.NodeID != nodeID {
			continue
		}
		keep = append(keep, u)
	}
	d.mu.Unlock()
	if len(keep) == 0 {
		return nil
	}
	b := &pendingBatch{node: nodeID, updates: keep, done: make(chan error, 1)}
	select {
	case d.updates <- b:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-b.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxTaskWrites bounds the tasks one store transaction writes.
const maxTaskWrites = 256

// maxGather bounds the calls whose updates one commit takes.
const maxGather = 4096

// writeStatuses writes status updates as they come, group-commit style: a call that finds the writer idle is
// written at once, and the calls that arrive while a write is under way go together in the next one. Batching
// thus follows the store's own pace instead of a fixed window (a 20 ms window delayed every status, a task's
// failure and its replacement's RUNNING alike, by up to that much). A batch interval set with
// WithBatchInterval still holds every batch open that long, for callers that prefer fewer, larger writes.
func (d *Dispatcher) writeStatuses(ctx context.Context) {
	for {
		var first *pendingBatch
		select {
		case <-ctx.Done():
			return
		case first = <-d.updates:
		}
		batches := drain(d.updates, []*pendingBatch{first}, maxGather)
		if d.batch > 0 && len(batches) < maxGather {
			timer := time.NewTimer(d.batch)
		gather:
			for {
				select {
				case b := <-d.updates:
					batches = append(batches, b)
					if len(batches) >= maxGather {
						break gather
					}
				case <-timer.C:
					break gather
				case <-ctx.Done():
					timer.Stop()
					for _, b := range batches {
						b.done <- ctx.Err()
					}
					return
				}
			}
			timer.Stop()
		}
		d.commitStatuses(ctx, batches)
	}
}

// drain appends to batches what ch already holds, without waiting, up to limit batches in all.
func drain(ch <-chan *pendingBatch, batches []*pendingBatch, limit int) []*pendingBatch {
	for len(batches) < limit {
		select {
		case b := <-ch:
			batches = append(batches, b)
		default:
			return batches
		}
	}
	return batches
}

// statusKey is a task's update and the node that sent it.
type statusKey struct {
	node   string
	update api.StatusUpdate
	batch  *pendingBatch
}

// commitStatuses writes the updates of batches: the latest of each task, in transactions of a bounded size.
func (d *Dispatcher) commitStatuses(ctx context.Context, batches []*pendingBatch) {
	latest := map[string]int{}
	var order []statusKey
	for _, b := range batches {
		for _, u := range b.updates {
			k := statusKey{node: b.node, update: u, batch: b}
			if i, ok := latest[u.TaskID]; ok && order[i].update.Status.State <= u.Status.State {
				order[i] = k
				continue
			} else if ok {
				continue
			}
			latest[u.TaskID] = len(order)
			order = append(order, k)
		}
	}
	errs := map[*pendingBatch]error{}
	for start := 0; start < len(order); start += maxTaskWrites {
		chunk := order[start:min(start+maxTaskWrites, len(order))]
		now := d.now().UTC()
		attempt := 0
		err := d.st.Update(ctx, func(tx *store.Tx) error {
			attempt++
			for _, k := range chunk {
				// The first attempt writes over the view's copy at its version without reading; one that
				// conflicted reads.
				var t *api.Task
				fromView := false
				if attempt == 1 {
					if v, ok := d.Task(k.update.TaskID); ok {
						c := *v
						t, fromView = &c, true
					}
				}
				if t == nil {
					var err error
					t, err = store.Get[api.Task](ctx, tx, k.update.TaskID)
					if errdefs.IsNotFound(err) {
						continue
					}
					if err != nil {
						return err
					}
				}
				st := k.update.Status
				if t.NodeID != k.node || st.State < t.Status.State || sameStatus(t.Status, st) {
					continue
				}
				if st.State == api.TaskRunning && t.StartedAt.IsZero() {
					t.StartedAt = st.Timestamp
					if t.StartedAt.IsZero() {
						t.StartedAt = now
					}
				}
				t.Status = st
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
			d.log.Warn("dispatcher: writing task statuses", "tasks", len(chunk), "error", err)
			for _, k := range chunk {
				errs[k.batch] = err
			}
		}
	}
	for _, b := range batches {
		b.done <- errs[b]
	}
}

// sameStatus reports whether a report changes nothing a user sees.
func sameStatus(a, b api.TaskStatus) bool {
	return a.State == b.State && a.Message == b.Message && a.Err == b.Err && a.ContainerID == b.ContainerID &&
		a.ExitCode == b.ExitCode && a.PID == b.PID && a.Unhealthy == b.Unhealthy && slices.Equal(a.Ports, b.Ports)
}

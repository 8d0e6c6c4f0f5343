// Package dispatcher is the leading manager's side of the nodes' sessions, as swarmkit's manager/dispatcher:
// it keeps, in memory and fed by a watch of the cluster store, what every node must run (its tasks, and the
// secrets and configs they use), streams it down each node's session as a complete set and then as changes,
// takes the tasks' status reports back in batches written to the store, answers heartbeats from the same
// in-memory view (a heartbeat reads no store), and brokers task logs between the agents and the API.
//
// A session's life:
//
//	d := dispatcher.New(st)
//	go d.Run(ctx)                          // load the view, then follow the store; until ctx ends
//	s, _ := d.Open(ctx, nodeID)            // the node's session; a second one replaces the first
//	for { a, err := s.Next(ctx); ... }     // a complete assignment set, then incremental changes
//	d.UpdateStatus(ctx, nodeID, s.ID(), updates) // statuses, written in a batch before it returns
//
// Only tasks a scheduler placed (ASSIGNED and later) are assigned. A node's secrets are those its tasks that
// may still run use, opened with the cluster's data key only when sent; a node no task of which uses a secret
// never receives it. The HTTP wire of all this (one HTTP/2 stream per session over the managers' mutual-TLS
// listener) is in wire.go.
package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// ErrSessionInvalid is the answer to a call naming a session that is not the node's current one: the node
// opens a new session.
var ErrSessionInvalid = errdefs.ErrFailedPrecondition.WithMessage("session invalid")

// ErrNotReady is the answer while the dispatcher has not loaded its view (a leader that just took over).
var ErrNotReady = errdefs.ErrUnavailable.WithMessage("dispatcher is starting")

// ErrStopped is the answer of a dispatcher whose Run ended (a leader that stepped down): the node tries another
// manager.
var ErrStopped = errdefs.ErrUnavailable.WithMessage("dispatcher stopped")

// Dispatcher is the leader's side of the nodes' sessions. Its methods are safe for concurrent use.
type Dispatcher struct {
	st     *store.Store
	log    *slog.Logger
	unseal func([]byte) ([]byte, error)
	batch  time.Duration
	now    func() time.Time

	mu     sync.Mutex
	ready  chan struct{} // closed once the view is loaded
	loaded bool
	// stopped is set when Run ended: a session opened after that would never be ended, nor sent anything.
	stopped bool
	rev     int64
	cluster *api.Cluster
	nodes   map[string]*api.Node
	// managers are the manager nodes of nodes, kept as nodes change: every heartbeat answers with them, and a
	// walk of all nodes per heartbeat grew with the square of the cluster's size (29 % of a 10,000-node
	// leader's CPU in bench/swarm-scale.sh).
	managers map[string]*api.Node
	tasks    map[string]*api.Task            // every task, by ID
	byNode   map[string]map[string]*api.Task // assigned tasks (ASSIGNED and later), by node
	secrets  map[string]*api.Secret
	configs  map[string]*api.Config
	// sessions are the nodes' open sessions, by node ID.
	sessions map[string]*Session
	// subs are the log subscriptions being served.
	subs map[string]*logSub
	// applied is the revision each node's balancers were last written from; appliedWake is closed, and
	// replaced, when it or sessions change (applied.go).
	applied     map[string]int64
	appliedWake chan struct{}

	updates chan *pendingBatch
}

// Option configures a Dispatcher.
type Option func(*Dispatcher)

// WithUnseal opens secrets' sealed data (with the cluster's data key) when they are sent to a node.
func WithUnseal(f func([]byte) ([]byte, error)) Option { return func(d *Dispatcher) { d.unseal = f } }

// WithBatchInterval holds every batch of status updates open that long before it is written (default 0: a
// batch is written at once, and the updates that arrive during a write go together in the next).
func WithBatchInterval(t time.Duration) Option { return func(d *Dispatcher) { d.batch = t } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(d *Dispatcher) { d.log = l } }

// WithClock sets the clock that stamps tasks' first start.
func WithClock(now func() time.Time) Option { return func(d *Dispatcher) { d.now = now } }

// New is a dispatcher over st; Run brings it to life.
func New(st *store.Store, opts ...Option) *Dispatcher {
	d := &Dispatcher{st: st, log: slog.Default(), now: time.Now,
		ready: make(chan struct{}), sessions: map[string]*Session{}, subs: map[string]*logSub{}, applied: map[string]int64{},
		updates: make(chan *pendingBatch, 1024)}
	for _, o := range opts {
		o(d)
	}
	d.unseal = orDefault(d.unseal)
	return d
}

func orDefault(f func([]byte) ([]byte, error)) func([]byte) ([]byte, error) {
	if f != nil {
		return f
	}
	return func([]byte) ([]byte, error) { return nil, errors.New("no data key to open secrets with") }
}

// Run loads the view and follows the store until ctx ends; then every session ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.writeStatuses(ctx) }()
	defer func() {
		d.mu.Lock()
		d.stopped = true
		for _, s := range d.sessions {
			s.end(errors.New("the dispatcher stopped"))
		}
		d.sessions = map[string]*Session{}
		d.wakeAppliedLocked()
		d.mu.Unlock()
		wg.Wait()
	}()
	for ctx.Err() == nil {
		if err := d.load(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			d.log.Warn("dispatcher: loading the cluster's state", "error", err)
			sleep(ctx, time.Second)
			continue
		}
		w := d.st.Watch(ctx, d.currentRev(), api.KindNode, api.KindTask, api.KindSecret, api.KindConfig, api.KindCluster)
		for ev := range w.Events() {
			d.apply(ev)
		}
		if ctx.Err() == nil {
			d.log.Info("dispatcher: the store's watch ended; reloading", "error", w.Err())
		}
	}
	return ctx.Err()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (d *Dispatcher) currentRev() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rev
}

// load reads everything at one revision and replaces the view; sessions then see what changed.
func (d *Dispatcher) load(ctx context.Context) error {
	v, err := d.st.View(ctx)
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
	secrets, err := store.List[api.Secret](ctx, v)
	if err != nil {
		return err
	}
	configs, err := store.List[api.Config](ctx, v)
	if err != nil {
		return err
	}
	clusters, err := store.List[api.Cluster](ctx, v)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rev = v.Rev()
	d.nodes = make(map[string]*api.Node, len(nodes))
	d.managers = map[string]*api.Node{}
	for _, n := range nodes {
		d.nodes[n.ID] = n
		d.noteManagerLocked(n.ID, n)
	}
	d.tasks = make(map[string]*api.Task, len(tasks))
	d.byNode = map[string]map[string]*api.Task{}
	for _, t := range tasks {
		d.tasks[t.ID] = t
		if assigned(t) {
			d.index(t)
		}
	}
	d.secrets = map[string]*api.Secret{}
	for _, s := range secrets {
		d.secrets[s.ID] = s
	}
	d.configs = map[string]*api.Config{}
	for _, c := range configs {
		d.configs[c.ID] = c
	}
	d.cluster = nil
	if len(clusters) > 0 {
		d.cluster = clusters[0]
	}
	if !d.loaded {
		d.loaded = true
		close(d.ready)
	}
	for _, s := range d.sessions {
		s.poke()
	}
	return nil
}

// assigned reports whether a task is its node's to run: placed (ASSIGNED or later).
func assigned(t *api.Task) bool { return t.NodeID != "" && t.Status.State >= api.TaskAssigned }

func (d *Dispatcher) index(t *api.Task) {
	m := d.byNode[t.NodeID]
	if m == nil {
		m = map[string]*api.Task{}
		d.byNode[t.NodeID] = m
	}
	m[t.ID] = t
}

func (d *Dispatcher) unindex(t *api.Task) {
	if m := d.byNode[t.NodeID]; m != nil {
		delete(m, t.ID)
		if len(m) == 0 {
			delete(d.byNode, t.NodeID)
		}
	}
}

// apply follows one change of the store.
func (d *Dispatcher) apply(ev store.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ev.Rev > d.rev {
		d.rev = ev.Rev
	}
	switch ev.Kind {
	case api.KindNode:
		n := ev.Object.(*api.Node)
		if ev.Action == store.ActionRemove {
			delete(d.nodes, ev.ID)
			d.noteManagerLocked(ev.ID, nil)
			if s := d.sessions[ev.ID]; s != nil {
				s.end(errdefs.ErrNotFound.WithMessage(fmt.Sprintf("node %s not found", ev.ID)))
				delete(d.sessions, ev.ID)
			}
			return
		}
		d.nodes[ev.ID] = n
		d.noteManagerLocked(ev.ID, n)
	case api.KindCluster:
		if ev.Action != store.ActionRemove {
			d.cluster = ev.Object.(*api.Cluster)
		}
	case api.KindTask:
		t := ev.Object.(*api.Task)
		if old := d.tasks[ev.ID]; old != nil && assigned(old) {
			d.unindex(old)
		}
		if ev.Action == store.ActionRemove {
			delete(d.tasks, ev.ID)
		} else {
			d.tasks[ev.ID] = t
			if assigned(t) {
				d.index(t)
			}
			if len(d.subs) > 0 {
				d.followNewTaskLocked(t)
			}
		}
		if s := d.sessions[t.NodeID]; s != nil && t.NodeID != "" {
			s.poke()
		}
	case api.KindSecret:
		if ev.Action == store.ActionRemove {
			delete(d.secrets, ev.ID)
		} else {
			d.secrets[ev.ID] = ev.Object.(*api.Secret)
		}
		d.pokeUsers(func(c *api.ContainerSpec) bool {
			return slices.ContainsFunc(c.Secrets, func(r api.SecretReference) bool { return r.SecretID == ev.ID })
		})
	case api.KindConfig:
		if ev.Action == store.ActionRemove {
			delete(d.configs, ev.ID)
		} else {
			d.configs[ev.ID] = ev.Object.(*api.Config)
		}
		d.pokeUsers(func(c *api.ContainerSpec) bool {
			return slices.ContainsFunc(c.Configs, func(r api.ConfigReference) bool { return r.ConfigID == ev.ID })
		})
	}
}

// pokeUsers wakes the sessions of nodes with a task whose container matches.
func (d *Dispatcher) pokeUsers(uses func(*api.ContainerSpec) bool) {
	for node, s := range d.sessions {
		for _, t := range d.byNode[node] {
			if c := t.Spec.Container; c != nil && uses(c) {
				s.poke()
				break
			}
		}
	}
}

// Ready is closed once the dispatcher has loaded its view.
func (d *Dispatcher) Ready() <-chan struct{} { return d.ready }

// Node is a node as the view has it (not to be modified), and whether it exists.
func (d *Dispatcher) Node(id string) (*api.Node, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.nodes[id]
	return n, ok
}

// Nodes are the view's nodes (not to be modified).
func (d *Dispatcher) Nodes() []*api.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Collect(maps.Values(d.nodes))
}

// Cluster is the cluster object as the view has it (nil before it loaded).
func (d *Dispatcher) Cluster() *api.Cluster {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cluster
}

// Managers are the view's manager nodes.
func (d *Dispatcher) Managers() []*api.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*api.Node, 0, len(d.managers))
	for _, n := range d.managers {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *api.Node) int { return compareStrings(a.ID, b.ID) })
	return out
}

// noteManagerLocked keeps d.managers in step with node id becoming n (nil: removed); the caller holds d.mu.
func (d *Dispatcher) noteManagerLocked(id string, n *api.Node) {
	if d.managers == nil {
		d.managers = map[string]*api.Node{}
	}
	if n != nil && n.Role == api.RoleManager {
		d.managers[id] = n
	} else {
		delete(d.managers, id)
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Task is a task as the view has it.
func (d *Dispatcher) Task(id string) (*api.Task, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tasks[id]
	return t, ok
}

// waitReady waits for the view.
func (d *Dispatcher) waitReady(ctx context.Context) error {
	select {
	case <-d.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return ErrNotReady
	}
}

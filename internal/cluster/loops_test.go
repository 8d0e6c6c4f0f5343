package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/jonboulle/clockwork"

	"github.com/berth/berth/internal/cluster/agent"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/dispatcher"
	"github.com/berth/berth/internal/cluster/store"
)

// The leader's loops (orchestrator and scheduler shells), the dispatcher and real agents over an in-memory
// store, with the engine a fake: a whole swarm in one process, without root, on a fake clock.

// fakeEngine is an engine of containers that run until killed or told to exit.
type fakeEngine struct {
	mu     sync.Mutex
	node   string
	images map[string]bool
	ctrs   map[string]*fakeCtr
	seq    int
	// failStart makes containers of this image exit at once with code 1.
	failStart string
	// onStop, if set, is called as a container is asked to stop, before it exits.
	onStop func(id string)
}

type fakeCtr struct {
	agent.Container
	cfg  agent.ContainerConfig
	done chan struct{}
}

func newFakeEngine(node string) *fakeEngine {
	return &fakeEngine{node: node, images: map[string]bool{"busybox:latest": true}, ctrs: map[string]*fakeCtr{}}
}

func (e *fakeEngine) ImageExists(_ context.Context, ref string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.images[ref]
}

func (e *fakeEngine) PullImage(_ context.Context, ref, _ string) error {
	return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("pull access denied for %s, repository does not exist or may require 'docker login'", ref))
}

func (e *fakeEngine) Create(_ context.Context, cfg agent.ContainerConfig) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.ctrs {
		if c.Name == cfg.Name {
			return "", errdefs.ErrConflict.WithMessage("name in use")
		}
	}
	e.seq++
	id := fmt.Sprintf("%s-c%d", e.node, e.seq)
	e.ctrs[id] = &fakeCtr{Container: agent.Container{ID: id, Name: cfg.Name, Labels: cfg.Labels, State: "created"}, cfg: cfg, done: make(chan struct{})}
	return id, nil
}

func (e *fakeEngine) get(id string) (*fakeCtr, error) {
	c := e.ctrs[id]
	if c == nil {
		return nil, errdefs.ErrNotFound.WithMessage("No such container: " + id)
	}
	return c, nil
}

func (e *fakeEngine) Start(_ context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.get(id)
	if err != nil {
		return err
	}
	c.State, c.Pid = "running", 100+e.seq
	if e.failStart != "" && c.cfg.Spec.Image == e.failStart {
		c.State, c.ExitCode = "exited", 1
		close(c.done)
	}
	return nil
}

// exit ends a container with code.
func (e *fakeEngine) exit(id string, code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.ctrs[id]; c != nil && c.State == "running" {
		c.State, c.ExitCode = "exited", code
		close(c.done)
	}
}

func (e *fakeEngine) Stop(_ context.Context, id string, _ time.Duration) error {
	e.mu.Lock()
	hook := e.onStop
	e.mu.Unlock()
	if hook != nil {
		hook(id)
	}
	e.exit(id, 137)
	return nil
}

// setHealth sets a container's health check status.
func (e *fakeEngine) setHealth(id, health string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.ctrs[id]; c != nil {
		c.Health = health
	}
}

func (e *fakeEngine) Remove(_ context.Context, id string) error {
	e.exit(id, 137)
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.get(id); err != nil {
		return err
	}
	delete(e.ctrs, id)
	return nil
}

func (e *fakeEngine) Wait(ctx context.Context, id string) (int, error) {
	e.mu.Lock()
	c, err := e.get(id)
	e.mu.Unlock()
	if err != nil {
		return 0, err
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return c.ExitCode, nil
}

func (e *fakeEngine) Inspect(_ context.Context, id string) (agent.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.get(id)
	if err != nil {
		return agent.Container{}, err
	}
	return c.Container, nil
}

func (e *fakeEngine) List(_ context.Context, labels map[string]string) ([]agent.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []agent.Container
	for _, c := range e.ctrs {
		ok := true
		for k, v := range labels {
			if have, found := c.Labels[k]; !found || (v != "" && have != v) {
				ok = false
			}
		}
		if ok {
			out = append(out, c.Container)
		}
	}
	return out, nil
}

func (e *fakeEngine) Logs(_ context.Context, id string, _ agent.LogsOptions, emit func(agent.LogLine) error) error {
	e.mu.Lock()
	c, err := e.get(id)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	return emit(agent.LogLine{Timestamp: time.Unix(1700000000, 0), Stream: "stdout", Data: []byte("hello from " + c.Name + "\n")})
}

// running are the names of the running containers.
func (e *fakeEngine) running() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, c := range e.ctrs {
		if c.State == "running" {
			out = append(out, c.Name)
		}
	}
	slices.Sort(out)
	return out
}

func (e *fakeEngine) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, c := range e.ctrs {
		out = append(out, c.Name)
	}
	slices.Sort(out)
	return out
}

// localDispatcher reaches a dispatcher in-process, as a node's agent (the HTTP wire aside).
type localDispatcher struct {
	d    func() *dispatcher.Dispatcher
	node string
}

type localSession struct{ s *dispatcher.Session }

func (l localSession) Recv(ctx context.Context) (*api.Assignments, error) { return l.s.Next(ctx) }
func (l localSession) Close()                                             { l.s.Close() }

func (l localDispatcher) Session(ctx context.Context) (agent.Session, error) {
	d := l.d()
	if d == nil {
		return nil, errNotLeader
	}
	s, err := d.Open(ctx, l.node)
	if err != nil {
		return nil, err
	}
	return localSession{s}, nil
}

func (l localDispatcher) UpdateStatus(ctx context.Context, sid string, u []api.StatusUpdate) error {
	d := l.d()
	if d == nil {
		return errNotLeader
	}
	return d.UpdateStatus(ctx, l.node, sid, u)
}

func (l localDispatcher) PublishLogs(ctx context.Context, sub string, msgs <-chan api.LogMessage) error {
	d := l.d()
	if d == nil {
		return errNotLeader
	}
	return d.PublishLogs(ctx, l.node, sub, func() (api.LogMessage, bool, error) {
		m, ok := <-msgs
		return m, ok, nil
	})
}

// miniSwarm is a swarm of nodes in one process: the store, the leader's loops, an agent per node.
type miniSwarm struct {
	t       *testing.T
	ctx     context.Context
	st      *store.Store
	clock   *clockwork.FakeClock
	disp    *dispatcher.Dispatcher
	orch    *orchestrate
	sched   *schedule
	engines map[string]*fakeEngine
	agents  map[string]context.CancelFunc
	wg      sync.WaitGroup
}

func newMiniSwarm(t *testing.T, nodes ...string) *miniSwarm {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ms := &miniSwarm{t: t, ctx: ctx, st: store.New(store.NewMemoryBackend(store.WithHistory(1 << 20))),
		clock: clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), engines: map[string]*fakeEngine{}, agents: map[string]context.CancelFunc{}}
	t.Cleanup(func() { cancel(); ms.wg.Wait() })
	cl := &api.Cluster{ID: "cluster", Spec: api.DefaultClusterSpec()}
	must(t, ms.st.Update(ctx, func(tx *store.Tx) error { return store.Create(tx, cl) }))
	for _, n := range nodes {
		ms.addNode(n)
	}
	log := slog.New(slog.DiscardHandler)
	ms.disp = dispatcher.New(ms.st, dispatcher.WithLogger(log), dispatcher.WithClock(ms.clock.Now))
	ms.orch = newOrchestrate(ms.st, ms.clock, log)
	ms.sched = newSchedule(ms.st, ms.clock, log)
	ms.orch.known, ms.sched.known = ms.disp.Task, ms.disp.Task
	ms.wg.Add(3)
	go func() { defer ms.wg.Done(); ms.disp.Run(ctx) }()
	go func() { defer ms.wg.Done(); ms.orch.run(ctx) }()
	go func() { defer ms.wg.Done(); ms.sched.run(ctx) }()
	for _, n := range nodes {
		ms.startAgent(n)
	}
	return ms
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (ms *miniSwarm) addNode(id string) {
	n := &api.Node{ID: id, Role: api.RoleWorker, Spec: api.NodeSpec{DesiredRole: api.RoleWorker, Availability: api.AvailabilityActive},
		Description: api.NodeDescription{Hostname: "host-" + id, Platform: api.Platform{OS: "linux", Architecture: "x86_64"}},
		Status:      api.NodeStatus{State: api.NodeStateReady}}
	must(ms.t, ms.st.Update(ms.ctx, func(tx *store.Tx) error { return store.Create(tx, n) }))
	if _, ok := ms.engines[id]; !ok {
		ms.engines[id] = newFakeEngine(id)
	}
}

func (ms *miniSwarm) startAgent(id string) {
	actx, cancel := context.WithCancel(ms.ctx)
	ms.agents[id] = cancel
	a := agent.New(agent.Config{NodeID: id, Backend: ms.engines[id], Dispatcher: localDispatcher{d: func() *dispatcher.Dispatcher { return ms.disp }, node: id},
		Describe: func() api.NodeDescription { return api.NodeDescription{Hostname: "host-" + id} }, Logger: slog.New(slog.DiscardHandler)})
	ms.wg.Add(1)
	go func() { defer ms.wg.Done(); a.Run(actx) }()
}

func (ms *miniSwarm) setNode(id string, f func(*api.Node)) {
	must(ms.t, ms.st.Update(ms.ctx, func(tx *store.Tx) error {
		n, err := store.Get[api.Node](ms.ctx, tx, id)
		if err != nil {
			return err
		}
		f(n)
		return store.Put(tx, n)
	}))
}

// eventually waits for cond, a condition on the whole swarm.
func (ms *miniSwarm) eventually(what string, cond func() bool) {
	ms.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	ms.t.Fatalf("%s: never; tasks:\n%s", what, ms.describe())
}

func (ms *miniSwarm) tasks() []*api.Task {
	ts, err := store.List[api.Task](ms.ctx, ms.st)
	must(ms.t, err)
	return ts
}

func (ms *miniSwarm) describe() string {
	var b strings.Builder
	for _, t := range ms.tasks() {
		fmt.Fprintf(&b, "  %s slot=%d node=%s desired=%s state=%s %q %q\n", t.ID[:6], t.Slot, t.NodeID, t.DesiredState, t.Status.State, t.Status.Message, t.Status.Err)
	}
	for id, e := range ms.engines {
		fmt.Fprintf(&b, "  engine %s: %v\n", id, e.all())
	}
	return b.String()
}

// runningOn counts the running containers of a service on every node.
func (ms *miniSwarm) running(svc string) int {
	n := 0
	for _, e := range ms.engines {
		for _, name := range e.running() {
			if strings.HasPrefix(name, svc+".") {
				n++
			}
		}
	}
	return n
}

func (ms *miniSwarm) containers(svc string) int {
	n := 0
	for _, e := range ms.engines {
		for _, name := range e.all() {
			if strings.HasPrefix(name, svc+".") {
				n++
			}
		}
	}
	return n
}

func replicated(name string, n uint64, args ...string) api.ServiceSpec {
	return api.ServiceSpec{Annotations: api.Annotations{Name: name}, Mode: api.ModeReplicated, Replicas: &n,
		Task: api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox:latest", Args: args}}}
}

func (ms *miniSwarm) create(spec api.ServiceSpec) string {
	ms.t.Helper()
	id, err := createService(ms.ctx, ms.st, spec, "")
	must(ms.t, err)
	return id
}

func (ms *miniSwarm) update(ref string, f func(*api.ServiceSpec), opts ServiceUpdateOptions) {
	ms.t.Helper()
	s, err := lookupService(ms.ctx, ms.st, ref)
	must(ms.t, err)
	spec := s.Spec
	if f != nil {
		f(&spec)
	}
	_, err = updateService(ms.ctx, ms.st, ref, s.Version, spec, opts)
	must(ms.t, err)
}

// A replicated service through the whole pipeline: placed spread over the nodes, run by the agents with
// docker's names, scaled up and down, removed (its containers go).
func TestLoopsReplicatedLifecycle(t *testing.T) {
	ms := newMiniSwarm(t, "n1", "n2", "n3")
	ms.create(replicated("web", 3))
	ms.eventually("3 running", func() bool { return ms.running("web") == 3 })
	for id, e := range ms.engines {
		if r := e.running(); len(r) != 1 {
			t.Fatalf("node %s runs %v: not spread", id, r)
		}
	}
	for _, tk := range ms.tasks() {
		if tk.Status.State != api.TaskRunning && ms.running("web") == 3 {
			continue
		}
		name := api.TaskName(tk)
		if !strings.HasPrefix(name, fmt.Sprintf("web.%d.", tk.Slot)) {
			t.Fatalf("task name %q", name)
		}
	}
	ms.eventually("the store says 3 running", func() bool {
		n := 0
		for _, tk := range ms.tasks() {
			if tk.Status.State == api.TaskRunning && !tk.StartedAt.IsZero() {
				n++
			}
		}
		return n == 3
	})

	ms.update("web", func(s *api.ServiceSpec) { n := uint64(5); s.Replicas = &n }, ServiceUpdateOptions{})
	ms.eventually("5 running", func() bool { return ms.running("web") == 5 })
	ms.update("web", func(s *api.ServiceSpec) { n := uint64(1); s.Replicas = &n }, ServiceUpdateOptions{})
	ms.eventually("1 running, the others' containers gone", func() bool { return ms.running("web") == 1 && ms.containers("web") == 1 })

	if _, err := removeService(ms.ctx, ms.st, "web"); err != nil {
		t.Fatal(err)
	}
	ms.eventually("no container and no task left", func() bool { return ms.containers("web") == 0 && len(ms.tasks()) == 0 })
}

// A service on a cluster network: each task gets its address when it is made, its attachment follows it to the
// node the scheduler picks, the agent creates the container claiming it, and the addresses go back to the
// pool as tasks are removed (scaled down, then the service removed).
func TestLoopsTaskNetworks(t *testing.T) {
	ms := newMiniSwarm(t, "n1", "n2")
	n, err := createNetwork(ms.ctx, ms.st, spec("appnet", false, withSubnet("10.77.0.0/24", "")))
	must(t, err)
	s := replicated("app", 2)
	s.Task.Networks = []api.NetworkAttachment{{Target: "appnet", Aliases: []string{"backend"}}}
	ms.create(s)
	ms.eventually("2 running", func() bool { return ms.running("app") == 2 })

	atts, err := store.List[api.Attachment](ms.ctx, ms.st)
	must(t, err)
	byTask := map[string]*api.Attachment{}
	for _, a := range atts {
		byTask[a.TaskID] = a
	}
	for _, tk := range ms.tasks() {
		a := byTask[tk.ID]
		if a == nil || len(tk.Networks) != 1 || tk.Networks[0].AttachmentID != a.ID || tk.Networks[0].NetworkID != n.ID ||
			tk.Networks[0].Addresses[0] != a.Addr.String() || a.NodeID != tk.NodeID || a.ServiceID != tk.ServiceID {
			t.Fatalf("task %s on %s: networks %+v, attachment %+v", tk.ID, tk.NodeID, tk.Networks, a)
		}
		e := ms.engines[tk.NodeID]
		e.mu.Lock()
		var cfg *agent.ContainerConfig
		for _, c := range e.ctrs {
			if c.Labels[agent.LabelTaskID] == tk.ID {
				cfg = &c.cfg
			}
		}
		e.mu.Unlock()
		want := []agent.NetworkEndpoint{{NetworkID: n.ID, Attachment: a.ID, Address: a.Addr.String(), Aliases: []string{"backend"}}}
		if cfg == nil || !reflect.DeepEqual(cfg.Networks, want) {
			t.Fatalf("task %s's container: %+v, want networks %+v", tk.ID, cfg, want)
		}
	}
	// The two tasks' addresses and the service's VIP (vip mode, the default).
	svc, err := lookupService(ms.ctx, ms.st, "app")
	must(t, err)
	if got := allocated(t, ms.st, "10.77.0.0/24"); len(got) != 3 || !slices.Contains(got, svc.VIP(n.ID).Addr()) {
		t.Fatalf("allocated %v, the service's VIP %v", got, svc.VIP(n.ID))
	}

	ms.update("app", func(s *api.ServiceSpec) { n := uint64(1); s.Replicas = &n }, ServiceUpdateOptions{})
	ms.eventually("1 task and 1 attachment left", func() bool {
		atts, err := store.List[api.Attachment](ms.ctx, ms.st)
		return err == nil && len(ms.tasks()) == 1 && len(atts) == 1
	})
	if _, err := removeService(ms.ctx, ms.st, "app"); err != nil {
		t.Fatal(err)
	}
	ms.eventually("no task and no attachment left", func() bool {
		atts, err := store.List[api.Attachment](ms.ctx, ms.st)
		return err == nil && len(ms.tasks()) == 0 && len(atts) == 0
	})
	if got := allocated(t, ms.st, "10.77.0.0/24"); len(got) != 0 {
		t.Fatalf("allocated after the service: %v", got)
	}
}

// A task placed on a node that went silent before taking it (bench/swarm-scale.sh's lost nodes: a replacement
// placed on a node whose heartbeats had stopped but that was not marked down yet) stays desired SHUTDOWN and
// observed ASSIGNED once the node is down and the task is replaced elsewhere: no agent can acknowledge it, as in
// swarmkit (where it stays so until the node comes back or, a day later, becomes ORPHANED). When the node comes
// back, its agent gets the task desired shut down and acknowledges it; nothing runs it.
func TestLoopsTaskOnSilentNodeAcknowledgedWhenBack(t *testing.T) {
	ms := newMiniSwarm(t, "n2")
	ms.addNode("n1") // ready in the store, but no agent: silent
	zero := time.Duration(0)
	spec := replicated("web", 2)
	spec.Task.RestartPolicy = &api.RestartPolicy{Condition: api.RestartAny, Delay: &zero}
	ms.create(spec)
	var silent string
	ms.eventually("one task running on n2, one assigned to the silent n1", func() bool {
		silent = ""
		running := 0
		for _, tk := range ms.tasks() {
			switch {
			case tk.NodeID == "n1" && tk.Status.State == api.TaskAssigned:
				silent = tk.ID
			case tk.NodeID == "n2" && tk.Status.State == api.TaskRunning:
				running++
			}
		}
		return silent != "" && running == 1
	})

	// The leader marks n1 down: its task is replaced on n2 and stays unacknowledged.
	ms.setNode("n1", func(n *api.Node) { n.Status.State, n.Status.Message = api.NodeStateDown, "heartbeat failure" })
	ms.eventually("both slots running on n2", func() bool { return len(ms.engines["n2"].running()) == 2 })
	tk, err := store.Get[api.Task](ms.ctx, ms.st, silent)
	must(t, err)
	if tk.DesiredState != api.TaskShutdown || tk.Status.State != api.TaskAssigned {
		t.Fatalf("the silent node's task: desired %s, observed %s; want desired shutdown, still assigned", tk.DesiredState, tk.Status.State)
	}

	// n1 comes back: its agent acknowledges the shutdown without running the task.
	ms.setNode("n1", func(n *api.Node) { n.Status.State, n.Status.Message = api.NodeStateReady, "" })
	ms.startAgent("n1")
	ms.eventually("the silent node's task acknowledged shut down", func() bool {
		tk, err := store.Get[api.Task](ms.ctx, ms.st, silent)
		return err == nil && tk.Status.State == api.TaskShutdown
	})
	if r := ms.engines["n1"].running(); len(r) != 0 {
		t.Fatalf("n1 runs %v after coming back; want nothing (the service's 2 tasks run on n2)", r)
	}
	if n := len(ms.engines["n2"].running()); n != 2 {
		t.Fatalf("n2 runs %d tasks, want 2", n)
	}
}

// A running task whose container turns unhealthy leaves its service's backends (the networks watch's running
// tasks, which every node's VIPs, mesh and DNS follow) before its container gets the stop signal, then ends
// FAILED with docker's cause.
func TestLoopsUnhealthyTaskLeavesBackendsBeforeStop(t *testing.T) {
	ms := newMiniSwarm(t, "n1")
	_, err := createNetwork(ms.ctx, ms.st, spec("hnet", false, withSubnet("10.78.0.0/24", "")))
	must(t, err)
	s := replicated("hc", 1)
	s.Task.Networks = []api.NetworkAttachment{{Target: "hnet"}}
	s.Task.Container.Healthcheck = &api.HealthConfig{Test: []string{"CMD", "true"}}
	ms.create(s)
	ms.eventually("1 running", func() bool { return ms.running("hc") == 1 })
	var first *api.Task
	ms.eventually("the task is a backend", func() bool {
		for _, tk := range ms.tasks() {
			if taskRunOf(tk).Running {
				first = tk
			}
		}
		return first != nil
	})

	e := ms.engines["n1"]
	type atStop struct {
		status  api.TaskStatus
		backend bool
	}
	stops := make(chan atStop, 4)
	e.mu.Lock()
	e.onStop = func(string) {
		tk, err := store.Get[api.Task](ms.ctx, ms.st, first.ID)
		if err == nil {
			stops <- atStop{tk.Status, taskRunOf(tk).Running}
		}
	}
	e.mu.Unlock()
	e.setHealth(first.Status.ContainerID, "unhealthy")

	got := <-stops
	if got.backend || !got.status.Unhealthy || got.status.State != api.TaskRunning {
		t.Fatalf("at the stop signal the task was %+v (a backend: %v), want RUNNING, unhealthy, not a backend", got.status, got.backend)
	}
	ms.eventually("the task failed unhealthy", func() bool {
		tk, err := store.Get[api.Task](ms.ctx, ms.st, first.ID)
		return err == nil && tk.Status.State == api.TaskFailed && tk.Status.Err == "task: non-zero exit (137): dockerexec: unhealthy container"
	})
}

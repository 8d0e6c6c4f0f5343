// Package agent runs a node's share of the swarm, as swarmkit's agent with moby's container executor: it holds
// a session with the leader's dispatcher, takes the tasks assigned to the node, runs each through the engine
// (a Backend it declares, which the daemon implements over its containers service) and reports every step of a
// task's life back: ACCEPTED, PREPARING (the image pull), READY, STARTING, RUNNING, then COMPLETE, FAILED,
// SHUTDOWN or REJECTED, with docker's messages, errors and exit codes. Replacing a task that ended is the
// orchestrator's business: the agent only reports.
//
// A task's container is named service.slot.taskID and carries docker's labels (com.docker.swarm.service.id,
// .service.name, .task, .task.id, .task.name, .node.id), which is how an agent that restarts (even after kill -9
// of the daemon, whose containers live on) finds the containers of its tasks and carries on with them — a
// running one is reported running, not restarted. Until the first complete assignment set arrives, an agent
// touches nothing; then containers of tasks no longer assigned are removed.
//
//	a := agent.New(agent.Config{NodeID: id, Backend: b, Dispatcher: d})
//	go a.Run(ctx)          // sessions with the leader until ctx ends; containers keep running after
//	a.RemoveAll(ctx)       // the node leaves the swarm: its tasks' containers go
package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
)

// Labels docker puts on a task's container.
const (
	LabelPrefix      = "com.docker.swarm"
	LabelTask        = LabelPrefix + ".task"
	LabelTaskID      = LabelPrefix + ".task.id"
	LabelTaskName    = LabelPrefix + ".task.name"
	LabelNodeID      = LabelPrefix + ".node.id"
	LabelServiceID   = LabelPrefix + ".service.id"
	LabelServiceName = LabelPrefix + ".service.name"
)

// DefaultStopGracePeriod is how long a task's container gets to stop before it is killed (docker's 10 s).
const DefaultStopGracePeriod = 10 * time.Second

// Backend is what the agent needs of the engine, in the cluster's types (as moby's executor.Backend). Errors
// are in errdefs' categories: a missing container is ErrNotFound, a name taken ErrAlreadyExists or ErrConflict.
type Backend interface {
	// ImageExists reports whether the image is present on the node.
	ImageExists(ctx context.Context, ref string) bool
	// PullImage pulls an image with the service's registry credentials (docker's X-Registry-Auth encoding).
	PullImage(ctx context.Context, ref, registryAuth string) error
	// Create makes a task's container (not started) and returns its ID.
	Create(ctx context.Context, cfg ContainerConfig) (string, error)
	Start(ctx context.Context, id string) error
	// Stop stops a container: its stop signal, then SIGKILL after grace.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove removes a container, killing it if it runs.
	Remove(ctx context.Context, id string) error
	// Wait blocks until the container is not running and returns its exit code.
	Wait(ctx context.Context, id string) (int, error)
	Inspect(ctx context.Context, id string) (Container, error)
	// List lists the containers carrying all of labels (any value where a label's value is empty).
	List(ctx context.Context, labels map[string]string) ([]Container, error)
	// Logs sends a container's log lines to emit until the log ends (or, following, until ctx ends).
	Logs(ctx context.Context, id string, opts LogsOptions, emit func(LogLine) error) error
}

// ContainerConfig is a task's container.
type ContainerConfig struct {
	Name string
	// Spec is the task's container spec with its templates executed.
	Spec      api.ContainerSpec
	Labels    map[string]string
	Resources *api.ResourceRequirements
	LogDriver *api.Driver
	// Ports are the ports the task publishes on the node (host mode).
	Ports []api.PortSpec
	// Files are the secrets and configs the container sees as files; secrets belong on a tmpfs, never on disk.
	Files []File
	// Networks are the cluster networks the container joins, each through the endpoint the cluster allocated
	// for the task (none: the node's default bridge).
	Networks []NetworkEndpoint
}

// NetworkEndpoint is a task's endpoint on a cluster network.
type NetworkEndpoint struct {
	NetworkID string
	// Attachment is the cluster's endpoint the container claims; Address its address with the subnet's length.
	Attachment string
	Address    string
	Aliases    []string
}

// File is a secret or config as a file in a task's container.
type File struct {
	// Target is the path in the container (a secret's relative name goes under /run/secrets).
	Target   string
	Data     []byte
	UID, GID string
	Mode     uint32
	Secret   bool
}

// Container is a container as the agent sees it.
type Container struct {
	ID     string
	Name   string
	Labels map[string]string
	// State is docker's: created, running, paused, restarting, removing, exited, dead.
	State    string
	ExitCode int
	Pid      int
	// Health is the health check's status ("" without one, starting, healthy, unhealthy).
	Health string
	// Ports are the ports bound on the node.
	Ports []api.PortSpec
}

// LogsOptions select what of a container's log is sent.
type LogsOptions struct {
	Follow         bool
	Tail           int64 // lines; negative for all
	Since          time.Time
	Stdout, Stderr bool
}

// LogLine is one line of a container's log.
type LogLine struct {
	Timestamp time.Time
	Stream    string
	Data      []byte
	Attrs     map[string]string
}

// Dispatcher is the leader's dispatcher as the agent reaches it.
type Dispatcher interface {
	// Session opens the node's session.
	Session(ctx context.Context) (Session, error)
	// UpdateStatus reports tasks' statuses in the session.
	UpdateStatus(ctx context.Context, sessionID string, updates []api.StatusUpdate) error
	// PublishLogs sends a log subscription's messages until msgs is closed.
	PublishLogs(ctx context.Context, subscriptionID string, msgs <-chan api.LogMessage) error
}

// Session is a node's session: a stream of assignment messages.
type Session interface {
	Recv(ctx context.Context) (*api.Assignments, error)
	Close()
}

// Config configures an agent.
type Config struct {
	NodeID string
	// Describe is the node's description (its hostname and platform, for templates).
	Describe   func() api.NodeDescription
	Backend    Backend
	Dispatcher Dispatcher
	Logger     *slog.Logger
	// Now is the clock that stamps statuses (time.Now by default).
	Now func() time.Time
}

// Agent runs a node's tasks.
type Agent struct {
	cfg Config
	log *slog.Logger
	rep *reporter

	mu       sync.Mutex
	runners  map[string]*runner
	secrets  map[string]api.SecretData
	configs  map[string]*api.Config
	existing map[string]Container // the node's task containers found at start, by task ID
	synced   bool                 // a complete assignment set arrived
	logSubs  map[string]context.CancelFunc
	runCtx   context.Context
	wg       sync.WaitGroup
}

// New is an agent; Run starts it.
func New(cfg Config) *Agent {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Describe == nil {
		cfg.Describe = func() api.NodeDescription { return api.NodeDescription{} }
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("component", "agent", "node", cfg.NodeID),
		runners: map[string]*runner{}, secrets: map[string]api.SecretData{}, configs: map[string]*api.Config{},
		logSubs: map[string]context.CancelFunc{}}
	a.rep = newReporter(a)
	return a
}

// Run holds sessions with the leader and runs the node's tasks until ctx ends. The tasks' containers are left
// as they are: the next agent carries on with them.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	a.runCtx = ctx
	a.mu.Unlock()
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.rep.run(ctx) }()
	defer func() {
		a.mu.Lock()
		rs := make([]*runner, 0, len(a.runners))
		for _, r := range a.runners {
			rs = append(rs, r)
		}
		a.mu.Unlock()
		for _, r := range rs {
			r.stop()
		}
		a.wg.Wait()
	}()
	for ctx.Err() == nil {
		if err := a.findContainers(ctx); err != nil {
			a.log.Warn("listing the node's task containers", "error", err)
			sleep(ctx, time.Second)
			continue
		}
		break
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		s, err := a.cfg.Dispatcher.Session(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			a.log.Debug("opening a session with the dispatcher", "error", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		for {
			msg, err := s.Recv(ctx)
			if err != nil {
				if ctx.Err() == nil {
					a.log.Debug("session with the dispatcher ended", "error", err)
				}
				break
			}
			backoff = 100 * time.Millisecond
			a.handle(ctx, msg)
		}
		s.Close()
		a.rep.setSession("")
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

// findContainers lists the node's task containers, for the tasks to find theirs.
func (a *Agent) findContainers(ctx context.Context) error {
	cs, err := a.cfg.Backend.List(ctx, map[string]string{LabelNodeID: a.cfg.NodeID})
	if err != nil {
		return err
	}
	m := map[string]Container{}
	for _, c := range cs {
		if id := c.Labels[LabelTaskID]; id != "" {
			m[id] = c
		}
	}
	a.mu.Lock()
	a.existing = m
	a.mu.Unlock()
	return nil
}

// handle applies one message of the session.
func (a *Agent) handle(ctx context.Context, msg *api.Assignments) {
	if msg.SessionID != "" {
		a.rep.setSession(msg.SessionID)
	}
	if msg.Type == "" && msg.Empty() {
		return // a keep-alive
	}
	a.mu.Lock()
	complete := msg.Type == api.AssignmentsComplete
	if complete {
		a.secrets, a.configs = map[string]api.SecretData{}, map[string]*api.Config{}
	}
	for _, s := range msg.Secrets {
		a.secrets[s.ID] = s
	}
	for _, id := range msg.RemoveSecrets {
		delete(a.secrets, id)
	}
	for _, c := range msg.Configs {
		a.configs[c.ID] = c
	}
	for _, id := range msg.RemoveConfigs {
		delete(a.configs, id)
	}
	keep := map[string]bool{}
	for _, t := range msg.Tasks {
		keep[t.ID] = true
		if t.NodeID != a.cfg.NodeID {
			continue
		}
		if r := a.runners[t.ID]; r != nil {
			r.update(t)
			continue
		}
		var found *Container
		if c, ok := a.existing[t.ID]; ok {
			found = &c
			delete(a.existing, t.ID)
		}
		r := newRunner(a, t, found)
		a.runners[t.ID] = r
		a.wg.Add(1)
		go func() { defer a.wg.Done(); r.run() }()
	}
	var gone []*runner
	for _, id := range msg.RemoveTasks {
		if r := a.runners[id]; r != nil {
			gone = append(gone, r)
			delete(a.runners, id)
		}
	}
	var orphans []Container
	if complete {
		for id, r := range a.runners {
			if !keep[id] {
				gone = append(gone, r)
				delete(a.runners, id)
			}
		}
		if !a.synced {
			a.synced = true
			for id, c := range a.existing {
				if !keep[id] {
					orphans = append(orphans, c)
				}
			}
		}
		a.existing = nil
	}
	a.mu.Unlock()
	for _, r := range gone {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); r.remove(ctx) }()
	}
	for _, c := range orphans {
		a.log.Info("removing the container of a task no longer assigned", "container", c.Name)
		if err := a.cfg.Backend.Remove(ctx, c.ID); err != nil && !errdefs.IsNotFound(err) {
			a.log.Warn("removing a stale task container", "container", c.Name, "error", err)
		}
	}
	if msg.Logs != nil {
		a.serveLogs(ctx, msg.Logs)
	}
}

// RemoveAll removes the containers of every task of this node (the node left the swarm). Run must have
// returned.
func (a *Agent) RemoveAll(ctx context.Context) error {
	cs, err := a.cfg.Backend.List(ctx, map[string]string{LabelNodeID: a.cfg.NodeID})
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		if err := a.cfg.Backend.Remove(ctx, c.ID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// secret is a secret the node was sent.
func (a *Agent) secret(id string) (api.SecretData, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.secrets[id]
	return s, ok
}

func (a *Agent) config(id string) (*api.Config, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.configs[id]
	return c, ok
}

func (a *Agent) runner(id string) *runner {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.runners[id]
}

package containers

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/task"
)

// Container is the daemon's record of one container, persisted as config.v2.json in its directory.
type Container struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every state change; waiters select on it

	ID             string
	Name           string // with the leading "/", as docker stores it
	Created        time.Time
	Path           string
	Args           []string
	Config         *container.Config
	HostConfig     *container.HostConfig
	ImageID        string
	State          State
	RestartCount   int
	MountPoints    []MountPoint
	LogPath        string
	ResolvConfPath string
	HostnamePath   string
	HostsPath      string
	Runtime        string
	// EndpointsConfig holds per-network settings (aliases, a fixed IP) of the networks the container joins.
	EndpointsConfig map[string]*network.EndpointSettings `json:",omitempty"`
	// Detached marks networks the container was disconnected from, its network mode's included (docker keeps
	// the mode, and a later connect brings it back).
	Detached map[string]bool `json:",omitempty"`
	// Ports are the host ports forwarded while the container runs.
	Ports           []PublishedPort `json:",omitempty"`
	ManuallyStopped bool
	HasBeenStarted  bool
	// removing is set while rm runs, so a restart policy doesn't race it.
	removing bool
	// removed is set once rm has finished, for wait condition "removed".
	removed bool
	// pending attach streams waiting for the next start.
	pending []*attachStream
	// netDone is closed when the last exit's network teardown (in the background) has finished.
	netDone chan struct{}
	// restartCancel stops a restart-policy delay in progress.
	restartCancel func()
	// healthStop stops the health-check monitor while one runs.
	healthStop chan struct{}
	// task is the running (or exited, not yet reaped) task; nil when none.
	task task.Task
}

// State is a container's run state.
type State struct {
	Status     container.ContainerState
	Pid        int
	ExitCode   int
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	OOMKilled  bool
	// Health is the health-check state of a container with a health check, kept across stops as docker does.
	Health *container.Health `json:",omitempty"`
}

// MountPoint is a resolved mount of a container.
type MountPoint struct {
	container.MountPoint
	Anonymous bool   `json:",omitempty"` // an anonymous volume removed with rm -v
	TmpfsOpts string `json:",omitempty"`
}

// view returns an immutable copy of what listings read of c, for the service's view store; the caller holds
// c.mu. Config and HostConfig are shared: they are replaced, never changed in place.
func (c *Container) view() *Container {
	v := &Container{
		ID: c.ID, Name: c.Name, Created: c.Created, Path: c.Path, Args: slices.Clone(c.Args),
		Config: c.Config, HostConfig: c.HostConfig, ImageID: c.ImageID, State: c.State,
		RestartCount: c.RestartCount, MountPoints: slices.Clone(c.MountPoints), LogPath: c.LogPath,
		ResolvConfPath: c.ResolvConfPath, HostnamePath: c.HostnamePath, HostsPath: c.HostsPath, Runtime: c.Runtime,
		EndpointsConfig: maps.Clone(c.EndpointsConfig), Detached: maps.Clone(c.Detached), Ports: slices.Clone(c.Ports),
		ManuallyStopped: c.ManuallyStopped, HasBeenStarted: c.HasBeenStarted,
	}
	v.State.Health = copyHealth(c.State.Health)
	return v
}

// notify wakes every waiter; the caller holds c.mu.
func (c *Container) notify() {
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
}

// watch returns a channel closed at the next state change; the caller holds c.mu.
func (c *Container) watch() <-chan struct{} {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

func (c *Container) running() bool {
	return c.State.Status == container.StateRunning || c.State.Status == container.StatePaused
}

// shortID is docker's 12-character form.
func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// containerStore indexes containers by ID and name.
type containerStore struct {
	mu     sync.RWMutex
	byID   map[string]*Container
	byName map[string]string // "/name" -> id
}

func newContainerStore() *containerStore {
	return &containerStore{byID: map[string]*Container{}, byName: map[string]string{}}
}

// reserve claims name for id, failing with docker's conflict message if another container has it.
func (s *containerStore) reserve(name, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.byName[name]; ok && other != id {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", name, other))
	}
	s.byName[name] = id
	return nil
}

func (s *containerStore) release(name string) {
	s.mu.Lock()
	delete(s.byName, name)
	s.mu.Unlock()
}

func (s *containerStore) add(c *Container) {
	s.mu.Lock()
	s.byID[c.ID] = c
	s.byName[c.Name] = c.ID
	s.mu.Unlock()
}

func (s *containerStore) remove(c *Container) {
	s.mu.Lock()
	delete(s.byID, c.ID)
	if s.byName[c.Name] == c.ID {
		delete(s.byName, c.Name)
	}
	s.mu.Unlock()
}

// get finds a container by full ID, name (with or without "/") or unique ID prefix, as docker does.
func (s *containerStore) get(ref string) (*Container, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ref == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage("No such container: ")
	}
	if c, ok := s.byID[ref]; ok {
		return c, nil
	}
	name := ref
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	if id, ok := s.byName[name]; ok {
		return s.byID[id], nil
	}
	var found *Container
	for id, c := range s.byID {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("multiple IDs found with provided prefix: %s", ref))
			}
			found = c
		}
	}
	if found == nil {
		return nil, errdefs.ErrNotFound.WithMessage("No such container: " + ref)
	}
	return found, nil
}

func (s *containerStore) list() []*Container {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Container, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, c)
	}
	return out
}

// save persists c after a state change (start, exit, pause): atomically, but without fsync. Only a daemon crash
// must find it, and the page cache survives that; after a host crash every container is stopped anyway and
// restore says so. The caller holds c.mu.
func (d *Service) save(c *Container) error {
	return d.write(c, false)
}

// saveDurable persists c and flushes it to disk: for what a user asked for (create, rename, update).
func (d *Service) saveDurable(c *Container) error {
	return d.write(c, true)
}

func (d *Service) write(c *Container, durable bool) error {
	d.publish(c)
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	var opts []atomicfile.Option
	if !durable {
		opts = append(opts, atomicfile.NoSync())
	}
	return atomicfile.WriteFile(filepath.Join(d.containerDir(c.ID), "config.v2.json"), b, 0o600, opts...)
}

// publish records c's current state in the view store, which listings read without taking containers' locks;
// the caller holds c.mu. A removed container has no view.
func (d *Service) publish(c *Container) {
	if c.removed {
		return
	}
	d.views.Put(c.ID, c.view())
}

// notifyChange publishes c's new state and wakes its waiters; the caller holds c.mu.
func (d *Service) notifyChange(c *Container) {
	d.publish(c)
	c.notify()
}

func (d *Service) containerDir(id string) string {
	return filepath.Join(d.cfg.Root, id)
}
func (d *Service) stateDir(id string) string { return filepath.Join(d.cfg.RunRoot, id) }

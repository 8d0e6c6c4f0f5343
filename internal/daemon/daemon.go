// Package daemon wires Berth's services together: the image, snapshot, volume and container services, the OCI
// runtimes and shims, events, and the restore of running containers after a restart (even after kill -9).
package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/builder"
	"github.com/berth/berth/internal/cgroups"
	"github.com/berth/berth/internal/containers"
	"github.com/berth/berth/internal/content"
	"github.com/berth/berth/internal/distribution"
	berthevents "github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/image"
	berthnet "github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/oci"
	"github.com/berth/berth/internal/runtime"
	"github.com/berth/berth/internal/snapshot"
	"github.com/berth/berth/internal/task"
	"github.com/berth/berth/internal/volume"
)

// Daemon is one running Berth engine.
type Daemon struct {
	cfg        Config
	containers *containerStore
	images     *image.Store
	registries *distribution.Service
	content    *content.Store
	snapshots  *snapshot.Store
	volumes    *volume.Store
	networks   *berthnet.Manager
	events     *berthevents.Bus
	runtimes   map[string]*runtime.Runtime
	tasks      map[string]task.Runtime // by runtime name
	execs      *execStore
	cgroupV2   bool
	primer     *cgroups.Primer // keeps the runtime's cgroup migrations off a grace-period wait during starts
	// defaultNetwork is what `run` without --network joins: "bridge", or "none" with --bridge none.
	defaultNetwork string
	daemonCaps     []string
	started        time.Time

	// ctx is the daemon's lifetime, for monitors and restart timers; cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// cleanups tracks removed containers' files being deleted in the background; image deletion waits for
	// it, so no layer is still mounted by a container that is already gone.
	cleanups inFlight

	// builder is made on first use (see build.go).
	builderOnce sync.Once
	builder     *builder.Builder
	builderErr  error
}

// inFlight counts background jobs; unlike a WaitGroup, waiting may overlap with new jobs starting.
type inFlight struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    int
}

func (f *inFlight) Add(n int) {
	f.mu.Lock()
	f.n += n
	f.mu.Unlock()
}

func (f *inFlight) Done() {
	f.mu.Lock()
	f.n--
	if f.n == 0 && f.cond != nil {
		f.cond.Broadcast()
	}
	f.mu.Unlock()
}

// Wait blocks until no job is in flight.
func (f *inFlight) Wait() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cond == nil {
		f.cond = sync.NewCond(&f.mu)
	}
	for f.n > 0 {
		f.cond.Wait()
	}
}

// trashSuffix marks a removed container's directory whose deletion is under way.
const trashSuffix = ".removed"

// New opens (or creates) the daemon's state under cfg.DataRoot and cfg.ExecRoot and restores its containers.
func New(ctx context.Context, cfg Config) (*Daemon, error) {
	if cfg.DataRoot == "" {
		cfg.DataRoot = DefaultDataRoot
	}
	if cfg.ExecRoot == "" {
		cfg.ExecRoot = DefaultExecRoot
	}
	for _, dir := range []string{cfg.DataRoot, cfg.ExecRoot, filepath.Join(cfg.DataRoot, "containers"), filepath.Join(cfg.ExecRoot, "containers")} {
		if err := os.MkdirAll(dir, 0o710); err != nil {
			return nil, err
		}
	}
	if cfg.ShimPath == "" {
		p, err := findBinary("berth-shim")
		if err != nil {
			return nil, err
		}
		cfg.ShimPath = p
	}
	if cfg.InitPath == "" {
		for _, p := range []string{"/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/bin/tini"} {
			if _, err := os.Stat(p); err == nil {
				cfg.InitPath = p
				break
			}
		}
	}
	d := &Daemon{
		cfg:        cfg,
		containers: newContainerStore(),
		events:     berthevents.New(),
		execs:      newExecStore(),
		started:    time.Now(),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.cgroupV2 = isCgroupV2()
	d.primer = cgroups.NewPrimer()
	if caps, err := oci.CurrentCapabilities(); err == nil {
		d.daemonCaps = caps
	}
	if err := d.setupRuntimes(); err != nil {
		return nil, err
	}
	var err error
	if d.registries, err = distribution.New(distribution.Config{Insecure: cfg.InsecureRegistries, Mirrors: cfg.RegistryMirrors}); err != nil {
		return nil, err
	}
	if d.content, err = content.Open(filepath.Join(cfg.DataRoot, "content")); err != nil {
		return nil, err
	}
	if d.snapshots, err = snapshot.New(filepath.Join(cfg.DataRoot, "overlay")); err != nil {
		return nil, err
	}
	if d.images, err = image.New(ctx, filepath.Join(cfg.DataRoot, "image"), d.content, &layerStore{d.snapshots},
		image.WithEventHook(d.imageEvent)); err != nil {
		return nil, err
	}
	if d.volumes, err = volume.New(filepath.Join(cfg.DataRoot, "volumes")); err != nil {
		return nil, err
	}
	bridge, table := networkNames(cfg.DataRoot)
	if cfg.Bridge == "none" {
		bridge = "none"
	} else if cfg.Bridge != "" {
		bridge = cfg.Bridge
	}
	if d.networks, err = berthnet.New(ctx, berthnet.Config{Root: filepath.Join(cfg.DataRoot, "network"),
		ExecRoot: cfg.ExecRoot, DefaultBridge: bridge, Table: table}); err != nil {
		return nil, err
	}
	d.defaultNetwork = "none"
	if bridge != "none" {
		d.defaultNetwork = berthnet.Bridge
	}
	if err := d.restore(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// findBinary looks for name next to the running executable, then in $PATH.
func findBinary(name string) (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found next to the berth binary or in $PATH: %w", name, errdefs.ErrNotFound)
	}
	return p, nil
}

func isCgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// setupRuntimes registers runc and crun (when installed) plus daemon.json's runtimes. crun refuses a hybrid
// cgroup layout (v1 controllers plus a v2 mount): on such hosts it runs in a private mount namespace without the
// cgroup2 mount, through a small wrapper script.
func (d *Daemon) setupRuntimes() error {
	d.runtimes = map[string]*runtime.Runtime{}
	d.tasks = map[string]task.Runtime{}
	rtRoot := filepath.Join(d.cfg.ExecRoot, "runtime")
	add := func(name, path string, args []string) (*runtime.Runtime, error) {
		root := filepath.Join(rtRoot, name)
		if err := os.MkdirAll(root, 0o700); err != nil {
			return nil, err
		}
		rt := &runtime.Runtime{Name: name, Path: path, Args: args, Root: root}
		d.runtimes[name] = rt
		d.tasks[name] = runtime.NewTasks(rt, d.cfg.ShimPath)
		return rt, nil
	}
	for _, name := range []string{"runc", "crun"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		real := p
		hybrid := name == "crun" && !d.cgroupV2 && isDir("/sys/fs/cgroup/unified")
		if hybrid {
			w := filepath.Join(rtRoot, "crun-hybrid")
			if err := os.MkdirAll(rtRoot, 0o700); err != nil {
				return err
			}
			script := "#!/bin/sh\n# crun rejects hybrid cgroups: run it without the cgroup2 mount, in a private mount namespace.\n" +
				"exec unshare --mount --propagation private sh -c 'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec \"$0\" \"$@\"' " + p + " \"$@\"\n"
			if err := atomicfile.WriteFile(w, []byte(script), 0o700); err != nil {
				return err
			}
			p = w
		}
		rt, err := add(name, p, nil)
		if err != nil {
			return err
		}
		if hybrid {
			rt.ShimPath, rt.HideMounts = real, []string{"/sys/fs/cgroup/unified"}
		}
		// runc and crun copy themselves into a sealed memfd on every call unless they run from one already.
		if rt.Sealed, err = runtime.Seal(real, filepath.Join(d.cfg.ExecRoot, "runtime-bin")); err != nil {
			slog.Warn("running the runtime from its file", "runtime", name, "error", err)
		}
	}
	for name, rc := range d.cfg.Runtimes {
		if _, err := add(name, rc.Path, rc.RuntimeArgs); err != nil {
			return err
		}
	}
	if d.cfg.DefaultRuntime == "" {
		d.cfg.DefaultRuntime = "runc"
	}
	if _, ok := d.runtimes[d.cfg.DefaultRuntime]; !ok {
		return fmt.Errorf("default runtime %q is not installed: %w", d.cfg.DefaultRuntime, errdefs.ErrNotFound)
	}
	return nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// taskRuntime returns the task runtime of the OCI runtime name ("" for the default).
func (d *Daemon) taskRuntime(name string) (task.Runtime, error) {
	if name == "" {
		name = d.cfg.DefaultRuntime
	}
	t, ok := d.tasks[name]
	if !ok {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unknown or invalid runtime name: %s", name))
	}
	return t, nil
}

func (d *Daemon) runtime(name string) (*runtime.Runtime, error) {
	if name == "" {
		name = d.cfg.DefaultRuntime
	}
	rt, ok := d.runtimes[name]
	if !ok {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unknown or invalid runtime name: %s", name))
	}
	return rt, nil
}

// Close stops background work. Running containers keep running: their shims own them.
func (d *Daemon) Close() error {
	d.cancel()
	d.wg.Wait()
	d.cleanups.Wait()
	return nil
}

// Debug reports whether the daemon runs in debug mode (-D).
func (d *Daemon) Debug() bool { return d.cfg.Debug || d.cfg.LogLevel == "debug" }

// Events is the engine's event bus.
func (d *Daemon) Events() *berthevents.Bus { return d.events }

func (d *Daemon) containerEvent(c *Container, action events.Action, extra map[string]string) {
	attrs := map[string]string{"name": strings.TrimPrefix(c.Name, "/")}
	if c.Config != nil {
		attrs["image"] = c.Config.Image
		for k, v := range c.Config.Labels {
			attrs[k] = v
		}
	}
	for k, v := range extra {
		attrs[k] = v
	}
	d.events.Publish(events.ContainerEventType, action, c.ID, attrs)
}

func (d *Daemon) imageEvent(action, id, ref string) {
	attrs := map[string]string{}
	if ref != "" {
		attrs["name"] = ref
	}
	d.events.Publish(events.ImageEventType, events.Action(action), id, attrs)
}

// restore loads every container record and reconciles it with its shim: running containers whose shim is alive
// are monitored again; those that exited while the daemon was away get their exit code, and restart policies
// resume.
func (d *Daemon) restore(ctx context.Context) error {
	entries, err := os.ReadDir(filepath.Join(d.cfg.DataRoot, "containers"))
	if err != nil {
		return err
	}
	var toStart []*Container
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), trashSuffix) {
			os.RemoveAll(filepath.Join(d.cfg.DataRoot, "containers", e.Name()))
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.cfg.DataRoot, "containers", e.Name(), "config.v2.json"))
		if err != nil {
			slog.WarnContext(ctx, "skipping container without a readable record", "container", e.Name(), "error", err)
			continue
		}
		c := &Container{}
		if err := json.Unmarshal(b, c); err != nil {
			slog.WarnContext(ctx, "skipping container with a corrupt record", "container", e.Name(), "error", err)
			continue
		}
		d.containers.add(c)
		c.mu.Lock()
		switch c.State.Status {
		case container.StateRunning, container.StatePaused, container.StateRestarting:
			if d.reattach(ctx, c) {
				c.mu.Unlock()
				continue
			}
			if c.shouldRestart() {
				toStart = append(toStart, c)
			}
		case container.StateRemoving:
			c.mu.Unlock()
			go d.Remove(context.WithoutCancel(ctx), c.ID, containers.RemoveOptions{Force: true, Volumes: false})
			continue
		case container.StateCreated:
		default:
			// An exited container with restart=always that was running when the host rebooted is restarted by
			// docker only if it was running; Berth follows the recorded state above.
		}
		c.mu.Unlock()
	}
	// Snapshots of containers that no longer exist (the daemon stopped while deleting them).
	if ids, err := d.snapshots.Containers(ctx); err == nil {
		for _, id := range ids {
			if _, err := d.containers.get(id); err != nil || len(id) != 64 {
				if err := d.snapshots.Remove(ctx, id); err != nil {
					slog.WarnContext(ctx, "removing a leftover container filesystem", "container", id, "error", err)
				}
			}
		}
	}
	// State directories of containers that no longer exist (removed while their shim was finishing).
	if dirs, err := os.ReadDir(filepath.Join(d.cfg.ExecRoot, "containers")); err == nil {
		for _, e := range dirs {
			if _, err := d.containers.get(e.Name()); err != nil || len(e.Name()) != 64 {
				os.RemoveAll(filepath.Join(d.cfg.ExecRoot, "containers", e.Name()))
			}
		}
	}
	for _, c := range toStart {
		c := c
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := d.start(d.ctx, c, true); err != nil {
				slog.Warn("restart policy: start failed", "container", c.ID, "error", err)
			}
		}()
	}
	return nil
}

// containersUsingVolume lists the containers that mount volume name.
func (d *Daemon) containersUsingVolume(name string) []string {
	var ids []string
	for _, c := range d.containers.list() {
		c.mu.Lock()
		for _, m := range c.MountPoints {
			if m.Type == "volume" && m.Name == name {
				ids = append(ids, c.ID)
				break
			}
		}
		c.mu.Unlock()
	}
	sort.Strings(ids)
	return ids
}

// platformOS is the OS reported everywhere.
const platformOS = "linux"

var platformArch = goruntime.GOARCH

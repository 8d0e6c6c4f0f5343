package containers

import (
	"net/netip"
	goruntime "runtime"

	"github.com/jonboulle/clockwork"

	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/opencontainers/go-digest"

	berthnet "github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/state"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/cgroups"
	"github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/image"
	"github.com/berth/berth/internal/task"
	"github.com/berth/berth/internal/volume"
)

// The containers service owns the container records (their store and locks), the processes' lifecycle through
// task runtimes, and everything a client does to one container. It reaches the rest of the engine only through
// the small interfaces below, which the daemon wires to the image, snapshot, volume and network services, so that
// it can be tested with fakes.

// Images is what the containers service needs of the image store: an image's record and config for create and
// commit, sizes for listings, descendants for the ancestor filter.
type Images interface {
	Get(ctx context.Context, refOrID string) (*image.Image, error)
	Config(ctx context.Context, refOrID string) (*ocispec.Image, error)
	Size(ctx context.Context, refOrID string) (int64, error)
	Descendants(ctx context.Context, refOrID string) ([]digest.Digest, error)
	Commit(ctx context.Context, parentID string, layer io.Reader, cfg image.CommitConfig) (digest.Digest, error)
}

// Snapshots is the layer store: each container's copy-on-write root filesystem, and the init layer.
type Snapshots interface {
	Create(ctx context.Context, id string, chainID digest.Digest) error
	Mount(ctx context.Context, id string) (string, error)
	Unmount(ctx context.Context, id string) error
	Remove(ctx context.Context, id string) error
	Containers(ctx context.Context) ([]string, error)
	Upper(id string) string
	LowersOf(ctx context.Context, id string) ([]string, error)
	Lowers(ctx context.Context, chainID digest.Digest) ([]string, error)
	EnsureLayer(ctx context.Context, chainID, parent digest.Digest, apply func(dir string) error) (string, error)
	Usage(ctx context.Context, id string) int64
}

// Volumes are named volumes, created for a container's mounts and removed with it (rm -v).
type Volumes interface {
	Create(ctx context.Context, name string, labels, opts map[string]string) (volume.Volume, error)
	Get(ctx context.Context, name string) (volume.Volume, error)
	Remove(ctx context.Context, name string, force bool, inUse func(name string) []string) error
}

// Networks gives containers their network namespaces, endpoints, published ports and embedded DNS.
type Networks interface {
	Get(ref string) (berthnet.Network, error)
	IsUserDefined(ref string) bool
	NewSandbox(ctx context.Context, containerID string) (string, error)
	DeleteSandbox(ctx context.Context, containerID string) error
	SandboxPath(containerID string) string
	Attach(ctx context.Context, sb berthnet.Sandbox, ref string, opts berthnet.EndpointOptions) (berthnet.Endpoint, error)
	Detach(ctx context.Context, containerID, ref string) error
	DetachAll(ctx context.Context, containerID string)
	Endpoints(containerID string) map[string]berthnet.Endpoint
	Restore(containerID string)
	Rename(containerID, newName string)
	ServeDNS(ctx context.Context, containerID, nsPath string, upstream []string) error
	StopDNS(containerID string)
	PublishPort(ctx context.Context, containerID, ref string, p berthnet.Port) error
	UnpublishPort(ctx context.Context, containerID, ref string, p berthnet.Port) error
}

// Publisher takes the service's events.
type Publisher interface {
	Publish(typ events.Type, action events.Action, id string, attrs map[string]string)
}

// Config is where the service keeps its state and what it gives containers by default.
type Config struct {
	// Root holds the records and logs (<data-root>/containers); RunRoot the tasks' bundles
	// (<exec-root>/containers).
	Root, RunRoot string
	// Runtimes are the task runtimes by name; DefaultRuntime names the one used when a container names none.
	Runtimes       map[string]task.Runtime
	DefaultRuntime string
	// IsolationRuntimes are the runtimes `--isolation` selects ("vm": the runtime of VM-isolated containers);
	// "default" and "" select none.
	IsolationRuntimes map[string]string
	// DefaultNetwork is what a container without --network joins: "bridge", or "none".
	DefaultNetwork string
	// LogDriver and LogOpts are the log driver and options of containers that name none (daemon.json's
	// log-driver and log-opts); json-file when LogDriver is empty.
	LogDriver string
	LogOpts   map[string]string
	// InitPath is a static init (tini) for --init.
	InitPath string
	// Caps are the capabilities the daemon holds: no container gets more.
	Caps []string
	// HostGatewayIP is what --add-host NAME:host-gateway maps to (daemon.json host-gateway-ip); when unset, the
	// default bridge's gateway.
	HostGatewayIP netip.Addr
	// SeccompProfile and AppArmorProfile are the containers' default confinement (see oci.Input).
	SeccompProfile, AppArmorProfile string
	// CgroupV2 says the host uses the unified hierarchy alone.
	CgroupV2 bool
	// Primer, when set, is held while tasks start and exec (see cgroups.Primer); nil does without.
	Primer *cgroups.Primer
	// Clock times restart back-off, health checks, stop timeouts and the times recorded in containers; the
	// default is the real clock (tests drive a fake one).
	Clock clockwork.Clock
}

// Service is the containers service. Create it with New, then Restore.
type Service struct {
	cfg        Config
	containers *containerStore
	// views holds an immutable copy of every container, updated at each change: listings read it without
	// taking the containers' locks (a start holds one across the task's creation).
	views      *state.Store[*Container]
	execs      *execStore
	images     Images
	snapshots  Snapshots
	volumes    Volumes
	networks   Networks
	events     Publisher
	primer     *cgroups.Primer
	daemonCaps []string
	cgroupV2   bool
	clock      clockwork.Clock

	// ctx is the service's lifetime, for monitors and restart timers; cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// cleanups tracks removed containers' files and stopped containers' endpoints being deleted in the
	// background; image and network removals wait for it (Settle).
	cleanups inFlight
}

// New returns the containers service over its dependencies. It loads nothing: call Restore.
func New(cfg Config, images Images, snapshots Snapshots, volumes Volumes, networks Networks, events Publisher) (*Service, error) {
	for _, dir := range []string{cfg.Root, cfg.RunRoot} {
		if err := os.MkdirAll(dir, 0o710); err != nil {
			return nil, err
		}
	}
	if _, ok := cfg.Runtimes[cfg.DefaultRuntime]; !ok {
		return nil, fmt.Errorf("default runtime %q is not installed: %w", cfg.DefaultRuntime, errdefs.ErrNotFound)
	}
	if cfg.DefaultNetwork == "" {
		cfg.DefaultNetwork = "none"
	}
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	d := &Service{
		cfg:        cfg,
		clock:      cfg.Clock,
		containers: newContainerStore(),
		views:      state.New[*Container](),
		execs:      newExecStore(),
		images:     images,
		snapshots:  snapshots,
		volumes:    volumes,
		networks:   networks,
		events:     events,
		primer:     cfg.Primer,
		daemonCaps: cfg.Caps,
		cgroupV2:   cfg.CgroupV2,
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d, nil
}

// Restore loads every container record and reconciles it with its task; see restore.
func (d *Service) Restore(ctx context.Context) error { return d.restore(ctx) }

// Close stops background work (monitors, restart timers, health checks) and waits for removals in flight.
// Running containers keep running: their tasks outlive the service.
func (d *Service) Close() error {
	d.cancel()
	d.wg.Wait()
	d.cleanups.Wait()
	return nil
}

// Settle waits until the files of removed containers and the endpoints of stopped ones are gone, so that an image
// or network removal that follows finds nothing of them.
func (d *Service) Settle() { d.cleanups.Wait() }

// ImageUsers reports the containers that use an image, for image delete and prune conflicts.
func (d *Service) ImageUsers(imageID string) []image.ContainerUse { return d.imageUsers(imageID) }

// VolumeUsers lists the containers that mount volume name.
func (d *Service) VolumeUsers(name string) []string { return d.containersUsingVolume(name) }

// Counts returns how many containers there are, running, paused and stopped.
func (d *Service) Counts() (total, running, paused, stopped int) {
	for _, c := range d.containers.list() {
		c.mu.Lock()
		total++
		switch c.State.Status {
		case container.StateRunning:
			running++
		case container.StatePaused:
			paused++
		default:
			stopped++
		}
		c.mu.Unlock()
	}
	return
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

// taskRuntime returns the task runtime name ("" for the default).
func (d *Service) taskRuntime(name string) (task.Runtime, error) {
	if name == "" {
		name = d.cfg.DefaultRuntime
	}
	t, ok := d.cfg.Runtimes[name]
	if !ok {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unknown or invalid runtime name: %s", name))
	}
	return t, nil
}

func (d *Service) containerEvent(c *Container, action events.Action, extra map[string]string) {
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

// restore loads every container record and reconciles it with its shim: running containers whose shim is alive
// are monitored again; those that exited while the daemon was away get their exit code, and restart policies
// resume.
func (d *Service) restore(ctx context.Context) error {
	entries, err := os.ReadDir(d.cfg.Root)
	if err != nil {
		return err
	}
	var toStart []*Container
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), trashSuffix) {
			os.RemoveAll(filepath.Join(d.cfg.Root, e.Name()))
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.cfg.Root, e.Name(), "config.v2.json"))
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
		d.publish(c)
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
			go d.Remove(context.WithoutCancel(ctx), c.ID, RemoveOptions{Force: true, Volumes: false})
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
	if dirs, err := os.ReadDir(d.cfg.RunRoot); err == nil {
		for _, e := range dirs {
			if _, err := d.containers.get(e.Name()); err != nil || len(e.Name()) != 64 {
				os.RemoveAll(filepath.Join(d.cfg.RunRoot, e.Name()))
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
func (d *Service) containersUsingVolume(name string) []string {
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

// PruneContainers removes every stopped container matching the filters (label, label!, until), as Docker.
func (d *Service) PruneContainers(ctx context.Context, f filters.Args) (container.PruneReport, error) {
	report := container.PruneReport{ContainersDeleted: []string{}}
	if err := f.Validate("label", "label!", "until"); err != nil {
		return report, err
	}
	until, err := f.Until(d.clock.Now())
	if err != nil {
		return report, err
	}
	for _, c := range d.containers.list() {
		c.mu.Lock()
		st := c.State.Status
		labels := c.Config.Labels
		created := c.Created
		c.mu.Unlock()
		if st == container.StateRunning || st == container.StatePaused || st == container.StateRestarting || st == container.StateRemoving {
			continue
		}
		if !until.IsZero() && created.After(until) {
			continue
		}
		if !f.MatchLabels(labels) {
			continue
		}
		size := d.snapshots.Usage(ctx, c.ID)
		if err := d.Remove(ctx, c.ID, RemoveOptions{}); err != nil {
			continue
		}
		report.ContainersDeleted = append(report.ContainersDeleted, c.ID)
		report.SpaceReclaimed += uint64(size)
	}
	d.events.Publish(events.ContainerEventType, events.ActionPrune, "", map[string]string{"reclaimed": itoa(int64(report.SpaceReclaimed))})
	return report, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// imageUsers reports the containers that use an image, for delete and prune conflicts. The image store calls it
// under its own lock, so it must not call back into the store.
func (d *Service) imageUsers(imageID string) []image.ContainerUse {
	var out []image.ContainerUse
	for _, c := range d.containers.list() {
		c.mu.Lock()
		if c.ImageID == imageID && !c.removed {
			out = append(out, image.ContainerUse{ID: c.ID, Running: c.running() || c.State.Status == "restarting"})
		}
		c.mu.Unlock()
	}
	return out
}

func (d *Service) imageSize(ctx context.Context, id string) int64 {
	n, _ := d.images.Size(ctx, id)
	return n
}

func numCPU() int { return goruntime.NumCPU() }

// Package daemon wires Berth's services together: the image, snapshot, volume and container services, the OCI
// runtimes and shims, events, and the restore of running containers after a restart (even after kill -9).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/builder"
	"github.com/berth/berth/internal/cgroups"
	"github.com/berth/berth/internal/cluster"
	"github.com/berth/berth/internal/containers"
	"github.com/berth/berth/internal/content"
	"github.com/berth/berth/internal/distribution"
	berthevents "github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/image"
	berthnet "github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/network/overlay"
	"github.com/berth/berth/internal/oci"
	"github.com/berth/berth/internal/runtime"
	"github.com/berth/berth/internal/snapshot"
	"github.com/berth/berth/internal/task"
	"github.com/berth/berth/internal/vm"
	"github.com/berth/berth/internal/vm/instance"
	"github.com/berth/berth/internal/volume"
)

// Daemon is one running Berth engine.
type Daemon struct {
	cfg        Config
	containers *containers.Service
	images     *image.Store
	registries *distribution.Service
	content    *content.Store
	snapshots  *snapshot.Store
	volumes    *volume.Store
	cloud      *Cloud // nil unless the cloud endpoint is on
	networks   *berthnet.Manager
	overlay    *overlay.Driver
	mesh       ingressMesh // the ingress routing mesh on this node (ingress.go)
	events     *berthevents.Bus
	swarm      *cluster.Cluster
	backends   backendSet // the swarm tasks this node's VIP balancers use (overlay_drain.go)
	runtimes   map[string]*runtime.Runtime
	tasks      map[string]task.Runtime // by runtime name
	vmTasks    *vm.Tasks               // VM-isolated containers; nil without berth-vm
	vms        *instance.Service       // virtual machine instances; nil without berth-vm
	cgroupV2   bool
	daemonCaps []string
	started    time.Time
	// appArmorProfile is the profile containers get by default; "" on a host without AppArmor.
	appArmorProfile string

	// ctx is the daemon's lifetime, for the builder's background work; cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc

	// builder is made on first use (see build.go).
	builderOnce sync.Once
	builder     *builder.Builder
	builderErr  error
}

// New opens (or creates) the daemon's state under cfg.DataRoot and cfg.ExecRoot and restores its containers.
func New(ctx context.Context, cfg Config) (*Daemon, error) {
	if cfg.DataRoot == "" {
		cfg.DataRoot = DefaultDataRoot
	}
	if cfg.ExecRoot == "" {
		cfg.ExecRoot = DefaultExecRoot
	}
	// Before anything is made: a daemon that will not start leaves nothing behind.
	if err := containers.ValidateLogDriver(cfg.LogDriver, cfg.LogOpts); err != nil {
		return nil, fmt.Errorf("default log config: %w: %w", err, errdefs.ErrInvalidArgument)
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
		cfg:     cfg,
		events:  berthevents.New(berthevents.WithHistory(cfg.EventsHistory)),
		started: time.Now(),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.cgroupV2 = cgroups.V2()
	if caps, err := oci.CurrentCapabilities(); err == nil {
		d.daemonCaps = caps
	}
	var err error
	if cfg.CloudAddr != "" {
		// First, so that a cloud that cannot open (a second daemon on this data root holds its database) stops
		// the start before anything touches the host.
		if d.cloud, err = OpenCloud(CloudConfig{Dir: filepath.Join(cfg.DataRoot, "cloud"),
			RootAccessKeyID: cfg.CloudRootAccessKeyID, RootSecretAccessKey: cfg.CloudRootSecretAccessKey}); err != nil {
			return nil, err
		}
	}
	if err := d.setupRuntimes(); err != nil {
		return nil, err
	}
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
	defaultNetwork, err := d.openNetworks(ctx)
	if err != nil {
		return nil, err
	}
	seccompProfile, err := loadSeccompProfile(cfg.SeccompProfile)
	if err != nil {
		return nil, err
	}
	var hostGateway netip.Addr
	if cfg.HostGatewayIP != "" {
		if hostGateway, err = netip.ParseAddr(cfg.HostGatewayIP); err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid host-gateway-ip %q: %v", cfg.HostGatewayIP, err))
		}
	}
	d.appArmorProfile = setupAppArmor()
	if d.containers, err = containers.New(containers.Config{
		Root:              filepath.Join(cfg.DataRoot, "containers"),
		RunRoot:           filepath.Join(cfg.ExecRoot, "containers"),
		Runtimes:          d.tasks,
		DefaultRuntime:    d.cfg.DefaultRuntime,
		IsolationRuntimes: d.isolationRuntimes(),
		DefaultNetwork:    defaultNetwork,
		InitPath:          cfg.InitPath,
		Caps:              d.daemonCaps,
		CgroupV2:          d.cgroupV2,
		Primer:            cgroups.NewPrimer(),
		SeccompProfile:    seccompProfile,
		HostGatewayIP:     hostGateway,
		AppArmorProfile:   d.appArmorProfile,
		LogDriver:         cfg.LogDriver,
		LogOpts:           cfg.LogOpts,
	}, d.images, d.snapshots, d.volumes, d.networks, d.events); err != nil {
		return nil, err
	}
	if err := d.containers.Restore(ctx); err != nil {
		return nil, err
	}
	if err := d.setupVMs(ctx); err != nil {
		return nil, err
	}
	if err := d.openSwarm(ctx); err != nil {
		return nil, err
	}
	d.startNetworkAgent()
	return d, nil
}

// Containers is the containers service.
func (d *Daemon) Containers() *containers.Service { return d.containers }

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
		rt.CompiledSeccomp = name == "crun"
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
	d.setupVMRuntime()
	if d.cfg.DefaultRuntime == "" {
		// crun starts a container in a third of runc's time and takes the seccomp filter it compiled once
		// (runc compiles docker's profile again for every container: ~25 ms of CPU here).
		d.cfg.DefaultRuntime = "runc"
		if _, ok := d.runtimes["crun"]; ok {
			d.cfg.DefaultRuntime = "crun"
		}
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

// setupVMRuntime registers the runtime of VM-isolated containers when its binaries are installed; what it
// needs besides (qemu, a kernel) is checked at the first container, whose error says what is missing.
func (d *Daemon) setupVMRuntime() {
	rt, err := findBinary("berth-vm")
	if err != nil {
		return
	}
	initPath, _ := findBinary("berth-vm-init")
	kernel := d.cfg.VMKernel
	if kernel == "" {
		kernel = filepath.Join(d.cfg.DataRoot, "vm", "kernel")
	}
	d.vmTasks = vm.NewTasks(vm.Config{ShimPath: d.cfg.ShimPath, RuntimePath: rt, InitPath: initPath,
		Root: filepath.Join(d.cfg.ExecRoot, "vm"), CacheDir: filepath.Join(d.cfg.DataRoot, "vm", "boot"),
		Kernel: kernel, Accel: d.cfg.VMAccel, Debug: d.Debug()})
	d.tasks[vm.RuntimeName] = d.vmTasks
	d.runtimes[vm.RuntimeName] = &runtime.Runtime{Name: vm.RuntimeName, Path: rt}
}

// isolationRuntimes maps `--isolation vm` to the VM runtime when it is installed.
func (d *Daemon) isolationRuntimes() map[string]string {
	if d.vmTasks == nil {
		return nil
	}
	return map[string]string{"vm": vm.RuntimeName}
}

// Close stops background work. Running containers keep running: their tasks outlive the daemon.
func (d *Daemon) Close() error {
	d.cancel()
	var err error
	if d.swarm != nil {
		err = d.swarm.Close()
	}
	if d.vms != nil {
		d.vms.Close()
	}
	err = errors.Join(err, d.containers.Close())
	if nerr := d.networks.Close(); err == nil {
		err = nerr
	}
	if d.overlay != nil {
		d.overlay.Close()
	}
	if d.cloud != nil {
		err = errors.Join(err, d.cloud.Close())
	}
	return err
}

// Debug reports whether the daemon runs in debug mode (-D).
func (d *Daemon) Debug() bool { return d.cfg.Debug || d.cfg.LogLevel == "debug" }

// Events is the engine's event bus.
func (d *Daemon) Events() *berthevents.Bus { return d.events }

func (d *Daemon) imageEvent(action, id, ref string) {
	attrs := map[string]string{}
	if ref != "" {
		attrs["name"] = ref
	}
	d.events.Publish(berthevents.ImageEventType, berthevents.Action(action), id, attrs)
}

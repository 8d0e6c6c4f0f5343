package containers

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berth/berth/internal/cgroups"
	berthmount "github.com/berth/berth/internal/mount"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/oci"
	"github.com/berth/berth/internal/runtime"
	"github.com/berth/berth/internal/task"
	"github.com/berth/berth/internal/volume"
)

// Start runs a created or stopped container. Starting a running container is not an error (304 in the API).
func (d *Service) Start(ctx context.Context, ref string) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.ManuallyStopped = false
	c.mu.Unlock()
	return d.start(ctx, c, false)
}

// start brings c up through a new shim. fromPolicy marks a start by the restart policy.
func (d *Service) start(ctx context.Context, c *Container, fromPolicy bool) (retErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removing {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is marked for removal and cannot be started", c.ID))
	}
	if c.State.Status == container.StatePaused {
		return errdefs.ErrConflict.WithMessage("cannot start a paused container, try unpause instead")
	}
	if c.State.Status == container.StateRunning {
		return errdefs.ErrNotModified.WithMessage("container already started")
	}
	tasks, err := d.taskRuntime(c.Runtime)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			c.State.Error = retErr.Error()
			c.State.Status = container.StateExited
			if c.State.ExitCode == 0 {
				c.State.ExitCode = startFailureCode(retErr.Error())
			}
			c.State.FinishedAt = d.clock.Now().UTC()
			d.save(c)
			d.snapshots.Unmount(context.WithoutCancel(ctx), c.ID)
			d.failPending(c)
			d.notifyChange(c)
			if c.HostConfig.AutoRemove {
				// docker removes an auto-remove container whose start failed; `run --rm` waits for that.
				go d.Remove(context.WithoutCancel(ctx), c.ID, RemoveOptions{Force: true, Volumes: true})
			}
		}
	}()

	t0 := time.Now()
	// The runtime moves the container's init into its cgroup: start the kernel's grace period for that now (not
	// for a runtime whose processes join no host cgroup: a VM's boot would keep the primer busy for seconds).
	releasePrimer := func() {}
	if cl, ok := tasks.(task.Cgroupless); !ok || !cl.Cgroupless() {
		releasePrimer = d.primer.Hold()
	}
	defer releasePrimer()
	rootfs, err := d.snapshots.Mount(ctx, c.ID)
	if err != nil {
		return err
	}
	nsPath, err := d.setupNetwork(ctx, c)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			d.teardownNetwork(context.WithoutCancel(ctx), c)
		}
	}()
	bundle := d.stateDir(c.ID)
	// The previous task may still be finishing (its shim deletes the runtime's record after the exit).
	tasks.Delete(ctx, c.ID, bundle)
	os.RemoveAll(bundle)
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return err
	}
	// hostname, hosts and resolv.conf live in the task's bundle, with the run state (normally on tmpfs).
	if err := d.writeHostFiles(c); err != nil {
		return err
	}
	mounts, err := d.specMounts(ctx, c, rootfs)
	if err != nil {
		return err
	}
	in := oci.Input{
		ID:            c.ID,
		Rootfs:        rootfs,
		Config:        c.Config,
		HostConfig:    c.HostConfig,
		Mounts:        mounts,
		Hostname:      c.HostnamePath,
		Hosts:         c.HostsPath,
		ResolvConf:    c.ResolvConfPath,
		CgroupsPath:   "/berth/" + c.ID,
		CgroupV2:      d.cgroupV2,
		DaemonCaps:    d.daemonCaps,
		InitPath:      d.cfg.InitPath,
		SwapSupported: cgroups.SwapSupported(d.cgroupV2),
		NetNSPath:     nsPath,

		SeccompProfile:  d.cfg.SeccompProfile,
		AppArmorProfile: d.cfg.AppArmorProfile,
	}
	spec, err := oci.Generate(in)
	if err != nil {
		return err
	}
	logPath, logOpts, err := d.logSettings(c)
	if err != nil {
		return err
	}
	tspec := task.Spec{
		ID:     c.ID,
		Bundle: bundle,
		OCI:    spec,
		Rootfs: []berthmount.Mount{berthmount.Bind(rootfs, false)},
		IO: task.IO{
			Terminal:  c.Config.Tty,
			Stdin:     c.Config.OpenStdin,
			StdinOnce: c.Config.StdinOnce && !c.Config.Tty, // docker keeps a tty's stdin open when a client leaves
			LogPath:   logPath,
			Log:       logOpts,
		},
	}
	if cs := c.HostConfig.ConsoleSize; cs[0] > 0 && cs[1] > 0 {
		tspec.IO.ConsoleHeight, tspec.IO.ConsoleWidth = uint16(cs[0]), uint16(cs[1])
	}
	tPrep := time.Now()
	t, err := tasks.Create(ctx, tspec)
	releasePrimer()
	if err != nil {
		return err
	}
	tSpawn := time.Now()
	c.task = t
	d.connectPending(ctx, c)
	if err := t.Start(ctx); err != nil {
		c.task = nil
		tasks.Delete(context.WithoutCancel(ctx), c.ID, bundle)
		return err
	}
	if fromPolicy {
		c.RestartCount++
	}
	c.State = State{Status: container.StateRunning, Pid: t.Pid(), StartedAt: d.clock.Now().UTC(), Health: c.State.Health}
	c.HasBeenStarted = true
	d.startHealth(c)
	if err := d.save(c); err != nil {
		slog.WarnContext(ctx, "saving container state", "container", c.ID, "error", err)
	}
	d.notifyChange(c)
	slog.DebugContext(ctx, "container started", "container", c.ID, "prepare", tPrep.Sub(t0), "create", tSpawn.Sub(tPrep), "start", time.Since(tSpawn))
	d.containerEvent(c, events.ActionStart, nil)
	d.monitor(c, t)
	return nil
}

// startFailureCode is the exit code docker records when the runtime cannot start the command.
func startFailureCode(msg string) int {
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"):
		return 126
	}
	return 128
}

// reattach reconnects to the task of a container that was running when the daemon stopped. It reports whether
// the container is still running; otherwise it records the exit the task left behind. The caller holds c.mu.
func (d *Service) reattach(ctx context.Context, c *Container) bool {
	bundle := d.stateDir(c.ID)
	tasks, terr := d.taskRuntime(c.Runtime)
	if terr == nil {
		// A task that exited meanwhile is found too: its Wait reports the exit, and the monitor applies the
		// restart policy or the auto-removal as for any exit.
		if t, err := tasks.Connect(ctx, c.ID, bundle); err == nil {
			slog.InfoContext(ctx, "reattached to container", "container", c.ID)
			c.task = t
			if usesBridge(c.HostConfig) {
				// The embedded DNS lived in the old daemon: serve the container's names again.
				d.networks.Restore(c.ID)
				if err := d.networks.ServeDNS(ctx, c.ID, d.networks.SandboxPath(c.ID), upstreamResolvers(c)); err != nil {
					slog.WarnContext(ctx, "restarting embedded DNS", "container", c.ID, "error", err)
				}
			}
			d.monitor(c, t)
			if c.State.Status == container.StateRunning {
				d.startHealth(c)
			}
			return true
		}
	}
	exit, ok := runtime.ReadExit(bundle)
	msg := ""
	if !ok {
		exit = task.Exit{Code: 255, At: d.clock.Now().UTC()}
		msg = "container's shim is gone"
	}
	d.recordExit(ctx, c, exit, msg)
	return false
}

// recordExit records the exit of a container whose task is gone; the caller holds c.mu.
func (d *Service) recordExit(ctx context.Context, c *Container, exit task.Exit, msg string) {
	if msg != "" {
		c.State.Error = msg
	}
	c.State.Status = container.StateExited
	c.State.ExitCode = exit.Code
	c.State.FinishedAt = exit.At
	c.State.Pid = 0
	c.State.OOMKilled = exit.OOMKilled
	if exit.OOMKilled {
		d.containerEvent(c, events.ActionOOM, nil)
	}
	d.snapshots.Unmount(ctx, c.ID)
	d.teardownNetwork(ctx, c)
	if tasks, err := d.taskRuntime(c.Runtime); err == nil {
		tasks.Delete(ctx, c.ID, d.stateDir(c.ID))
	}
	d.save(c)
	d.containerEvent(c, events.ActionDie, map[string]string{"exitCode": strconv.Itoa(exit.Code)})
}

// monitor waits for the container's exit in the background and then applies AutoRemove or the restart policy.
// The caller holds c.mu.
func (d *Service) monitor(c *Container, t task.Task) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		exit, err := t.Wait(d.ctx)
		if d.ctx.Err() != nil {
			return // the daemon is shutting down; the task lives on
		}
		if err != nil {
			exit = task.Exit{Code: 255, At: d.clock.Now().UTC()}
		}
		slog.Debug("container exited", "container", c.ID, "code", exit.Code, "reported-after", time.Since(exit.At))
		d.handleExit(c, exit)
	}()
}

func (d *Service) handleExit(c *Container, exit task.Exit) {
	ctx := d.ctx
	code, at := exit.Code, exit.At
	c.mu.Lock()
	d.stopHealth(c)
	c.State.Status = container.StateExited
	c.State.ExitCode = code
	c.State.FinishedAt = at
	c.State.Pid = 0
	c.State.OOMKilled = exit.OOMKilled
	if exit.OOMKilled {
		// docker reports the kernel's OOM kill as an event of its own, before the exit.
		d.containerEvent(c, events.ActionOOM, nil)
	}
	c.task = nil
	ranFor := at.Sub(c.State.StartedAt)
	d.snapshots.Unmount(ctx, c.ID)
	d.teardownNetwork(ctx, c)
	restart := !c.removing && c.shouldRestart()
	if restart {
		c.State.Status = container.StateRestarting
	}
	autoRemove := c.HostConfig.AutoRemove && !c.removing
	if !autoRemove {
		// An auto-removed container's record is renamed away next: writing its exit first would cost a file.
		d.save(c)
	}
	d.notifyChange(c)
	d.containerEvent(c, events.ActionDie, map[string]string{"exitCode": strconv.Itoa(code)})
	delay := restartDelay(c.RestartCount, ranFor)
	c.mu.Unlock()

	if autoRemove {
		t0 := time.Now()
		if err := d.Remove(ctx, c.ID, RemoveOptions{Force: true, Volumes: true}); err != nil && !errdefs.IsNotFound(err) {
			slog.Warn("auto-remove failed", "container", c.ID, "error", err)
		}
		slog.Debug("auto-removed", "container", c.ID, "exit-to-removed", time.Since(at), "remove", time.Since(t0))
		return
	}
	if !restart {
		return
	}
	rctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	c.restartCancel = cancel
	c.mu.Unlock()
	select {
	case <-d.clock.After(delay):
	case <-rctx.Done():
		c.mu.Lock()
		if c.State.Status == container.StateRestarting {
			c.State.Status = container.StateExited
			d.save(c)
			d.notifyChange(c)
		}
		c.mu.Unlock()
		return
	}
	cancel()
	c.mu.Lock()
	still := c.State.Status == container.StateRestarting && !c.removing
	if still {
		c.State.Status = container.StateExited
	}
	c.mu.Unlock()
	if still {
		if err := d.start(ctx, c, true); err != nil {
			slog.Warn("restart policy: start failed", "container", c.ID, "error", err)
		}
	}
}

// restartDelay is docker's backoff: 100ms doubling per consecutive restart, reset after 10s of running.
func restartDelay(count int, ranFor time.Duration) time.Duration {
	if ranFor >= 10*time.Second {
		return 100 * time.Millisecond
	}
	delay := 100 * time.Millisecond
	for i := 0; i < count && delay < time.Minute; i++ {
		delay *= 2
	}
	return delay
}

// shouldRestart applies the restart policy to the last exit; the caller holds c.mu.
func (c *Container) shouldRestart() bool {
	if c.ManuallyStopped {
		return false
	}
	rp := c.HostConfig.RestartPolicy
	switch rp.Name {
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		return true
	case container.RestartPolicyOnFailure:
		return c.State.ExitCode != 0 && (rp.MaximumRetryCount == 0 || c.RestartCount < rp.MaximumRetryCount)
	}
	return false
}

// writeHostFiles writes /etc/hostname, /etc/hosts and /etc/resolv.conf for the container, as docker does.
func (d *Service) writeHostFiles(c *Container) error {
	host := c.HostConfig.NetworkMode.IsHost()
	hostname := c.Config.Hostname
	if host {
		if h, err := os.Hostname(); err == nil {
			hostname = h
		}
	}
	if c.Config.Domainname != "" {
		hostname += "." + c.Config.Domainname
	}
	if err := writeHostFile(c.HostnamePath, []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	var hosts []byte
	if host {
		hosts, _ = os.ReadFile("/etc/hosts")
	} else {
		hosts = []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	}
	for _, h := range c.HostConfig.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if !ok {
			name, ip, _ = strings.Cut(h, "=")
		}
		if ip == hostGatewayName {
			gw, err := d.hostGateway()
			if err != nil {
				return err
			}
			ip = gw.String()
		}
		hosts = append(hosts, fmt.Sprintf("%s\t%s\n", ip, name)...)
	}
	// The container's own name on its first network (never its docker_gwbridge endpoint, which is no network of
	// its own).
	eps := d.networks.Endpoints(c.ID)
	for _, name := range containerNetworks(c) {
		if ep, ok := eps[name]; ok {
			hosts = append(hosts, fmt.Sprintf("%s\t%s\n", ep.Addr.Addr(), hostname)...)
			break
		}
	}
	if err := writeHostFile(c.HostsPath, hosts, 0o644); err != nil {
		return err
	}
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	if usesBridge(c.HostConfig) {
		// --dns, --dns-search and --dns-option are folded in there.
		resolv = d.containerResolvConf(c)
	} else if len(c.HostConfig.DNS) > 0 || len(c.HostConfig.DNSSearch) > 0 || len(c.HostConfig.DNSOptions) > 0 {
		var b strings.Builder
		for _, ns := range c.HostConfig.DNS {
			fmt.Fprintf(&b, "nameserver %s\n", ns)
		}
		if len(c.HostConfig.DNSSearch) > 0 {
			fmt.Fprintf(&b, "search %s\n", strings.Join(c.HostConfig.DNSSearch, " "))
		}
		if len(c.HostConfig.DNSOptions) > 0 {
			fmt.Fprintf(&b, "options %s\n", strings.Join(c.HostConfig.DNSOptions, " "))
		}
		resolv = []byte(b.String())
	}
	return writeHostFile(c.ResolvConfPath, resolv, 0o644)
}

// writeHostFile writes one of the files bound into a container that is not running yet: nothing reads it
// concurrently and the next start rewrites it, so a plain write does (no temp file, rename or fsync).
func writeHostFile(path string, b []byte, mode os.FileMode) error {
	return os.WriteFile(path, b, mode)
}

// specMounts turns the container's mount points into OCI mounts, copying image content into empty volumes first.
func (d *Service) specMounts(ctx context.Context, c *Container, rootfs string) ([]specs.Mount, error) {
	var out []specs.Mount
	for _, m := range c.MountPoints {
		opts := []string{"rbind"}
		if !m.RW {
			opts = append(opts, "ro")
		}
		switch m.Type {
		case mount.TypeTmpfs:
			o := []string{"nosuid", "nodev", "noexec"}
			if m.TmpfsOpts != "" {
				o = append(o, strings.Split(m.TmpfsOpts, ",")...)
			}
			if !m.RW && !hasOpt(m.TmpfsOpts, "ro") {
				o = append(o, "ro")
			}
			out = append(out, specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs", Options: o})
			continue
		case mount.TypeVolume:
			if !hasOpt(m.Mode, "nocopy") {
				if err := copyIntoEmptyVolume(rootfs, m.Destination, m.Source); err != nil {
					return nil, fmt.Errorf("copying image data into volume %s: %w", m.Name, err)
				}
			}
		case mount.TypeBind:
			if _, err := os.Stat(m.Source); err != nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("error while creating mount source path '%s': %v", m.Source, err))
			}
		}
		prop := string(m.Propagation)
		if prop == "" {
			prop = "rprivate"
		}
		out = append(out, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: append(opts, prop)})
	}
	return out, nil
}

// copyIntoEmptyVolume copies what the image has at dst into the volume directory if the volume is still empty.
func copyIntoEmptyVolume(rootfs, dst, volDir string) error {
	entries, err := os.ReadDir(volDir)
	if err != nil || len(entries) > 0 {
		return err
	}
	src, err := secureJoin(rootfs, dst)
	if err != nil {
		return err
	}
	if st, err := os.Lstat(src); err != nil || !st.IsDir() {
		return nil
	}
	return volume.CopyImageData(src, volDir)
}

// hostGatewayName in --add-host NAME:host-gateway stands for the host, as seen from containers.
const hostGatewayName = "host-gateway"

// hostGateway is the address host-gateway stands for, as dockerd derives it: the daemon's host-gateway-ip, else
// the default bridge's gateway (the host's address on it).
func (d *Service) hostGateway() (netip.Addr, error) {
	if d.cfg.HostGatewayIP.IsValid() {
		return d.cfg.HostGatewayIP, nil
	}
	if n, err := d.networks.Get("bridge"); err == nil {
		for _, c := range n.IPAM.Config {
			if c.Gateway.IsValid() {
				return c.Gateway, nil
			}
		}
	}
	return netip.Addr{}, errdefs.ErrInvalidArgument.WithMessage("unable to derive the IP value for host-gateway")
}

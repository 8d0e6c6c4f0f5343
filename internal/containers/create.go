package containers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/distribution"
	"github.com/berth/berth/internal/events"
)

// createPrimeTime is how long a create holds the cgroup primer, for the start that usually follows.
const createPrimeTime = 50 * time.Millisecond

// Create makes a container from an image: a record, a copy-on-write snapshot and its volumes. Nothing runs yet.
// On any error nothing is left behind.
func (d *Service) Create(ctx context.Context, opts CreateOptions) (container.CreateResponse, error) {
	cfg := opts.Config
	if cfg == nil {
		return container.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage("config cannot be empty in order to create a container")
	}
	hc := opts.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if err := d.validateHostConfig(hc); err != nil {
		return container.CreateResponse{}, err
	}
	if cfg.Image == "" {
		return container.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage("No command specified")
	}
	if err := validateHealthcheck(cfg.Healthcheck); err != nil {
		return container.CreateResponse{}, err
	}
	img, err := d.images.Get(ctx, cfg.Image)
	if err != nil {
		return container.CreateResponse{}, err
	}
	imgCfg, err := d.images.Config(ctx, img.ID.String())
	if err != nil {
		return container.CreateResponse{}, err
	}
	if err := checkPlatform(cfg.Image, opts.Platform, imgCfg); err != nil {
		return container.CreateResponse{}, err
	}

	// A created container is usually started within milliseconds (`run`): begin the grace period its runtime's
	// cgroup migration will need now (see cgroups.Primer); the start holds the primer again for itself.
	time.AfterFunc(createPrimeTime, d.primer.Hold())

	id := newID()
	name := opts.Name
	if name == "" {
		name = d.generateName()
	} else if !validName.MatchString(name) {
		return container.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name))
	}
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	if err := d.containers.reserve(name, id); err != nil {
		return container.CreateResponse{}, err
	}
	ok := false
	var cleanups []func()
	defer func() {
		if !ok {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
			d.containers.release(name)
		}
	}()

	merged := mergeImageConfig(cfg, imgCfg)
	merged.Healthcheck = mergeHealthcheck(cfg.Healthcheck, img.Config.Config.Healthcheck)
	if merged.Hostname == "" && hc.NetworkMode.IsHost() {
		// docker gives a host-network container the host's name.
		merged.Hostname, _ = os.Hostname()
	}
	if merged.Hostname == "" {
		merged.Hostname = shortID(id)
	}
	args := append(append([]string{}, merged.Entrypoint...), merged.Cmd...)
	if len(args) == 0 {
		return container.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage("no command specified")
	}
	if iso := string(hc.Isolation); iso != "" && iso != "default" {
		rt, ok := d.cfg.IsolationRuntimes[iso]
		switch {
		case !ok:
			return container.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid isolation: %q - linux only supports 'default' and 'vm'", iso))
		case hc.Runtime != "" && hc.Runtime != rt:
			return container.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("conflicting options: --isolation %s runs with the %s runtime, not %s", iso, rt, hc.Runtime))
		}
		hc.Runtime = rt
	}
	if _, err := d.taskRuntime(hc.Runtime); err != nil {
		return container.CreateResponse{}, err
	}
	if hc.Runtime == "" {
		hc.Runtime = d.cfg.DefaultRuntime
	}
	if hc.NetworkMode == "" || hc.NetworkMode == "default" {
		hc.NetworkMode = container.NetworkMode(d.cfg.DefaultNetwork)
	}
	if err := d.mergeLogConfig(&hc.LogConfig); err != nil {
		return container.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}

	dir := d.containerDir(id)
	if err := os.MkdirAll(dir, 0o710); err != nil {
		return container.CreateResponse{}, err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(dir) })

	mounts, volCleanup, err := d.resolveMounts(ctx, id, merged, hc)
	cleanups = append(cleanups, volCleanup)
	if err != nil {
		return container.CreateResponse{}, err
	}

	initChain, err := d.initLayer(ctx, img.TopChainID())
	if err != nil {
		return container.CreateResponse{}, err
	}
	if err := d.snapshots.Create(ctx, id, initChain); err != nil {
		return container.CreateResponse{}, err
	}
	cleanups = append(cleanups, func() { d.snapshots.Remove(context.WithoutCancel(ctx), id) })

	c := &Container{
		ID:          id,
		Name:        name,
		Created:     d.clock.Now().UTC(),
		Path:        args[0],
		Args:        args[1:],
		Config:      merged,
		HostConfig:  hc,
		ImageID:     img.ID.String(),
		State:       State{Status: container.StateCreated},
		MountPoints: mounts,
		LogPath:     jsonLogPath(dir, id, hc.LogConfig.Type),
		// Written at each start: with the run state (normally on tmpfs), not the data root.
		ResolvConfPath: filepath.Join(d.stateDir(id), "resolv.conf"),
		HostnamePath:   filepath.Join(d.stateDir(id), "hostname"),
		HostsPath:      filepath.Join(d.stateDir(id), "hosts"),
		Runtime:        hc.Runtime,
	}
	if opts.NetworkingConfig != nil && usesBridge(hc) {
		for name, es := range opts.NetworkingConfig.EndpointsConfig {
			if name == "default" {
				name = string(hc.NetworkMode)
			}
			if err := networkExists(d, name); err != nil {
				return container.CreateResponse{}, err
			}
			if c.EndpointsConfig == nil {
				c.EndpointsConfig = map[string]*network.EndpointSettings{}
			}
			c.EndpointsConfig[name] = es
		}
	}
	c.mu.Lock()
	if hc.AutoRemove {
		// Removed at exit: its record only has to outlive a daemon crash, which the page cache does.
		err = d.save(c)
	} else {
		err = d.saveDurable(c)
	}
	c.mu.Unlock()
	if err != nil {
		return container.CreateResponse{}, err
	}
	ok = true
	d.containers.add(c)
	c.mu.Lock()
	d.publish(c)
	c.mu.Unlock()
	d.containerEvent(c, events.ActionCreate, nil)
	return container.CreateResponse{ID: id, Warnings: []string{}}, nil
}

func (d *Service) validateHostConfig(hc *container.HostConfig) error {
	rp := hc.RestartPolicy
	switch rp.Name {
	case "", container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		if rp.MaximumRetryCount != 0 {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid restart policy: maximum retry count can only be used with 'on-failure'"))
		}
	case container.RestartPolicyOnFailure:
		if rp.MaximumRetryCount < 0 {
			return errdefs.ErrInvalidArgument.WithMessage("invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", rp.Name))
	}
	if hc.AutoRemove && rp.Name != "" && rp.Name != container.RestartPolicyDisabled {
		return errdefs.ErrInvalidArgument.WithMessage("can't create 'AutoRemove' container with restart policy")
	}
	switch nm := string(hc.NetworkMode); {
	case nm == "", nm == "default", nm == "none", nm == "host":
	case strings.HasPrefix(nm, "container:"):
		if _, err := d.containers.get(strings.TrimPrefix(nm, "container:")); err != nil {
			return err
		}
	default:
		if d.networks == nil {
			return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", nm))
		}
		if err := networkExists(d, nm); err != nil {
			return err
		}
	}
	if err := validatePortBindings(hc); err != nil {
		return err
	}
	if len(hc.DeviceRequests) > 0 {
		// No device driver (nvidia's or CDI) is installed: docker's refusal when it has none either.
		req := hc.DeviceRequests[0]
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("could not select device driver %q with capabilities: %v", req.Driver, req.Capabilities))
	}
	if hc.Memory != 0 && hc.Memory < 6*1024*1024 {
		return errdefs.ErrInvalidArgument.WithMessage("Minimum memory limit allowed is 6MB")
	}
	if hc.NanoCPUs < 0 || (hc.NanoCPUs > 0 && hc.NanoCPUs > int64(numCPU())*1e9) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", numCPU(), numCPU()))
	}
	return nil
}

// mergeImageConfig fills what the user left unset from the image, as docker does: env by key, labels, and the
// image's command only when neither command nor entrypoint was given.
func mergeImageConfig(user *container.Config, img *ocispec.Image) *container.Config {
	c := *user
	ic := img.Config
	if len(c.Entrypoint) == 0 {
		c.Entrypoint = ic.Entrypoint
		if len(c.Cmd) == 0 {
			c.Cmd = ic.Cmd
		}
	}
	if c.WorkingDir == "" {
		c.WorkingDir = ic.WorkingDir
	}
	if c.User == "" {
		c.User = ic.User
	}
	if c.StopSignal == "" {
		c.StopSignal = ic.StopSignal
	}
	c.Env = mergeEnv(ic.Env, user.Env)
	if len(ic.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range ic.Labels {
			labels[k] = v
		}
		for k, v := range user.Labels {
			labels[k] = v
		}
		c.Labels = labels
	}
	if len(ic.Volumes) > 0 {
		vols := map[string]struct{}{}
		for k := range ic.Volumes {
			vols[k] = struct{}{}
		}
		for k := range user.Volumes {
			vols[k] = struct{}{}
		}
		c.Volumes = vols
	}
	if len(ic.ExposedPorts) > 0 && c.ExposedPorts == nil {
		c.ExposedPorts = map[network.Port]struct{}{}
	}
	for p := range ic.ExposedPorts {
		if port, err := network.ParsePort(p); err == nil {
			c.ExposedPorts[port] = struct{}{}
		}
	}
	return &c
}

// validateHealthcheck refuses what dockerd refuses, with its messages.
func validateHealthcheck(hc *container.HealthConfig) error {
	if hc == nil {
		return nil
	}
	const minimum = time.Millisecond
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"Interval", hc.Interval}, {"Timeout", hc.Timeout}, {"StartPeriod", hc.StartPeriod}, {"StartInterval", hc.StartInterval}} {
		if f.v != 0 && f.v < minimum {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s in Healthcheck cannot be less than %s", f.name, minimum))
		}
	}
	if hc.Retries < 0 {
		return errdefs.ErrInvalidArgument.WithMessage("Retries in Healthcheck cannot be negative")
	}
	return nil
}

// mergeHealthcheck is docker's merge of the user's health check over the image's: an unset one inherits the
// image's, and an unset test or duration inherits the image's value.
func mergeHealthcheck(user, img *container.HealthConfig) *container.HealthConfig {
	if user == nil {
		if img == nil {
			return nil
		}
		c := *img
		return &c
	}
	c := *user
	if img == nil {
		return &c
	}
	if len(c.Test) == 0 {
		c.Test = img.Test
	}
	if c.Interval == 0 {
		c.Interval = img.Interval
	}
	if c.Timeout == 0 {
		c.Timeout = img.Timeout
	}
	if c.StartPeriod == 0 {
		c.StartPeriod = img.StartPeriod
	}
	if c.StartInterval == 0 {
		c.StartInterval = img.StartInterval
	}
	if c.Retries == 0 {
		c.Retries = img.Retries
	}
	return &c
}

func mergeEnv(base, over []string) []string {
	out := append([]string{}, base...)
	idx := map[string]int{}
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
		} else {
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// resolveMounts turns -v, --mount, --tmpfs and the image's VOLUMEs into mount points, creating the named and
// anonymous volumes they need. The returned cleanup removes volumes this call created.
func (d *Service) resolveMounts(ctx context.Context, id string, cfg *container.Config, hc *container.HostConfig) ([]MountPoint, func(), error) {
	var created []string
	cleanup := func() {
		for _, v := range created {
			d.volumes.Remove(context.WithoutCancel(ctx), v, true, nil)
		}
	}
	var mps []MountPoint
	seen := map[string]bool{}
	addVolume := func(name, dst string, rw, nocopy bool, mode string) error {
		anon := name == ""
		if anon || !d.volumeExists(ctx, name) {
			v, err := d.volumes.Create(ctx, name, nil, nil)
			if err != nil {
				return err
			}
			created = append(created, v.Name)
			name = v.Name
			d.events.Publish(events.VolumeEventType, events.ActionCreate, name, map[string]string{"driver": "local"})
		}
		v, err := d.volumes.Get(ctx, name)
		if err != nil {
			return err
		}
		mp := MountPoint{MountPoint: container.MountPoint{Type: mount.TypeVolume, Name: name, Source: v.Mountpoint, Destination: dst, Driver: "local", Mode: mode, RW: rw}, Anonymous: anon}
		if nocopy {
			mp.Mode = strings.Trim(mode+",nocopy", ",")
		}
		mps = append(mps, mp)
		return nil
	}
	dup := func(dst string) error {
		dst = filepath.Clean(dst)
		if seen[dst] {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Duplicate mount point: %s", dst))
		}
		seen[dst] = true
		return nil
	}
	for _, b := range hc.Binds {
		src, dst, mode, err := parseBind(b)
		if err != nil {
			return nil, cleanup, err
		}
		if err := dup(dst); err != nil {
			return nil, cleanup, err
		}
		rw := !hasOpt(mode, "ro")
		if src == "" || !filepath.IsAbs(src) {
			if err := addVolume(src, dst, rw, hasOpt(mode, "nocopy"), mode); err != nil {
				return nil, cleanup, err
			}
			continue
		}
		if _, err := os.Stat(src); os.IsNotExist(err) {
			// docker -v creates a missing bind source as a directory; --mount refuses it.
			if err := os.MkdirAll(src, 0o755); err != nil {
				return nil, cleanup, err
			}
		}
		prop := mount.PropagationRPrivate
		for _, o := range strings.Split(mode, ",") {
			switch mount.Propagation(o) {
			case mount.PropagationShared, mount.PropagationRShared, mount.PropagationSlave, mount.PropagationRSlave, mount.PropagationPrivate:
				prop = mount.Propagation(o)
			}
		}
		mps = append(mps, MountPoint{MountPoint: container.MountPoint{Type: mount.TypeBind, Source: src, Destination: dst, Mode: mode, RW: rw, Propagation: prop}})
	}
	for _, m := range hc.Mounts {
		if m.Target == "" {
			return nil, cleanup, errdefs.ErrInvalidArgument.WithMessage("invalid mount config: Target must not be empty")
		}
		if !filepath.IsAbs(m.Target) {
			return nil, cleanup, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mount config for type %q: invalid mount path: '%s' mount path must be absolute", m.Type, m.Target))
		}
		if err := dup(m.Target); err != nil {
			return nil, cleanup, err
		}
		switch m.Type {
		case mount.TypeBind:
			if m.Source == "" {
				return nil, cleanup, errdefs.ErrInvalidArgument.WithMessage(`invalid mount config for type "bind": field Source must not be empty`)
			}
			if _, err := os.Stat(m.Source); err != nil {
				return nil, cleanup, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(`invalid mount config for type "bind": bind source path does not exist: %s`, m.Source))
			}
			prop := mount.PropagationRPrivate
			if m.BindOptions != nil && m.BindOptions.Propagation != "" {
				prop = m.BindOptions.Propagation
			}
			mps = append(mps, MountPoint{MountPoint: container.MountPoint{Type: mount.TypeBind, Source: m.Source, Destination: m.Target, RW: !m.ReadOnly, Propagation: prop}})
		case mount.TypeVolume:
			nocopy := m.VolumeOptions != nil && m.VolumeOptions.NoCopy
			if err := addVolume(m.Source, m.Target, !m.ReadOnly, nocopy, ""); err != nil {
				return nil, cleanup, err
			}
		case mount.TypeTmpfs:
			if m.Source != "" {
				return nil, cleanup, errdefs.ErrInvalidArgument.WithMessage(`invalid mount config for type "tmpfs": field Source must be empty`)
			}
			var opts []string
			if m.TmpfsOptions != nil {
				if m.TmpfsOptions.SizeBytes > 0 {
					opts = append(opts, fmt.Sprintf("size=%d", m.TmpfsOptions.SizeBytes))
				}
				if m.TmpfsOptions.Mode != 0 {
					opts = append(opts, fmt.Sprintf("mode=%o", m.TmpfsOptions.Mode))
				}
			}
			mps = append(mps, MountPoint{MountPoint: container.MountPoint{Type: mount.TypeTmpfs, Destination: m.Target, RW: !m.ReadOnly}, TmpfsOpts: strings.Join(opts, ",")})
		default:
			return nil, cleanup, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mount config for type %q: mount type unknown", m.Type))
		}
	}
	tmpfsDsts := make([]string, 0, len(hc.Tmpfs))
	for dst := range hc.Tmpfs {
		tmpfsDsts = append(tmpfsDsts, dst)
	}
	sort.Strings(tmpfsDsts)
	for _, dst := range tmpfsDsts {
		if err := dup(dst); err != nil {
			return nil, cleanup, err
		}
		opts := hc.Tmpfs[dst]
		mps = append(mps, MountPoint{MountPoint: container.MountPoint{Type: mount.TypeTmpfs, Destination: dst, RW: !hasOpt(opts, "ro")}, TmpfsOpts: opts})
	}
	imgVols := make([]string, 0, len(cfg.Volumes))
	for dst := range cfg.Volumes {
		imgVols = append(imgVols, dst)
	}
	sort.Strings(imgVols)
	for _, dst := range imgVols {
		if seen[filepath.Clean(dst)] {
			continue
		}
		seen[filepath.Clean(dst)] = true
		if err := addVolume("", dst, true, false, ""); err != nil {
			return nil, cleanup, err
		}
	}
	return mps, cleanup, nil
}

func (d *Service) volumeExists(ctx context.Context, name string) bool {
	_, err := d.volumes.Get(ctx, name)
	return err == nil
}

// parseBind splits a -v value "src:dst[:mode]" or "dst".
func parseBind(spec string) (src, dst, mode string, err error) {
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 1:
		dst = parts[0]
	case 2:
		if filepath.IsAbs(parts[0]) && !filepath.IsAbs(parts[1]) && parts[1] != "" && !strings.Contains(parts[1], "/") {
			dst, mode = parts[0], parts[1]
		} else {
			src, dst = parts[0], parts[1]
		}
	case 3:
		src, dst, mode = parts[0], parts[1], parts[2]
	default:
		return "", "", "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid volume specification: '%s'", spec))
	}
	if dst == "" || !filepath.IsAbs(dst) {
		return "", "", "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid volume specification: '%s': invalid mount config for type \"volume\": invalid mount path: '%s' mount path must be absolute", spec, dst))
	}
	if dst == "/" {
		return "", "", "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid volume specification: '%s': invalid mount config for type \"bind\": invalid specification: destination can't be '/'", spec))
	}
	for _, o := range strings.Split(mode, ",") {
		switch o {
		case "", "ro", "rw", "z", "Z", "nocopy", "shared", "rshared", "slave", "rslave", "private", "rprivate", "consistent", "cached", "delegated":
		default:
			return "", "", "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid volume specification: '%s': invalid mode: %s", spec, mode))
		}
	}
	return src, filepath.Clean(dst), mode, nil
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

var (
	nameLeft  = []string{"admiring", "brave", "clever", "dreamy", "eager", "focused", "gallant", "happy", "jolly", "keen", "lucid", "modest", "nifty", "quirky", "serene", "trusting", "vibrant", "wizardly", "zealous", "bold"}
	nameRight = []string{"albattani", "bohr", "curie", "darwin", "euclid", "fermi", "galileo", "hopper", "jepsen", "kepler", "lovelace", "meitner", "newton", "noether", "pasteur", "ritchie", "shannon", "turing", "wozniak", "yalow"}
)

// generateName picks an unused docker-style name like "brave_turing".
func (d *Service) generateName() string {
	for i := 0; ; i++ {
		name := nameLeft[rand.IntN(len(nameLeft))] + "_" + nameRight[rand.IntN(len(nameRight))]
		if i > 10 {
			name = fmt.Sprintf("%s%d", name, rand.IntN(100))
		}
		if _, err := d.containers.get(name); err != nil {
			return name
		}
	}
}

// checkPlatform refuses an image of another platform than the one asked for with --platform, as dockerd does
// (404, so that the docker CLI goes and pulls the right one). The engine runs no emulation.
func checkPlatform(ref, platform string, img *ocispec.Image) error {
	if platform == "" {
		return nil
	}
	want, err := distribution.ParsePlatform(platform)
	if err != nil {
		return err
	}
	have := ocispec.Platform{OS: img.OS, Architecture: img.Architecture, Variant: img.Variant}
	if want.OS == have.OS && want.Architecture == have.Architecture && (want.Variant == "" || want.Variant == have.Variant) {
		return nil
	}
	format := func(p ocispec.Platform) string {
		s := p.OS + "/" + p.Architecture
		if p.Variant != "" {
			s += "/" + p.Variant
		}
		return s
	}
	return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("image with reference %s was found but its platform (%s) does not match the specified platform (%s)", ref, format(have), format(*want)))
}

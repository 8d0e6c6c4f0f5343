package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/cluster/agent"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/containers"
	"github.com/berth/berth/internal/distribution"
	"github.com/berth/berth/internal/filters"
	berthnet "github.com/berth/berth/internal/network"
)

// swarmExecutor is the engine as the swarm agent runs tasks through it: agent.Backend over the containers
// service, as moby's daemon/cluster/executor/container adapts its daemon. A task's container is made from its
// spec the way moby's executor makes it (command as entrypoint, args as cmd; host-mode ports; limits; the
// service's log driver), and its secrets and configs are files on a tmpfs bound into it.
type swarmExecutor struct{ d *Daemon }

var _ agent.Backend = swarmExecutor{}

func (e swarmExecutor) ImageExists(ctx context.Context, ref string) bool {
	_, err := e.d.images.Get(ctx, ref)
	return err == nil
}

func (e swarmExecutor) PullImage(ctx context.Context, ref, registryAuth string) error {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %s", ref))
	}
	named = reference.TagNameOnly(named)
	_, err = e.d.PullImage(ctx, named, nil, credentialsOf(registryAuth), nil)
	return err
}

// credentialsOf decodes X-Registry-Auth (base64url JSON of docker's AuthConfig) as dockerd does; what does not
// decode is anonymous.
func credentialsOf(h string) distribution.Credentials {
	if h == "" {
		return distribution.Credentials{}
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "="))
	}
	var ac registry.AuthConfig
	if err != nil || json.Unmarshal(b, &ac) != nil {
		return distribution.Credentials{}
	}
	c := distribution.Credentials{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken,
		RegistryToken: ac.RegistryToken, ServerAddress: ac.ServerAddress}
	if c.Username == "" && c.Password == "" && ac.Auth != "" {
		if b, err := base64.StdEncoding.DecodeString(ac.Auth); err == nil {
			c.Username, c.Password, _ = strings.Cut(string(b), ":")
		}
	}
	return c
}

func (e swarmExecutor) Create(ctx context.Context, cfg agent.ContainerConfig) (string, error) {
	s := cfg.Spec
	c := &container.Config{Labels: cfg.Labels, StopSignal: s.StopSignal, Tty: s.TTY, OpenStdin: s.OpenStdin, User: s.User,
		Env: s.Env, Hostname: s.Hostname, WorkingDir: s.Dir, Image: imageName(s.Image)}
	if len(s.Command) > 0 {
		// The command replaces the whole invocation; the args follow it (moby's executor).
		c.Entrypoint, c.Cmd = s.Command, s.Args
	} else if len(s.Args) > 0 {
		c.Cmd = s.Args
	}
	if g := s.StopGracePeriod; g != nil {
		t := int(g.Seconds())
		c.StopTimeout = &t
	}
	if h := s.Healthcheck; h != nil {
		c.Healthcheck = &container.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod,
			StartInterval: h.StartInterval, Retries: h.Retries}
	}
	hc := &container.HostConfig{GroupAdd: s.Groups, ReadonlyRootfs: s.ReadOnly, Init: s.Init, Sysctls: s.Sysctls,
		CapAdd: s.CapabilityAdd, CapDrop: s.CapabilityDrop, OomScoreAdj: int(s.OomScoreAdj),
		Isolation: container.Isolation(s.Isolation), PortBindings: network.PortMap{}}
	if len(cfg.Ports) > 0 {
		c.ExposedPorts = network.PortSet{}
		for _, p := range cfg.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = "tcp"
			}
			port, ok := network.PortFrom(uint16(p.TargetPort), network.IPProtocol(proto))
			if !ok || p.TargetPort > 65535 {
				continue
			}
			c.ExposedPorts[port] = struct{}{}
			b := network.PortBinding{}
			if p.PublishedPort != 0 {
				b.HostPort = strconv.Itoa(int(p.PublishedPort))
			}
			hc.PortBindings[port] = []network.PortBinding{b}
		}
	}
	for _, m := range s.Mounts {
		hc.Mounts = append(hc.Mounts, mountOf(m))
	}
	if dc := s.DNSConfig; dc != nil {
		for _, ns := range dc.Nameservers {
			if a, err := netip.ParseAddr(ns); err == nil {
				hc.DNS = append(hc.DNS, a)
			}
		}
		hc.DNSSearch, hc.DNSOptions = dc.Search, dc.Options
	}
	for _, h := range s.Hosts {
		// swarm's hosts are hosts(5) lines ("IP name [aliases]"); HostConfig's are name:IP.
		if f := strings.Fields(h); len(f) > 1 {
			hc.ExtraHosts = append(hc.ExtraHosts, f[1]+":"+f[0])
		}
	}
	for _, u := range s.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	if p := s.Privileges; p != nil {
		if p.NoNewPrivileges {
			hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges=true")
		}
		switch p.SeccompMode {
		case "unconfined":
			hc.SecurityOpt = append(hc.SecurityOpt, "seccomp=unconfined")
		case "custom":
			hc.SecurityOpt = append(hc.SecurityOpt, "seccomp="+string(p.SeccompProfile))
		}
		if p.AppArmorMode == "disabled" {
			hc.SecurityOpt = append(hc.SecurityOpt, "apparmor=unconfined")
		}
	}
	if r := cfg.Resources; r != nil && r.Limits != nil {
		hc.Memory, hc.NanoCPUs = r.Limits.MemoryBytes, r.Limits.NanoCPUs
		if r.Limits.Pids > 0 {
			pids := r.Limits.Pids
			hc.PidsLimit = &pids
		}
	}
	if d := cfg.LogDriver; d != nil {
		hc.LogConfig = container.LogConfig{Type: d.Name, Config: d.Options}
	}
	if len(cfg.Files) > 0 {
		ms, err := e.taskFiles(cfg.Name, cfg.Files)
		if err != nil {
			return "", err
		}
		hc.Mounts = append(hc.Mounts, ms...)
	}
	var nc *network.NetworkingConfig
	if len(cfg.Networks) > 0 {
		// The first network is the container's network mode; each endpoint claims the address the cluster
		// allocated for the task (network.AttachmentOption) instead of allocating one.
		// Networks by name, as docker's executor names them (inspect's NetworkSettings.Networks keys).
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
		for i, n := range cfg.Networks {
			bn, err := e.d.networks.Get(n.NetworkID)
			if err != nil {
				return "", fmt.Errorf("network %s: %w", n.NetworkID, err)
			}
			if i == 0 {
				hc.NetworkMode = container.NetworkMode(bn.Name)
			}
			es := &network.EndpointSettings{Aliases: n.Aliases, DriverOpts: map[string]string{berthnet.AttachmentOption: n.Attachment}}
			if p, err := netip.ParsePrefix(n.Address); err == nil {
				es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: p.Addr()}
			}
			nc.EndpointsConfig[bn.Name] = es
		}
	}
	resp, err := e.d.containers.Create(ctx, containers.CreateOptions{Name: cfg.Name, Config: c, HostConfig: hc, NetworkingConfig: nc})
	if err != nil {
		e.removeTaskFiles(cfg.Name)
		return "", err
	}
	return resp.ID, nil
}

// imageName is how moby's executor names a task's image to the engine: familiar, with its tag.
func imageName(raw string) string {
	ref, err := reference.ParseNormalizedNamed(raw)
	if err != nil {
		return raw
	}
	if _, digested := ref.(reference.Digested); digested {
		return reference.FamiliarString(ref)
	}
	return reference.FamiliarString(reference.TagNameOnly(ref))
}

func mountOf(m api.Mount) mount.Mount {
	out := mount.Mount{Type: mount.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, Consistency: mount.Consistency(m.Consistency)}
	if b := m.BindOptions; b != nil {
		out.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(b.Propagation), NonRecursive: b.NonRecursive,
			CreateMountpoint: b.CreateMountpoint, ReadOnlyNonRecursive: b.ReadOnlyNonRecursive, ReadOnlyForceRecursive: b.ReadOnlyForceRecursive}
	}
	if v := m.VolumeOptions; v != nil {
		out.VolumeOptions = &mount.VolumeOptions{NoCopy: v.NoCopy, Labels: v.Labels, Subpath: v.Subpath}
		if d := v.DriverConfig; d != nil {
			out.VolumeOptions.DriverConfig = &mount.Driver{Name: d.Name, Options: d.Options}
		}
	}
	if t := m.TmpfsOptions; t != nil {
		out.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: t.SizeBytes, Mode: os.FileMode(t.Mode), Options: t.Options}
	}
	return out
}

// filesRoot is where tasks' secrets and configs are written: a tmpfs the daemon mounts, so that a secret never
// reaches a disk.
func (e swarmExecutor) filesRoot() (string, error) {
	root := filepath.Join(e.d.cfg.ExecRoot, "swarm", "files")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return "", err
	}
	if st.Type != unix.TMPFS_MAGIC {
		if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
			return "", fmt.Errorf("mounting a tmpfs for task secrets at %s: %w", root, err)
		}
	}
	return root, nil
}

// taskFiles writes a task's files under the tmpfs and returns the read-only bind mounts that show them.
func (e swarmExecutor) taskFiles(name string, files []agent.File) ([]mount.Mount, error) {
	root, err := e.filesRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var out []mount.Mount
	for i, f := range files {
		p := filepath.Join(dir, strconv.Itoa(i))
		mode := os.FileMode(f.Mode)
		if mode == 0 {
			mode = 0o444
		}
		if err := atomicfile.WriteFile(p, f.Data, mode); err != nil {
			return nil, err
		}
		if f.UID != "" || f.GID != "" {
			uid, _ := strconv.Atoi(orZero(f.UID))
			gid, _ := strconv.Atoi(orZero(f.GID))
			if err := os.Chown(p, uid, gid); err != nil {
				return nil, err
			}
		}
		out = append(out, mount.Mount{Type: mount.TypeBind, Source: p, Target: f.Target, ReadOnly: true})
	}
	return out, nil
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func (e swarmExecutor) removeTaskFiles(name string) {
	if name == "" || strings.ContainsAny(name, "/") {
		return
	}
	os.RemoveAll(filepath.Join(e.d.cfg.ExecRoot, "swarm", "files", name))
}

func (e swarmExecutor) Start(ctx context.Context, id string) error {
	return e.d.containers.Start(ctx, id)
}

func (e swarmExecutor) Stop(ctx context.Context, id string, grace time.Duration) error {
	t := int(grace.Seconds())
	err := e.d.containers.Stop(ctx, id, "", &t)
	if err == nil {
		e.dropTaskFiles(ctx, id)
	}
	return err
}

func (e swarmExecutor) Remove(ctx context.Context, id string) error {
	name := ""
	if c, err := e.d.containers.Inspect(ctx, id, false); err == nil {
		name = strings.TrimPrefix(c.Name, "/")
	}
	err := e.d.containers.Remove(ctx, id, containers.RemoveOptions{Force: true, Volumes: true})
	if err == nil || errdefs.IsNotFound(err) {
		e.removeTaskFiles(name)
	}
	return err
}

func (e swarmExecutor) Wait(ctx context.Context, id string) (int, error) {
	code, err := e.d.containers.Wait(ctx, id, container.WaitConditionNotRunning, nil)
	if err == nil {
		e.dropTaskFiles(ctx, id)
	}
	return code, err
}

func (e swarmExecutor) Inspect(ctx context.Context, id string) (agent.Container, error) {
	c, err := e.d.containers.Inspect(ctx, id, false)
	if err != nil {
		return agent.Container{}, err
	}
	out := agent.Container{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/")}
	if c.Config != nil {
		out.Labels = c.Config.Labels
	}
	if st := c.State; st != nil {
		out.State, out.ExitCode, out.Pid = string(st.Status), st.ExitCode, st.Pid
		if st.Health != nil {
			out.Health = string(st.Health.Status)
		}
	}
	if ns := c.NetworkSettings; ns != nil {
		for port, bs := range ns.Ports {
			for _, b := range bs {
				hp, _ := strconv.Atoi(b.HostPort)
				if hp == 0 {
					continue
				}
				out.Ports = append(out.Ports, api.PortSpec{Protocol: string(port.Proto()), TargetPort: uint32(port.Num()),
					PublishedPort: uint32(hp), PublishMode: "host"})
				break
			}
		}
	}
	return out, nil
}

func (e swarmExecutor) List(ctx context.Context, labels map[string]string) ([]agent.Container, error) {
	f := filters.NewArgs()
	for k, v := range labels {
		if v == "" {
			f.Add("label", k)
		} else {
			f.Add("label", k+"="+v)
		}
	}
	cs, err := e.d.containers.List(ctx, containers.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, err
	}
	out := make([]agent.Container, 0, len(cs))
	for _, s := range cs {
		c, err := e.Inspect(ctx, s.ID)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Logs reads a container's log through the containers service with timestamps, and splits its output (one
// stdcopy frame a record; raw lines for a terminal) into lines.
func (e swarmExecutor) Logs(ctx context.Context, id string, opts agent.LogsOptions, emit func(agent.LogLine) error) error {
	c, err := e.d.containers.Inspect(ctx, id, false)
	if err != nil {
		return err
	}
	tty := c.Config != nil && c.Config.Tty
	lo := containers.LogsOptions{Stdout: opts.Stdout, Stderr: opts.Stderr, Follow: opts.Follow, Timestamps: true, Tail: "all"}
	if opts.Tail >= 0 {
		lo.Tail = strconv.FormatInt(opts.Tail, 10)
	}
	if !opts.Since.IsZero() {
		lo.Since = fmt.Sprintf("%d.%09d", opts.Since.Unix(), opts.Since.Nanosecond())
	}
	w := &logSplitter{tty: tty, emit: emit}
	return e.d.containers.Logs(ctx, id, lo, w)
}

// logSplitter turns the containers service's log output into lines.
type logSplitter struct {
	tty  bool
	buf  []byte
	emit func(agent.LogLine) error
}

func (s *logSplitter) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	for {
		stream, line, rest, ok := s.next()
		if !ok {
			return len(p), nil
		}
		s.buf = rest
		ts, data, _ := bytes.Cut(line, []byte(" "))
		t, err := time.Parse(time.RFC3339Nano, string(ts))
		if err != nil {
			data = line
		}
		if err := s.emit(agent.LogLine{Timestamp: t, Stream: stream, Data: append([]byte(nil), data...)}); err != nil {
			return 0, err
		}
	}
}

// next is the next whole record of the buffer.
func (s *logSplitter) next() (stream string, line, rest []byte, ok bool) {
	if s.tty {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			return "", nil, nil, false
		}
		return "stdout", s.buf[:i+1], s.buf[i+1:], true
	}
	if len(s.buf) < 8 {
		return "", nil, nil, false
	}
	n := int(binary.BigEndian.Uint32(s.buf[4:8]))
	if len(s.buf) < 8+n {
		return "", nil, nil, false
	}
	stream = "stdout"
	if s.buf[0] == 2 {
		stream = "stderr"
	}
	return stream, s.buf[8 : 8+n], s.buf[8+n:], true
}

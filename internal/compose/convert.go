package compose

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/opencontainers/go-digest"
)

// ContainerName is the name compose v2 gives replica number of a service: project-service-N, or the
// service's container_name.
func ContainerName(project string, s types.ServiceConfig, number int) string {
	if s.ContainerName != "" {
		return s.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", project, s.Name, number)
}

// OneoffName is the name of a `compose run` container.
func OneoffName(project, service, slug string) string {
	return fmt.Sprintf("%s-%s-run-%s", project, service, slug)
}

// ImageName is the image a service runs: its image:, or project-service for a build-only service.
func ImageName(project string, s types.ServiceConfig) string {
	if s.Image != "" {
		return s.Image
	}
	return project + "-" + s.Name
}

// ServiceHash digests the parts of a service's configuration that, when changed, require new containers.
// Like compose v2 it ignores build, pull policy, scale and dependencies.
func ServiceHash(s types.ServiceConfig) (string, error) {
	s.Build = nil
	s.PullPolicy = ""
	s.Scale = nil
	if s.Deploy != nil {
		d := *s.Deploy
		d.Replicas = nil
		s.Deploy = &d
	}
	s.DependsOn = nil
	s.Profiles = nil
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	return digest.SHA256.FromBytes(b).Encoded(), nil
}

// ServiceNetworks returns the project networks a service joins, by key, primary first (network priority,
// then name); nil when network_mode decides.
func ServiceNetworks(s types.ServiceConfig) []string {
	if s.NetworkMode != "" {
		return nil
	}
	if len(s.Networks) == 0 {
		return []string{"default"}
	}
	return s.NetworksByPriority()
}

// Spec is what ContainerCreate needs for one replica.
type Spec struct {
	Name       string
	Config     *container.Config
	HostConfig *container.HostConfig
	Networking *network.NetworkingConfig
}

// ContainerSpec converts a service into the create request of replica number (pure). hash is the
// service's ServiceHash; oneoff marks `compose run` containers.
func ContainerSpec(p *types.Project, s types.ServiceConfig, number int, hash string, oneoff bool) (Spec, error) {
	labels := map[string]string{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	labels[LabelProject] = p.Name
	labels[LabelService] = s.Name
	labels[LabelNumber] = strconv.Itoa(number)
	labels[LabelConfigHash] = hash
	labels[LabelOneoff] = "False"
	if oneoff {
		labels[LabelOneoff] = "True"
	}
	labels[LabelWorkingDir] = p.WorkingDir
	labels[LabelConfigFiles] = strings.Join(p.ComposeFiles, ",")
	labels[LabelVersion] = Version
	labels[LabelImage] = ImageName(p.Name, s)
	labels[LabelDependsOn] = dependsOnLabel(s)
	for k, v := range s.CustomLabels { // set by Up: the image ID (com.docker.compose.image), outside the hash
		labels[k] = v
	}

	env := make([]string, 0, len(s.Environment))
	for k, v := range s.Environment {
		if v != nil {
			env = append(env, k+"="+*v)
		}
	}
	sort.Strings(env)

	cfg := &container.Config{
		Hostname:     s.Hostname,
		Domainname:   s.DomainName,
		User:         s.User,
		Tty:          s.Tty,
		OpenStdin:    s.StdinOpen,
		Env:          env,
		Cmd:          []string(s.Command),
		Entrypoint:   []string(s.Entrypoint),
		Image:        ImageName(p.Name, s),
		WorkingDir:   s.WorkingDir,
		Labels:       labels,
		StopSignal:   s.StopSignal,
		ExposedPorts: network.PortSet{},
	}
	if s.StopGracePeriod != nil {
		t := int(time.Duration(*s.StopGracePeriod).Seconds())
		cfg.StopTimeout = &t
	}
	if hc := s.HealthCheck; hc != nil {
		cfg.Healthcheck = healthConfig(hc)
	}

	hc := &container.HostConfig{
		Privileged:     s.Privileged,
		ReadonlyRootfs: s.ReadOnly,
		CapAdd:         s.CapAdd,
		CapDrop:        s.CapDrop,
		DNS:            dnsAddrs(s.DNS),
		DNSSearch:      s.DNSSearch,
		DNSOptions:     s.DNSOpts,
		ExtraHosts:     s.ExtraHosts.AsList(":"),
		Init:           s.Init,
		Runtime:        s.Runtime,
		Sysctls:        s.Sysctls,
		SecurityOpt:    s.SecurityOpt,
		GroupAdd:       s.GroupAdd,
		PortBindings:   network.PortMap{},
	}
	if len(hc.DNS) == 0 {
		hc.DNS = nil
	}
	hc.Memory = int64(s.MemLimit)
	hc.PidsLimit = pidsLimit(s)
	if s.CPUS > 0 {
		hc.NanoCPUs = int64(s.CPUS * 1e9)
	}
	hc.CPUShares = s.CPUShares
	hc.CpusetCpus = s.CPUSet
	rp, err := restartPolicy(s)
	if err != nil {
		return Spec{}, err
	}
	hc.RestartPolicy = rp

	for _, e := range s.Expose {
		pr, err := network.ParsePortRange(withProto(e))
		if err != nil {
			return Spec{}, fmt.Errorf("service %q: expose %q: %w", s.Name, e, err)
		}
		for port := range pr.All() {
			cfg.ExposedPorts[port] = struct{}{}
		}
	}
	for _, pc := range s.Ports {
		proto := pc.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port, err := network.ParsePort(fmt.Sprintf("%d/%s", pc.Target, proto))
		if err != nil {
			return Spec{}, fmt.Errorf("service %q: port %d: %w", s.Name, pc.Target, err)
		}
		cfg.ExposedPorts[port] = struct{}{}
		b := network.PortBinding{HostPort: pc.Published}
		if pc.HostIP != "" {
			ip, err := netip.ParseAddr(pc.HostIP)
			if err != nil {
				return Spec{}, fmt.Errorf("service %q: host_ip %q: %w", s.Name, pc.HostIP, err)
			}
			b.HostIP = ip
		}
		hc.PortBindings[port] = append(hc.PortBindings[port], b)
	}

	if hc.Mounts, err = mounts(p, s); err != nil {
		return Spec{}, err
	}
	if len(s.Tmpfs) > 0 {
		hc.Tmpfs = map[string]string{}
		for _, t := range s.Tmpfs {
			dst, opts, _ := strings.Cut(t, ":")
			hc.Tmpfs[dst] = opts
		}
	}

	spec := Spec{Name: ContainerName(p.Name, s, number), Config: cfg, HostConfig: hc}
	if oneoff {
		spec.Name = ""
	}
	nets := ServiceNetworks(s)
	if len(nets) == 0 {
		hc.NetworkMode = container.NetworkMode(networkMode(p, s.NetworkMode))
		return spec, nil
	}
	spec.Networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	for i, key := range nets {
		n, ok := p.Networks[key]
		if !ok {
			return Spec{}, fmt.Errorf("service %q refers to undefined network %s: invalid compose project", s.Name, key)
		}
		if i == 0 {
			hc.NetworkMode = container.NetworkMode(n.Name)
		}
		ep := &network.EndpointSettings{Aliases: []string{s.Name}}
		if sn := s.Networks[key]; sn != nil {
			ep.Aliases = append(ep.Aliases, sn.Aliases...)
			if sn.Ipv4Address != "" {
				ip, err := netip.ParseAddr(sn.Ipv4Address)
				if err != nil {
					return Spec{}, fmt.Errorf("service %q: ipv4_address %q: %w", s.Name, sn.Ipv4Address, err)
				}
				ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ip}
			}
			ep.GwPriority = sn.GatewayPriority
		}
		spec.Networking.EndpointsConfig[n.Name] = ep
	}
	return spec, nil
}

func withProto(p string) string {
	if strings.Contains(p, "/") {
		return p
	}
	return p + "/tcp"
}

func dnsAddrs(list []string) []netip.Addr {
	var out []netip.Addr
	for _, d := range list {
		if ip, err := netip.ParseAddr(d); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

func pidsLimit(s types.ServiceConfig) *int64 {
	if s.PidsLimit != 0 {
		v := s.PidsLimit
		return &v
	}
	return nil
}

// networkMode maps network_mode "service:x" to the container of x's first replica.
func networkMode(p *types.Project, mode string) string {
	if name, ok := strings.CutPrefix(mode, "service:"); ok {
		if s, ok := p.Services[name]; ok {
			return "container:" + ContainerName(p.Name, s, 1)
		}
	}
	return mode
}

func dependsOnLabel(s types.ServiceConfig) string {
	var deps []string
	for name, d := range s.DependsOn {
		deps = append(deps, fmt.Sprintf("%s:%s:%t", name, d.Condition, d.Restart))
	}
	sort.Strings(deps)
	return strings.Join(deps, ",")
}

func healthConfig(h *types.HealthCheckConfig) *container.HealthConfig {
	if h.Disable {
		return &container.HealthConfig{Test: []string{"NONE"}}
	}
	c := &container.HealthConfig{Test: []string(h.Test)}
	if h.Interval != nil {
		c.Interval = time.Duration(*h.Interval)
	}
	if h.Timeout != nil {
		c.Timeout = time.Duration(*h.Timeout)
	}
	if h.StartPeriod != nil {
		c.StartPeriod = time.Duration(*h.StartPeriod)
	}
	if h.StartInterval != nil {
		c.StartInterval = time.Duration(*h.StartInterval)
	}
	if h.Retries != nil {
		c.Retries = int(*h.Retries)
	}
	return c
}

func restartPolicy(s types.ServiceConfig) (container.RestartPolicy, error) {
	r := s.Restart
	if r == "" && s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		switch s.Deploy.RestartPolicy.Condition {
		case "any":
			r = "always"
		case "on-failure":
			r = "on-failure"
			if s.Deploy.RestartPolicy.MaxAttempts != nil {
				r += ":" + strconv.FormatUint(*s.Deploy.RestartPolicy.MaxAttempts, 10)
			}
		}
	}
	if r == "" || r == "no" {
		return container.RestartPolicy{Name: container.RestartPolicyDisabled}, nil
	}
	name, count, _ := strings.Cut(r, ":")
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil {
			return p, fmt.Errorf("service %q: invalid restart policy %q", s.Name, r)
		}
		p.MaximumRetryCount = n
	}
	return p, nil
}

// mounts turns volumes, secrets and configs into mounts. Named volumes resolve to the project volume's
// real name (project_data); secrets and configs from files are read-only binds at /run/secrets/<name> and
// /<name>, as compose does without swarm.
func mounts(p *types.Project, s types.ServiceConfig) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, v := range s.Volumes {
		m := mount.Mount{Type: mount.Type(v.Type), Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source != "" {
				vol, ok := p.Volumes[v.Source]
				if !ok {
					return nil, fmt.Errorf("service %q refers to undefined volume %s: invalid compose project", s.Name, v.Source)
				}
				m.Source = vol.Name
			}
			if v.Volume != nil && v.Volume.NoCopy {
				m.VolumeOptions = &mount.VolumeOptions{NoCopy: true}
			}
		case types.VolumeTypeBind:
			m.BindOptions = &mount.BindOptions{CreateMountpoint: v.Bind == nil || bool(v.Bind.CreateHostPath)}
			if v.Bind != nil && v.Bind.Propagation != "" {
				m.BindOptions.Propagation = mount.Propagation(v.Bind.Propagation)
			}
		case types.VolumeTypeTmpfs:
			if v.Tmpfs != nil {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size)}
			}
		default:
			return nil, fmt.Errorf("service %q: unsupported volume type %q", s.Name, v.Type)
		}
		out = append(out, m)
	}
	for _, sec := range s.Secrets {
		def, ok := p.Secrets[sec.Source]
		if !ok {
			return nil, fmt.Errorf("service %q refers to undefined secret %s: invalid compose project", s.Name, sec.Source)
		}
		if def.File == "" {
			return nil, fmt.Errorf("service %q: secret %q: only file secrets are supported", s.Name, sec.Source)
		}
		target := sec.Target
		if target == "" {
			target = sec.Source
		}
		if !path.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		out = append(out, mount.Mount{Type: mount.TypeBind, Source: def.File, Target: target, ReadOnly: true})
	}
	for _, cfg := range s.Configs {
		def, ok := p.Configs[cfg.Source]
		if !ok {
			return nil, fmt.Errorf("service %q refers to undefined config %s: invalid compose project", s.Name, cfg.Source)
		}
		if def.File == "" {
			return nil, fmt.Errorf("service %q: config %q: only file configs are supported", s.Name, cfg.Source)
		}
		target := cfg.Target
		if target == "" {
			target = "/" + cfg.Source
		}
		out = append(out, mount.Mount{Type: mount.TypeBind, Source: def.File, Target: target, ReadOnly: true})
	}
	return out, nil
}

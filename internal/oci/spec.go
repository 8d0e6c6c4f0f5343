package oci

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	// InitPathInContainer is where --init's binary is bound, as in Docker.
	InitPathInContainer = "/sbin/docker-init"
	// DefaultShmSize is the size of /dev/shm when HostConfig.ShmSize is 0 (64 MiB, Docker's default).
	DefaultShmSize = 64 << 20
	// NetNSHost as Input.NetNSPath shares the host's network namespace.
	NetNSHost = "host"
)

// Input is everything Generate needs: the container's configuration plus what the daemon has already resolved.
type Input struct {
	// ID is the container ID (used in logs).
	ID string
	// Rootfs is the mounted root filesystem (the overlay's merged directory).
	Rootfs string
	// Config is the image config merged with the user's (Cmd, Entrypoint, Env, User, WorkingDir, Hostname, Tty...).
	Config *container.Config
	// HostConfig is the user's host configuration; nil means all defaults.
	HostConfig *container.HostConfig
	// Mounts are the resolved volume, bind and tmpfs mounts. One at the destination of a default mount (/dev/shm,
	// /etc/hosts, ...) replaces it; one at /dev replaces every default mount under /dev.
	Mounts []specs.Mount
	// NetNSPath is the network namespace to join: "" makes a new one (loopback only), NetNSHost shares the host's.
	NetNSPath string
	// ResolvConf, Hosts and Hostname are host files bound at /etc/resolv.conf, /etc/hosts and /etc/hostname; ""
	// skips the file. (The hostname itself is Config.Hostname.)
	ResolvConf, Hosts, Hostname string
	// CgroupsPath is the container's cgroup, e.g. "/berth/<id>" with the cgroupfs driver.
	CgroupsPath string
	// CgroupV2 says the host uses the unified hierarchy: the cgroup namespace defaults to private, and v1-only
	// knobs (swappiness, OOM-kill disable) are dropped.
	CgroupV2 bool
	// SwapSupported says the kernel can limit swap (v1: memory.memsw.limit_in_bytes exists; see SwapSupported).
	// Without it MemorySwap is ignored, as Docker does with a warning.
	SwapSupported bool
	// DaemonCaps are the capabilities the daemon holds (CurrentCapabilities). A container never gets more; nil
	// reads them with CurrentCapabilities.
	DaemonCaps []string
	// InitPath is the host path of a static init (tini) bound at /sbin/docker-init for --init.
	InitPath string
	// SeccompProfile is the daemon's system-call filter for containers that name none: "" or SeccompBuiltin for
	// docker's default profile, SeccompUnconfined for none, or a profile's JSON (daemon.json seccomp-profile).
	SeccompProfile string
	// AppArmorProfile is the AppArmor profile containers get by default, loaded by the daemon; "" when the host
	// has no AppArmor (then none is set, whatever the container asks, as docker does).
	AppArmorProfile string
}

// The daemon's seccomp-profile values that are not a profile.
const (
	SeccompBuiltin    = "builtin"
	SeccompUnconfined = "unconfined"
)

// Generate builds the OCI runtime spec of a container the way Docker does for the same configuration.
// Configuration errors are errdefs.ErrInvalidArgument with Docker's messages.
func Generate(in Input) (*specs.Spec, error) {
	if in.Config == nil {
		return nil, fmt.Errorf("container %s: no config: %w", in.ID, errdefs.ErrInvalidArgument)
	}
	if in.Rootfs == "" {
		return nil, fmt.Errorf("container %s: no rootfs: %w", in.ID, errdefs.ErrInvalidArgument)
	}
	cfg := in.Config
	hc := in.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}

	args := append(slices.Clone(cfg.Entrypoint), cfg.Cmd...)
	if len(args) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("no command specified")
	}
	if err := validateModes(hc); err != nil {
		return nil, err
	}
	sec, err := parseSecurityOpts(hc.SecurityOpt)
	if err != nil {
		return nil, err
	}
	if hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000 {
		return nil, errdefs.ErrInvalidArgument.WithMessage(
			fmt.Sprintf("Invalid value %d, range for oom score adj is [-1000, 1000]", hc.OomScoreAdj))
	}

	user, err := ResolveUser(in.Rootfs, cfg.User, hc.GroupAdd)
	if err != nil {
		return nil, err
	}
	user.Umask = hc.Umask

	daemonCaps := in.DaemonCaps
	if daemonCaps == nil {
		if daemonCaps, err = CurrentCapabilities(); err != nil {
			slog.Warn("cannot read the daemon's capabilities; assuming all", "container", in.ID, "error", err)
			daemonCaps = AllCapabilities()
		}
	}
	caps, err := TweakCapabilities(DefaultCapabilities(), hc.CapAdd, hc.CapDrop, hc.Privileged, daemonCaps)
	if err != nil {
		return nil, err
	}

	pidPrivate := !hc.PidMode.IsHost() && !hc.PidMode.IsContainer()
	useInit := hc.Init != nil && *hc.Init && pidPrivate
	if useInit {
		if in.InitPath == "" {
			return nil, fmt.Errorf("--init: no init binary configured: %w", errdefs.ErrFailedPrecondition)
		}
		args = append([]string{InitPathInContainer, "--"}, args...)
	}

	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	env := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + cfg.Hostname}
	if cfg.Tty {
		env = append(env, "TERM=xterm")
	}
	oom := hc.OomScoreAdj

	s := &specs.Spec{
		Version:    specs.Version,
		Root:       &specs.Root{Path: in.Rootfs, Readonly: hc.ReadonlyRootfs},
		Hostname:   cfg.Hostname,
		Domainname: cfg.Domainname,
		Process: &specs.Process{
			Terminal:        cfg.Tty,
			User:            user,
			Args:            args,
			Env:             MergeEnv(env, cfg.Env),
			Cwd:             cwd,
			NoNewPrivileges: sec.noNewPrivileges,
			OOMScoreAdj:     &oom,
			Rlimits:         rlimits(hc.Ulimits),
		},
		Linux: &specs.Linux{
			CgroupsPath:   in.CgroupsPath,
			Sysctl:        map[string]string{},
			MaskedPaths:   defaultMaskedPaths(),
			ReadonlyPaths: defaultReadonlyPaths(),
		},
	}
	setCapabilities(s.Process, caps)
	if cfg.Tty && (hc.ConsoleSize[0] != 0 || hc.ConsoleSize[1] != 0) {
		s.Process.ConsoleSize = &specs.Box{Height: hc.ConsoleSize[0], Width: hc.ConsoleSize[1]}
	}
	if hc.UTSMode.IsHost() {
		s.Hostname, s.Domainname = "", ""
	}

	s.Linux.Namespaces = namespaces(in, hc)

	if err := setSysctls(s.Linux.Sysctl, in, hc); err != nil {
		return nil, err
	}

	if hc.MaskedPaths != nil {
		s.Linux.MaskedPaths = slices.Clone(hc.MaskedPaths)
	}
	if hc.ReadonlyPaths != nil {
		s.Linux.ReadonlyPaths = slices.Clone(hc.ReadonlyPaths)
	}

	if s.Linux.Resources, err = resources(in, hc); err != nil {
		return nil, err
	}
	if s.Linux.Devices, s.Linux.Resources.Devices, err = devices(hc); err != nil {
		return nil, err
	}

	s.Mounts = mounts(in, hc, sec)
	if useInit {
		s.Mounts = append(s.Mounts, specs.Mount{
			Destination: InitPathInContainer, Type: "bind", Source: in.InitPath, Options: []string{"bind", "ro"},
		})
	}
	s.Linux.RootfsPropagation = rootfsPropagation(s.Mounts)

	if hc.Privileged {
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	}
	if err := setSeccomp(s, in, hc, sec); err != nil {
		return nil, err
	}
	setAppArmor(s, in, hc, sec)
	return s, nil
}

// setSeccomp applies the container's system-call filter as docker does: none for a privileged container or with
// seccomp=unconfined, the profile given with --security-opt seccomp=PROFILE, else the daemon's (by default
// docker's own default profile, from moby/profiles). The default profile allows more to a container with more
// capabilities (CAP_SYS_ADMIN lets it unshare, mount, ...), so it is generated after them.
func setSeccomp(s *specs.Spec, in Input, hc *container.HostConfig, sec securityOpts) error {
	profile := sec.seccomp
	if profile == "" {
		profile = in.SeccompProfile
	}
	if hc.Privileged || profile == SeccompUnconfined {
		return nil
	}
	var err error
	if profile == "" || profile == SeccompBuiltin {
		s.Linux.Seccomp, err = seccomp.GetDefaultProfile(s)
	} else {
		s.Linux.Seccomp, err = seccomp.LoadProfile(profile, s)
	}
	if err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	return nil
}

// setAppArmor gives the process the AppArmor profile docker would: none on a host without AppArmor (this
// engine's Input says), none for a privileged container or with apparmor=unconfined, the named one with
// --security-opt apparmor=NAME, else the daemon's default profile.
func setAppArmor(s *specs.Spec, in Input, hc *container.HostConfig, sec securityOpts) {
	if in.AppArmorProfile == "" {
		return
	}
	switch {
	case sec.apparmor == "unconfined" || (sec.apparmor == "" && hc.Privileged):
		s.Process.ApparmorProfile = "unconfined"
	case sec.apparmor != "":
		s.Process.ApparmorProfile = sec.apparmor
	default:
		s.Process.ApparmorProfile = in.AppArmorProfile
	}
}

// validateModes rejects namespace modes this engine cannot honour.
func validateModes(hc *container.HostConfig) error {
	invalid := func(what string, v any) error {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid %s: %v", what, v))
	}
	switch {
	case !hc.IpcMode.Valid():
		return invalid("IPC mode", hc.IpcMode)
	case !hc.PidMode.Valid():
		return invalid("PID mode", hc.PidMode)
	case !hc.UTSMode.Valid():
		return invalid("UTS mode", hc.UTSMode)
	case !hc.CgroupnsMode.Valid():
		return invalid("cgroup namespace mode", hc.CgroupnsMode)
	case !hc.UsernsMode.Valid():
		return invalid("USER mode", hc.UsernsMode)
	case hc.IpcMode.IsContainer():
		return fmt.Errorf("IPC mode %q: %w", hc.IpcMode, errdefs.ErrNotImplemented)
	case hc.PidMode.IsContainer():
		return fmt.Errorf("PID mode %q: %w", hc.PidMode, errdefs.ErrNotImplemented)
	}
	return nil
}

type securityOpts struct {
	noNewPrivileges bool
	writableCgroups bool
	// seccomp is "" (the daemon's profile), "unconfined", or a profile's JSON, which the docker CLI sends in
	// place of the file named by --security-opt seccomp=FILE.
	seccomp string
	// apparmor is "" (the daemon's profile), "unconfined", or a profile's name.
	apparmor string
}

// parseSecurityOpts reads --security-opt values with Docker's syntax and error messages. Seccomp, AppArmor and
// SELinux options are accepted and ignored: this engine applies none of them yet.
func parseSecurityOpts(opts []string) (securityOpts, error) {
	var so securityOpts
	for _, opt := range opts {
		switch opt {
		case "no-new-privileges":
			so.noNewPrivileges = true
			continue
		case "disable":
			continue
		}
		sep := "="
		if !strings.Contains(opt, "=") {
			sep = ":"
		}
		k, v, ok := strings.Cut(opt, sep)
		if !ok {
			return so, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid --security-opt 1: %q", opt))
		}
		switch k {
		case "seccomp":
			so.seccomp = v
		case "apparmor":
			so.apparmor = v
		case "label":
			if v != "disable" {
				// SELinux labels: this engine runs no SELinux policy (docker ignores them too without it).
				slog.Warn("security option not supported; ignored", "option", opt)
			}
		case "no-new-privileges", "writable-cgroups":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return so, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid --security-opt 2: %q", opt))
			}
			if k == "no-new-privileges" {
				so.noNewPrivileges = b
			} else {
				so.writableCgroups = b
			}
		default:
			return so, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid --security-opt 2: %q", opt))
		}
	}
	return so, nil
}

// setCapabilities sets caps as Docker does: a root process gets them bounding, effective and permitted; any other
// user only in the bounding set, as execve would leave it. Inheritable and ambient stay empty.
func setCapabilities(p *specs.Process, caps []string) {
	if caps == nil {
		caps = []string{}
	}
	if p.User.UID == 0 {
		p.Capabilities = &specs.LinuxCapabilities{
			Bounding: caps, Effective: slices.Clone(caps), Permitted: slices.Clone(caps),
		}
		return
	}
	p.Capabilities = &specs.LinuxCapabilities{Bounding: caps}
}

func rlimits(ulimits []*container.Ulimit) []specs.POSIXRlimit {
	var out []specs.POSIXRlimit
	for _, u := range ulimits {
		if u == nil {
			continue
		}
		out = append(out, specs.POSIXRlimit{
			Type: "RLIMIT_" + strings.ToUpper(u.Name), Soft: uint64(u.Soft), Hard: uint64(u.Hard),
		})
	}
	return out
}

func namespaces(in Input, hc *container.HostConfig) []specs.LinuxNamespace {
	ns := []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	if in.NetNSPath != NetNSHost && !hc.NetworkMode.IsHost() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: in.NetNSPath})
	}
	if !hc.UTSMode.IsHost() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.UTSNamespace})
	}
	if !hc.PidMode.IsHost() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}
	if !hc.IpcMode.IsHost() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace})
	}
	cgroupns := hc.CgroupnsMode
	if cgroupns.IsEmpty() {
		// Docker's default: private on cgroup v2, host on v1.
		cgroupns = container.CgroupnsModeHost
		if in.CgroupV2 {
			cgroupns = container.CgroupnsModePrivate
		}
	}
	if cgroupns.IsPrivate() {
		ns = append(ns, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return ns
}

// sysctlExists reports whether the running kernel has sysctl name; a variable for tests.
var sysctlExists = func(name string) bool {
	_, err := os.Stat(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
	return err == nil
}

// setSysctls adds Docker's default network sysctls for a private network namespace, then the user's.
func setSysctls(dst map[string]string, in Input, hc *container.HostConfig) error {
	hostNet := in.NetNSPath == NetNSHost || hc.NetworkMode.IsHost()
	if !hostNet && !hc.NetworkMode.IsContainer() {
		// Unprivileged ping and low ports, as Docker grants: the capabilities allow both anyway.
		if sysctlExists("net.ipv4.ping_group_range") {
			dst["net.ipv4.ping_group_range"] = "0 2147483647"
		}
		if sysctlExists("net.ipv4.ip_unprivileged_port_start") {
			dst["net.ipv4.ip_unprivileged_port_start"] = "0"
		}
	}
	for _, k := range slices.Sorted(maps.Keys(hc.Sysctls)) {
		if hostNet && strings.HasPrefix(k, "net.") {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("sysctl %q not allowed in host network namespace", k))
		}
		dst[k] = hc.Sysctls[k]
	}
	return nil
}

func defaultMaskedPaths() []string {
	return []string{
		"/proc/asound",
		"/proc/acpi",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
}

func defaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

// devices returns the device nodes to create and the device cgroup rules.
func devices(hc *container.HostConfig) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup, error) {
	var devs []specs.LinuxDevice
	if hc.Privileged {
		host, err := hostDevices()
		if err != nil {
			return nil, nil, err
		}
		devs = append(devs, host...)
		for _, dm := range hc.Devices {
			if dm.PathInContainer == "" || dm.PathInContainer == dm.PathOnHost {
				continue // already there with the host's /dev
			}
			d, _, err := DevicesFromPath(dm.PathOnHost, dm.PathInContainer, "rwm")
			if err != nil {
				return nil, nil, err
			}
			devs = append(devs, d...)
		}
		return devs, []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}, nil
	}
	rules := defaultDeviceRules()
	for _, dm := range hc.Devices {
		d, r, err := DevicesFromPath(dm.PathOnHost, dm.PathInContainer, dm.CgroupPermissions)
		if err != nil {
			return nil, nil, err
		}
		devs = append(devs, d...)
		rules = append(rules, r...)
	}
	for _, rule := range hc.DeviceCgroupRules {
		r, err := ParseDeviceCgroupRule(rule)
		if err != nil {
			return nil, nil, err
		}
		rules = append(rules, r)
	}
	return devs, rules, nil
}

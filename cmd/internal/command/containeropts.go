package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// containerOptions are the flags `run` and `create` share; they become a container.Config, HostConfig and
// NetworkingConfig in parse.
type containerOptions struct {
	attach            *ListOpts
	volumes           *ListOpts
	tmpfs             *ListOpts
	mounts            *mountOpts
	blkioWeight       uint16
	links             *ListOpts
	aliases           *ListOpts
	env               *ListOpts
	envFile           *ListOpts
	labels            *ListOpts
	labelsFile        *ListOpts
	annotations       *mapOpts
	devices           *ListOpts
	deviceCgroupRules *ListOpts
	ulimits           *ulimitOpts
	sysctls           *mapOpts
	publish           *ListOpts
	expose            *ListOpts
	dns               *ListOpts
	dnsSearch         *ListOpts
	dnsOptions        *ListOpts
	extraHosts        *ListOpts
	volumesFrom       *ListOpts
	capAdd            *ListOpts
	capDrop           *ListOpts
	groupAdd          *ListOpts
	securityOpt       *ListOpts
	storageOpt        *ListOpts
	logOpts           *ListOpts
	networks          *ListOpts

	privileged      bool
	pidMode         string
	utsMode         string
	usernsMode      string
	cgroupnsMode    string
	ipcMode         string
	publishAll      bool
	stdin           bool
	tty             bool
	oomKillDisable  bool
	oomScoreAdj     int
	containerIDFile string
	entrypoint      string
	hostname        string
	domainname      string
	memory          memBytes
	memoryReserve   memBytes
	memorySwap      memSwapBytes
	swappiness      int64
	shmSize         memBytes
	cpus            nanoCPUs
	cpuShares       int64
	cpuPeriod       int64
	cpuQuota        int64
	cpuRtPeriod     int64
	cpuRtRuntime    int64
	cpusetCpus      string
	cpusetMems      string
	pidsLimit       int64
	user            string
	workingDir      string
	macAddress      string
	ipv4Address     string
	ipv6Address     string
	cgroupParent    string
	restartPolicy   string
	readonlyRootfs  bool
	loggingDriver   string
	volumeDriver    string
	stopSignal      string
	stopTimeout     int
	init            bool
	runtime         string
	isolation       string
	autoRemove      bool

	healthCmd           string
	healthInterval      time.Duration
	healthTimeout       time.Duration
	healthStartPeriod   time.Duration
	healthStartInterval time.Duration
	healthRetries       int
	noHealthcheck       bool

	// Image and Args come from the positional arguments.
	Image string
	Args  []string
}

// addContainerFlags defines docker's run/create flags (Linux-relevant ones) on flags.
func addContainerFlags(flags *pflag.FlagSet) *containerOptions {
	o := &containerOptions{
		attach:            NewListOpts(validateAttach),
		volumes:           NewListOpts(nil),
		tmpfs:             NewListOpts(nil),
		mounts:            &mountOpts{},
		links:             NewListOpts(nil),
		aliases:           NewListOpts(nil),
		env:               NewListOpts(ValidateEnv),
		envFile:           NewListOpts(nil),
		labels:            NewListOpts(nil),
		labelsFile:        NewListOpts(nil),
		annotations:       newMapOpts(),
		devices:           NewListOpts(nil),
		deviceCgroupRules: NewListOpts(nil),
		ulimits:           &ulimitOpts{},
		sysctls:           newMapOpts(),
		publish:           NewListOpts(nil),
		expose:            NewListOpts(nil),
		dns:               NewListOpts(nil),
		dnsSearch:         NewListOpts(nil),
		dnsOptions:        NewListOpts(nil),
		extraHosts:        NewListOpts(validateExtraHost),
		volumesFrom:       NewListOpts(nil),
		capAdd:            NewListOpts(nil),
		capDrop:           NewListOpts(nil),
		groupAdd:          NewListOpts(nil),
		securityOpt:       NewListOpts(nil),
		storageOpt:        NewListOpts(nil),
		logOpts:           NewListOpts(nil),
		networks:          NewListOpts(nil),
		swappiness:        -1,
	}

	// General
	flags.VarP(o.attach, "attach", "a", "Attach to STDIN, STDOUT or STDERR")
	flags.Var(o.deviceCgroupRules, "device-cgroup-rule", "Add a rule to the cgroup allowed devices list")
	flags.Var(o.devices, "device", "Add a host device to the container")
	flags.VarP(o.env, "env", "e", "Set environment variables")
	flags.Var(o.envFile, "env-file", "Read in a file of environment variables")
	flags.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	flags.Var(o.groupAdd, "group-add", "Add additional groups to join")
	flags.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	flags.StringVar(&o.domainname, "domainname", "", "Container NIS domain name")
	flags.BoolVarP(&o.stdin, "interactive", "i", false, "Keep STDIN open even if not attached")
	flags.VarP(o.labels, "label", "l", "Set meta data on a container")
	flags.Var(o.labelsFile, "label-file", "Read in a line delimited file of labels")
	flags.BoolVar(&o.readonlyRootfs, "read-only", false, "Mount the container's root filesystem as read only")
	flags.StringVar(&o.restartPolicy, "restart", "no", "Restart policy to apply when a container exits")
	flags.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	flags.IntVar(&o.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	flags.Var(o.sysctls, "sysctl", "Sysctl options")
	flags.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	flags.Var(o.ulimits, "ulimit", "Ulimit options")
	flags.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	flags.StringVarP(&o.workingDir, "workdir", "w", "", "Working directory inside the container")
	flags.BoolVar(&o.autoRemove, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	flags.Var(o.annotations, "annotation", "Add an annotation to the container (passed through to the OCI runtime)")

	// Security
	flags.Var(o.capAdd, "cap-add", "Add Linux capabilities")
	flags.Var(o.capDrop, "cap-drop", "Drop Linux capabilities")
	flags.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to this container")
	flags.Var(o.securityOpt, "security-opt", "Security Options")
	flags.StringVar(&o.usernsMode, "userns", "", "User namespace to use")
	flags.StringVar(&o.cgroupnsMode, "cgroupns", "", `Cgroup namespace to use (host|private)
'host':    Run the container in the host's cgroup namespace
'private': Run the container in its own private cgroup namespace
'':        Use the cgroup namespace as configured by the
           default-cgroupns-mode option on the daemon (default)`)

	// Network and port publishing
	flags.Var(o.extraHosts, "add-host", "Add a custom host-to-IP mapping (host:ip)")
	flags.Var(o.dns, "dns", "Set custom DNS servers")
	flags.Var(o.dnsOptions, "dns-option", "Set DNS options")
	flags.Var(o.dnsSearch, "dns-search", "Set custom DNS search domains")
	flags.Var(o.expose, "expose", "Expose a port or a range of ports")
	flags.StringVar(&o.ipv4Address, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	flags.StringVar(&o.ipv6Address, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	flags.Var(o.links, "link", "Add link to another container")
	flags.StringVar(&o.macAddress, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	flags.VarP(o.publish, "publish", "p", "Publish a container's port(s) to the host")
	flags.BoolVarP(&o.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	flags.Var(o.networks, "network", "Connect a container to a network")
	flags.Var(o.networks, "net", "Connect a container to a network")
	_ = flags.MarkHidden("net")
	flags.Var(o.aliases, "network-alias", "Add network-scoped alias for the container")
	flags.Var(o.aliases, "net-alias", "Add network-scoped alias for the container")
	_ = flags.MarkHidden("net-alias")

	// Logging and storage
	flags.StringVar(&o.loggingDriver, "log-driver", "", "Logging driver for the container")
	flags.Var(o.logOpts, "log-opt", "Log driver options")
	flags.Var(o.storageOpt, "storage-opt", "Storage driver options for the container")
	flags.Var(o.tmpfs, "tmpfs", "Mount a tmpfs directory")
	flags.Var(o.volumesFrom, "volumes-from", "Mount volumes from the specified container(s)")
	flags.VarP(o.volumes, "volume", "v", "Bind mount a volume")
	flags.Var(o.mounts, "mount", "Attach a filesystem mount to the container")
	flags.StringVar(&o.volumeDriver, "volume-driver", "", "Optional volume driver for the container")

	// Health-checking
	flags.StringVar(&o.healthCmd, "health-cmd", "", "Command to run to check health")
	flags.DurationVar(&o.healthInterval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	flags.IntVar(&o.healthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	flags.DurationVar(&o.healthTimeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	flags.DurationVar(&o.healthStartPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	flags.DurationVar(&o.healthStartInterval, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	flags.BoolVar(&o.noHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")

	// Resource management
	flags.Uint16Var(&o.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	flags.StringVar(&o.containerIDFile, "cidfile", "", "Write the container ID to the file")
	flags.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	flags.StringVar(&o.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	flags.Int64Var(&o.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	flags.Int64Var(&o.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	flags.Int64Var(&o.cpuRtPeriod, "cpu-rt-period", 0, "Limit CPU real-time period in microseconds")
	flags.Int64Var(&o.cpuRtRuntime, "cpu-rt-runtime", 0, "Limit CPU real-time runtime in microseconds")
	flags.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	flags.Var(&o.cpus, "cpus", "Number of CPUs")
	flags.VarP(&o.memory, "memory", "m", "Memory limit")
	flags.Var(&o.memoryReserve, "memory-reservation", "Memory soft limit")
	flags.Var(&o.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	flags.Int64Var(&o.swappiness, "memory-swappiness", -1, "Tune container memory swappiness (0 to 100)")
	flags.BoolVar(&o.oomKillDisable, "oom-kill-disable", false, "Disable OOM Killer")
	flags.IntVar(&o.oomScoreAdj, "oom-score-adj", 0, "Tune host's OOM preferences (-1000 to 1000)")
	flags.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	flags.StringVar(&o.cgroupParent, "cgroup-parent", "", "Optional parent cgroup for the container")

	// Low-level execution
	flags.StringVar(&o.ipcMode, "ipc", "", "IPC mode to use")
	flags.StringVar(&o.pidMode, "pid", "", "PID namespace to use")
	flags.Var(&o.shmSize, "shm-size", "Size of /dev/shm")
	flags.StringVar(&o.utsMode, "uts", "", "UTS namespace to use")
	flags.StringVar(&o.runtime, "runtime", "", "Runtime to use for this container")
	flags.StringVar(&o.isolation, "isolation", "", `Container isolation technology ("default", or "vm": a virtual machine of its own)`)
	flags.BoolVar(&o.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	return o
}

func validateAttach(v string) (string, error) {
	s := strings.ToLower(v)
	switch s {
	case "stdin", "stdout", "stderr":
		return s, nil
	}
	return v, errors.New("valid streams are STDIN, STDOUT and STDERR")
}

func validateExtraHost(v string) (string, error) {
	name, ip, ok := strings.Cut(v, "=")
	if !ok {
		name, ip, ok = strings.Cut(v, ":")
	}
	if !ok || name == "" {
		return "", fmt.Errorf("bad format for add-host: %q", v)
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	if ip != "host-gateway" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return "", fmt.Errorf("invalid IP address in add-host: %q", ip)
		}
	}
	return name + ":" + ip, nil
}

// containerConfig is what POST /containers/create takes.
type containerConfig struct {
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
}

// parse turns the flags into the create request, as docker's CLI does.
func (o *containerOptions) parse(flags *pflag.FlagSet) (*containerConfig, error) {
	attachStdin, attachStdout, attachStderr := false, false, false
	for _, s := range o.attach.Values() {
		switch s {
		case "stdin":
			attachStdin = true
		case "stdout":
			attachStdout = true
		case "stderr":
			attachStderr = true
		}
	}
	if o.stdin {
		attachStdin = true
	}
	if len(o.attach.Values()) == 0 {
		attachStdout, attachStderr = true, true
	}

	if o.swappiness != -1 && (o.swappiness < 0 || o.swappiness > 100) {
		return nil, fmt.Errorf("invalid value: %d. Valid memory swappiness range is 0-100", o.swappiness)
	}
	if o.macAddress != "" {
		if _, err := net.ParseMAC(strings.TrimSpace(o.macAddress)); err != nil {
			return nil, fmt.Errorf("%s is not a valid mac address", o.macAddress)
		}
	}

	binds, anonVolumes, err := parseVolumes(o.volumes.Values())
	if err != nil {
		return nil, err
	}

	var tmpfs map[string]string
	for _, t := range o.tmpfs.Values() {
		if tmpfs == nil {
			tmpfs = map[string]string{}
		}
		k, v, _ := strings.Cut(t, ":")
		tmpfs[k] = v
	}

	var entrypoint []string
	if o.entrypoint != "" {
		entrypoint = []string{o.entrypoint}
	} else if flags.Changed("entrypoint") {
		entrypoint = []string{""}
	}

	exposed, bindings, err := parsePortSpecs(o.publish.Values())
	if err != nil {
		return nil, err
	}
	for _, e := range o.expose.Values() {
		pr, err := network.ParsePortRange(e)
		if err != nil {
			return nil, fmt.Errorf("invalid range format for --expose: %w", err)
		}
		for p := range pr.All() {
			exposed[p] = struct{}{}
		}
	}

	devices := make([]container.DeviceMapping, 0, len(o.devices.Values()))
	for _, d := range o.devices.Values() {
		dm, err := parseDevice(d)
		if err != nil {
			return nil, err
		}
		devices = append(devices, dm)
	}

	env, err := readKVStrings(o.envFile.Values(), o.env.Values(), os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	labels, err := readKVStrings(o.labelsFile.Values(), o.labels.Values(), nil)
	if err != nil {
		return nil, fmt.Errorf("--label-file: %w", err)
	}

	pidMode := container.PidMode(o.pidMode)
	if !pidMode.Valid() {
		return nil, errors.New("--pid: invalid PID mode")
	}
	utsMode := container.UTSMode(o.utsMode)
	if !utsMode.Valid() {
		return nil, errors.New("--uts: invalid UTS mode")
	}
	usernsMode := container.UsernsMode(o.usernsMode)
	if !usernsMode.Valid() {
		return nil, errors.New("--userns: invalid USER mode")
	}
	cgroupnsMode := container.CgroupnsMode(o.cgroupnsMode)
	if !cgroupnsMode.Valid() {
		return nil, errors.New("--cgroupns: invalid CGROUP mode")
	}
	restart, err := parseRestartPolicy(o.restartPolicy)
	if err != nil {
		return nil, err
	}
	logConfig := map[string]string{}
	for _, l := range o.logOpts.Values() {
		k, v, _ := strings.Cut(l, "=")
		logConfig[k] = v
	}
	if o.loggingDriver == "none" && len(logConfig) > 0 {
		return nil, fmt.Errorf("invalid logging opts for driver %s", o.loggingDriver)
	}
	securityOpts, maskedPaths, readonlyPaths, err := parseSecurityOpts(o.securityOpt.Values())
	if err != nil {
		return nil, err
	}
	var storageOpts map[string]string
	for _, s := range o.storageOpt.Values() {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, errors.New("invalid storage option")
		}
		if storageOpts == nil {
			storageOpts = map[string]string{}
		}
		storageOpts[k] = v
	}
	health, err := o.healthConfig()
	if err != nil {
		return nil, err
	}
	dns := make([]netip.Addr, 0, len(o.dns.Values()))
	for _, d := range o.dns.Values() {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, fmt.Errorf("%s is not an ip address", d)
		}
		dns = append(dns, a)
	}

	resources := container.Resources{
		CgroupParent:       o.cgroupParent,
		Memory:             int64(o.memory),
		MemoryReservation:  int64(o.memoryReserve),
		MemorySwap:         int64(o.memorySwap),
		NanoCPUs:           int64(o.cpus),
		CPUShares:          o.cpuShares,
		CPUPeriod:          o.cpuPeriod,
		CPUQuota:           o.cpuQuota,
		CPURealtimePeriod:  o.cpuRtPeriod,
		CPURealtimeRuntime: o.cpuRtRuntime,
		CpusetCpus:         o.cpusetCpus,
		CpusetMems:         o.cpusetMems,
		BlkioWeight:        o.blkioWeight,
		Ulimits:            o.ulimits.list(),
		DeviceCgroupRules:  o.deviceCgroupRules.Values(),
		Devices:            devices,
	}
	if flags.Changed("memory-swappiness") {
		resources.MemorySwappiness = &o.swappiness
	}
	if flags.Changed("oom-kill-disable") {
		resources.OomKillDisable = &o.oomKillDisable
	}
	if flags.Changed("pids-limit") {
		resources.PidsLimit = &o.pidsLimit
	}

	config := &container.Config{
		Hostname:     o.hostname,
		Domainname:   o.domainname,
		ExposedPorts: exposed,
		User:         o.user,
		Tty:          o.tty,
		OpenStdin:    o.stdin,
		AttachStdin:  attachStdin,
		AttachStdout: attachStdout,
		AttachStderr: attachStderr,
		Env:          env,
		Cmd:          o.Args,
		Image:        o.Image,
		Volumes:      anonVolumes,
		Entrypoint:   entrypoint,
		WorkingDir:   o.workingDir,
		Labels:       kvToMap(labels),
		StopSignal:   o.stopSignal,
		Healthcheck:  health,
	}
	if len(exposed) == 0 {
		config.ExposedPorts = nil
	}
	if flags.Changed("stop-timeout") {
		config.StopTimeout = &o.stopTimeout
	}
	// Keep stdin open for one attach only when it is attached now.
	if config.OpenStdin && config.AttachStdin {
		config.StdinOnce = true
	}

	hostConfig := &container.HostConfig{
		Binds:           binds,
		ContainerIDFile: o.containerIDFile,
		OomScoreAdj:     o.oomScoreAdj,
		AutoRemove:      o.autoRemove,
		Privileged:      o.privileged,
		PortBindings:    bindings,
		Links:           o.links.Values(),
		PublishAllPorts: o.publishAll,
		DNS:             dns,
		DNSSearch:       nonNil(o.dnsSearch.Values()),
		DNSOptions:      nonNil(o.dnsOptions.Values()),
		ExtraHosts:      o.extraHosts.Values(),
		VolumesFrom:     o.volumesFrom.Values(),
		IpcMode:         container.IpcMode(o.ipcMode),
		PidMode:         pidMode,
		UTSMode:         utsMode,
		UsernsMode:      usernsMode,
		CgroupnsMode:    cgroupnsMode,
		CapAdd:          o.capAdd.Values(),
		CapDrop:         o.capDrop.Values(),
		GroupAdd:        o.groupAdd.Values(),
		RestartPolicy:   restart,
		SecurityOpt:     securityOpts,
		StorageOpt:      storageOpts,
		ReadonlyRootfs:  o.readonlyRootfs,
		LogConfig:       container.LogConfig{Type: o.loggingDriver, Config: logConfig},
		VolumeDriver:    o.volumeDriver,
		ShmSize:         int64(o.shmSize),
		Resources:       resources,
		Tmpfs:           tmpfs,
		Sysctls:         o.sysctls.values,
		Runtime:         o.runtime,
		Isolation:       container.Isolation(o.isolation),
		Mounts:          o.mounts.values,
		MaskedPaths:     maskedPaths,
		ReadonlyPaths:   readonlyPaths,
		Annotations:     o.annotations.values,
	}
	if len(hostConfig.LogConfig.Config) == 0 {
		hostConfig.LogConfig.Config = nil
	}
	if len(hostConfig.Sysctls) == 0 {
		hostConfig.Sysctls = nil
	}
	if len(hostConfig.Annotations) == 0 {
		hostConfig.Annotations = nil
	}
	if len(bindings) == 0 {
		hostConfig.PortBindings = nil
	}
	if o.autoRemove && !hostConfig.RestartPolicy.IsNone() {
		return nil, errors.New("conflicting options: cannot specify both --restart and --rm")
	}
	if flags.Changed("init") {
		hostConfig.Init = &o.init
	}

	networking, err := o.parseNetworks(hostConfig)
	if err != nil {
		return nil, err
	}
	return &containerConfig{Config: config, HostConfig: hostConfig, NetworkingConfig: networking}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (o *containerOptions) healthConfig() (*container.HealthConfig, error) {
	have := o.healthCmd != "" || o.healthInterval != 0 || o.healthTimeout != 0 || o.healthStartPeriod != 0 ||
		o.healthRetries != 0 || o.healthStartInterval != 0
	if o.noHealthcheck {
		if have {
			return nil, errors.New("--no-healthcheck conflicts with --health-* options")
		}
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if !have {
		return nil, nil
	}
	for name, d := range map[string]time.Duration{
		"--health-interval": o.healthInterval, "--health-timeout": o.healthTimeout,
		"--health-start-period": o.healthStartPeriod, "--health-start-interval": o.healthStartInterval,
	} {
		if d < 0 {
			return nil, fmt.Errorf("%s cannot be negative", name)
		}
	}
	if o.healthRetries < 0 {
		return nil, errors.New("--health-retries cannot be negative")
	}
	var test []string
	if o.healthCmd != "" {
		test = []string{"CMD-SHELL", o.healthCmd}
	}
	return &container.HealthConfig{
		Test:          test,
		Interval:      o.healthInterval,
		Timeout:       o.healthTimeout,
		StartPeriod:   o.healthStartPeriod,
		StartInterval: o.healthStartInterval,
		Retries:       o.healthRetries,
	}, nil
}

// parseNetworks sets NetworkMode from --network ("default" is left empty for the daemon to choose) and
// the endpoint settings (aliases, addresses, links) of the first network.
func (o *containerOptions) parseNetworks(hc *container.HostConfig) (*network.NetworkingConfig, error) {
	nets := o.networks.Values()
	primary := network.NetworkDefault
	if len(nets) > 0 {
		primary = nets[0]
	}
	if primary != network.NetworkDefault {
		hc.NetworkMode = container.NetworkMode(primary)
	}

	ep := &network.EndpointSettings{}
	if len(o.aliases.Values()) > 0 {
		if !container.NetworkMode(primary).IsUserDefined() {
			return nil, errors.New("network-scoped aliases are only supported for user-defined networks")
		}
		ep.Aliases = o.aliases.Values()
	}
	if o.ipv4Address != "" || o.ipv6Address != "" {
		ep.IPAMConfig = &network.EndpointIPAMConfig{}
		if o.ipv4Address != "" {
			a, err := netip.ParseAddr(o.ipv4Address)
			if err != nil || !a.Is4() {
				return nil, fmt.Errorf("invalid IPv4 address: %s", o.ipv4Address)
			}
			ep.IPAMConfig.IPv4Address = a
		}
		if o.ipv6Address != "" {
			a, err := netip.ParseAddr(o.ipv6Address)
			if err != nil || !a.Is6() {
				return nil, fmt.Errorf("invalid IPv6 address: %s", o.ipv6Address)
			}
			ep.IPAMConfig.IPv6Address = a
		}
	}
	if o.macAddress != "" {
		mac, err := net.ParseMAC(o.macAddress)
		if err != nil {
			return nil, fmt.Errorf("%s is not a valid mac address", o.macAddress)
		}
		ep.MacAddress = network.HardwareAddr(mac)
	}
	if len(o.links.Values()) > 0 && container.NetworkMode(primary).IsUserDefined() {
		ep.Links = o.links.Values()
	}

	endpoints := map[string]*network.EndpointSettings{}
	if ep.Aliases != nil || ep.IPAMConfig != nil || ep.MacAddress != nil || ep.Links != nil {
		endpoints[primary] = ep
	}
	for _, n := range nets[min(1, len(nets)):] {
		if _, dup := endpoints[n]; dup || n == primary {
			return nil, fmt.Errorf("network %q is specified multiple times", n)
		}
		endpoints[n] = &network.EndpointSettings{}
	}
	if len(endpoints) == 0 {
		return nil, nil
	}
	return &network.NetworkingConfig{EndpointsConfig: endpoints}, nil
}

// parseVolumes splits -v values into binds (SOURCE:TARGET[:MODE], named volumes included) and
// anonymous volumes (TARGET only).
func parseVolumes(specs []string) (binds []string, anon map[string]struct{}, _ error) {
	for _, spec := range specs {
		parts := strings.Split(spec, ":")
		for _, p := range parts {
			if p == "" {
				return nil, nil, fmt.Errorf("invalid spec: %s: empty section between colons", spec)
			}
		}
		switch len(parts) {
		case 1:
			if anon == nil {
				anon = map[string]struct{}{}
			}
			anon[parts[0]] = struct{}{}
		case 2, 3:
			src := parts[0]
			if !filepath.IsAbs(src) && strings.HasPrefix(src, ".") {
				if abs, err := filepath.Abs(src); err == nil {
					src = abs
				}
			}
			parts[0] = src
			binds = append(binds, strings.Join(parts, ":"))
		default:
			return nil, nil, fmt.Errorf("invalid spec: %s: too many colons", spec)
		}
	}
	return binds, anon, nil
}

// parsePortSpecs parses -p values: [ip:][hostPort:]containerPort[/proto], with ranges.
func parsePortSpecs(specs []string) (network.PortSet, network.PortMap, error) {
	exposed := network.PortSet{}
	bindings := network.PortMap{}
	for _, spec := range specs {
		rest, proto := spec, "tcp"
		if i := strings.LastIndex(spec, "/"); i >= 0 {
			rest, proto = spec[:i], strings.ToLower(spec[i+1:])
		}
		switch proto {
		case "tcp", "udp", "sctp":
		default:
			return nil, nil, fmt.Errorf("invalid proto: %s", proto)
		}
		var ip, hostPart, containerPart string
		if strings.HasPrefix(rest, "[") {
			end := strings.Index(rest, "]")
			if end < 0 {
				return nil, nil, fmt.Errorf("invalid IP address: %s", rest)
			}
			ip = rest[1:end]
			after := strings.TrimPrefix(rest[end+1:], ":")
			h, c, ok := strings.Cut(after, ":")
			if !ok {
				return nil, nil, fmt.Errorf("invalid port format: %s", spec)
			}
			hostPart, containerPart = h, c
		} else {
			parts := strings.Split(rest, ":")
			switch len(parts) {
			case 1:
				containerPart = parts[0]
			case 2:
				hostPart, containerPart = parts[0], parts[1]
			case 3:
				ip, hostPart, containerPart = parts[0], parts[1], parts[2]
			default:
				// An unbracketed IPv6 address: the last two fields are the ports.
				ip = strings.Join(parts[:len(parts)-2], ":")
				hostPart, containerPart = parts[len(parts)-2], parts[len(parts)-1]
			}
		}
		var hostIP netip.Addr
		if ip != "" {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return nil, nil, fmt.Errorf("invalid IP address: %s", ip)
			}
			hostIP = a
		}
		if containerPart == "" {
			return nil, nil, fmt.Errorf("no port specified: %s<empty>", spec)
		}
		cStart, cEnd, err := parsePortRange(containerPart)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid containerPort: %s", containerPart)
		}
		var hStart, hEnd uint64
		if hostPart != "" {
			hStart, hEnd, err = parsePortRange(hostPart)
			if err != nil {
				return nil, nil, fmt.Errorf("invalid hostPort: %s", hostPart)
			}
		}
		if hostPart != "" && (cEnd-cStart) != (hEnd-hStart) && cEnd != cStart {
			return nil, nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", containerPart, hostPart)
		}
		for i := uint64(0); i <= cEnd-cStart; i++ {
			p, ok := network.PortFrom(uint16(cStart+i), network.IPProtocol(proto))
			if !ok {
				return nil, nil, fmt.Errorf("invalid containerPort: %s", containerPart)
			}
			hostPort := ""
			switch {
			case hostPart == "":
			case cEnd != cStart:
				hostPort = strconv.FormatUint(hStart+i, 10)
			case hEnd != hStart:
				hostPort = fmt.Sprintf("%d-%d", hStart, hEnd)
			default:
				hostPort = strconv.FormatUint(hStart, 10)
			}
			exposed[p] = struct{}{}
			bindings[p] = append(bindings[p], network.PortBinding{HostIP: hostIP, HostPort: hostPort})
		}
	}
	return exposed, bindings, nil
}

func parsePortRange(s string) (start, end uint64, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	start, err = strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return 0, 0, err
	}
	end = start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil {
			return 0, 0, err
		}
		if end < start {
			return 0, 0, fmt.Errorf("invalid range %s", s)
		}
	}
	return start, end, nil
}

// parseRestartPolicy parses --restart: no, always, unless-stopped, on-failure[:max-retries].
func parseRestartPolicy(policy string) (container.RestartPolicy, error) {
	if policy == "" {
		return container.RestartPolicy{}, nil
	}
	name, count, hasCount := strings.Cut(policy, ":")
	if hasCount && name == "" {
		return container.RestartPolicy{}, errors.New("invalid restart policy format: no policy provided before colon")
	}
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil {
			return container.RestartPolicy{}, errors.New("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = n
	}
	if err := container.ValidateRestartPolicy(p); err != nil {
		return container.RestartPolicy{}, err
	}
	return p, nil
}

// parseDevice parses --device HOST[:CONTAINER][:PERMISSIONS].
func parseDevice(d string) (container.DeviceMapping, error) {
	parts := strings.Split(d, ":")
	dm := container.DeviceMapping{CgroupPermissions: "rwm"}
	switch len(parts) {
	case 1:
		dm.PathOnHost, dm.PathInContainer = parts[0], parts[0]
	case 2:
		dm.PathOnHost = parts[0]
		if validDevicePerms(parts[1]) {
			dm.PathInContainer, dm.CgroupPermissions = parts[0], parts[1]
		} else {
			dm.PathInContainer = parts[1]
		}
	case 3:
		if !validDevicePerms(parts[2]) {
			return dm, fmt.Errorf("invalid device mode: %s", parts[2])
		}
		dm.PathOnHost, dm.PathInContainer, dm.CgroupPermissions = parts[0], parts[1], parts[2]
	default:
		return dm, fmt.Errorf("invalid device specification: %s", d)
	}
	if !strings.HasPrefix(dm.PathInContainer, "/") {
		return dm, fmt.Errorf("%s is not an absolute path", dm.PathInContainer)
	}
	return dm, nil
}

func validDevicePerms(p string) bool {
	if p == "" || len(p) > 3 {
		return false
	}
	for _, c := range p {
		if !strings.ContainsRune("rwm", c) {
			return false
		}
	}
	return true
}

// parseSecurityOpts loads seccomp profiles from files (the daemon wants the JSON) and handles
// systempaths=unconfined, which clears the masked and read-only paths.
func parseSecurityOpts(opts []string) (out, masked, readonly []string, _ error) {
	for _, opt := range opts {
		if opt == "systempaths=unconfined" {
			masked, readonly = []string{}, []string{}
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			k, v, ok = strings.Cut(opt, ":")
			if ok && k == "label" {
				opt = k + "=" + v
			}
		}
		if !ok && opt != "no-new-privileges" {
			return nil, nil, nil, fmt.Errorf("invalid --security-opt: %q", opt)
		}
		if k == "seccomp" && v != "unconfined" && v != "builtin" {
			data, err := os.ReadFile(v)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("opening seccomp profile (%s) failed: %w", v, err)
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, data); err != nil {
				return nil, nil, nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %w", v, err)
			}
			opt = "seccomp=" + buf.String()
		}
		out = append(out, opt)
	}
	return out, masked, readonly, nil
}

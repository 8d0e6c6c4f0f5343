package oci

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// daemonCaps is a daemon bounding set without CAP_SYS_RESOURCE, like this VM's.
var daemonCaps = slices.DeleteFunc(AllCapabilities(), func(c string) bool { return c == "CAP_SYS_RESOURCE" })

var fakeHostDevices = []specs.LinuxDevice{
	{Type: "c", Path: "/dev/fake0", Major: 250, Minor: 0},
	{Type: "b", Path: "/dev/fakeblk", Major: 251, Minor: 1},
}

func TestMain(m *testing.M) {
	hostDevices = func() ([]specs.LinuxDevice, error) { return slices.Clone(fakeHostDevices), nil }
	sysctlExists = func(string) bool { return true }
	numCPU = func() int { return 4 }
	os.Exit(m.Run())
}

const testPasswd = `root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken:x:notanumber:0::/:/bin/sh
app:x:1000:1000:App:/home/app:/bin/sh
`

const testGroup = `root:x:0:root
wheel:x:10:root,app
app:x:1000:
staff:x:50:app
audio:x:29:
`

// writeRootfs makes a rootfs with files (path -> content) in a temp dir.
func writeRootfs(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func baseInput(t *testing.T) Input {
	t.Helper()
	return Input{
		ID:          "c1",
		Rootfs:      writeRootfs(t, map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup}),
		Config:      &container.Config{Hostname: "c1host", Cmd: []string{"sh"}},
		HostConfig:  &container.HostConfig{},
		CgroupsPath: "/berth/c1",
		CgroupV2:    true,
		DaemonCaps:  daemonCaps,
	}
}

func findMount(s *specs.Spec, dest string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dest {
			return &s.Mounts[i]
		}
	}
	return nil
}

func countMounts(s *specs.Spec, dest string) int {
	n := 0
	for _, m := range s.Mounts {
		if m.Destination == dest {
			n++
		}
	}
	return n
}

func findNS(s *specs.Spec, typ specs.LinuxNamespaceType) *specs.LinuxNamespace {
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == typ {
			return &s.Linux.Namespaces[i]
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func TestGenerate(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(t *testing.T, in *Input)
		wantErr error  // category
		wantMsg string // exact message when set
		check   func(t *testing.T, s *specs.Spec)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, s *specs.Spec) {
				p := s.Process
				if !slices.Equal(p.Args, []string{"sh"}) {
					t.Errorf("args = %v", p.Args)
				}
				wantEnv := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=c1host"}
				if !slices.Equal(p.Env, wantEnv) {
					t.Errorf("env = %v, want %v", p.Env, wantEnv)
				}
				if p.Cwd != "/" || p.Terminal || p.NoNewPrivileges {
					t.Errorf("cwd=%q terminal=%v nnp=%v", p.Cwd, p.Terminal, p.NoNewPrivileges)
				}
				if p.User.UID != 0 || p.User.GID != 0 || !slices.Equal(p.User.AdditionalGids, []uint32{0, 10}) {
					t.Errorf("user = %+v", p.User)
				}
				if p.OOMScoreAdj == nil || *p.OOMScoreAdj != 0 {
					t.Errorf("oomScoreAdj = %v", p.OOMScoreAdj)
				}
				c := p.Capabilities
				def := DefaultCapabilities()
				if !slices.Equal(c.Bounding, def) || !slices.Equal(c.Effective, def) || !slices.Equal(c.Permitted, def) {
					t.Errorf("caps = %+v", c)
				}
				if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
					t.Errorf("inheritable/ambient = %v/%v", c.Inheritable, c.Ambient)
				}
				if s.Root.Path == "" || s.Root.Readonly {
					t.Errorf("root = %+v", s.Root)
				}
				if s.Hostname != "c1host" || s.Linux.CgroupsPath != "/berth/c1" {
					t.Errorf("hostname=%q cgroups=%q", s.Hostname, s.Linux.CgroupsPath)
				}
				var ns []specs.LinuxNamespaceType
				for _, n := range s.Linux.Namespaces {
					if n.Path != "" {
						t.Errorf("namespace %s has path %q", n.Type, n.Path)
					}
					ns = append(ns, n.Type)
				}
				wantNS := []specs.LinuxNamespaceType{"mount", "network", "uts", "pid", "ipc", "cgroup"}
				if !slices.Equal(ns, wantNS) {
					t.Errorf("namespaces = %v, want %v", ns, wantNS)
				}
				var dests []string
				for _, m := range s.Mounts {
					dests = append(dests, m.Destination)
				}
				wantDests := []string{"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"}
				if !slices.Equal(dests, wantDests) {
					t.Errorf("mounts = %v, want %v", dests, wantDests)
				}
				if m := findMount(s, "/dev/shm"); !slices.Contains(m.Options, "size=67108864") {
					t.Errorf("/dev/shm options = %v", m.Options)
				}
				if m := findMount(s, "/dev"); !slices.Equal(m.Options, []string{"nosuid", "strictatime", "mode=755", "size=65536k"}) {
					t.Errorf("/dev options = %v", m.Options)
				}
				if m := findMount(s, "/dev/pts"); !slices.Contains(m.Options, "ptmxmode=0666") || !slices.Contains(m.Options, "gid=5") {
					t.Errorf("/dev/pts options = %v", m.Options)
				}
				if !slices.Contains(findMount(s, "/sys").Options, "ro") || !slices.Contains(findMount(s, "/sys/fs/cgroup").Options, "ro") {
					t.Error("/sys and /sys/fs/cgroup should be read-only")
				}
				if !slices.Equal(s.Linux.MaskedPaths, defaultMaskedPaths()) || !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") {
					t.Errorf("masked = %v", s.Linux.MaskedPaths)
				}
				if !slices.Equal(s.Linux.ReadonlyPaths, []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}) {
					t.Errorf("readonly = %v", s.Linux.ReadonlyPaths)
				}
				rules := s.Linux.Resources.Devices
				if len(rules) == 0 || rules[0].Allow || rules[0].Access != "rwm" || rules[0].Type != "" {
					t.Errorf("first device rule should deny all: %+v", rules)
				}
				hasRule := func(typ string, major, minor int64, access string) bool {
					return slices.ContainsFunc(rules, func(r specs.LinuxDeviceCgroup) bool {
						eq := func(p *int64, v int64) bool { return v < 0 && p == nil || p != nil && *p == v }
						return r.Allow && r.Type == typ && eq(r.Major, major) && eq(r.Minor, minor) && r.Access == access
					})
				}
				for _, r := range []struct {
					typ          string
					major, minor int64
					access       string
				}{{"c", -1, -1, "m"}, {"b", -1, -1, "m"}, {"c", 1, 3, "rwm"}, {"c", 1, 5, "rwm"}, {"c", 1, 7, "rwm"},
					{"c", 5, 0, "rwm"}, {"c", 1, 8, "rwm"}, {"c", 1, 9, "rwm"}, {"c", 5, 2, "rwm"}, {"c", 136, -1, "rwm"}} {
					if !hasRule(r.typ, r.major, r.minor, r.access) {
						t.Errorf("missing device rule %+v", r)
					}
				}
				if len(s.Linux.Devices) != 0 {
					t.Errorf("devices = %v", s.Linux.Devices)
				}
				if s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "0" || s.Linux.Sysctl["net.ipv4.ping_group_range"] != "0 2147483647" {
					t.Errorf("sysctl = %v", s.Linux.Sysctl)
				}
				r := s.Linux.Resources
				if r.Memory.Limit != nil || r.Memory.Swap != nil || r.CPU.Quota != nil || r.CPU.Shares != nil || r.Pids != nil || r.BlockIO != nil {
					t.Errorf("unexpected resources %+v", r)
				}
				if s.Process.Rlimits != nil {
					t.Errorf("rlimits = %v", s.Process.Rlimits)
				}
			},
		},
		{
			name:    "no command",
			modify:  func(t *testing.T, in *Input) { in.Config.Cmd = nil },
			wantErr: errdefs.ErrInvalidArgument, wantMsg: "no command specified",
		},
		{
			name: "entrypoint and cmd",
			modify: func(t *testing.T, in *Input) {
				in.Config.Entrypoint = []string{"/entry.sh", "-x"}
				in.Config.Cmd = []string{"run", "it"}
				in.Config.WorkingDir = "/app"
			},
			check: func(t *testing.T, s *specs.Spec) {
				if !slices.Equal(s.Process.Args, []string{"/entry.sh", "-x", "run", "it"}) || s.Process.Cwd != "/app" {
					t.Errorf("args=%v cwd=%q", s.Process.Args, s.Process.Cwd)
				}
			},
		},
		{
			name: "env merging and tty",
			modify: func(t *testing.T, in *Input) {
				in.Config.Tty = true
				// image env followed by user env, as the daemon merges them
				in.Config.Env = []string{"PATH=/opt/bin:/bin", "A=image", "B=b", "A=user", "C=c"}
				in.HostConfig.ConsoleSize = [2]uint{24, 80}
			},
			check: func(t *testing.T, s *specs.Spec) {
				want := []string{"PATH=/opt/bin:/bin", "HOSTNAME=c1host", "TERM=xterm", "A=user", "B=b", "C=c"}
				if !slices.Equal(s.Process.Env, want) {
					t.Errorf("env = %v, want %v", s.Process.Env, want)
				}
				if !s.Process.Terminal || s.Process.ConsoleSize == nil || *s.Process.ConsoleSize != (specs.Box{Height: 24, Width: 80}) {
					t.Errorf("terminal=%v size=%v", s.Process.Terminal, s.Process.ConsoleSize)
				}
			},
		},
		{
			name: "cap-add and cap-drop, case-insensitive, with and without prefix",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.CapAdd = []string{"NET_ADMIN", "cap_sys_ptrace", "Chown"}
				in.HostConfig.CapDrop = []string{"MKNOD", "cap_net_raw"}
			},
			check: func(t *testing.T, s *specs.Spec) {
				want := slices.DeleteFunc(DefaultCapabilities(), func(c string) bool { return c == "CAP_MKNOD" || c == "CAP_NET_RAW" })
				want = append(want, "CAP_NET_ADMIN", "CAP_SYS_PTRACE")
				c := s.Process.Capabilities
				if !slices.Equal(c.Bounding, want) || !slices.Equal(c.Effective, want) || !slices.Equal(c.Permitted, want) {
					t.Errorf("caps = %v, want %v", c.Bounding, want)
				}
			},
		},
		{
			name: "cap-add ALL minus drops",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.CapAdd = []string{"all"}
				in.HostConfig.CapDrop = []string{"SYS_ADMIN"}
			},
			check: func(t *testing.T, s *specs.Spec) {
				want := slices.DeleteFunc(slices.Clone(daemonCaps), func(c string) bool { return c == "CAP_SYS_ADMIN" })
				if got := s.Process.Capabilities.Bounding; !slices.Equal(got, want) {
					t.Errorf("caps = %v, want %v", got, want)
				}
			},
		},
		{
			name: "cap-drop ALL keeps only cap-add",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.CapDrop = []string{"ALL"}
				in.HostConfig.CapAdd = []string{"CHOWN", "KILL"}
			},
			check: func(t *testing.T, s *specs.Spec) {
				if got := s.Process.Capabilities.Effective; !slices.Equal(got, []string{"CAP_CHOWN", "CAP_KILL"}) {
					t.Errorf("caps = %v", got)
				}
			},
		},
		{
			name:   "cap-drop ALL alone leaves none",
			modify: func(t *testing.T, in *Input) { in.HostConfig.CapDrop = []string{"ALL"} },
			check: func(t *testing.T, s *specs.Spec) {
				c := s.Process.Capabilities
				if c == nil || c.Bounding == nil || len(c.Bounding) != 0 || len(c.Effective) != 0 {
					t.Errorf("caps = %+v", c)
				}
			},
		},
		{
			name:   "cap-add of a capability the daemon lacks is not granted",
			modify: func(t *testing.T, in *Input) { in.HostConfig.CapAdd = []string{"SYS_RESOURCE", "NET_ADMIN"} },
			check: func(t *testing.T, s *specs.Spec) {
				b := s.Process.Capabilities.Bounding
				if slices.Contains(b, "CAP_SYS_RESOURCE") || !slices.Contains(b, "CAP_NET_ADMIN") {
					t.Errorf("caps = %v", b)
				}
			},
		},
		{
			name:    "unknown capability",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.CapAdd = []string{"foo"} },
			wantErr: errdefs.ErrInvalidArgument, wantMsg: `unknown capability: "CAP_FOO"`,
		},
		{
			name:    "unknown capability in drop",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.CapDrop = []string{"CAP_NOPE"} },
			wantErr: errdefs.ErrInvalidArgument, wantMsg: `unknown capability: "CAP_NOPE"`,
		},
		{
			name: "privileged gets exactly the daemon's capabilities",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.Privileged = true
				in.HostConfig.CapDrop = []string{"CHOWN"} // ignored, as in Docker
			},
			check: func(t *testing.T, s *specs.Spec) {
				c := s.Process.Capabilities
				if !slices.Equal(c.Bounding, daemonCaps) || !slices.Equal(c.Effective, daemonCaps) || !slices.Equal(c.Permitted, daemonCaps) {
					t.Errorf("caps = %v", c.Bounding)
				}
				if slices.Contains(c.Bounding, "CAP_SYS_RESOURCE") {
					t.Error("privileged must not get CAP_SYS_RESOURCE the daemon lacks")
				}
				if s.Linux.MaskedPaths != nil || s.Linux.ReadonlyPaths != nil {
					t.Errorf("masked=%v readonly=%v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
				}
				if slices.Contains(findMount(s, "/sys").Options, "ro") || slices.Contains(findMount(s, "/sys/fs/cgroup").Options, "ro") {
					t.Error("/sys and cgroup should be writable")
				}
				if !slices.Equal(s.Linux.Devices, fakeHostDevices) {
					t.Errorf("devices = %v", s.Linux.Devices)
				}
				rules := s.Linux.Resources.Devices
				if len(rules) != 1 || !rules[0].Allow || rules[0].Access != "rwm" || rules[0].Type != "" || rules[0].Major != nil {
					t.Errorf("device rules = %+v", rules)
				}
			},
		},
		{
			name: "privileged with a non-root user has caps in bounding only",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.Privileged = true
				in.Config.User = "app"
			},
			check: func(t *testing.T, s *specs.Spec) {
				c := s.Process.Capabilities
				if !slices.Equal(c.Bounding, daemonCaps) || c.Effective != nil || c.Permitted != nil {
					t.Errorf("caps = %+v", c)
				}
			},
		},
		{
			name: "memory with default swap",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.Memory = 512 << 20
				in.HostConfig.MemoryReservation = 256 << 20
				in.SwapSupported = true
			},
			check: func(t *testing.T, s *specs.Spec) {
				m := s.Linux.Resources.Memory
				if *m.Limit != 512<<20 || *m.Swap != 1024<<20 || *m.Reservation != 256<<20 {
					t.Errorf("memory = limit %d swap %d", *m.Limit, *m.Swap)
				}
			},
		},
		{
			name: "memory swap unsupported by the kernel",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.Memory = 512 << 20
				in.HostConfig.MemorySwap = 1 << 30
				in.CgroupV2 = false
			},
			check: func(t *testing.T, s *specs.Spec) {
				m := s.Linux.Resources.Memory
				if *m.Limit != 512<<20 || m.Swap != nil {
					t.Errorf("memory = %+v", m)
				}
			},
		},
		{
			name: "memory explicit and unlimited swap",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.Memory = 512 << 20
				in.HostConfig.MemorySwap = -1
				in.SwapSupported = true
			},
			check: func(t *testing.T, s *specs.Spec) {
				if m := s.Linux.Resources.Memory; *m.Swap != -1 {
					t.Errorf("swap = %d", *m.Swap)
				}
			},
		},
		{
			name: "swappiness and oom-kill-disable only on cgroup v1",
			modify: func(t *testing.T, in *Input) {
				in.CgroupV2 = false
				in.HostConfig.MemorySwappiness = ptr[int64](10)
				in.HostConfig.OomKillDisable = ptr(true)
			},
			check: func(t *testing.T, s *specs.Spec) {
				m := s.Linux.Resources.Memory
				if m.Swappiness == nil || *m.Swappiness != 10 || m.DisableOOMKiller == nil || !*m.DisableOOMKiller {
					t.Errorf("memory = %+v", m)
				}
			},
		},
		{
			name: "swappiness ignored on cgroup v2",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.MemorySwappiness = ptr[int64](10)
			},
			check: func(t *testing.T, s *specs.Spec) {
				if m := s.Linux.Resources.Memory; m.Swappiness != nil {
					t.Errorf("swappiness = %d", *m.Swappiness)
				}
			},
		},
		{
			name:    "memory below the minimum",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.Memory = 1 << 20 },
			wantErr: errdefs.ErrInvalidArgument, wantMsg: "Minimum memory limit allowed is 6MB",
		},
		{
			name:    "swap below memory",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.Memory = 512 << 20; in.HostConfig.MemorySwap = 256 << 20 },
			wantErr: errdefs.ErrInvalidArgument, wantMsg: "Minimum memoryswap limit should be larger than memory limit, see usage",
		},
		{
			name:    "swap without memory",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.MemorySwap = 256 << 20 },
			wantErr: errdefs.ErrInvalidArgument,
		},
		{
			name: "cpus, shares, cpuset",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.NanoCPUs = 1_500_000_000
				in.HostConfig.CPUShares = 512
				in.HostConfig.CpusetCpus = "0-1,3"
			},
			check: func(t *testing.T, s *specs.Spec) {
				c := s.Linux.Resources.CPU
				if *c.Quota != 150000 || *c.Period != 100000 || *c.Shares != 512 || c.Cpus != "0-1,3" {
					t.Errorf("cpu = quota %d period %d shares %d cpus %q", *c.Quota, *c.Period, *c.Shares, c.Cpus)
				}
			},
		},
		{
			name: "cpu period and quota",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.CPUPeriod = 50000
				in.HostConfig.CPUQuota = 25000
			},
			check: func(t *testing.T, s *specs.Spec) {
				if c := s.Linux.Resources.CPU; *c.Quota != 25000 || *c.Period != 50000 {
					t.Errorf("cpu = %+v", c)
				}
			},
		},
		{
			name:    "cpus and cpu period conflict",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.NanoCPUs = 1e9; in.HostConfig.CPUPeriod = 50000 },
			wantErr: errdefs.ErrInvalidArgument, wantMsg: "Conflicting options: Nano CPUs and CPU Period cannot both be set",
		},
		{
			name:    "more cpus than the host has",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.NanoCPUs = 8e9 },
			wantErr: errdefs.ErrInvalidArgument, wantMsg: "Range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available",
		},
		{
			name:    "bad cpuset",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.CpusetCpus = "0-a" },
			wantErr: errdefs.ErrInvalidArgument, wantMsg: "Invalid value 0-a for cpuset cpus",
		},
		{
			name:   "pids limit",
			modify: func(t *testing.T, in *Input) { in.HostConfig.PidsLimit = ptr[int64](100) },
			check: func(t *testing.T, s *specs.Spec) {
				if p := s.Linux.Resources.Pids; p == nil || p.Limit == nil || *p.Limit != 100 {
					t.Errorf("pids = %+v", p)
				}
			},
		},
		{
			name:   "pids limit zero or negative is unlimited",
			modify: func(t *testing.T, in *Input) { in.HostConfig.PidsLimit = ptr[int64](-1) },
			check: func(t *testing.T, s *specs.Spec) {
				if p := s.Linux.Resources.Pids; p != nil {
					t.Errorf("pids = %+v", p)
				}
			},
		},
		{
			name:   "blkio weight",
			modify: func(t *testing.T, in *Input) { in.HostConfig.BlkioWeight = 300 },
			check: func(t *testing.T, s *specs.Spec) {
				if b := s.Linux.Resources.BlockIO; b == nil || *b.Weight != 300 {
					t.Errorf("blkio = %+v", b)
				}
			},
		},
		{
			name:    "blkio weight out of range",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.BlkioWeight = 5 },
			wantErr: errdefs.ErrInvalidArgument, wantMsg: "Range of blkio weight is from 10 to 1000",
		},
		{
			name: "readonly rootfs",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.ReadonlyRootfs = true
				in.ResolvConf, in.Hosts, in.Hostname = "/data/c1/resolv.conf", "/data/c1/hosts", "/data/c1/hostname"
				in.Mounts = []specs.Mount{{Destination: "/data", Type: "bind", Source: "/vol", Options: []string{"rbind"}}}
			},
			check: func(t *testing.T, s *specs.Spec) {
				if !s.Root.Readonly {
					t.Error("root not readonly")
				}
				for _, d := range []string{"/sys", "/sys/fs/cgroup", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname"} {
					if !slices.Contains(findMount(s, d).Options, "ro") {
						t.Errorf("%s should be ro: %v", d, findMount(s, d).Options)
					}
				}
				for _, d := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/data"} {
					if slices.Contains(findMount(s, d).Options, "ro") {
						t.Errorf("%s should stay writable: %v", d, findMount(s, d).Options)
					}
				}
			},
		},
		{
			name: "network files",
			modify: func(t *testing.T, in *Input) {
				in.ResolvConf, in.Hosts, in.Hostname = "/data/c1/resolv.conf", "/data/c1/hosts", "/data/c1/hostname"
			},
			check: func(t *testing.T, s *specs.Spec) {
				m := findMount(s, "/etc/hosts")
				if m == nil || m.Source != "/data/c1/hosts" || m.Type != "bind" || !slices.Equal(m.Options, []string{"rbind", "rprivate"}) {
					t.Errorf("hosts mount = %+v", m)
				}
				if m := findMount(s, "/etc/resolv.conf"); m == nil || m.Source != "/data/c1/resolv.conf" {
					t.Errorf("resolv.conf mount = %+v", m)
				}
				if m := findMount(s, "/etc/hostname"); m == nil || m.Source != "/data/c1/hostname" {
					t.Errorf("hostname mount = %+v", m)
				}
			},
		},
		{
			name: "user mounts replace defaults and sort parents first",
			modify: func(t *testing.T, in *Input) {
				in.Hosts = "/data/c1/hosts"
				in.Mounts = []specs.Mount{
					{Destination: "/a/b/c", Type: "bind", Source: "/s3", Options: []string{"rbind"}},
					{Destination: "/etc/hosts", Type: "bind", Source: "/my/hosts", Options: []string{"rbind", "ro"}},
					{Destination: "/dev/shm", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1g"}},
					{Destination: "/a", Type: "bind", Source: "/s1", Options: []string{"rbind"}},
				}
			},
			check: func(t *testing.T, s *specs.Spec) {
				if countMounts(s, "/etc/hosts") != 1 || findMount(s, "/etc/hosts").Source != "/my/hosts" {
					t.Errorf("hosts = %+v", findMount(s, "/etc/hosts"))
				}
				if countMounts(s, "/dev/shm") != 1 || !slices.Equal(findMount(s, "/dev/shm").Options, []string{"size=1g"}) {
					t.Errorf("shm = %+v", findMount(s, "/dev/shm"))
				}
				ia := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/a" })
				ic := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/a/b/c" })
				if ia < 0 || ic < ia {
					t.Errorf("/a (%d) must come before /a/b/c (%d)", ia, ic)
				}
			},
		},
		{
			name: "user /dev replaces every default under /dev",
			modify: func(t *testing.T, in *Input) {
				in.Mounts = []specs.Mount{{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind"}}}
			},
			check: func(t *testing.T, s *specs.Spec) {
				for _, d := range []string{"/dev/pts", "/dev/shm", "/dev/mqueue"} {
					if findMount(s, d) != nil {
						t.Errorf("%s should be gone", d)
					}
				}
				if countMounts(s, "/dev") != 1 || findMount(s, "/dev").Source != "/dev" {
					t.Error("/dev should be the user's")
				}
			},
		},
		{
			name:   "shm size",
			modify: func(t *testing.T, in *Input) { in.HostConfig.ShmSize = 128 << 20 },
			check: func(t *testing.T, s *specs.Spec) {
				if m := findMount(s, "/dev/shm"); !slices.Contains(m.Options, "size=134217728") {
					t.Errorf("shm = %v", m.Options)
				}
			},
		},
		{
			name:   "ipc none has no /dev/shm",
			modify: func(t *testing.T, in *Input) { in.HostConfig.IpcMode = container.IPCModeNone },
			check: func(t *testing.T, s *specs.Spec) {
				if findMount(s, "/dev/shm") != nil || findNS(s, specs.IPCNamespace) == nil {
					t.Error("want ipc namespace and no /dev/shm")
				}
			},
		},
		{
			name:   "ipc host shares the host's ipc and /dev/shm",
			modify: func(t *testing.T, in *Input) { in.HostConfig.IpcMode = container.IPCModeHost },
			check: func(t *testing.T, s *specs.Spec) {
				if findNS(s, specs.IPCNamespace) != nil {
					t.Error("want no ipc namespace")
				}
				if m := findMount(s, "/dev/shm"); m == nil || m.Type != "bind" || m.Source != "/dev/shm" || countMounts(s, "/dev/shm") != 1 {
					t.Errorf("shm = %+v", m)
				}
			},
		},
		{
			name:    "ipc container mode",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.IpcMode = "container:abc" },
			wantErr: errdefs.ErrNotImplemented,
		},
		{
			name: "init",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.Init = ptr(true)
				in.InitPath = "/usr/libexec/berth/docker-init"
				in.Config.Entrypoint = []string{"/bin/app"}
			},
			check: func(t *testing.T, s *specs.Spec) {
				if !slices.Equal(s.Process.Args, []string{"/sbin/docker-init", "--", "/bin/app", "sh"}) {
					t.Errorf("args = %v", s.Process.Args)
				}
				m := findMount(s, "/sbin/docker-init")
				if m == nil || m.Source != "/usr/libexec/berth/docker-init" || !slices.Contains(m.Options, "ro") || m.Type != "bind" {
					t.Errorf("init mount = %+v", m)
				}
			},
		},
		{
			name:    "init without a binary",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.Init = ptr(true) },
			wantErr: errdefs.ErrFailedPrecondition,
		},
		{
			name: "init is skipped with the host pid namespace",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.Init = ptr(true)
				in.InitPath = "/init"
				in.HostConfig.PidMode = "host"
			},
			check: func(t *testing.T, s *specs.Spec) {
				if !slices.Equal(s.Process.Args, []string{"sh"}) || findMount(s, "/sbin/docker-init") != nil {
					t.Errorf("args = %v", s.Process.Args)
				}
				if findNS(s, specs.PIDNamespace) != nil {
					t.Error("want no pid namespace")
				}
			},
		},
		{
			name:   "host network",
			modify: func(t *testing.T, in *Input) { in.NetNSPath = NetNSHost; in.HostConfig.NetworkMode = "host" },
			check: func(t *testing.T, s *specs.Spec) {
				if findNS(s, specs.NetworkNamespace) != nil {
					t.Error("want no network namespace")
				}
				if len(s.Linux.Sysctl) != 0 {
					t.Errorf("sysctl = %v", s.Linux.Sysctl)
				}
			},
		},
		{
			name: "net sysctl with host network",
			modify: func(t *testing.T, in *Input) {
				in.NetNSPath = NetNSHost
				in.HostConfig.Sysctls = map[string]string{"net.ipv4.ip_forward": "1"}
			},
			wantErr: errdefs.ErrInvalidArgument, wantMsg: `sysctl "net.ipv4.ip_forward" not allowed in host network namespace`,
		},
		{
			name:   "network namespace path",
			modify: func(t *testing.T, in *Input) { in.NetNSPath = "/run/berth/netns/c1" },
			check: func(t *testing.T, s *specs.Spec) {
				if ns := findNS(s, specs.NetworkNamespace); ns == nil || ns.Path != "/run/berth/netns/c1" {
					t.Errorf("netns = %+v", ns)
				}
			},
		},
		{
			name:   "cgroup v1 defaults to the host cgroup namespace",
			modify: func(t *testing.T, in *Input) { in.CgroupV2 = false },
			check: func(t *testing.T, s *specs.Spec) {
				if findNS(s, specs.CgroupNamespace) != nil {
					t.Error("want no cgroup namespace")
				}
			},
		},
		{
			name:   "cgroupns private on v1",
			modify: func(t *testing.T, in *Input) { in.CgroupV2 = false; in.HostConfig.CgroupnsMode = "private" },
			check: func(t *testing.T, s *specs.Spec) {
				if findNS(s, specs.CgroupNamespace) == nil {
					t.Error("want a cgroup namespace")
				}
			},
		},
		{
			name:   "cgroupns host on v2",
			modify: func(t *testing.T, in *Input) { in.HostConfig.CgroupnsMode = "host" },
			check: func(t *testing.T, s *specs.Spec) {
				if findNS(s, specs.CgroupNamespace) != nil {
					t.Error("want no cgroup namespace")
				}
			},
		},
		{
			name:   "uts host",
			modify: func(t *testing.T, in *Input) { in.HostConfig.UTSMode = "host" },
			check: func(t *testing.T, s *specs.Spec) {
				if findNS(s, specs.UTSNamespace) != nil || s.Hostname != "" {
					t.Errorf("uts ns present or hostname %q", s.Hostname)
				}
			},
		},
		{
			name:   "no-new-privileges",
			modify: func(t *testing.T, in *Input) { in.HostConfig.SecurityOpt = []string{"no-new-privileges"} },
			check: func(t *testing.T, s *specs.Spec) {
				if !s.Process.NoNewPrivileges {
					t.Error("want noNewPrivileges")
				}
			},
		},
		{
			name: "no-new-privileges=true and seccomp=unconfined",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.SecurityOpt = []string{"seccomp=unconfined", "no-new-privileges=true"}
			},
			check: func(t *testing.T, s *specs.Spec) {
				if !s.Process.NoNewPrivileges {
					t.Error("want noNewPrivileges")
				}
			},
		},
		{
			name:   "no-new-privileges:false",
			modify: func(t *testing.T, in *Input) { in.HostConfig.SecurityOpt = []string{"no-new-privileges:false"} },
			check: func(t *testing.T, s *specs.Spec) {
				if s.Process.NoNewPrivileges {
					t.Error("want no noNewPrivileges")
				}
			},
		},
		{
			name:    "invalid security opt",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.SecurityOpt = []string{"foo=bar"} },
			wantErr: errdefs.ErrInvalidArgument, wantMsg: `invalid --security-opt 2: "foo=bar"`,
		},
		{
			name:    "security opt without a value",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.SecurityOpt = []string{"bogus"} },
			wantErr: errdefs.ErrInvalidArgument, wantMsg: `invalid --security-opt 1: "bogus"`,
		},
		{
			name: "systempaths unconfined (empty masked and readonly paths)",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.MaskedPaths = []string{}
				in.HostConfig.ReadonlyPaths = []string{}
			},
			check: func(t *testing.T, s *specs.Spec) {
				if len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
					t.Errorf("masked=%v readonly=%v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
				}
			},
		},
		{
			name: "oom score, sysctls, umask, ulimits",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.OomScoreAdj = 500
				in.HostConfig.Sysctls = map[string]string{"net.core.somaxconn": "1024", "net.ipv4.ip_unprivileged_port_start": "1024"}
				in.HostConfig.Umask = ptr[uint32](0o077)
				in.HostConfig.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}}
			},
			check: func(t *testing.T, s *specs.Spec) {
				if *s.Process.OOMScoreAdj != 500 {
					t.Errorf("oom = %d", *s.Process.OOMScoreAdj)
				}
				if s.Linux.Sysctl["net.core.somaxconn"] != "1024" || s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "1024" {
					t.Errorf("sysctl = %v", s.Linux.Sysctl)
				}
				if s.Process.User.Umask == nil || *s.Process.User.Umask != 0o077 {
					t.Errorf("umask = %v", s.Process.User.Umask)
				}
				if !slices.Equal(s.Process.Rlimits, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 2048}}) {
					t.Errorf("rlimits = %v", s.Process.Rlimits)
				}
			},
		},
		{
			name:    "oom score out of range",
			modify:  func(t *testing.T, in *Input) { in.HostConfig.OomScoreAdj = 1001 },
			wantErr: errdefs.ErrInvalidArgument,
		},
		{
			name:   "device cgroup rule",
			modify: func(t *testing.T, in *Input) { in.HostConfig.DeviceCgroupRules = []string{"c 42:* rmw"} },
			check: func(t *testing.T, s *specs.Spec) {
				last := s.Linux.Resources.Devices[len(s.Linux.Resources.Devices)-1]
				if !last.Allow || last.Type != "c" || *last.Major != 42 || last.Minor != nil || last.Access != "rmw" {
					t.Errorf("rule = %+v", last)
				}
			},
		},
		{
			name: "device mapping",
			modify: func(t *testing.T, in *Input) {
				in.HostConfig.Devices = []container.DeviceMapping{{PathOnHost: "/dev/null", PathInContainer: "/dev/mynull", CgroupPermissions: "rw"}}
			},
			check: func(t *testing.T, s *specs.Spec) {
				if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/mynull" || s.Linux.Devices[0].Major != 1 || s.Linux.Devices[0].Minor != 3 {
					t.Errorf("devices = %+v", s.Linux.Devices)
				}
			},
		},
		{
			name:   "nil host config",
			modify: func(t *testing.T, in *Input) { in.HostConfig = nil },
			check: func(t *testing.T, s *specs.Spec) {
				if findNS(s, specs.PIDNamespace) == nil {
					t.Error("want pid namespace")
				}
			},
		},
		{
			name:    "nil config",
			modify:  func(t *testing.T, in *Input) { in.Config = nil },
			wantErr: errdefs.ErrInvalidArgument,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInput(t)
			if tt.modify != nil {
				tt.modify(t, &in)
			}
			s, err := Generate(in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantMsg != "" && err.Error() != tt.wantMsg {
					t.Fatalf("err = %q, want %q", err.Error(), tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Root.Path != in.Rootfs || s.Version != specs.Version {
				t.Errorf("root = %q version %q", s.Root.Path, s.Version)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func TestGenerateUser(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		groupAdd []string
		want     specs.User
		wantMsg  string
	}{
		{name: "default is root", user: "", want: specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{0, 10}}},
		{name: "name", user: "app", want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10, 50}}},
		{name: "uid in passwd", user: "1000", want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10, 50}}},
		{name: "uid not in passwd", user: "4242", want: specs.User{UID: 4242, GID: 0, AdditionalGids: []uint32{0}}},
		{name: "uid:gid numbers", user: "4242:4343", want: specs.User{UID: 4242, GID: 4343, AdditionalGids: []uint32{4343}}},
		{name: "name:group", user: "app:staff", want: specs.User{UID: 1000, GID: 50, AdditionalGids: []uint32{50}}},
		{name: "name:gid", user: "app:29", want: specs.User{UID: 1000, GID: 29, AdditionalGids: []uint32{29}}},
		{name: "group-add", user: "daemon", groupAdd: []string{"audio", "777", "staff"},
			want: specs.User{UID: 1, GID: 1, AdditionalGids: []uint32{1, 29, 777, 50}}},
		{name: "unknown user", user: "foo", wantMsg: "unable to find user foo: no matching entries in passwd file"},
		{name: "malformed entry is not root", user: "broken", wantMsg: "unable to find user broken: no matching entries in passwd file"},
		{name: "unknown group", user: "app:nogroup", wantMsg: "unable to find group nogroup: no matching entries in group file"},
		{name: "unknown group-add", user: "app", groupAdd: []string{"nogroup"}, wantMsg: "Unable to find group nogroup: no matching entries in group file"},
		{name: "uid out of range", user: "4294967296", wantMsg: "uids and gids must be in range 0-2147483647"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := baseInput(t)
			in.Config.User = tt.user
			in.HostConfig.GroupAdd = tt.groupAdd
			s, err := Generate(in)
			if tt.wantMsg != "" {
				if !errors.Is(err, errdefs.ErrInvalidArgument) || err.Error() != tt.wantMsg {
					t.Fatalf("err = %v, want %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := s.Process.User
			if got.UID != tt.want.UID || got.GID != tt.want.GID || !slices.Equal(got.AdditionalGids, tt.want.AdditionalGids) {
				t.Errorf("user = %+v, want %+v", got, tt.want)
			}
			root := got.UID == 0
			if c := s.Process.Capabilities; root != (c.Effective != nil) || root != (c.Permitted != nil) || len(c.Bounding) == 0 {
				t.Errorf("caps for uid %d = %+v", got.UID, c)
			}
		})
	}
}

// TestResolveUserConfined checks that /etc/passwd and /etc/group are read inside the rootfs: links pointing out of
// it resolve under the rootfs instead, so a secret on the host is never read.
func TestResolveUserConfined(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "shadow")
	if err := os.WriteFile(secret, []byte("foo:x:4321:4321::/:/bin/sh\nfoogrp:x:4444:foo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel("/", secret)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		target string
	}{
		{name: "absolute link", target: secret},
		{name: "relative link climbing out", target: "../../../../../../../../../../" + rel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rootfs := t.TempDir()
			if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"passwd", "group"} {
				if err := os.Symlink(tt.target, filepath.Join(rootfs, "etc", f)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := ResolveUser(rootfs, "foo", nil)
			if !errors.Is(err, errdefs.ErrInvalidArgument) || err.Error() != "unable to find user foo: no matching entries in passwd file" {
				t.Fatalf("err = %v: the outside file must not be read", err)
			}
			u, err := ResolveUser(rootfs, "0:foogrp", nil)
			if err == nil {
				t.Fatalf("group resolved from outside the rootfs: %+v", u)
			}
			// The same link target inside the rootfs is what gets read.
			inside := filepath.Join(rootfs, rel)
			if err := os.MkdirAll(filepath.Dir(inside), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(inside, []byte("foo:x:7:7::/:/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			u, err = ResolveUser(rootfs, "foo", nil)
			if err != nil || u.UID != 7 {
				t.Fatalf("user = %+v, %v; want uid 7 from inside the rootfs", u, err)
			}
		})
	}
}

func TestResolveUserNoFiles(t *testing.T) {
	rootfs := t.TempDir()
	u, err := ResolveUser(rootfs, "1000:1000", nil)
	if err != nil || u.UID != 1000 || u.GID != 1000 {
		t.Fatalf("user = %+v, %v", u, err)
	}
	if _, err := ResolveUser(rootfs, "app", nil); err == nil {
		t.Fatal("a name without /etc/passwd must fail")
	}
	// A FIFO as /etc/passwd must not block.
	if err := os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mkfifo(filepath.Join(rootfs, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	if u, err := ResolveUser(rootfs, "", nil); err != nil || u.UID != 0 {
		t.Fatalf("user = %+v, %v", u, err)
	}
}

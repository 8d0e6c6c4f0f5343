package oci

import (
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultMounts are Docker's default mounts, in Docker's order; /dev/shm gets its size in mounts.
func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777"}},
	}
}

// mounts merges the default mounts with the container's own the way Docker does: a user mount replaces the
// default at its destination (a user /dev replaces everything under /dev); /dev/shm is sized from ShmSize, shared
// with the host for --ipc host and absent for --ipc none; a read-only rootfs makes the remaining defaults
// read-only (except the /proc and /dev family); privileged (or writable-cgroups) makes /sys and cgroup writable.
// User mounts follow the defaults, parents before children.
func mounts(in Input, hc *container.HostConfig, sec securityOpts) []specs.Mount {
	user := slices.Clone(in.Mounts)
	userDest := map[string]bool{}
	for _, m := range user {
		userDest[path.Clean(m.Destination)] = true
	}

	// The network files and the host IPC /dev/shm count as the container's own mounts, as in Docker.
	for _, f := range []struct{ src, dst string }{
		{in.ResolvConf, "/etc/resolv.conf"},
		{in.Hosts, "/etc/hosts"},
		{in.Hostname, "/etc/hostname"},
	} {
		if f.src == "" || userDest[f.dst] {
			continue
		}
		opts := []string{"rbind", "rprivate"}
		if hc.ReadonlyRootfs {
			opts = append(opts, "ro")
		}
		user = append(user, specs.Mount{Destination: f.dst, Type: "bind", Source: f.src, Options: opts})
		userDest[f.dst] = true
	}
	if hc.IpcMode.IsHost() && !userDest["/dev/shm"] {
		user = append(user, specs.Mount{
			Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "rprivate"},
		})
		userDest["/dev/shm"] = true
	}
	slices.SortStableFunc(user, func(a, b specs.Mount) int { return depth(a.Destination) - depth(b.Destination) })

	shmSize := hc.ShmSize
	if shmSize <= 0 {
		shmSize = DefaultShmSize
	}
	var out []specs.Mount
	for _, m := range defaultMounts() {
		switch {
		case userDest[m.Destination]:
			continue
		case userDest["/dev"] && strings.HasPrefix(m.Destination, "/dev/"):
			continue
		case m.Destination == "/dev/shm":
			if hc.IpcMode.IsNone() {
				continue
			}
			m.Options = append(m.Options, "size="+strconv.FormatInt(shmSize, 10))
		}
		if hc.ReadonlyRootfs {
			switch m.Destination {
			case "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue":
			default:
				if !slices.Contains(m.Options, "ro") {
					m.Options = append(m.Options, "ro")
				}
			}
		}
		if m.Destination == "/sys" && hc.Privileged || m.Type == "cgroup" && (hc.Privileged || sec.writableCgroups) {
			m.Options = slices.DeleteFunc(m.Options, func(o string) bool { return o == "ro" })
		}
		out = append(out, m)
	}
	return append(out, user...)
}

// depth counts the components of a mount destination, so parents sort before children.
func depth(p string) int {
	p = path.Clean("/" + p)
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// rootfsPropagation returns the root propagation a shared or slave bind needs ("" keeps the runtime's default).
func rootfsPropagation(ms []specs.Mount) string {
	prop := ""
	for _, m := range ms {
		for _, o := range m.Options {
			switch o {
			case "shared", "rshared":
				return "shared"
			case "slave", "rslave":
				prop = "rslave"
			}
		}
	}
	return prop
}

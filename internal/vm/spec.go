package vm

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth/berth/internal/vm/agent"
	"github.com/berth/berth/internal/vm/qemu"
)

// dockerInit is where docker (and the containers service) binds the --init binary. A VM-isolated container
// does not need it: its process is not PID 1 (the guest's init is, and reaps), so it is dropped.
const dockerInit = "/sbin/docker-init"

// guestOwned are mounts the guest makes itself, its own kind: an OCI spec's versions of them are not applied.
var guestOwned = map[string]bool{"/proc": true, "/sys": true, "/dev": true, "/dev/pts": true, "/dev/shm": true,
	"/dev/mqueue": true, "/sys/fs/cgroup": true}

// maxCopiedFile bounds a read-only file bind copied into the guest's configuration.
const maxCopiedFile = 1 << 20

// sharesDir is where the guest mounts a share that serves a single-file bind.
const sharesDir = "/run/berth/shares"

// containerPlan is what a VM-isolated container becomes: the guest's configuration, the host directories
// shared with it, its process, and the machine's size.
type containerPlan struct {
	Guest   agent.Config
	Shares  []qemu.Share
	Process agent.Process
	CPUs    int
	// MemoryMiB is the guest's RAM: the container's memory limit, or 0 for the default.
	MemoryMiB int
	// NetNS is the network namespace whose veths the guest takes over ("" for none).
	NetNS string
}

// planContainer maps an OCI spec, as the containers service makes it, to the machine that runs it. rootfs is the
// container's root directory on the host, bundle the task's bundle (files bound from there, the container's
// hostname, hosts and resolv.conf, are copied into the guest). It reads the small files it copies.
func planContainer(spec *specs.Spec, rootfs, bundle string) (*containerPlan, error) {
	if spec.Process == nil || len(spec.Process.Args) == 0 {
		return nil, fmt.Errorf("no process to run: %w", errdefs.ErrInvalidArgument)
	}
	p := &containerPlan{CPUs: 1}
	root := agent.Mount{Type: "9p", Source: "root", Target: "/"}
	ro := spec.Root != nil && spec.Root.Readonly
	if ro {
		root.Options = []string{"ro"}
	}
	p.Shares = append(p.Shares, qemu.Share{Tag: "root", Path: rootfs, ReadOnly: ro})
	p.Guest = agent.Config{Mode: agent.ModeContainer, Hostname: spec.Hostname, Root: root}
	if spec.Linux != nil {
		p.Guest.Sysctls = spec.Linux.Sysctl
	}
	hasInit := false
	for _, m := range spec.Mounts {
		dst := filepath.Clean(m.Destination)
		switch {
		case guestOwned[dst]:
			continue
		case dst == dockerInit:
			hasInit = true
			continue
		case m.Type == "tmpfs":
			p.Guest.Mounts = append(p.Guest.Mounts, agent.Mount{Type: "tmpfs", Source: "tmpfs", Target: dst, Options: m.Options})
			continue
		case m.Type != "bind" && !hasOption(m.Options, "bind") && !hasOption(m.Options, "rbind"):
			continue // mqueue, cgroup, devpts elsewhere: the guest has its own
		}
		readOnly := hasOption(m.Options, "ro")
		st, err := os.Stat(m.Source)
		if err != nil {
			return nil, fmt.Errorf("mount %s: %w", dst, err)
		}
		if !st.IsDir() && (readOnly || within(m.Source, bundle)) {
			// The engine's own files (hostname, hosts, resolv.conf) and read-only file binds are copied.
			if st.Size() > maxCopiedFile {
				return nil, fmt.Errorf("mount %s: a file bound into a virtual machine is copied, and %s is larger than %d bytes; bind its directory: %w",
					dst, m.Source, maxCopiedFile, errdefs.ErrInvalidArgument)
			}
			b, err := os.ReadFile(m.Source)
			if err != nil {
				return nil, err
			}
			p.Guest.Files = append(p.Guest.Files, agent.File{Path: dst, Data: b, Mode: uint32(st.Mode().Perm())})
			continue
		}
		tag := fmt.Sprintf("m%d", len(p.Shares))
		opts := []string(nil)
		if readOnly {
			opts = []string{"ro"}
		}
		if st.IsDir() {
			p.Shares = append(p.Shares, qemu.Share{Tag: tag, Path: m.Source, ReadOnly: readOnly})
			p.Guest.Mounts = append(p.Guest.Mounts, agent.Mount{Type: "9p", Source: tag, Target: dst, Options: opts})
			continue
		}
		// A writable file: its directory is shared and the file bound from there.
		p.Shares = append(p.Shares, qemu.Share{Tag: tag, Path: filepath.Dir(m.Source), ReadOnly: readOnly})
		at := sharesDir + "/" + tag
		p.Guest.Mounts = append(p.Guest.Mounts,
			agent.Mount{Type: "9p", Source: tag, Target: at, Options: opts},
			agent.Mount{Type: "bind", Source: at + "/" + filepath.Base(m.Source), Target: dst, Options: opts})
	}
	proc := spec.Process
	args := proc.Args
	if hasInit && len(args) > 1 && args[0] == dockerInit {
		args = args[1:]
		if args[0] == "--" {
			args = args[1:]
		}
	}
	p.Process = agent.Process{Args: args, Env: proc.Env, Cwd: proc.Cwd, UID: proc.User.UID, GID: proc.User.GID,
		AdditionalGIDs: proc.User.AdditionalGids, Terminal: proc.Terminal}
	if proc.ConsoleSize != nil {
		p.Process.Width, p.Process.Height = uint16(proc.ConsoleSize.Width), uint16(proc.ConsoleSize.Height)
	}
	for _, r := range proc.Rlimits {
		if r.Type == "RLIMIT_NOFILE" {
			p.Process.NoFile = r.Hard
		}
	}
	if spec.Linux != nil {
		if res := spec.Linux.Resources; res != nil {
			if res.Memory != nil && res.Memory.Limit != nil && *res.Memory.Limit > 0 {
				p.MemoryMiB = int((*res.Memory.Limit + (1<<20 - 1)) >> 20)
				if p.MemoryMiB < minMemoryMiB {
					return nil, fmt.Errorf("a virtual machine needs at least %d MiB of memory (--memory %dm): %w", minMemoryMiB, p.MemoryMiB, errdefs.ErrInvalidArgument)
				}
			}
			if c := res.CPU; c != nil && c.Quota != nil && *c.Quota > 0 && c.Period != nil && *c.Period > 0 {
				p.CPUs = int(math.Ceil(float64(*c.Quota) / float64(*c.Period)))
			}
		}
		hasNet := false
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				hasNet = true
				p.NetNS = ns.Path
			}
		}
		if !hasNet {
			return nil, fmt.Errorf("a virtual machine cannot share the host's network (--network host): %w", errdefs.ErrInvalidArgument)
		}
	}
	if err := p.Guest.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// minMemoryMiB is the least a guest boots with: the kernel, its initramfs and the init.
const minMemoryMiB = 128

func hasOption(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// within reports whether p is inside dir.
func within(p, dir string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

package oci

import (
	"fmt"
	"slices"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ExecConfig is a `docker exec` request, as the daemon has it.
type ExecConfig struct {
	Cmd        []string
	Env        []string
	User       string // "" keeps the container's user
	WorkingDir string // "" keeps the container's working directory
	Tty        bool
	Privileged bool
	// ConsoleSize is the initial terminal size (height, width); zero leaves it to the runtime.
	ConsoleSize [2]uint
	// GroupAdd is the container's HostConfig.GroupAdd, applied when User is set.
	GroupAdd []string
	// DaemonCaps are the capabilities a privileged exec gets; nil reads them with CurrentCapabilities.
	DaemonCaps []string
}

// ExecProcess builds the process of an exec in a container whose spec is base, as `docker exec` does: the
// container's environment plus cfg.Env, its user and working directory unless overridden (a user is resolved in
// rootfs), the container's capabilities (every capability the daemon holds when privileged), and a terminal if asked.
func ExecProcess(base *specs.Spec, cfg ExecConfig, rootfs string) (*specs.Process, error) {
	if base == nil || base.Process == nil {
		return nil, fmt.Errorf("exec: container spec has no process: %w", errdefs.ErrInvalidArgument)
	}
	if len(cfg.Cmd) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("No exec command specified")
	}
	bp := base.Process
	p := &specs.Process{
		Terminal:        cfg.Tty,
		User:            bp.User,
		Args:            slices.Clone(cfg.Cmd),
		Cwd:             bp.Cwd,
		NoNewPrivileges: bp.NoNewPrivileges,
		ApparmorProfile: bp.ApparmorProfile,
		OOMScoreAdj:     bp.OOMScoreAdj,
		SelinuxLabel:    bp.SelinuxLabel,
		Rlimits:         slices.Clone(bp.Rlimits),
	}
	p.User.AdditionalGids = slices.Clone(bp.User.AdditionalGids)
	if cfg.WorkingDir != "" {
		p.Cwd = cfg.WorkingDir
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if cfg.Tty && (cfg.ConsoleSize[0] != 0 || cfg.ConsoleSize[1] != 0) {
		p.ConsoleSize = &specs.Box{Height: cfg.ConsoleSize[0], Width: cfg.ConsoleSize[1]}
	}

	env := slices.Clone(bp.Env)
	if cfg.Tty && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	p.Env = MergeEnv(env, cfg.Env)

	if cfg.User != "" {
		u, err := ResolveUser(rootfs, cfg.User, cfg.GroupAdd)
		if err != nil {
			return nil, err
		}
		u.Umask = bp.User.Umask
		p.User = u
	}

	var caps []string
	if bp.Capabilities != nil {
		caps = slices.Clone(bp.Capabilities.Bounding)
	}
	if cfg.Privileged {
		caps = cfg.DaemonCaps
		if caps == nil {
			var err error
			if caps, err = CurrentCapabilities(); err != nil {
				return nil, err
			}
		}
		caps = sortCaps(caps)
	}
	setCapabilities(p, caps)
	return p, nil
}

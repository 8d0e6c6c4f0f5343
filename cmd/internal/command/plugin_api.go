package command

import (
	"context"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// What a plugin binary's commands use of the CLI beyond the CLI type: `compose run` and `compose exec` run and
// exec as `berth run` and `berth exec` do (attach, tty, signal proxying, --rm, exit status).

// RunOptions are the settings of Run that `berth run` takes from its flags.
type RunOptions struct {
	Name       string
	Detach     bool
	AutoRemove bool
	// Pull is --pull: "missing" (the default when empty), "always" or "never".
	Pull string
}

// Run creates a container from cfg and runs it as `berth run` does: attached to it unless detached, with its
// signals proxied, removed at exit with AutoRemove, the command failing with the container's exit status.
func (c *CLI) Run(ctx context.Context, o RunOptions, cfg *container.Config, hostCfg *container.HostConfig, netCfg *network.NetworkingConfig) error {
	opts := &runOptions{detach: o.Detach, sigProxy: true}
	opts.name = o.Name
	opts.pull = o.Pull
	if opts.pull == "" {
		opts.pull = pullMissing
	}
	copts := &containerOptions{attach: NewListOpts(nil), autoRemove: o.AutoRemove}
	return c.runContainer(ctx, opts, copts, &containerConfig{Config: cfg, HostConfig: hostCfg, NetworkingConfig: netCfg})
}

// ExecOptions are the settings of Exec: `berth exec`'s flags.
type ExecOptions struct {
	Detach      bool
	Interactive bool
	TTY         bool
	Privileged  bool
	User        string
	Workdir     string
	Env         []string // NAME=VALUE
}

// Exec runs cmd in a running container as `berth exec` does.
func (c *CLI) Exec(ctx context.Context, containerID string, cmd []string, o ExecOptions) error {
	opts := execOptions{detach: o.Detach, interactive: o.Interactive, tty: o.TTY, privileged: o.Privileged,
		user: o.User, workdir: o.Workdir, env: &ListOpts{values: o.Env}, envFile: NewListOpts(nil)}
	return runExec(ctx, c, &opts, containerID, cmd)
}

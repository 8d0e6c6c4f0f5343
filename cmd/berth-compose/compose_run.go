package main

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/command"
	"github.com/berth/berth/internal/compose"
	"github.com/spf13/cobra"
)

func newComposeRunCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	var rm, detach, noTTY, noDeps bool
	var name, entrypoint, user, workdir string
	env := command.NewListOpts(command.ValidateEnv)
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] SERVICE [COMMAND] [ARGS...]",
		Short: "Run a one-off command on a service",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := o.load(ctx, args[0])
			if err != nil {
				return err
			}
			svc, err := o.service(c, "Running")
			if err != nil {
				return err
			}
			target := p.Services[args[0]]
			if !noDeps {
				// Bring up the dependencies (not the service itself), as compose does.
				deps := p.WithServicesDisabled(args[0])
				if err := svc.Up(ctx, deps, compose.UpOptions{}); err != nil {
					return err
				}
			}
			hash, err := compose.ServiceHash(target)
			if err != nil {
				return err
			}
			spec, err := compose.ContainerSpec(p, target, 1, hash, true)
			if err != nil {
				return err
			}
			cfg := spec.Config
			if len(args) > 1 {
				cfg.Cmd = args[1:]
			}
			if cmd.Flags().Changed("entrypoint") {
				cfg.Entrypoint = []string{entrypoint}
				if entrypoint == "" {
					cfg.Entrypoint = []string{""}
				}
			}
			if user != "" {
				cfg.User = user
			}
			if workdir != "" {
				cfg.WorkingDir = workdir
			}
			cfg.Env = append(cfg.Env, env.Values()...)
			cfg.Tty = !noTTY && c.In().IsTerminal()
			if !detach {
				cfg.AttachStdout, cfg.AttachStderr = true, true
				cfg.AttachStdin, cfg.OpenStdin, cfg.StdinOnce = true, true, true
			}
			spec.HostConfig.AutoRemove = rm
			spec.HostConfig.PortBindings = nil // ports are published only with --service-ports
			if name == "" {
				b := make([]byte, 6)
				_, _ = rand.Read(b)
				name = compose.OneoffName(p.Name, target.Name, hex.EncodeToString(b))
			}
			return c.Run(ctx, command.RunOptions{Name: name, Detach: detach, AutoRemove: rm, Pull: "never"},
				cfg, spec.HostConfig, spec.Networking)
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.BoolVar(&rm, "rm", false, "Automatically remove the container when it exits")
	flags.BoolVarP(&detach, "detach", "d", false, "Run container in background and print container ID")
	flags.BoolVarP(&noTTY, "no-TTY", "T", false, "Disable pseudo-TTY allocation (default: auto-detected)")
	flags.BoolVar(&noDeps, "no-deps", false, "Don't start linked services")
	flags.StringVar(&name, "name", "", "Assign a name to the container")
	flags.StringVar(&entrypoint, "entrypoint", "", "Override the entrypoint of the image")
	flags.StringVarP(&user, "user", "u", "", "Run as specified username or uid")
	flags.StringVarP(&workdir, "workdir", "w", "", "Working directory inside the container")
	flags.VarP(env, "env", "e", "Set environment variables")
	return cmd
}

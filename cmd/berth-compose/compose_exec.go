package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/command"
	"github.com/berth/berth/internal/compose"
	"github.com/spf13/cobra"
)

func newComposeExecCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	var opts command.ExecOptions
	env := command.NewListOpts(command.ValidateEnv)
	var noTTY bool
	var index int
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] SERVICE COMMAND [ARGS...]",
		Short: "Execute a command in a running container",
		Args:  cli.RequiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := o.serviceContainer(ctx, c, args[0], index)
			if err != nil {
				return err
			}
			opts.Interactive = true
			opts.TTY = !noTTY && c.In().IsTerminal()
			opts.Env = env.Values()
			return c.Exec(ctx, id, args[1:], opts)
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.BoolVarP(&opts.Detach, "detach", "d", false, "Detached mode: Run command in the background")
	flags.BoolVarP(&noTTY, "no-TTY", "T", false, "Disable pseudo-TTY allocation. By default `compose exec` allocates a TTY.")
	flags.IntVar(&index, "index", 1, "Index of the container if service has multiple replicas")
	flags.StringVarP(&opts.User, "user", "u", "", "Run the command as this user")
	flags.BoolVar(&opts.Privileged, "privileged", false, "Give extended privileges to the process")
	flags.VarP(env, "env", "e", "Set environment variables")
	flags.StringVarP(&opts.Workdir, "workdir", "w", "", "Path to workdir directory for this command")
	return cmd
}

// serviceContainer finds replica index of a service's running containers in the project.
func (o *composeOptions) serviceContainer(ctx context.Context, c *command.CLI, service string, index int) (string, error) {
	project, _, err := o.projectName(ctx)
	if err != nil {
		return "", err
	}
	apiClient, err := c.Client()
	if err != nil {
		return "", err
	}
	f := client.Filters{}.Add("label", compose.LabelProject+"="+project, compose.LabelService+"="+service,
		compose.LabelNumber+"="+strconv.Itoa(index), compose.LabelOneoff+"=False")
	list, err := apiClient.ContainerList(ctx, client.ContainerListOptions{Filters: f})
	if err != nil {
		return "", err
	}
	if len(list) == 0 {
		return "", fmt.Errorf("service %q is not running", service)
	}
	return list[0].ID, nil
}

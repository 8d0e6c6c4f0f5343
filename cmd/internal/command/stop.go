package command

import (
	"context"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newStopCommand(c *CLI) *cobra.Command {
	return newStopLikeCommand(c, "stop", "Stop one or more running containers",
		func(api *client.Client) func(context.Context, string, client.ContainerStopOptions) error {
			return api.ContainerStop
		})
}

func newRestartCommand(c *CLI) *cobra.Command {
	return newStopLikeCommand(c, "restart", "Restart one or more containers",
		func(api *client.Client) func(context.Context, string, client.ContainerStopOptions) error {
			return api.ContainerRestart
		})
}

// newStopLikeCommand builds stop and restart, which share docker's flags (-s, -t) and act on each argument.
func newStopLikeCommand(c *CLI, verb, short string, action func(*client.Client) func(context.Context, string, client.ContainerStopOptions) error) *cobra.Command {
	var (
		signal  string
		timeout int
	)
	cmd := &cobra.Command{
		Use:         verb + " [OPTIONS] CONTAINER [CONTAINER...]",
		Short:       short,
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container "+verb, verb)},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			opts := client.ContainerStopOptions{Signal: signal}
			if cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time") {
				opts.Timeout = &timeout
			}
			do := action(apiClient)
			return c.forEachContainer(cmd.Context(), args, func(ctx context.Context, name string) error {
				return do(ctx, name, opts)
			}, nil)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	flags.IntVarP(&timeout, "timeout", "t", 0, "Seconds to wait before killing the container")
	flags.IntVar(&timeout, "time", 0, "Seconds to wait before killing the container (deprecated: use --timeout)")
	_ = flags.MarkHidden("time")
	return cmd
}

package main

import (
	"context"

	"github.com/berth/berth/client"
	"github.com/spf13/cobra"
)

func newStopCommand(c *cli) *cobra.Command {
	var (
		signal  string
		timeout int
	)
	cmd := &cobra.Command{
		Use:         "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short:       "Stop one or more running containers",
		Args:        requiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container stop", "stop")},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			opts := client.ContainerStopOptions{Signal: signal}
			if cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time") {
				opts.Timeout = &timeout
			}
			return c.forEachContainer(cmd.Context(), args, func(ctx context.Context, name string) error {
				return apiClient.ContainerStop(ctx, name, opts)
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

package command

import (
	"context"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newKillCommand(c *CLI) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:         "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short:       "Kill one or more running containers",
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container kill", "kill")},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			return c.forEachContainer(cmd.Context(), args, func(ctx context.Context, name string) error {
				return apiClient.ContainerKill(ctx, name, signal)
			}, nil)
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

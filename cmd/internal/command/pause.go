package command

import (
	"context"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newPauseCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:         "pause CONTAINER [CONTAINER...]",
		Short:       "Pause all processes within one or more containers",
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container pause", "pause")},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			return c.forEachContainer(cmd.Context(), args, func(ctx context.Context, name string) error {
				return apiClient.ContainerPause(ctx, name)
			}, nil)
		},
	}
}

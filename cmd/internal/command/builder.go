package command

import (
	"fmt"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

// newBuilderCommand is the `builder` management group.
func newBuilderCommand(c *CLI) *cobra.Command {
	return cli.NewGroupCommand("builder", "Manage builds",
		newBuildCommand(c),
		newBuilderPruneCommand(c),
	)
}

func newBuilderPruneCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force {
				ok, err := c.confirm(cmd.Context(), "WARNING! This will remove all dangling build cache.\nAre you sure you want to continue?")
				if err != nil || !ok {
					return err
				}
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			reclaimed, err := apiClient.BuildCachePrune(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(c.out, "Total reclaimed space:", formatter.HumanSize(reclaimed))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().BoolP("all", "a", false, "Remove all unused build cache, not just dangling ones")
	return cmd
}

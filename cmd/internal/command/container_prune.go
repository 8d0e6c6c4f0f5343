package command

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

const containerPruneWarning = "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"

func newContainerPruneCommand(c *CLI) *cobra.Command {
	var (
		force  bool
		filter = newFilterOpt()
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force {
				ok, err := c.confirm(cmd.Context(), containerPruneWarning)
				if err != nil || !ok {
					return err
				}
			}
			space, output, err := c.pruneContainers(cmd.Context(), filter)
			if err != nil {
				return err
			}
			if output != "" {
				fmt.Fprintln(c.out, output)
			}
			fmt.Fprintln(c.out, "Total reclaimed space:", formatter.HumanSize(int64(space)))
			return nil
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(filter, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

// pruneContainers removes stopped containers and describes what went.
func (c *CLI) pruneContainers(ctx context.Context, filter *filterOpt) (uint64, string, error) {
	apiClient, err := c.Client()
	if err != nil {
		return 0, "", err
	}
	report, err := apiClient.ContainersPrune(ctx, filter.Value())
	if err != nil {
		return 0, "", err
	}
	var sb strings.Builder
	if len(report.ContainersDeleted) > 0 {
		sb.WriteString("Deleted Containers:\n")
		for _, id := range report.ContainersDeleted {
			sb.WriteString(id + "\n")
		}
	}
	return report.SpaceReclaimed, sb.String(), nil
}

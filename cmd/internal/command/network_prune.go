package command

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

const networkPruneWarning = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?"

// newNetworkPruneCommand has no --all and reports no reclaimed space, so it does not share newPruneCommand.
func newNetworkPruneCommand(c *CLI) *cobra.Command {
	var (
		force  bool
		filter = newFilterOpt()
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force {
				ok, err := c.confirm(cmd.Context(), networkPruneWarning)
				if err != nil || !ok {
					return err
				}
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			report, err := apiClient.NetworksPrune(cmd.Context(), filter.Value())
			if err != nil {
				return err
			}
			if len(report.NetworksDeleted) > 0 {
				var sb strings.Builder
				sb.WriteString("Deleted Networks:\n")
				for _, n := range report.NetworksDeleted {
					sb.WriteString(n + "\n")
				}
				fmt.Fprintln(c.out, sb.String())
			}
			return nil
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(filter, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

// pruneNetworks removes unused user-defined networks and describes what went (no space is reclaimed).
func (c *CLI) pruneNetworks(ctx context.Context, filter *filterOpt) (uint64, string, error) {
	apiClient, err := c.Client()
	if err != nil {
		return 0, "", err
	}
	report, err := apiClient.NetworksPrune(ctx, filter.Value())
	if err != nil {
		return 0, "", err
	}
	var sb strings.Builder
	if len(report.NetworksDeleted) > 0 {
		sb.WriteString("Deleted Networks:\n")
		for _, n := range report.NetworksDeleted {
			sb.WriteString(n + "\n")
		}
	}
	return 0, sb.String(), nil
}

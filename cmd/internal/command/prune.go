package command

import (
	"context"
	"fmt"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

// pruneSpec describes one `<noun> prune` command with an --all flag: docker's image and volume prune share their
// confirmation, flags and report shape.
type pruneSpec struct {
	short               string
	warning, warnAll    string // confirmation text without and with --all
	allHelp, filterHelp string
	prune               func(ctx context.Context, all bool, filter *filterOpt) (space uint64, report string, err error)
}

func newPruneCommand(c *CLI, spec pruneSpec) *cobra.Command {
	var (
		all    bool
		force  bool
		filter = newFilterOpt()
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: spec.short,
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			warning := spec.warning
			if all {
				warning = spec.warnAll
			}
			if !force {
				ok, err := c.confirm(cmd.Context(), warning)
				if err != nil || !ok {
					return err
				}
			}
			space, output, err := spec.prune(cmd.Context(), all, filter)
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
	flags.BoolVarP(&all, "all", "a", false, spec.allHelp)
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(filter, "filter", spec.filterHelp)
	return cmd
}

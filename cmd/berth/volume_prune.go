package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth/berth/cmd/berth/internal/formatter"
	"github.com/spf13/cobra"
)

const (
	anonVolumesWarning = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
	allVolumesWarning  = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
)

func newVolumePruneCommand(c *cli) *cobra.Command {
	var (
		all    bool
		force  bool
		filter = newFilterOpt()
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused local volumes",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			warning := anonVolumesWarning
			if all {
				warning = allVolumesWarning
			}
			if !force {
				ok, err := c.confirm(cmd.Context(), warning)
				if err != nil || !ok {
					return err
				}
			}
			space, output, err := c.pruneVolumes(cmd.Context(), all, filter)
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
	flags.BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(filter, "filter", `Provide filter values (e.g. "label=<label>")`)
	return cmd
}

// pruneVolumes removes unused anonymous (or, with all, all unused) volumes and describes what went.
func (c *cli) pruneVolumes(ctx context.Context, all bool, filter *filterOpt) (uint64, string, error) {
	apiClient, err := c.Client()
	if err != nil {
		return 0, "", err
	}
	filters := filter.Value().Clone()
	if all {
		filters["all"] = []string{"true"}
	}
	report, err := apiClient.VolumesPrune(ctx, filters)
	if err != nil {
		return 0, "", err
	}
	var sb strings.Builder
	if len(report.VolumesDeleted) > 0 {
		sb.WriteString("Deleted Volumes:\n")
		for _, v := range report.VolumesDeleted {
			sb.WriteString(v + "\n")
		}
	}
	return report.SpaceReclaimed, sb.String(), nil
}

package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/berth/berth/cmd/berth/internal/formatter"
	"github.com/spf13/cobra"
)

const (
	danglingImagesWarning = "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
	allImagesWarning      = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
)

func newImagePruneCommand(c *cli) *cobra.Command {
	var (
		all    bool
		force  bool
		filter = newFilterOpt()
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			warning := danglingImagesWarning
			if all {
				warning = allImagesWarning
			}
			if !force {
				ok, err := c.confirm(cmd.Context(), warning)
				if err != nil || !ok {
					return err
				}
			}
			space, output, err := c.pruneImages(cmd.Context(), all, filter)
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
	flags.BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(filter, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

// pruneImages removes dangling (or, with all, unused) images and describes what went.
func (c *cli) pruneImages(ctx context.Context, all bool, filter *filterOpt) (uint64, string, error) {
	apiClient, err := c.Client()
	if err != nil {
		return 0, "", err
	}
	filters := filter.Value().Clone()
	filters["dangling"] = []string{strconv.FormatBool(!all)}
	report, err := apiClient.ImagesPrune(ctx, filters)
	if err != nil {
		return 0, "", err
	}
	var sb strings.Builder
	if len(report.ImagesDeleted) > 0 {
		sb.WriteString("Deleted Images:\n")
		for _, d := range report.ImagesDeleted {
			if d.Untagged != "" {
				sb.WriteString("untagged: " + d.Untagged + "\n")
			} else {
				sb.WriteString("deleted: " + d.Deleted + "\n")
			}
		}
	}
	return report.SpaceReclaimed, sb.String(), nil
}

package command

import (
	"context"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

const (
	danglingImagesWarning = "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
	allImagesWarning      = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
)

func newImagePruneCommand(c *CLI) *cobra.Command {
	return newPruneCommand(c, pruneSpec{
		short:      "Remove unused images",
		warning:    danglingImagesWarning,
		warnAll:    allImagesWarning,
		allHelp:    "Remove all unused images, not just dangling ones",
		filterHelp: `Provide filter values (e.g. "until=<timestamp>")`,
		prune:      c.pruneImages,
	})
}

// pruneImages removes dangling (or, with all, unused) images and describes what went.
func (c *CLI) pruneImages(ctx context.Context, all bool, filter *filterOpt) (uint64, string, error) {
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

package command

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
)

const (
	anonVolumesWarning = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
	allVolumesWarning  = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
)

func newVolumePruneCommand(c *CLI) *cobra.Command {
	return newPruneCommand(c, pruneSpec{
		short:      "Remove unused local volumes",
		warning:    anonVolumesWarning,
		warnAll:    allVolumesWarning,
		allHelp:    "Remove all unused volumes, not just anonymous ones",
		filterHelp: `Provide filter values (e.g. "label=<label>")`,
		prune:      c.pruneVolumes,
	})
}

// pruneVolumes removes unused anonymous (or, with all, all unused) volumes and describes what went.
func (c *CLI) pruneVolumes(ctx context.Context, all bool, filter *filterOpt) (uint64, string, error) {
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

package command

import (
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

// newVolumeCommand is the `volume` management group.
func newVolumeCommand(c *CLI) *cobra.Command {
	return cli.NewGroupCommand("volume", "Manage volumes",
		newVolumeCreateCommand(c),
		newVolumeInspectCommand(c),
		newVolumeLsCommand(c),
		newVolumePruneCommand(c),
		newVolumeRmCommand(c),
	)
}

package main

import (
	"github.com/spf13/cobra"
)

// newVolumeCommand is the `volume` management group.
func newVolumeCommand(c *cli) *cobra.Command {
	return newGroupCommand("volume", "Manage volumes",
		newVolumeCreateCommand(c),
		newVolumeInspectCommand(c),
		newVolumeLsCommand(c),
		newVolumePruneCommand(c),
		newVolumeRmCommand(c),
	)
}

package main

import (
	"github.com/spf13/cobra"
)

// newSystemCommand is the `system` management group.
func newSystemCommand(c *cli) *cobra.Command {
	return newGroupCommand("system", "Manage Berth",
		newSystemDfCommand(c),
		newEventsCommand(c),
		newInfoCommand(c),
		newSystemPruneCommand(c),
	)
}

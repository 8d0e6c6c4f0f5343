package command

import (
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

// newSystemCommand is the `system` management group.
func newSystemCommand(c *CLI) *cobra.Command {
	return cli.NewGroupCommand("system", "Manage Berth",
		newSystemDfCommand(c),
		newEventsCommand(c),
		newInfoCommand(c),
		newSystemPruneCommand(c),
	)
}

package command

import (
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

// newNetworkCommand is the `network` management group.
func newNetworkCommand(c *CLI) *cobra.Command {
	return cli.NewGroupCommand("network", "Manage networks",
		newNetworkConnectCommand(c),
		newNetworkCreateCommand(c),
		newNetworkDisconnectCommand(c),
		newNetworkInspectCommand(c),
		newNetworkLsCommand(c),
		newNetworkPruneCommand(c),
		newNetworkRmCommand(c),
	)
}

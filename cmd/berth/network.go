package main

import (
	"github.com/spf13/cobra"
)

// newNetworkCommand is the `network` management group.
func newNetworkCommand(c *cli) *cobra.Command {
	return newGroupCommand("network", "Manage networks",
		newNetworkConnectCommand(c),
		newNetworkCreateCommand(c),
		newNetworkDisconnectCommand(c),
		newNetworkInspectCommand(c),
		newNetworkLsCommand(c),
		newNetworkPruneCommand(c),
		newNetworkRmCommand(c),
	)
}

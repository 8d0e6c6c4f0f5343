package command

import (
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

// newContainerCommand is the `container` management group.
func newContainerCommand(c *CLI) *cobra.Command {
	return cli.NewGroupCommand("container", "Manage containers",
		newAttachCommand(c),
		newCommitCommand(c),
		newCopyCommand(c),
		newCreateCommand(c),
		newDiffCommand(c),
		newExecCommand(c),
		newExportCommand(c),
		newContainerInspectCommand(c),
		newKillCommand(c),
		newLogsCommand(c),
		newListContainersCommand(c),
		newPauseCommand(c),
		newPortCommand(c),
		newContainerPruneCommand(c),
		newRenameCommand(c),
		newRestartCommand(c),
		withAliases(newRmCommand(c), "remove"),
		newRunCommand(c),
		newStartCommand(c),
		newStatsCommand(c),
		newStopCommand(c),
		newTopCommand(c),
		newUnpauseCommand(c),
		newUpdateCommand(c),
		newWaitCommand(c),
	)
}

func withAliases(cmd *cobra.Command, aliases ...string) *cobra.Command {
	cmd.Aliases = append(cmd.Aliases, aliases...)
	return cmd
}

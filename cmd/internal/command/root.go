package command

import (
	"strings"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

// newRootCommand builds the whole command tree: top-level shortcuts, the management groups, and the commands
// other binaries run (plugins).
func newRootCommand(c *CLI) *cobra.Command {
	root := cli.NewRootCommand(&c.options, c.err)

	// Common commands first, as docker lists them.
	root.AddCommand(
		newRunCommand(c),
		newExecCommand(c),
		newPsCommand(c),
		newBuildCommand(c),
		newImagesCommand(c),
		newPullCommand(c),
		newPushCommand(c),
		newLoginCommand(c),
		newLogoutCommand(c),
		newSearchCommand(c),
		newVersionCommand(c),
		newInfoCommand(c),
	)
	for _, cmd := range root.Commands() {
		setTop(cmd)
	}
	root.AddCommand(
		newContainerCommand(c),
		newBuilderCommand(c),
		newImageCommand(c),
		newNetworkCommand(c),
		newVMCommand(c),
		newVolumeCommand(c),
		newSystemCommand(c),
		newS3Command(c),

		newAttachCommand(c),
		newCommitCommand(c),
		newCopyCommand(c),
		newCreateCommand(c),
		newDiffCommand(c),
		newEventsCommand(c),
		newExportCommand(c),
		newHistoryCommand(c),
		newImportCommand(c),
		newInspectCommand(c),
		newKillCommand(c),
		newLoadCommand(c),
		newLogsCommand(c),
		newPauseCommand(c),
		newPortCommand(c),
		newRenameCommand(c),
		newRestartCommand(c),
		newRmCommand(c),
		newRmiCommand(c),
		newSaveCommand(c),
		newStartCommand(c),
		newStatsCommand(c),
		newStopCommand(c),
		newTagCommand(c),
		newTopCommand(c),
		newUnpauseCommand(c),
		newUpdateCommand(c),
		newWaitCommand(c),
	)
	addPlugins(c, root)

	cli.SetupHelp(root)
	return root
}

func setTop(cmd *cobra.Command) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations["category-top"] = "1"
}

// joinAliases renders the "Aliases:" line of a command available under several names.
func joinAliases(paths ...string) string {
	for i, p := range paths {
		paths[i] = "berth " + p
	}
	return strings.Join(paths, ", ")
}

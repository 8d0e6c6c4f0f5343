package command

import (
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

// newImageCommand is the `image` management group.
func newImageCommand(c *CLI) *cobra.Command {
	return cli.NewGroupCommand("image", "Manage images",
		newBuildCommand(c),
		newHistoryCommand(c),
		newImportCommand(c),
		newImageInspectCommand(c),
		newLoadCommand(c),
		newListImagesCommand(c),
		newImagePruneCommand(c),
		newPullCommand(c),
		newPushCommand(c),
		newRemoveImagesCommand(c),
		newSaveCommand(c),
		newTagCommand(c),
	)
}

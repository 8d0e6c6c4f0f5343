package command

import (
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newTagCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:         "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short:       "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:        cli.ExactArgs(2),
		Annotations: map[string]string{"aliases": joinAliases("image tag", "tag")},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			return apiClient.ImageTag(cmd.Context(), args[0], args[1])
		},
	}
}

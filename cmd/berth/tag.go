package main

import (
	"github.com/spf13/cobra"
)

func newTagCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:         "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short:       "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:        exactArgs(2),
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

package command

import (
	"errors"
	"strings"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newRenameCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:         "rename CONTAINER NEW_NAME",
		Short:       "Rename a container",
		Args:        cli.ExactArgs(2),
		Annotations: map[string]string{"aliases": joinAliases("container rename", "rename")},
		RunE: func(cmd *cobra.Command, args []string) error {
			oldName, newName := strings.TrimSpace(args[0]), strings.TrimSpace(args[1])
			if oldName == "" || newName == "" {
				return errors.New("Error: Neither old nor new names may be empty")
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			return apiClient.ContainerRename(cmd.Context(), oldName, newName)
		},
	}
}

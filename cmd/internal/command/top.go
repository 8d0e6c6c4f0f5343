package command

import (
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

func newTopCommand(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:         "top CONTAINER [ps OPTIONS]",
		Short:       "Display the running processes of a container",
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container top", "top")},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			top, err := apiClient.ContainerTop(cmd.Context(), args[0], args[1:])
			if err != nil {
				return err
			}
			return formatter.WriteColumns(c.out, 20, top.Titles, top.Processes)
		},
	}
	cmd.Flags().SetInterspersed(false)
	return cmd
}

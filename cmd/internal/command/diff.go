package command

import (
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

func newDiffCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:         "diff CONTAINER",
		Short:       "Inspect changes to files or directories on a container's filesystem",
		Args:        cli.ExactArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container diff", "diff")},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			changes, err := apiClient.ContainerDiff(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ctx := formatter.Context{Output: c.out, Format: "{{.Type}} {{.Path}}"}
			return ctx.Write(formatter.DiffHeader, formatter.DiffRows(changes))
		},
	}
}

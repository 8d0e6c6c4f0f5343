package command

import (
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newContainerInspectCommand(c *CLI) *cobra.Command {
	var (
		format string
		size   bool
	)
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.inspect(cmd.Context(), args, format, c.inspectContainer(cmd.Context(), size))
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	cmd.Flags().BoolVarP(&size, "size", "s", false, "Display total file sizes")
	return cmd
}

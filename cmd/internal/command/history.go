package command

import (
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

func newHistoryCommand(c *CLI) *cobra.Command {
	var (
		human   bool
		quiet   bool
		noTrunc bool
		format  string
	)
	cmd := &cobra.Command{
		Use:         "history [OPTIONS] IMAGE",
		Short:       "Show the history of an image",
		Args:        cli.ExactArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("image history", "history")},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			items, err := apiClient.ImageHistory(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ctx := formatter.Context{Output: c.out, Format: formatter.NewHistoryFormat(format, quiet, human), Trunc: !noTrunc}
			return ctx.Write(formatter.HistoryHeader, formatter.HistoryRows(items, !noTrunc, human))
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&human, "human", "H", true, "Print sizes and dates in human readable format")
	flags.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	flags.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	flags.StringVar(&format, "format", "", formatHelp)
	return cmd
}

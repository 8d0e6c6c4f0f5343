package command

import (
	"sort"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

func newNetworkLsCommand(c *CLI) *cobra.Command {
	var (
		quiet   bool
		noTrunc bool
		format  string
		filter  = newFilterOpt()
	)
	cmd := &cobra.Command{
		Use:         "ls [OPTIONS]",
		Annotations: map[string]string{"aliases": joinAliases("network ls", "network list")},
		Aliases:     []string{"list"},
		Short:       "List networks",
		Args:        cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			nets, err := apiClient.NetworkList(cmd.Context(), filter.Value())
			if err != nil {
				return err
			}
			sort.SliceStable(nets, func(i, j int) bool { return naturalLess(nets[i].Name, nets[j].Name) })
			ctx := formatter.Context{Output: c.out, Format: formatter.NewNetworkFormat(format, quiet)}
			return ctx.Write(formatter.NetworkHeader, formatter.NetworkRows(nets, !noTrunc))
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	flags.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	flags.StringVar(&format, "format", "", formatHelp)
	flags.VarP(filter, "filter", "f", `Provide filter values (e.g. "driver=bridge")`)
	return cmd
}

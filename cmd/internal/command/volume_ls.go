package command

import (
	"sort"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

func newVolumeLsCommand(c *CLI) *cobra.Command {
	var (
		quiet  bool
		format string
		filter = newFilterOpt()
	)
	cmd := &cobra.Command{
		Use:         "ls [OPTIONS]",
		Annotations: map[string]string{"aliases": joinAliases("volume ls", "volume list")},
		Aliases:     []string{"list"},
		Short:       "List volumes",
		Args:        cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			resp, err := apiClient.VolumeList(cmd.Context(), filter.Value())
			if err != nil {
				return err
			}
			vols := resp.Volumes
			sort.SliceStable(vols, func(i, j int) bool { return naturalLess(vols[i].Name, vols[j].Name) })
			ctx := formatter.Context{Output: c.out, Format: formatter.NewVolumeFormat(format, quiet)}
			return ctx.Write(formatter.VolumeHeader, formatter.VolumeRows(vols))
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	flags.StringVar(&format, "format", "", formatHelp)
	flags.VarP(filter, "filter", "f", `Provide filter values (e.g. "dangling=true")`)
	return cmd
}

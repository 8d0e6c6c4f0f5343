package command

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/distribution/reference"
	"github.com/spf13/cobra"
)

func newSearchCommand(c *CLI) *cobra.Command {
	var limit int
	var noTrunc bool
	cmd := &cobra.Command{
		Use:   "search [OPTIONS] TERM",
		Short: "Search Docker Hub for images",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			host := "docker.io"
			if i := strings.IndexByte(args[0], '/'); i >= 0 && (strings.ContainsAny(args[0][:i], ".:") || args[0][:i] == "localhost") {
				host = args[0][:i]
			}
			results, err := apiClient.ImageSearch(cmd.Context(), args[0], limit, c.registryAuth(serverKey(host)))
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.out, 10, 1, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDESCRIPTION\tSTARS\tOFFICIAL")
			for _, r := range results {
				desc := strings.ReplaceAll(r.Description, "\n", " ")
				if !noTrunc && len(desc) > 45 {
					desc = desc[:44] + "…"
				}
				official := ""
				if r.IsOfficial {
					official = "[OK]"
				}
				name := r.Name
				if n, err := reference.ParseNormalizedNamed(name); err == nil {
					name = reference.FamiliarName(n)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", name, desc, r.StarCount, official)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.IntVar(&limit, "limit", 0, "Max number of search results")
	f.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	return cmd
}

package command

import (
	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

// formatHelp is the --format usage text of listing commands.
const formatHelp = `Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`

// inspectFormatHelp is the --format usage text of inspect commands.
const inspectFormatHelp = `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates`

type psOptions struct {
	quiet   bool
	size    bool
	all     bool
	noTrunc bool
	latest  bool
	last    int
	format  string
	filter  *filterOpt
}

func newPsCommand(c *CLI) *cobra.Command {
	cmd := newListContainersCommand(c)
	cmd.Use = "ps [OPTIONS]"
	cmd.Aliases = nil
	return cmd
}

// newListContainersCommand is `container ls` (aliases list, ps) and, renamed, the top-level `ps`.
func newListContainersCommand(c *CLI) *cobra.Command {
	opts := psOptions{filter: newFilterOpt()}
	cmd := &cobra.Command{
		Use:         "ls [OPTIONS]",
		Aliases:     []string{"list", "ps"},
		Short:       "List containers",
		Args:        cli.NoArgs,
		Annotations: map[string]string{"aliases": joinAliases("container ls", "container list", "container ps", "ps")},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPs(cmd, c, &opts)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Only display container IDs")
	flags.BoolVarP(&opts.size, "size", "s", false, "Display total file sizes")
	flags.BoolVarP(&opts.all, "all", "a", false, "Show all containers (default shows just running)")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVarP(&opts.latest, "latest", "l", false, "Show the latest created container (includes all states)")
	flags.IntVarP(&opts.last, "last", "n", -1, "Show n last created containers (includes all states)")
	flags.StringVar(&opts.format, "format", "", formatHelp)
	flags.VarP(opts.filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

func runPs(cmd *cobra.Command, c *CLI, opts *psOptions) error {
	apiClient, err := c.Client()
	if err != nil {
		return err
	}
	format := formatter.NewContainerFormat(opts.format, opts.quiet, opts.size)
	ListOpts := client.ContainerListOptions{
		All:     opts.all,
		Size:    opts.size || (!opts.quiet && format.Contains(".Size")),
		Filters: opts.filter.Value(),
	}
	if opts.last > 0 {
		ListOpts.Limit = opts.last
	}
	if opts.latest && opts.last == -1 {
		ListOpts.Limit = 1
	}
	list, err := apiClient.ContainerList(cmd.Context(), ListOpts)
	if err != nil {
		return err
	}
	ctx := formatter.Context{Output: c.out, Format: format, Trunc: !opts.noTrunc}
	return ctx.Write(formatter.ContainerHeader, formatter.ContainerRows(list, !opts.noTrunc))
}

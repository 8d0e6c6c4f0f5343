package command

import (
	"bytes"
	"fmt"
	"sort"
	"text/template"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

const systemPruneTemplate = `WARNING! This will remove:
{{- range $_, $warning := .warnings }}
  - {{ $warning }}
{{- end }}
{{if .filters}}
  Items to be pruned will be filtered with:
{{- range $_, $filters := .filters }}
  - {{ $filters }}
{{- end }}
{{end}}
Are you sure you want to continue?`

func newSystemPruneCommand(c *CLI) *cobra.Command {
	var (
		force, all, volumes bool
		filter              = newFilterOpt()
	)
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused data",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if !force {
				ok, err := c.confirm(ctx, systemPruneWarning(all, volumes, filter))
				if err != nil || !ok {
					return err
				}
			}
			var total uint64
			report := func(space uint64, output string, err error) error {
				if err != nil {
					return err
				}
				total += space
				if output != "" {
					fmt.Fprintln(c.out, output)
				}
				return nil
			}
			if err := report(c.pruneContainers(ctx, filter)); err != nil {
				return err
			}
			if err := report(c.pruneNetworks(ctx, filter)); err != nil {
				return err
			}
			if volumes {
				if err := report(c.pruneVolumes(ctx, false, filter)); err != nil {
					return err
				}
			}
			if err := report(c.pruneImages(ctx, all, filter)); err != nil {
				return err
			}
			fmt.Fprintln(c.out, "Total reclaimed space:", formatter.HumanSize(int64(total)))
			return nil
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.BoolVarP(&all, "all", "a", false, "Remove all unused images not just dangling ones")
	flags.BoolVar(&volumes, "volumes", false, "Prune anonymous volumes")
	flags.Var(filter, "filter", `Provide filter values (e.g. "label=<key>=<value>")`)
	return cmd
}

// systemPruneWarning is docker's confirmation text for what Berth prunes.
func systemPruneWarning(all, volumes bool, filter *filterOpt) string {
	warnings := []string{"all stopped containers", "all networks not used by at least one container"}
	if volumes {
		warnings = append(warnings, "all anonymous volumes not used by at least one container")
	}
	if all {
		warnings = append(warnings, "all images without at least one container associated to them")
	} else {
		warnings = append(warnings, "all dangling images")
	}
	var filters []string
	for _, key := range []string{"label", "label!", "until"} {
		for _, v := range filter.Value()[key] {
			filters = append(filters, key+"="+v)
		}
	}
	sort.Slice(filters, func(i, j int) bool { return naturalLess(filters[i], filters[j]) })
	var buf bytes.Buffer
	t := template.Must(template.New("prune").Parse(systemPruneTemplate))
	_ = t.Execute(&buf, map[string][]string{"warnings": warnings, "filters": filters})
	return buf.String()
}

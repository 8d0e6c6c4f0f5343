package command

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
)

func newVMLsCommand(c *CLI) *cobra.Command {
	var (
		all, quiet bool
		format     string
	)
	cmd := &cobra.Command{
		Use:         "ls [OPTIONS]",
		Annotations: map[string]string{"aliases": joinAliases("vm ls", "vm list", "vm ps")},
		Aliases:     []string{"list", "ps"},
		Short:       "List virtual machines",
		Args:        cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			list, err := apiClient.VMList(cmd.Context(), all)
			if err != nil {
				return err
			}
			owned := false
			for _, v := range list {
				owned = owned || v.Owner != ""
			}
			ctx := formatter.Context{Output: c.out, Format: formatter.WithOwnerColumn(formatter.NewVMFormat(format, quiet), owned && format == "")}
			return ctx.Write(formatter.VMHeader, formatter.VMRows(list))
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Show terminated VMs too (kept an hour)")
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display VM IDs")
	f.StringVar(&format, "format", "", formatHelp)
	return cmd
}

func newVMInspectCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VM [VM...]",
		Short: "Display detailed information on one or more virtual machines",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.inspect(cmd.Context(), args, format, c.inspectVM(cmd.Context()))
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return cmd
}

func (c *CLI) inspectVM(ctx context.Context) formatter.InspectGetter {
	return func(ref string) (any, []byte, error) {
		apiClient, err := c.Client()
		if err != nil {
			return nil, nil, err
		}
		v, err := apiClient.VMInspect(ctx, ref)
		if err != nil {
			return nil, nil, err
		}
		raw, err := json.Marshal(v)
		return v, raw, err
	}
}

func newVMTypesCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "types [OPTIONS]",
		Short: "List instance types",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			list, err := apiClient.VMTypes(cmd.Context())
			if err != nil {
				return err
			}
			f := formatter.Format(format)
			if format == "" || format == formatter.TableFormatKey {
				f = formatter.DefaultTypeTableFormat
			}
			return formatter.Context{Output: c.out, Format: f}.Write(formatter.TypeHeader, formatter.TypeRows(list))
		},
	}
	cmd.Flags().StringVar(&format, "format", "", formatHelp)
	return cmd
}

package command

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
)

// vmObjectList describes the `ls` of one kind of the VM engine's account-scoped objects (key pairs, security
// groups): how to fetch them, their table, and who owns each (the OWNER column appears when any row has one,
// that is when an administrator lists several accounts' objects).
type vmObjectList[T any] struct {
	short, quietHelp string
	quietFormat      formatter.Format
	tableFormat      formatter.Format
	header           formatter.Header
	list             func(*client.Client, context.Context) ([]T, error)
	owner            func(T) string
	rows             func([]T) []any
}

// command is `ls [OPTIONS]` with docker's -q and --format.
func (l vmObjectList[T]) command(c *CLI) *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   l.short,
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			list, err := l.list(apiClient, cmd.Context())
			if err != nil {
				return err
			}
			f := formatter.Format(format)
			switch {
			case quiet && (format == "" || format == formatter.TableFormatKey):
				f = l.quietFormat
			case format == "" || format == formatter.TableFormatKey:
				owned := false
				for _, x := range list {
					owned = owned || l.owner(x) != ""
				}
				f = formatter.WithOwnerColumn(l.tableFormat, owned)
			}
			return formatter.Context{Output: c.out, Format: f}.Write(l.header, l.rows(list))
		},
	}
	cmd.Flags().StringVar(&format, "format", "", formatHelp)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, l.quietHelp)
	return cmd
}

// vmObjectInspectCommand is `inspect [OPTIONS] REF [REF...]` for one kind of the VM engine's objects: each
// reference fetched and printed as docker's inspect prints (a JSON array, or --format per object).
func vmObjectInspectCommand[T any](c *CLI, use, short string, get func(*client.Client, context.Context, string) (T, error)) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.inspect(cmd.Context(), args, format, func(ref string) (any, []byte, error) {
				apiClient, err := c.Client()
				if err != nil {
					return nil, nil, err
				}
				obj, err := get(apiClient, cmd.Context(), ref)
				if err != nil {
					return nil, nil, err
				}
				raw, err := json.Marshal(obj)
				return obj, raw, err
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return cmd
}

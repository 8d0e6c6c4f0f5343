package command

import (
	"context"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

func newNetworkInspectCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.inspect(cmd.Context(), args, format, c.inspectNetwork(cmd.Context()))
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return cmd
}

func (c *CLI) inspectNetwork(ctx context.Context) formatter.InspectGetter {
	return func(ref string) (any, []byte, error) {
		apiClient, err := c.Client()
		if err != nil {
			return nil, nil, err
		}
		v, raw, err := apiClient.NetworkInspectWithRaw(ctx, ref)
		return v, raw, err
	}
}

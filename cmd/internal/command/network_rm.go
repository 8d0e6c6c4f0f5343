package command

import (
	"fmt"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/containerd/errdefs"
	"github.com/spf13/cobra"
)

func newNetworkRmCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:         "rm NETWORK [NETWORK...]",
		Annotations: map[string]string{"aliases": joinAliases("network rm", "network remove")},
		Aliases:     []string{"remove"},
		Short:       "Remove one or more networks",
		Args:        cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			failed := false
			for _, name := range args {
				if err := apiClient.NetworkRemove(cmd.Context(), name); err != nil {
					if force && errdefs.IsNotFound(err) {
						continue
					}
					// Each failure is reported as it happens, the others are still removed.
					fmt.Fprintln(c.err, errorText(err))
					failed = true
					continue
				}
				fmt.Fprintln(c.out, name)
			}
			if failed {
				// docker ends a partial failure with this line.
				return cli.StatusError{Status: "exit status 1", Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

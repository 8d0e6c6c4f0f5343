package command

import (
	"errors"
	"fmt"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newVolumeRmCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:         "rm [OPTIONS] VOLUME [VOLUME...]",
		Annotations: map[string]string{"aliases": joinAliases("volume rm", "volume remove")},
		Aliases:     []string{"remove"},
		Short:       "Remove one or more volumes",
		Long:        "Remove one or more volumes. You cannot remove a volume that is in use by a container.",
		Args:        cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				if err := apiClient.VolumeRemove(cmd.Context(), name, force); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(c.out, name)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

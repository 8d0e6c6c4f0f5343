package command

import (
	"errors"
	"fmt"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/containerd/errdefs"
	"github.com/spf13/cobra"
)

func newRmiCommand(c *CLI) *cobra.Command {
	cmd := newRemoveImagesCommand(c)
	cmd.Use = "rmi [OPTIONS] IMAGE [IMAGE...]"
	cmd.Aliases = nil
	return cmd
}

// newRemoveImagesCommand is `image rm` (alias remove) and, renamed, the top-level `rmi`.
func newRemoveImagesCommand(c *CLI) *cobra.Command {
	var (
		force   bool
		noPrune bool
	)
	cmd := &cobra.Command{
		Use:         "rm [OPTIONS] IMAGE [IMAGE...]",
		Aliases:     []string{"remove"},
		Short:       "Remove one or more images",
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("image rm", "image remove", "rmi")},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				deleted, err := apiClient.ImageRemove(cmd.Context(), ref, client.ImageRemoveOptions{Force: force, PruneChildren: !noPrune})
				if err != nil {
					if force && errdefs.IsNotFound(err) {
						continue
					}
					errs = append(errs, err)
					continue
				}
				for _, d := range deleted {
					if d.Deleted != "" {
						fmt.Fprintf(c.out, "Deleted: %s\n", d.Deleted)
					} else {
						fmt.Fprintf(c.out, "Untagged: %s\n", d.Untagged)
					}
				}
			}
			return errors.Join(errs...)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&force, "force", "f", false, "Force removal of the image")
	flags.BoolVar(&noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

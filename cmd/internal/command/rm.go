package command

import (
	"context"
	"errors"
	"strings"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/containerd/errdefs"
	"github.com/spf13/cobra"
)

func newRmCommand(c *CLI) *cobra.Command {
	var opts client.ContainerRemoveOptions
	cmd := &cobra.Command{
		Use:         "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short:       "Remove one or more containers",
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container rm", "container remove", "rm")},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			return c.forEachContainer(cmd.Context(), args, func(ctx context.Context, name string) error {
				name = strings.Trim(name, "/")
				if name == "" {
					return errors.New("container name cannot be empty")
				}
				return apiClient.ContainerRemove(ctx, name, opts)
			}, func(err error) bool {
				// rm -f of a container that is already gone is not an error.
				return opts.Force && errdefs.IsNotFound(err)
			})
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.RemoveVolumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	flags.BoolVarP(&opts.RemoveLinks, "link", "l", false, "Remove the specified link")
	flags.BoolVarP(&opts.Force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	return cmd
}

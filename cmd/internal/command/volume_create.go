package command

import (
	"errors"
	"fmt"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/moby/moby/api/types/volume"
	"github.com/spf13/cobra"
)

func newVolumeCreateCommand(c *CLI) *cobra.Command {
	var (
		driver string
		name   string
		labels = NewListOpts(nil)
		opts   = newMapOpts()
	)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume",
		Args:  cli.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if name != "" {
					return errors.New("conflicting options: cannot specify a volume-name through both --name and as a positional arg")
				}
				name = args[0]
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			req := volume.CreateRequest{Name: name, Driver: driver, DriverOpts: opts.values, Labels: kvToMap(labels.Values())}
			if len(req.DriverOpts) == 0 {
				req.DriverOpts = nil
			}
			if len(req.Labels) == 0 {
				req.Labels = nil
			}
			v, err := apiClient.VolumeCreate(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.out, v.Name)
			return nil
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&driver, "driver", "d", "local", "Specify volume driver name")
	flags.StringVar(&name, "name", "", "Specify volume name")
	_ = flags.MarkHidden("name")
	flags.VarP(opts, "opt", "o", "Set driver specific options")
	flags.Var(labels, "label", "Set metadata for a volume")
	return cmd
}

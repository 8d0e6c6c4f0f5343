package main

import (
	"fmt"
	"sort"

	"github.com/berth/berth/cmd/internal/command"
	"github.com/spf13/cobra"
)

func newComposeConfigCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	var format string
	var services, volumes, quiet bool
	cmd := &cobra.Command{
		Use:   "config [OPTIONS] [SERVICE...]",
		Short: "Parse, resolve and render compose file in canonical format",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.load(cmd.Context(), args...)
			if err != nil {
				return err
			}
			switch {
			case quiet:
				return nil
			case services:
				names := p.ServiceNames()
				sort.Strings(names)
				for _, n := range names {
					fmt.Fprintln(c.Out(), n)
				}
				return nil
			case volumes:
				names := p.VolumeNames()
				sort.Strings(names)
				for _, n := range names {
					fmt.Fprintln(c.Out(), n)
				}
				return nil
			}
			var b []byte
			if format == "json" {
				b, err = p.MarshalJSON()
			} else {
				b, err = p.MarshalYAML()
			}
			if err != nil {
				return err
			}
			_, err = c.Out().Write(b)
			return err
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&format, "format", "yaml", "Format the output. Values: [yaml | json]")
	flags.BoolVar(&services, "services", false, "Print the service names, one per line.")
	flags.BoolVar(&volumes, "volumes", false, "Print the volume names, one per line.")
	flags.BoolVarP(&quiet, "quiet", "q", false, "Only validate the configuration, don't print anything")
	return cmd
}

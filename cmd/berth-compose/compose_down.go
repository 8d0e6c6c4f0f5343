package main

import (
	"fmt"

	"github.com/berth/berth/cmd/internal/command"
	"github.com/berth/berth/internal/compose"
	"github.com/spf13/cobra"
)

func newComposeDownCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	var opts compose.DownOptions
	var timeout int
	cmd := &cobra.Command{
		Use:   "down [OPTIONS] [SERVICES]",
		Short: "Stop and remove containers, networks",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if opts.Rmi != "" && opts.Rmi != "local" && opts.Rmi != "all" {
				return fmt.Errorf("invalid value for --rmi: %s", opts.Rmi)
			}
			name, p, err := o.projectName(ctx)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("timeout") {
				opts.Timeout = &timeout
			}
			svc, err := o.service(c, "Running")
			if err != nil {
				return err
			}
			return svc.Down(ctx, name, p, opts)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.Volumes, "volumes", "v", false, "Remove named volumes declared in the \"volumes\" section of the Compose file and anonymous volumes attached to containers")
	flags.StringVar(&opts.Rmi, "rmi", "", `Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")`)
	flags.BoolVar(&opts.RemoveOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	flags.IntVarP(&timeout, "timeout", "t", 10, "Specify a shutdown timeout in seconds")
	return cmd
}

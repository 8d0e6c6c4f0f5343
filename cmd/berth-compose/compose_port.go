package main

import (
	"fmt"
	"strings"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/command"
	"github.com/spf13/cobra"
)

func newComposePortCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	var protocol string
	var index int
	cmd := &cobra.Command{
		Use:   "port [OPTIONS] SERVICE PRIVATE_PORT",
		Short: "Print the public port for a port binding",
		Args:  cli.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := o.serviceContainer(ctx, c, args[0], index)
			if err != nil {
				return err
			}
			apiClient, _ := c.Client()
			ctr, err := apiClient.ContainerInspect(ctx, id)
			if err != nil {
				return err
			}
			want := args[1] + "/" + protocol
			if ctr.NetworkSettings != nil {
				for port, bindings := range ctr.NetworkSettings.Ports {
					if port.String() != want {
						continue
					}
					for _, b := range bindings {
						fmt.Fprintln(c.Out(), command.HostPort(b))
						return nil
					}
				}
			}
			return fmt.Errorf("no port %s for container %s", strings.TrimSuffix(want, "/tcp"), strings.TrimPrefix(ctr.Name, "/"))
		},
	}
	cmd.Flags().StringVar(&protocol, "protocol", "tcp", "tcp or udp")
	cmd.Flags().IntVar(&index, "index", 1, "Index of the container if service has multiple replicas")
	return cmd
}

package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/berth/berth/cmd/internal/command"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/berth/berth/internal/compose"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

func newComposeTopCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "top [SERVICES...]",
		Short: "Display the running processes",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, list, err := o.projectContainers(ctx, c, "")
			if err != nil {
				return err
			}
			apiClient, _ := c.Client()
			for i, ctr := range list {
				if ctr.State != container.StateRunning || (len(args) > 0 && !slices.Contains(args, ctr.Labels[compose.LabelService])) {
					continue
				}
				top, err := apiClient.ContainerTop(ctx, ctr.ID, nil)
				if err != nil {
					return err
				}
				if i > 0 {
					fmt.Fprintln(c.Out())
				}
				fmt.Fprintln(c.Out(), strings.TrimPrefix(ctr.Names[0], "/"))
				if err := formatter.WriteColumns(c.Out(), 3, top.Titles, top.Processes); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth/berth/cmd/internal/command"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/berth/berth/internal/compose"
	"github.com/spf13/cobra"
)

func newComposePsCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	var all, quiet, services bool
	var format string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [SERVICE...]",
		Short: "List containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, list, err := o.projectContainers(ctx, c, "")
			if err != nil {
				return err
			}
			var rows [][]string
			var jsonRows []map[string]any
			seen := map[string]bool{}
			for _, ctr := range list {
				service := ctr.Labels[compose.LabelService]
				if len(args) > 0 && !slices.Contains(args, service) {
					continue
				}
				if !all && ctr.State != "running" && ctr.State != "paused" && ctr.State != "restarting" {
					continue
				}
				switch {
				case quiet:
					fmt.Fprintln(c.Out(), ctr.ID)
					continue
				case services:
					if !seen[service] {
						seen[service] = true
						fmt.Fprintln(c.Out(), service)
					}
					continue
				}
				name := strings.TrimPrefix(ctr.Names[0], "/")
				ports := formatter.DisplayablePorts(ctr.Ports)
				rows = append(rows, []string{name, ctr.Image, fmt.Sprintf("%q", formatter.Ellipsis(ctr.Command, 20)), service,
					formatter.Ago(time.Unix(ctr.Created, 0)), ctr.Status, ports})
				jsonRows = append(jsonRows, map[string]any{"ID": ctr.ID, "Name": name, "Image": ctr.Image, "Command": ctr.Command,
					"Project": ctr.Labels[compose.LabelProject], "Service": service, "State": ctr.State, "Status": ctr.Status,
					"Health": healthOf(ctr.Status), "ExitCode": 0, "Publishers": ctr.Ports, "Labels": ctr.Labels})
			}
			if quiet || services {
				return nil
			}
			if format == "json" {
				enc := json.NewEncoder(c.Out())
				for _, r := range jsonRows {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			}
			return formatter.WriteColumns(c.Out(), 3, []string{"NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"}, rows)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&all, "all", "a", false, "Show all stopped containers (including those created by the run command)")
	flags.BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	flags.BoolVar(&services, "services", false, "Display services")
	flags.StringVar(&format, "format", "table", "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'json':             Print in JSON format")
	return cmd
}

func healthOf(status string) string {
	for _, h := range []string{"healthy", "unhealthy", "starting"} {
		if strings.Contains(status, "("+h+")") || strings.Contains(status, "(health: "+h+")") {
			return h
		}
	}
	return ""
}

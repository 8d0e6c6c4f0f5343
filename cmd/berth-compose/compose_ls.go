package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/command"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/berth/berth/internal/compose"
	"github.com/spf13/cobra"
)

func newComposeLsCommand(c *command.CLI) *cobra.Command {
	var all, quiet bool
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List running compose projects",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			list, err := apiClient.ContainerList(cmd.Context(), client.ContainerListOptions{All: true,
				Filters: client.Filters{}.Add("label", compose.LabelProject)})
			if err != nil {
				return err
			}
			type project struct {
				states map[string]int
				files  string
			}
			projects := map[string]*project{}
			for _, ctr := range list {
				name := ctr.Labels[compose.LabelProject]
				p := projects[name]
				if p == nil {
					p = &project{states: map[string]int{}, files: ctr.Labels[compose.LabelConfigFiles]}
					projects[name] = p
				}
				p.states[string(ctr.State)]++
			}
			names := make([]string, 0, len(projects))
			for n, p := range projects {
				if all || p.states["running"] > 0 {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			var rows [][]string
			for _, n := range names {
				if quiet {
					fmt.Fprintln(c.Out(), n)
					continue
				}
				var states []string
				for st, count := range projects[n].states {
					states = append(states, fmt.Sprintf("%s(%d)", st, count))
				}
				sort.Strings(states)
				rows = append(rows, []string{n, strings.Join(states, ", "), projects[n].files})
			}
			if quiet {
				return nil
			}
			return formatter.WriteColumns(c.Out(), 3, []string{"NAME", "STATUS", "CONFIG FILES"}, rows)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show all stopped Compose projects")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display project names")
	return cmd
}

func newComposeVersionCommand(c *command.CLI) *cobra.Command {
	var short bool
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Docker Compose version information",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if short {
				fmt.Fprintln(c.Out(), compose.Version)
				return nil
			}
			fmt.Fprintf(c.Out(), "Berth Compose version v%s (compatible; berth %s)\n", compose.Version, cli.BuildVersion())
			return nil
		},
	}
	cmd.Flags().BoolVar(&short, "short", false, "Shows only Compose's version number")
	return cmd
}

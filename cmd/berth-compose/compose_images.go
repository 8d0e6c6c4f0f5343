package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/berth/berth/cmd/internal/command"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/berth/berth/internal/compose"
)

// compose build, pull, push and images.

func newComposeBuildCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	return newComposeImageStepCommand(c, o, "build", "Build or rebuild services", "Building", (*compose.Service).Build)
}

func newComposePullCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	return newComposeImageStepCommand(c, o, "pull", "Pull service images", "Pulling", (*compose.Service).Pull)
}

func newComposePushCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	return newComposeImageStepCommand(c, o, "push", "Push service images", "Pushing", (*compose.Service).Push)
}

// newComposeImageStepCommand is `compose <verb> [SERVICE...]`: load the project, then run step over the
// services with compose's progress, whose lines say what is under way ("Building").
func newComposeImageStepCommand(c *command.CLI, o *composeOptions, verb, short, progress string,
	step func(*compose.Service, context.Context, *types.Project, []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " [OPTIONS] [SERVICE...]",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.load(cmd.Context())
			if err != nil {
				return err
			}
			svc, err := o.service(c, progress)
			if err != nil {
				return err
			}
			return step(svc, cmd.Context(), p, args)
		},
	}
}

func newComposeImagesCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [SERVICE...]",
		Short: "List images used by the created containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			_, list, err := o.projectContainers(ctx, c, "")
			if err != nil {
				return err
			}
			apiClient, _ := c.Client()
			var rows [][]string
			for _, ctr := range list {
				img, err := apiClient.ImageInspect(ctx, ctr.ImageID)
				if err != nil {
					continue
				}
				if quiet {
					fmt.Fprintln(c.Out(), img.ID)
					continue
				}
				repo, tag := ctr.Image, "latest"
				if i := strings.LastIndex(repo, ":"); i > 0 && !strings.Contains(repo[i:], "/") {
					repo, tag = repo[:i], repo[i+1:]
				}
				rows = append(rows, []string{strings.TrimPrefix(ctr.Names[0], "/"), repo, tag,
					formatter.TruncateID(img.ID), formatter.HumanSize(img.Size)})
			}
			if quiet {
				return nil
			}
			return formatter.WriteColumns(c.Out(), 3, []string{"CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"}, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	return cmd
}

package main

import (
	"fmt"
	"strings"

	"github.com/berth/berth/cmd/berth/internal/formatter"
	"github.com/spf13/cobra"
)

// compose build, pull, push and images.

func newComposeBuildCommand(c *cli, o *composeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "build [OPTIONS] [SERVICE...]",
		Short: "Build or rebuild services",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.load(cmd.Context())
			if err != nil {
				return err
			}
			svc, err := o.service(c, "Building")
			if err != nil {
				return err
			}
			return svc.Build(cmd.Context(), p, args)
		},
	}
}

func newComposePullCommand(c *cli, o *composeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "pull [OPTIONS] [SERVICE...]",
		Short: "Pull service images",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.load(cmd.Context())
			if err != nil {
				return err
			}
			svc, err := o.service(c, "Pulling")
			if err != nil {
				return err
			}
			return svc.Pull(cmd.Context(), p, args)
		},
	}
}

func newComposePushCommand(c *cli, o *composeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "push [OPTIONS] [SERVICE...]",
		Short: "Push service images",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.load(cmd.Context())
			if err != nil {
				return err
			}
			svc, err := o.service(c, "Pushing")
			if err != nil {
				return err
			}
			return svc.Push(cmd.Context(), p, args)
		},
	}
}

func newComposeImagesCommand(c *cli, o *composeOptions) *cobra.Command {
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
					fmt.Fprintln(c.out, img.ID)
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
			return formatter.WriteColumns(c.out, 3, []string{"CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"}, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	return cmd
}

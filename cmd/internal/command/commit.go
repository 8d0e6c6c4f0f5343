package command

import (
	"fmt"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newCommitCommand(c *CLI) *cobra.Command {
	var (
		opts    client.ContainerCommitOptions
		changes = NewListOpts(nil)
	)
	cmd := &cobra.Command{
		Use:         "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short:       "Create a new image from a container's changes",
		Args:        cli.RequiresRangeArgs(1, 2),
		Annotations: map[string]string{"aliases": joinAliases("container commit", "commit")},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			if len(args) > 1 {
				opts.Reference = args[1]
			}
			opts.Changes = changes.Values()
			resp, err := apiClient.ContainerCommit(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.out, resp.ID)
			return nil
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.BoolVarP(&opts.Pause, "pause", "p", true, "Pause container during commit")
	flags.StringVarP(&opts.Comment, "message", "m", "", "Commit message")
	flags.StringVarP(&opts.Author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	flags.VarP(changes, "change", "c", "Apply Dockerfile instruction to the created image")
	return cmd
}

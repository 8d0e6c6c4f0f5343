package command

import (
	"io"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/spf13/cobra"
)

func newLogsCommand(c *CLI) *cobra.Command {
	var opts client.ContainerLogsOptions
	cmd := &cobra.Command{
		Use:         "logs [OPTIONS] CONTAINER",
		Short:       "Fetch the logs of a container",
		Args:        cli.ExactArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container logs", "logs")},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			ctr, err := apiClient.ContainerInspect(ctx, args[0])
			if err != nil {
				return err
			}
			opts.ShowStdout, opts.ShowStderr = true, true
			body, err := apiClient.ContainerLogs(ctx, ctr.ID, opts)
			if err != nil {
				return err
			}
			defer body.Close()
			if ctr.Config != nil && ctr.Config.Tty {
				_, err = io.Copy(c.out, body)
			} else {
				_, err = stdcopy.StdCopy(c.out, c.err, body)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.Follow, "follow", "f", false, "Follow log output")
	flags.StringVar(&opts.Since, "since", "", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	flags.StringVar(&opts.Until, "until", "", `Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	flags.BoolVarP(&opts.Timestamps, "timestamps", "t", false, "Show timestamps")
	flags.BoolVar(&opts.Details, "details", false, "Show extra details provided to logs")
	flags.StringVarP(&opts.Tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	return cmd
}

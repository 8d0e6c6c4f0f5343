package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/command"
	"github.com/berth/berth/internal/compose"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

func newComposeLogsCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	var follow, timestamps bool
	var tail string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] [SERVICE...]",
		Short: "View output from containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name, _, err := o.projectName(ctx)
			if err != nil {
				return err
			}
			return followLogs(ctx, c, name, args, follow, tail, timestamps)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&follow, "follow", "f", false, "Follow log output")
	flags.BoolVarP(&timestamps, "timestamps", "t", false, "Show timestamps")
	flags.StringVarP(&tail, "tail", "n", "all", "Number of lines to show from the end of the logs for each container")
	return cmd
}

// followLogs prints the logs of the project's containers, each line prefixed with the container's name
// without the project ("web-1  | ..."), as compose does.
func followLogs(ctx context.Context, c *command.CLI, project string, services []string, follow bool, tail string, timestamps bool) error {
	apiClient, err := c.Client()
	if err != nil {
		return err
	}
	list, err := apiClient.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", compose.LabelProject+"="+project)})
	if err != nil {
		return err
	}
	width := 0
	var names []string
	var ids []string
	var ttys []bool
	for _, ctr := range list {
		if len(services) > 0 && !slices.Contains(services, ctr.Labels[compose.LabelService]) {
			continue
		}
		if strings.EqualFold(ctr.Labels[compose.LabelOneoff], "true") {
			continue
		}
		n := strings.TrimPrefix(strings.TrimPrefix(ctr.Names[0], "/"), project+"-")
		width = max(width, len(n))
		names, ids = append(names, n), append(ids, ctr.ID)
		insp, err := apiClient.ContainerInspect(ctx, ctr.ID)
		ttys = append(ttys, err == nil && insp.Config != nil && insp.Config.Tty)
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for i, id := range ids {
		prefix := fmt.Sprintf("%-*s  | ", width, names[i])
		g.Go(func() error {
			body, err := apiClient.ContainerLogs(gctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true,
				Follow: follow, Tail: tail, Timestamps: timestamps})
			if err != nil {
				return err
			}
			defer body.Close()
			pr, pw := io.Pipe()
			go func() {
				var err error
				if ttys[i] {
					_, err = io.Copy(pw, body)
				} else {
					_, err = stdcopy.StdCopy(pw, pw, body)
				}
				pw.CloseWithError(err)
			}()
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64*1024), 1024*1024)
			for sc.Scan() {
				mu.Lock()
				fmt.Fprintln(c.Out(), prefix+sc.Text())
				mu.Unlock()
			}
			if gctx.Err() != nil {
				return nil
			}
			return sc.Err()
		})
	}
	return g.Wait()
}

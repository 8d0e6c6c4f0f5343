package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

type startOptions struct {
	attach     bool
	openStdin  bool
	detachKeys string
}

func newStartCommand(c *CLI) *cobra.Command {
	var opts startOptions
	cmd := &cobra.Command{
		Use:         "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short:       "Start one or more stopped containers",
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container start", "start")},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStart(cmd.Context(), c, &opts, args)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	flags.BoolVarP(&opts.openStdin, "interactive", "i", false, "Attach container's STDIN")
	flags.StringVar(&opts.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

func runStart(ctx context.Context, c *CLI, opts *startOptions, names []string) error {
	apiClient, err := c.Client()
	if err != nil {
		return err
	}
	if !opts.attach && !opts.openStdin {
		var failed []string
		for _, name := range names {
			if err := apiClient.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
				fmt.Fprintln(c.err, errorText(err))
				failed = append(failed, name)
				continue
			}
			fmt.Fprintln(c.out, name)
		}
		if len(failed) > 0 {
			return fmt.Errorf("failed to start containers: %s", strings.Join(failed, ", "))
		}
		return nil
	}

	if len(names) > 1 {
		return errors.New("you cannot start and attach multiple containers at once")
	}
	if err := validateDetachKeys(opts.detachKeys); err != nil {
		return err
	}
	ctr, err := apiClient.ContainerInspect(ctx, names[0])
	if err != nil {
		return err
	}
	tty := ctr.Config != nil && ctr.Config.Tty
	openStdin := ctr.Config != nil && ctr.Config.OpenStdin
	if !tty {
		stop := proxySignals(ctx, apiClient, ctr.ID)
		defer stop()
	}
	streamCtx, cancelStream := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStream()

	attachStdin := opts.openStdin && openStdin
	resp, err := apiClient.ContainerAttach(streamCtx, ctr.ID, client.ContainerAttachOptions{
		Stream: true, Stdin: attachStdin, Stdout: true, Stderr: true, DetachKeys: opts.detachKeys,
	})
	if err != nil {
		return err
	}
	defer resp.Close()
	var in io.ReadCloser
	if attachStdin {
		in = c.in
	}
	h := &hijackedStreamer{c: c, resp: resp, in: in, out: c.out, errw: c.err, tty: tty, detachKeys: opts.detachKeys}
	streamDone := make(chan error, 1)
	go func() { streamDone <- h.stream(streamCtx) }()

	autoRemove := ctr.HostConfig != nil && ctr.HostConfig.AutoRemove
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWait()
	statusC := c.waitExitOrRemoved(waitCtx, apiClient, ctr.ID, autoRemove)

	if err := apiClient.ContainerStart(ctx, ctr.ID, client.ContainerStartOptions{DetachKeys: opts.detachKeys}); err != nil {
		cancelStream()
		<-streamDone
		if autoRemove {
			<-statusC
		}
		return err
	}
	if tty && c.out.IsTerminal() {
		c.monitorTtySize(streamCtx, ctr.ID, false)
	}
	if err := <-streamDone; err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return err
	}
	if status := <-statusC; status != 0 {
		return cli.StatusError{Code: status}
	}
	return nil
}

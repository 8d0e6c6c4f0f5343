package command

import (
	"context"
	"errors"
	"io"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

type attachOptions struct {
	noStdin    bool
	proxy      bool
	detachKeys string
}

func newAttachCommand(c *CLI) *cobra.Command {
	var opts attachOptions
	cmd := &cobra.Command{
		Use:         "attach [OPTIONS] CONTAINER",
		Short:       "Attach local standard input, output, and error streams to a running container",
		Args:        cli.ExactArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container attach", "attach")},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAttach(cmd.Context(), c, &opts, args[0])
		},
	}
	flags := cmd.Flags()
	flags.BoolVar(&opts.noStdin, "no-stdin", false, "Do not attach STDIN")
	flags.BoolVar(&opts.proxy, "sig-proxy", true, "Proxy all received signals to the process")
	flags.StringVar(&opts.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// checkAttachable refuses stopped, paused and restarting containers, with docker's messages.
func checkAttachable(ctr container.InspectResponse) error {
	if ctr.State == nil {
		return nil
	}
	switch {
	case !ctr.State.Running:
		return errors.New("You cannot attach to a stopped container, start it first")
	case ctr.State.Paused:
		return errors.New("You cannot attach to a paused container, unpause it first")
	case ctr.State.Restarting:
		return errors.New("You cannot attach to a restarting container, wait until it is running")
	}
	return nil
}

func runAttach(ctx context.Context, c *CLI, opts *attachOptions, name string) error {
	if err := validateDetachKeys(opts.detachKeys); err != nil {
		return err
	}
	apiClient, err := c.Client()
	if err != nil {
		return err
	}
	// Register the wait first so the exit status is not missed.
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWait()
	results, waitErrs := apiClient.ContainerWait(waitCtx, name, "")

	ctr, err := apiClient.ContainerInspect(ctx, name)
	if err != nil {
		return err
	}
	if err := checkAttachable(ctr); err != nil {
		return err
	}
	tty := ctr.Config != nil && ctr.Config.Tty
	if err := c.in.CheckTty(!opts.noStdin, tty); err != nil {
		return err
	}
	attachStdin := !opts.noStdin && ctr.Config != nil && ctr.Config.OpenStdin
	if opts.proxy && !tty {
		stop := proxySignals(ctx, apiClient, ctr.ID)
		defer stop()
	}
	resp, err := apiClient.ContainerAttach(ctx, ctr.ID, client.ContainerAttachOptions{
		Stream: true, Stdin: attachStdin, Stdout: true, Stderr: true, DetachKeys: opts.detachKeys,
	})
	if err != nil {
		return err
	}
	defer resp.Close()
	// The container may have stopped between the check and the attach.
	if ctr, err = apiClient.ContainerInspect(ctx, name); err != nil {
		return err
	} else if err := checkAttachable(ctr); err != nil {
		return err
	}
	if tty && c.out.IsTerminal() {
		// Nudge the size so a shell redraws its prompt on re-attach, then track the real size.
		h, w := c.out.TtySize()
		_ = c.resizeTtyTo(ctx, ctr.ID, h+1, w+1, false)
		c.monitorTtySize(ctx, ctr.ID, false)
	}
	var in io.ReadCloser
	if attachStdin {
		in = c.in
	}
	h := &hijackedStreamer{c: c, resp: resp, in: in, out: c.out, errw: c.err, tty: tty, detachKeys: opts.detachKeys}
	if err := h.stream(ctx); err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		if !errors.Is(err, context.Canceled) {
			return err
		}
	}
	select {
	case r := <-results:
		if r.Error != nil {
			return errors.New(r.Error.Message)
		}
		if r.StatusCode != 0 {
			return cli.StatusError{Code: int(r.StatusCode)}
		}
	case err := <-waitErrs:
		return err
	}
	return nil
}

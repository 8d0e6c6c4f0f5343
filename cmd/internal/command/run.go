package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type runOptions struct {
	createOptions
	detach     bool
	sigProxy   bool
	detachKeys string
}

func newRunCommand(c *CLI) *cobra.Command {
	var opts runOptions
	var copts *containerOptions
	cmd := &cobra.Command{
		Use:         "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short:       "Create and run a new container from an image",
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container run", "run")},
		RunE: func(cmd *cobra.Command, args []string) error {
			copts.Image = args[0]
			copts.Args = args[1:]
			return runRun(cmd.Context(), c, cmd.Flags(), &opts, copts)
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.BoolVarP(&opts.detach, "detach", "d", false, "Run container in background and print container ID")
	flags.BoolVar(&opts.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	flags.StringVar(&opts.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	addCreateOptions(flags, &opts.createOptions, "running")
	copts = addContainerFlags(flags)
	return cmd
}

func runRun(ctx context.Context, c *CLI, flags *pflag.FlagSet, opts *runOptions, copts *containerOptions) error {
	if err := validatePullOpt(opts.pull); err != nil {
		return withHelp(err, "run", 125)
	}
	cfg, err := copts.parse(flags)
	if err != nil {
		return withHelp(err, "run", 125)
	}
	return c.runContainer(ctx, opts, copts, cfg)
}

// runContainer is docker's run: create, attach before starting, start, stream, then exit with the
// container's status.
func (c *CLI) runContainer(ctx context.Context, opts *runOptions, copts *containerOptions, cfg *containerConfig) error {
	config := cfg.Config
	config.ArgsEscaped = false
	if !opts.detach {
		if err := c.in.CheckTty(config.AttachStdin, config.Tty); err != nil {
			return err
		}
	} else {
		if len(copts.attach.Values()) != 0 {
			return errors.New("conflicting options: cannot specify both --attach and --detach")
		}
		config.AttachStdin, config.AttachStdout, config.AttachStderr = false, false, false
		config.StdinOnce = false
	}
	if err := validateDetachKeys(opts.detachKeys); err != nil {
		return err
	}
	apiClient, err := c.Client()
	if err != nil {
		return err
	}

	var proxy *signalProxy
	if opts.sigProxy && !opts.detach { // a detached run ends with the start: nothing to forward
		proxy = startSignalProxy(ctx, apiClient) // registering takes a few ms: alongside the create
		defer proxy.stop()
	}
	id, err := c.createContainer(ctx, cfg, &opts.createOptions)
	if err != nil {
		return runStatusError(err)
	}
	if proxy != nil {
		proxy.forwardTo(id)
	}

	// Streams and the wait outlive an interrupt of the CLI: the signal goes to the container instead,
	// and we report how it ended.
	streamCtx, cancelStream := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStream()

	attach := config.AttachStdin || config.AttachStdout || config.AttachStderr
	var streamDone chan error
	if attach {
		resp, err := apiClient.ContainerAttach(streamCtx, id, client.ContainerAttachOptions{
			Stream:     true,
			Stdin:      config.AttachStdin,
			Stdout:     config.AttachStdout,
			Stderr:     config.AttachStderr,
			DetachKeys: opts.detachKeys,
		})
		if err != nil {
			return err
		}
		defer resp.Close()
		streamDone = make(chan error, 1)
		h := &hijackedStreamer{c: c, resp: resp, tty: config.Tty, detachKeys: opts.detachKeys}
		if config.AttachStdin {
			h.in = c.in
		}
		if config.AttachStdout {
			h.out = c.out
		}
		if config.AttachStderr {
			if config.Tty {
				h.errw = c.out
			} else {
				h.errw = c.err
			}
		}
		go func() { streamDone <- h.stream(streamCtx) }()
	}

	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWait()
	statusC := c.waitExitOrRemoved(waitCtx, apiClient, id, copts.autoRemove)

	if proxy != nil {
		proxy.wait() // a signal after the start reaches the container
	}
	if err := apiClient.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		if attach {
			cancelStream()
			<-streamDone
		}
		if copts.autoRemove {
			<-statusC
		}
		return runStatusError(err)
	}

	if !attach {
		fmt.Fprintln(c.out, id)
		return nil
	}
	if config.Tty && c.out.IsTerminal() {
		c.monitorTtySize(streamCtx, id, false)
	}

	select {
	case err := <-streamDone:
		if errors.Is(err, errDetached) {
			return nil
		}
		if err != nil {
			slog.Debug("error in the attach stream", "error", err)
			return err
		}
		if status := <-statusC; status != 0 {
			return cli.StatusError{Code: status}
		}
	case status := <-statusC:
		// The container exited; finish copying its output unless none is attached.
		if !config.AttachStdout && !config.AttachStderr {
			cancelStream()
		}
		<-streamDone
		if status != 0 {
			return cli.StatusError{Code: status}
		}
	}
	return nil
}

// waitExitOrRemoved registers a wait (next exit, or removal with --rm) and delivers the exit status;
// 125 when waiting fails.
func (c *CLI) waitExitOrRemoved(ctx context.Context, apiClient *client.Client, id string, removed bool) <-chan int {
	cond := container.WaitConditionNextExit
	if removed {
		cond = container.WaitConditionRemoved
	}
	results, errs := apiClient.ContainerWait(ctx, id, cond)
	statusC := make(chan int, 1)
	go func() {
		select {
		case <-ctx.Done():
			close(statusC)
		case r := <-results:
			if r.Error != nil {
				fmt.Fprintln(c.err, "Error waiting for container:", r.Error.Message)
				statusC <- 125
				return
			}
			statusC <- int(r.StatusCode)
		case err := <-errs:
			if errors.Is(err, context.Canceled) {
				close(statusC)
				return
			}
			fmt.Fprintln(c.err, "Error waiting for container:", errorText(err))
			statusC <- 125
		}
	}()
	return statusC
}

// runStatusError maps a create/start failure to docker's exit codes: 127 when the command was not
// found, 126 when it could not be invoked, 125 for anything else the daemon refused.
func runStatusError(err error) error {
	msg := err.Error()
	code := 125
	switch {
	case strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory") ||
		strings.Contains(msg, "system cannot find the file specified"):
		code = 127
	case strings.Contains(msg, "permission denied") || strings.Contains(msg, "is a directory"):
		code = 126
	}
	return withHelp(err, "run", code)
}

package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/command"
	"github.com/berth/berth/internal/compose"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

// compose start, stop, restart, kill, pause, unpause and rm: one operation on each of the selected
// services' containers, concurrently, with compose's progress lines.

type lifecycleOp struct {
	use, short    string
	running, done string // progress statuses
	// want selects the containers the operation applies to, by state.
	want func(state container.ContainerState) bool
	run  func(ctx context.Context, api *client.Client, id string) error
}

func newComposeLifecycleCommands(c *command.CLI, o *composeOptions) []*cobra.Command {
	var timeout int
	var signal string
	var force, stop, volumes bool
	timeoutPtr := func(cmd *cobra.Command) *int {
		if cmd.Flags().Changed("timeout") {
			return &timeout
		}
		return nil
	}
	isRunning := func(s container.ContainerState) bool {
		return s == container.StateRunning || s == container.StateRestarting
	}
	anyState := func(container.ContainerState) bool { return true }
	var cmds []*cobra.Command
	ops := []func(cmd *cobra.Command) lifecycleOp{
		func(cmd *cobra.Command) lifecycleOp {
			return lifecycleOp{use: "start [SERVICE...]", short: "Start services", running: "Starting", done: "Started",
				want: func(s container.ContainerState) bool { return !isRunning(s) && s != container.StatePaused },
				run: func(ctx context.Context, api *client.Client, id string) error {
					return api.ContainerStart(ctx, id, client.ContainerStartOptions{})
				}}
		},
		func(cmd *cobra.Command) lifecycleOp {
			return lifecycleOp{use: "stop [OPTIONS] [SERVICE...]", short: "Stop services", running: "Stopping", done: "Stopped",
				want: func(s container.ContainerState) bool { return isRunning(s) || s == container.StatePaused },
				run: func(ctx context.Context, api *client.Client, id string) error {
					return api.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: timeoutPtr(cmd)})
				}}
		},
		func(cmd *cobra.Command) lifecycleOp {
			return lifecycleOp{use: "restart [OPTIONS] [SERVICE...]", short: "Restart service containers", running: "Restarting", done: "Started",
				want: anyState,
				run: func(ctx context.Context, api *client.Client, id string) error {
					return api.ContainerRestart(ctx, id, client.ContainerStopOptions{Timeout: timeoutPtr(cmd)})
				}}
		},
		func(cmd *cobra.Command) lifecycleOp {
			return lifecycleOp{use: "kill [OPTIONS] [SERVICE...]", short: "Force stop service containers", running: "Killing", done: "Killed",
				want: isRunning,
				run: func(ctx context.Context, api *client.Client, id string) error {
					return api.ContainerKill(ctx, id, signal)
				}}
		},
		func(cmd *cobra.Command) lifecycleOp {
			return lifecycleOp{use: "pause [SERVICE...]", short: "Pause services", running: "Pausing", done: "Paused",
				want: isRunning,
				run:  func(ctx context.Context, api *client.Client, id string) error { return api.ContainerPause(ctx, id) }}
		},
		func(cmd *cobra.Command) lifecycleOp {
			return lifecycleOp{use: "unpause [SERVICE...]", short: "Unpause services", running: "Unpausing", done: "Unpaused",
				want: func(s container.ContainerState) bool { return s == container.StatePaused },
				run:  func(ctx context.Context, api *client.Client, id string) error { return api.ContainerUnpause(ctx, id) }}
		},
		func(cmd *cobra.Command) lifecycleOp {
			return lifecycleOp{use: "rm [OPTIONS] [SERVICE...]", short: "Removes stopped service containers", running: "Removing", done: "Removed",
				want: func(s container.ContainerState) bool { return stop || !isRunning(s) },
				run: func(ctx context.Context, api *client.Client, id string) error {
					if stop {
						if err := api.ContainerStop(ctx, id, client.ContainerStopOptions{}); err != nil {
							return err
						}
					}
					return api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: volumes})
				}}
		},
	}
	for _, mk := range ops {
		cmd := &cobra.Command{}
		op := mk(cmd)
		cmd.Use, cmd.Short = op.use, op.short
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			return runLifecycle(cmd.Context(), c, o, op, args)
		}
		switch cmd.Name() {
		case "stop", "restart":
			cmd.Flags().IntVarP(&timeout, "timeout", "t", 10, "Specify a shutdown timeout in seconds")
		case "kill":
			cmd.Flags().StringVarP(&signal, "signal", "s", "SIGKILL", "SIGNAL to send to the container")
		case "rm":
			cmd.Flags().BoolVarP(&force, "force", "f", false, "Don't ask to confirm removal")
			cmd.Flags().BoolVarP(&stop, "stop", "s", false, "Stop the containers, if required, before removing")
			cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "Remove any anonymous volumes attached to containers")
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

func runLifecycle(ctx context.Context, c *command.CLI, o *composeOptions, op lifecycleOp, services []string) error {
	_, list, err := o.projectContainers(ctx, c, strings.Fields(op.done)[0])
	if err != nil {
		return err
	}
	apiClient, _ := c.Client()
	progress := compose.NewProgress(c.Err(), false, op.done)
	if o.progress == "quiet" {
		progress = nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, ctr := range list {
		if len(services) > 0 && !slices.Contains(services, ctr.Labels[compose.LabelService]) {
			continue
		}
		if !op.want(ctr.State) {
			continue
		}
		res := "Container " + strings.TrimPrefix(ctr.Names[0], "/")
		g.Go(func() error {
			progress.Event(res, op.running, false)
			if err := op.run(gctx, apiClient, ctr.ID); err != nil {
				return fmt.Errorf("%s: %w", res, err)
			}
			progress.Event(res, op.done, true)
			return nil
		})
	}
	return g.Wait()
}

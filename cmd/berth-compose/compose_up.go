package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth/berth/cmd/internal/command"
	"github.com/berth/berth/internal/compose"
	"github.com/spf13/cobra"
)

func newComposeUpCommand(c *command.CLI, o *composeOptions) *cobra.Command {
	var opts compose.UpOptions
	var detach bool
	var scale []string
	var timeout, waitTimeout int
	var wait bool
	cmd := &cobra.Command{
		Use:   "up [OPTIONS] [SERVICE...]",
		Short: "Create and start containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := o.load(ctx, args...)
			if err != nil {
				return err
			}
			if err := compose.ApplyScale(p, scale); err != nil {
				return err
			}
			if cmd.Flags().Changed("timeout") {
				opts.Timeout = &timeout
			}
			svc, err := o.service(c, "Running")
			if err != nil {
				return err
			}
			if err := svc.Up(ctx, p, opts); err != nil {
				return err
			}
			if wait {
				waitCtx := ctx
				if waitTimeout > 0 {
					var cancel context.CancelFunc
					waitCtx, cancel = context.WithTimeout(ctx, time.Duration(waitTimeout)*time.Second)
					defer cancel()
				}
				waiter, err := o.service(c, "Running")
				if err != nil {
					return err
				}
				if err := waiter.WaitHealthy(waitCtx, p); err != nil {
					if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
						return fmt.Errorf("timeout waiting for the project's containers to be running and healthy")
					}
					return err
				}
			}
			if detach || wait {
				return nil
			}
			var names []string
			list, _, err := svc.Containers(ctx, p.Name, false)
			if err != nil {
				return err
			}
			for _, ctr := range list {
				names = append(names, strings.TrimPrefix(strings.TrimPrefix(ctr.Names[0], "/"), p.Name+"-"))
			}
			fmt.Fprintf(c.Out(), "Attaching to %s\n", strings.Join(names, ", "))
			// Attached: follow the services' logs until they all exit or the user interrupts, then stop
			// the containers, as compose does.
			err = followLogs(ctx, c, p.Name, args, true, "all", false)
			if ctx.Err() == nil {
				return err
			}
			fmt.Fprintln(c.Err(), "Gracefully stopping... (press Ctrl+C again to force)")
			stopCtx := context.WithoutCancel(ctx)
			stopper, err := o.service(c, "Stopping")
			if err != nil {
				return err
			}
			var t *int
			if cmd.Flags().Changed("timeout") {
				t = &timeout
			}
			if err := stopper.Stop(stopCtx, p.Name, t); err != nil {
				return err
			}
			return ctx.Err()
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&detach, "detach", "d", false, "Detached mode: Run containers in the background")
	flags.BoolVar(&wait, "wait", false, "Wait for services to be running|healthy. Implies detached mode.")
	flags.IntVar(&waitTimeout, "wait-timeout", 0, "Maximum duration in seconds to wait for the project to be running|healthy")
	flags.BoolVar(&opts.Build, "build", false, "Build images before starting containers")
	flags.BoolVar(&opts.NoBuild, "no-build", false, "Don't build an image, even if it's policy")
	flags.BoolVar(&opts.ForceRecreate, "force-recreate", false, "Recreate containers even if their configuration and image haven't changed")
	flags.BoolVar(&opts.NoRecreate, "no-recreate", false, "If containers already exist, don't recreate them. Incompatible with --force-recreate.")
	flags.BoolVar(&opts.RemoveOrphans, "remove-orphans", false, "Remove containers for services not defined in the Compose file")
	flags.StringArrayVar(&scale, "scale", nil, "Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.")
	flags.IntVarP(&timeout, "timeout", "t", 10, "Use this timeout in seconds for container shutdown when attached or when containers are already running")
	return cmd
}

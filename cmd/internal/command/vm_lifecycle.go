package command

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	"github.com/spf13/cobra"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
)

// eachVM runs fn on every VM named, printing each name as done and each failure as it happens, as docker's
// container commands do.
func (c *CLI) eachVM(ctx context.Context, refs []string, fn func(context.Context, *client.Client, string) error) error {
	apiClient, err := c.Client()
	if err != nil {
		return err
	}
	failed := false
	for _, ref := range refs {
		if err := fn(ctx, apiClient, ref); err != nil {
			fmt.Fprintln(c.err, errorText(err))
			failed = true
			continue
		}
		fmt.Fprintln(c.out, ref)
	}
	if failed {
		return cli.StatusError{Status: "exit status 1", Code: 1}
	}
	return nil
}

func newVMStartCommand(c *CLI) *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] VM [VM...]",
		Short: "Start one or more stopped virtual machines",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.eachVM(cmd.Context(), args, func(ctx context.Context, api *client.Client, ref string) error {
				resp, err := api.VMStart(ctx, ref)
				if err != nil {
					return err
				}
				for _, w := range resp.Warnings {
					fmt.Fprintln(c.err, "WARNING:", w)
				}
				if detach {
					return nil
				}
				_, err = api.VMWait(ctx, ref, "running")
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "Return once the VMs are launched, before they have booted")
	return cmd
}

func newVMStopCommand(c *CLI) *cobra.Command {
	var (
		timeout int
		force   bool
	)
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] VM [VM...]",
		Short: "Stop one or more running virtual machines (their disks and addresses are kept)",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.eachVM(cmd.Context(), args, func(ctx context.Context, api *client.Client, ref string) error {
				return api.VMStop(ctx, ref, force, time.Duration(timeout)*time.Second)
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "time", "t", 0, "Seconds to wait for the guest to power off before killing it (default 60)")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Kill the VM without waiting for its guest to power off")
	return cmd
}

func newVMRestartCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "restart VM [VM...]",
		Short: "Reboot one or more running virtual machines",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.eachVM(cmd.Context(), args, func(ctx context.Context, api *client.Client, ref string) error {
				return api.VMRestart(ctx, ref)
			})
		},
	}
}

func newVMRmCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:         "rm [OPTIONS] VM [VM...]",
		Annotations: map[string]string{"aliases": joinAliases("vm rm", "vm remove", "vm terminate")},
		Aliases:     []string{"remove", "terminate"},
		Short:       "Terminate one or more virtual machines: their machine, disk, address and rules are removed",
		Args:        cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.eachVM(cmd.Context(), args, func(ctx context.Context, api *client.Client, ref string) error {
				inst, err := api.VMInspect(ctx, ref)
				if err != nil {
					if force && errdefs.IsNotFound(err) {
						return nil
					}
					return err
				}
				if err := api.VMRemove(ctx, ref, force); err != nil {
					return err
				}
				if dir, err := vmConfigDir(inst.ID); err == nil {
					removeAll(dir)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Terminate a running VM too")
	return cmd
}

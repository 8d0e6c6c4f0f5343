package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

type updateOptions struct {
	blkioWeight   uint16
	cpuPeriod     int64
	cpuQuota      int64
	cpuRtPeriod   int64
	cpuRtRuntime  int64
	cpusetCpus    string
	cpusetMems    string
	cpuShares     int64
	cpus          nanoCPUs
	memory        memBytes
	memoryReserve memBytes
	memorySwap    memSwapBytes
	pidsLimit     int64
	restartPolicy string
}

func newUpdateCommand(c *CLI) *cobra.Command {
	var opts updateOptions
	cmd := &cobra.Command{
		Use:         "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short:       "Update configuration of one or more containers",
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container update", "update")},
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().NFlag() == 0 {
				return errors.New("you must provide one or more flags when using this command")
			}
			update := container.UpdateConfig{Resources: container.Resources{
				BlkioWeight:        opts.blkioWeight,
				CpusetCpus:         opts.cpusetCpus,
				CpusetMems:         opts.cpusetMems,
				CPUShares:          opts.cpuShares,
				Memory:             int64(opts.memory),
				MemoryReservation:  int64(opts.memoryReserve),
				MemorySwap:         int64(opts.memorySwap),
				CPUPeriod:          opts.cpuPeriod,
				CPUQuota:           opts.cpuQuota,
				CPURealtimePeriod:  opts.cpuRtPeriod,
				CPURealtimeRuntime: opts.cpuRtRuntime,
				NanoCPUs:           int64(opts.cpus),
			}}
			if cmd.Flags().Changed("pids-limit") {
				update.PidsLimit = &opts.pidsLimit
			}
			if cmd.Flags().Changed("restart") {
				p, err := parseRestartPolicy(opts.restartPolicy)
				if err != nil {
					return err
				}
				update.RestartPolicy = p
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			return c.forEachContainer(cmd.Context(), args, func(ctx context.Context, name string) error {
				resp, err := apiClient.ContainerUpdate(ctx, name, update)
				for _, w := range resp.Warnings {
					fmt.Fprintln(c.err, w)
				}
				return err
			}, nil)
		},
	}
	flags := cmd.Flags()
	flags.Uint16Var(&opts.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	flags.Int64Var(&opts.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	flags.Int64Var(&opts.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	flags.Int64Var(&opts.cpuRtPeriod, "cpu-rt-period", 0, "Limit the CPU real-time period in microseconds")
	flags.Int64Var(&opts.cpuRtRuntime, "cpu-rt-runtime", 0, "Limit the CPU real-time runtime in microseconds")
	flags.StringVar(&opts.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	flags.StringVar(&opts.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	flags.Int64VarP(&opts.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	flags.Var(&opts.cpus, "cpus", "Number of CPUs")
	flags.VarP(&opts.memory, "memory", "m", "Memory limit")
	flags.Var(&opts.memoryReserve, "memory-reservation", "Memory soft limit")
	flags.Var(&opts.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	flags.Int64Var(&opts.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	flags.StringVar(&opts.restartPolicy, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}

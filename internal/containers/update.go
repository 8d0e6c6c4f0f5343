package containers

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth/berth/internal/events"
)

// Update changes a container's restart policy and resource limits (docker update). Limits of a running container
// are applied through the runtime's update command.
func (d *Service) Update(ctx context.Context, ref string, u container.UpdateConfig) ([]string, error) {
	c, err := d.containers.get(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	hc := *c.HostConfig
	if u.RestartPolicy.Name != "" {
		hc.RestartPolicy = u.RestartPolicy
	}
	r := u.Resources
	if r.Memory != 0 {
		hc.Memory = r.Memory
	}
	if r.MemorySwap != 0 {
		hc.MemorySwap = r.MemorySwap
	}
	if r.NanoCPUs != 0 {
		hc.NanoCPUs = r.NanoCPUs
	}
	if r.CPUShares != 0 {
		hc.CPUShares = r.CPUShares
	}
	if r.CpusetCpus != "" {
		hc.CpusetCpus = r.CpusetCpus
	}
	if r.PidsLimit != nil {
		hc.PidsLimit = r.PidsLimit
	}
	if err := d.validateHostConfig(&hc); err != nil {
		return nil, err
	}
	if c.running() {
		res := &specs.LinuxResources{}
		if hc.Memory > 0 {
			res.Memory = &specs.LinuxMemory{Limit: &hc.Memory}
		}
		if hc.NanoCPUs > 0 {
			period := uint64(100000)
			quota := hc.NanoCPUs * int64(period) / 1e9
			res.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
		}
		if hc.PidsLimit != nil && *hc.PidsLimit > 0 {
			res.Pids = &specs.LinuxPids{Limit: hc.PidsLimit}
		}
		if c.task == nil {
			return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", c.ID))
		}
		if err := c.task.Update(ctx, res); err != nil {
			return nil, err
		}
	}
	c.HostConfig = &hc
	if err := d.saveDurable(c); err != nil {
		return nil, err
	}
	d.containerEvent(c, events.ActionUpdate, nil)
	return []string{}, nil
}

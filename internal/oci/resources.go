package oci

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/blkiodev"
	"github.com/moby/moby/api/types/container"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	// minMemory is Docker's smallest --memory (6 MiB).
	minMemory = 6 << 20
	// cpuPeriod is the CFS period --cpus uses, in microseconds (100ms).
	cpuPeriod = 100000
)

// numCPU is the number of CPUs --cpus may ask for; a variable for tests.
var numCPU = runtime.NumCPU

func invalidf(format string, a ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, a...))
}

// SwapSupported reports whether the kernel can limit swap for containers: on cgroup v1 the memory controller has
// memory.memsw.limit_in_bytes; on v2 some cgroup below the root has memory.swap.max.
func SwapSupported(cgroupV2 bool) bool {
	if !cgroupV2 {
		_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
		return err == nil
	}
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/memory.swap.max")
	return len(matches) > 0
}

// resources converts HostConfig.Resources, validating them with Docker's messages.
func resources(in Input, hc *container.HostConfig) (*specs.LinuxResources, error) {
	r := hc.Resources
	mem, err := memoryResources(r, in.CgroupV2, in.SwapSupported)
	if err != nil {
		return nil, err
	}
	cpu, err := cpuResources(r)
	if err != nil {
		return nil, err
	}
	blkio, err := blkioResources(r)
	if err != nil {
		return nil, err
	}
	res := &specs.LinuxResources{Memory: mem, CPU: cpu, BlockIO: blkio}
	if r.PidsLimit != nil && *r.PidsLimit > 0 {
		res.Pids = &specs.LinuxPids{Limit: i64(*r.PidsLimit)}
	}
	return res, nil
}

func memoryResources(r container.Resources, cgroupV2, swapSupported bool) (*specs.LinuxMemory, error) {
	switch {
	case r.Memory < 0:
		return nil, invalidf("invalid memory limit: %d", r.Memory)
	case r.Memory > 0 && r.Memory < minMemory:
		return nil, invalidf("Minimum memory limit allowed is 6MB")
	case r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory:
		return nil, invalidf("Minimum memoryswap limit should be larger than memory limit, see usage")
	case r.Memory == 0 && r.MemorySwap > 0:
		return nil, invalidf("You should always set the Memory limit when using Memoryswap limit, see usage")
	case r.MemoryReservation < 0:
		return nil, invalidf("invalid memory reservation: %d", r.MemoryReservation)
	case r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation:
		return nil, invalidf("Minimum memory limit can not be less than memory reservation limit, see usage")
	case r.MemorySwappiness != nil && (*r.MemorySwappiness < -1 || *r.MemorySwappiness > 100):
		return nil, invalidf("Invalid value: %v, valid memory swappiness range is 0-100", *r.MemorySwappiness)
	}

	m := &specs.LinuxMemory{}
	if r.Memory > 0 {
		m.Limit = i64(r.Memory)
	}
	if r.MemoryReservation > 0 {
		m.Reservation = i64(r.MemoryReservation)
	}
	swap := r.MemorySwap
	if swap == 0 && r.Memory > 0 {
		swap = 2 * r.Memory // Docker's default: as much swap as memory
	}
	switch {
	case swap == 0:
	case !swapSupported:
		if r.MemorySwap != 0 {
			slog.Warn("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
		}
	default:
		m.Swap = i64(swap)
	}
	if r.MemorySwappiness != nil && *r.MemorySwappiness >= 0 {
		if cgroupV2 {
			slog.Warn("memory swappiness is not supported with cgroup v2; ignored")
		} else {
			v := uint64(*r.MemorySwappiness)
			m.Swappiness = &v
		}
	}
	if r.OomKillDisable != nil && *r.OomKillDisable {
		if cgroupV2 {
			slog.Warn("OOM killer disable is not supported with cgroup v2; ignored")
		} else {
			v := true
			m.DisableOOMKiller = &v
		}
	}
	return m, nil
}

func cpuResources(r container.Resources) (*specs.LinuxCPU, error) {
	n := numCPU()
	switch {
	case r.CPUShares < 0:
		return nil, invalidf("shares: invalid argument")
	case r.NanoCPUs != 0 && r.CPUPeriod != 0:
		return nil, invalidf("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	case r.NanoCPUs != 0 && r.CPUQuota != 0:
		return nil, invalidf("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
	case r.NanoCPUs < 0 || r.NanoCPUs > int64(n)*1e9 || r.NanoCPUs > 0 && r.NanoCPUs < 1e7:
		return nil, invalidf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
	case r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000):
		return nil, invalidf("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000)")
	case r.CPUQuota > 0 && r.CPUQuota < 1000:
		return nil, invalidf("CPU cfs quota can not be less than 1ms (i.e. 1000)")
	}
	if err := validateCPUList(r.CpusetCpus); err != nil {
		return nil, invalidf("Invalid value %s for cpuset cpus", r.CpusetCpus)
	}
	if err := validateCPUList(r.CpusetMems); err != nil {
		return nil, invalidf("Invalid value %s for cpuset mems", r.CpusetMems)
	}

	c := &specs.LinuxCPU{Cpus: r.CpusetCpus, Mems: r.CpusetMems}
	if r.CPUShares != 0 {
		v := uint64(r.CPUShares)
		c.Shares = &v
	}
	if r.NanoCPUs > 0 {
		period := uint64(cpuPeriod)
		c.Period = &period
		c.Quota = i64(r.NanoCPUs * cpuPeriod / 1e9)
	}
	if r.CPUPeriod != 0 {
		v := uint64(r.CPUPeriod)
		c.Period = &v
	}
	if r.CPUQuota != 0 {
		c.Quota = i64(r.CPUQuota)
	}
	if r.CPURealtimePeriod != 0 {
		v := uint64(r.CPURealtimePeriod)
		c.RealtimePeriod = &v
	}
	if r.CPURealtimeRuntime != 0 {
		c.RealtimeRuntime = i64(r.CPURealtimeRuntime)
	}
	return c, nil
}

// validateCPUList checks a cpuset list such as "0-3,5".
func validateCPUList(s string) error {
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return err
		}
		if isRange {
			b, err := strconv.ParseUint(hi, 10, 16)
			if err != nil {
				return err
			}
			if b < a {
				return fmt.Errorf("bad range %q", part)
			}
		}
	}
	return nil
}

func blkioResources(r container.Resources) (*specs.LinuxBlockIO, error) {
	if r.BlkioWeight != 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000) {
		return nil, invalidf("Range of blkio weight is from 10 to 1000")
	}
	b := &specs.LinuxBlockIO{}
	empty := true
	if r.BlkioWeight != 0 {
		w := r.BlkioWeight
		b.Weight = &w
		empty = false
	}
	for _, wd := range r.BlkioWeightDevice {
		if wd == nil {
			continue
		}
		major, minor, err := blockDevice(wd.Path)
		if err != nil {
			return nil, err
		}
		w := wd.Weight
		d := specs.LinuxWeightDevice{Weight: &w}
		d.Major, d.Minor = major, minor
		b.WeightDevice = append(b.WeightDevice, d)
		empty = false
	}
	for _, t := range []struct {
		in  []*blkiodev.ThrottleDevice
		out *[]specs.LinuxThrottleDevice
	}{
		{r.BlkioDeviceReadBps, &b.ThrottleReadBpsDevice},
		{r.BlkioDeviceWriteBps, &b.ThrottleWriteBpsDevice},
		{r.BlkioDeviceReadIOps, &b.ThrottleReadIOPSDevice},
		{r.BlkioDeviceWriteIOps, &b.ThrottleWriteIOPSDevice},
	} {
		for _, td := range t.in {
			if td == nil {
				continue
			}
			major, minor, err := blockDevice(td.Path)
			if err != nil {
				return nil, err
			}
			d := specs.LinuxThrottleDevice{Rate: td.Rate}
			d.Major, d.Minor = major, minor
			*t.out = append(*t.out, d)
			empty = false
		}
	}
	if empty {
		return nil, nil
	}
	return b, nil
}

func blockDevice(p string) (major, minor int64, err error) {
	d, err := deviceFromPath(p, p)
	if err != nil || d.Type != "b" {
		return 0, 0, invalidf("%s is not a block device", p)
	}
	return d.Major, d.Minor, nil
}

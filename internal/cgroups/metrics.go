package cgroups

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/berth/berth/internal/task"
)

// clockTicks is USER_HZ, the unit of /proc/stat and cpuacct.stat.
const clockTicks = 100

// V2 reports whether the host uses the unified hierarchy alone.
func V2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// ReadMetrics samples the counters of the cgroup at path (as an OCI spec's cgroupsPath names it, e.g.
// "/berth/<id>"), from the unified hierarchy when v2 is set, else from the v1 controllers. Files that cannot be
// read count as zero: a cgroup that is going away reports what is left.
func ReadMetrics(path string, v2 bool) *task.Metrics {
	m := &task.Metrics{Read: time.Now().UTC()}
	m.CPU.OnlineCPUs = uint32(runtime.NumCPU())
	m.CPU.System = systemCPUUsage()
	if v2 {
		base := filepath.Join("/sys/fs/cgroup", path)
		kv := readKV(filepath.Join(base, "cpu.stat"))
		m.CPU.Total = kv["usage_usec"] * 1000
		m.CPU.User = kv["user_usec"] * 1000
		m.CPU.Kernel = kv["system_usec"] * 1000
		m.CPU.Periods, m.CPU.ThrottledPeriods, m.CPU.ThrottledTime = kv["nr_periods"], kv["nr_throttled"], kv["throttled_usec"]*1000
		m.Memory.Usage = readUint(filepath.Join(base, "memory.current"))
		m.Memory.MaxUsage = readUint(filepath.Join(base, "memory.peak"))
		m.Memory.Limit = readLimit(filepath.Join(base, "memory.max"))
		m.Memory.Stats = readKV(filepath.Join(base, "memory.stat"))
		m.Pids.Current = readUint(filepath.Join(base, "pids.current"))
		m.Pids.Limit = readLimit(filepath.Join(base, "pids.max"))
	} else {
		acct := filepath.Join("/sys/fs/cgroup/cpuacct", path)
		m.CPU.Total = readUint(filepath.Join(acct, "cpuacct.usage"))
		kv := readKV(filepath.Join(acct, "cpuacct.stat"))
		m.CPU.User = kv["user"] * (1e9 / clockTicks)
		m.CPU.Kernel = kv["system"] * (1e9 / clockTicks)
		for _, f := range strings.Fields(readString(filepath.Join(acct, "cpuacct.usage_percpu"))) {
			v, _ := strconv.ParseUint(f, 10, 64)
			m.CPU.PerCPU = append(m.CPU.PerCPU, v)
		}
		thr := readKV(filepath.Join("/sys/fs/cgroup/cpu", path, "cpu.stat"))
		m.CPU.Periods, m.CPU.ThrottledPeriods, m.CPU.ThrottledTime = thr["nr_periods"], thr["nr_throttled"], thr["throttled_time"]
		mem := filepath.Join("/sys/fs/cgroup/memory", path)
		m.Memory.Usage = readUint(filepath.Join(mem, "memory.usage_in_bytes"))
		m.Memory.MaxUsage = readUint(filepath.Join(mem, "memory.max_usage_in_bytes"))
		m.Memory.Failcnt = readUint(filepath.Join(mem, "memory.failcnt"))
		m.Memory.Limit = readUint(filepath.Join(mem, "memory.limit_in_bytes"))
		m.Memory.Stats = readKV(filepath.Join(mem, "memory.stat"))
		m.Pids.Current = readUint(filepath.Join("/sys/fs/cgroup/pids", path, "pids.current"))
		m.Pids.Limit = readLimit(filepath.Join("/sys/fs/cgroup/pids", path, "pids.max"))
	}
	if total := HostMemory(); m.Memory.Limit == 0 || m.Memory.Limit > total {
		m.Memory.Limit = total
	}
	return m
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func readUint(path string) uint64 {
	v, _ := strconv.ParseUint(readString(path), 10, 64)
	return v
}

// readLimit reads a limit file where "max" means unlimited (0).
func readLimit(path string) uint64 {
	s := readString(path)
	if s == "max" {
		return 0
	}
	v, _ := strconv.ParseUint(s, 10, 64)
	return v
}

func readKV(path string) map[string]uint64 {
	out := map[string]uint64{}
	for _, line := range strings.Split(readString(path), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	return out
}

// systemCPUUsage is the host's total CPU time in nanoseconds, as docker computes it from /proc/stat.
func systemCPUUsage() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[0] == "cpu" {
			var total uint64
			for _, x := range fields[1:8] {
				v, _ := strconv.ParseUint(x, 10, 64)
				total += v
			}
			return total * (1e9 / clockTicks)
		}
	}
	return 0
}

// HostMemory is the host's total memory in bytes.
func HostMemory() uint64 {
	for _, line := range strings.Split(readString("/proc/meminfo"), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.ParseUint(f[1], 10, 64)
				return v * 1024
			}
		}
	}
	return 0
}

// SwapSupported says whether the kernel can limit a cgroup's swap (always on v2; on v1 when
// memory.memsw.limit_in_bytes exists). Without it a container's MemorySwap is ignored, as docker does.
func SwapSupported(v2 bool) bool {
	if v2 {
		return true
	}
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
}

// OOMFile is the file of the cgroup at path (an OCI cgroupsPath) that counts its OOM kills, as oom_kill N:
// memory.events on the unified hierarchy, memory.oom_control on v1.
func OOMFile(path string, v2 bool) string {
	if v2 {
		return filepath.Join("/sys/fs/cgroup", path, "memory.events")
	}
	return filepath.Join("/sys/fs/cgroup/memory", path, "memory.oom_control")
}

package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// clockTicks is USER_HZ, the unit of /proc/stat.
const clockTicks = 100

// Stats streams docker's stats document for a container once a second (or once, when !stream).
func (d *Daemon) Stats(ctx context.Context, ref string, stream, oneShot bool, out io.Writer) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	flusher, _ := out.(interface{ Flush() })
	var pre container.StatsResponse
	first := true
	for {
		cur := d.sample(c)
		if !first || !stream && !oneShot {
			cur.PreCPUStats = pre.CPUStats
			cur.PreRead = pre.Read
		}
		if !stream && !oneShot && first {
			// docker's one-shot-less single sample waits a second so CPU % has a baseline.
			pre = cur
			first = false
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		if err := enc.Encode(cur); err != nil {
			return nil
		}
		if flusher != nil {
			flusher.Flush()
		}
		if !stream {
			return nil
		}
		pre = cur
		first = false
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil
		}
	}
}

// sample reads the container's cgroup counters. A stopped container reports zeros, as docker does.
func (d *Daemon) sample(c *Container) container.StatsResponse {
	c.mu.Lock()
	id, name, running := c.ID, c.Name, c.running()
	c.mu.Unlock()
	s := container.StatsResponse{ID: id, Name: name, OSType: platformOS, Read: time.Now().UTC()}
	if !running {
		return s
	}
	cg := "berth/" + id
	s.CPUStats.OnlineCPUs = uint32(numCPU())
	s.CPUStats.SystemUsage = systemCPUUsage()
	if d.cgroupV2 {
		base := filepath.Join("/sys/fs/cgroup", cg)
		kv := readKV(filepath.Join(base, "cpu.stat"))
		s.CPUStats.CPUUsage.TotalUsage = kv["usage_usec"] * 1000
		s.CPUStats.CPUUsage.UsageInUsermode = kv["user_usec"] * 1000
		s.CPUStats.CPUUsage.UsageInKernelmode = kv["system_usec"] * 1000
		s.MemoryStats.Usage = readUint(filepath.Join(base, "memory.current"))
		s.MemoryStats.Limit = readLimit(filepath.Join(base, "memory.max"))
		s.MemoryStats.Stats = readKV(filepath.Join(base, "memory.stat"))
		s.PidsStats.Current = readUint(filepath.Join(base, "pids.current"))
		s.PidsStats.Limit = readLimit(filepath.Join(base, "pids.max"))
	} else {
		s.CPUStats.CPUUsage.TotalUsage = readUint(filepath.Join("/sys/fs/cgroup/cpuacct", cg, "cpuacct.usage"))
		kv := readKV(filepath.Join("/sys/fs/cgroup/cpuacct", cg, "cpuacct.stat"))
		s.CPUStats.CPUUsage.UsageInUsermode = kv["user"] * (1e9 / clockTicks)
		s.CPUStats.CPUUsage.UsageInKernelmode = kv["system"] * (1e9 / clockTicks)
		for _, f := range strings.Fields(readString(filepath.Join("/sys/fs/cgroup/cpuacct", cg, "cpuacct.usage_percpu"))) {
			v, _ := strconv.ParseUint(f, 10, 64)
			s.CPUStats.CPUUsage.PercpuUsage = append(s.CPUStats.CPUUsage.PercpuUsage, v)
		}
		mem := filepath.Join("/sys/fs/cgroup/memory", cg)
		s.MemoryStats.Usage = readUint(filepath.Join(mem, "memory.usage_in_bytes"))
		s.MemoryStats.MaxUsage = readUint(filepath.Join(mem, "memory.max_usage_in_bytes"))
		s.MemoryStats.Failcnt = readUint(filepath.Join(mem, "memory.failcnt"))
		s.MemoryStats.Limit = readUint(filepath.Join(mem, "memory.limit_in_bytes"))
		s.MemoryStats.Stats = readKV(filepath.Join(mem, "memory.stat"))
		s.PidsStats.Current = readUint(filepath.Join("/sys/fs/cgroup/pids", cg, "pids.current"))
		s.PidsStats.Limit = readLimit(filepath.Join("/sys/fs/cgroup/pids", cg, "pids.max"))
	}
	if total := hostMemory(); s.MemoryStats.Limit == 0 || s.MemoryStats.Limit > total {
		s.MemoryStats.Limit = total
	}
	return s
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

func hostMemory() uint64 {
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

// Top lists the container's processes with ps (default args "-ef"), keeping the rows whose PID belongs to it.
func (d *Daemon) Top(ctx context.Context, ref, psArgs string) (container.TopResponse, error) {
	c, err := d.containers.get(ref)
	if err != nil {
		return container.TopResponse{}, err
	}
	c.mu.Lock()
	running, paused := c.running(), c.State.Status == container.StatePaused
	c.mu.Unlock()
	if !running {
		return container.TopResponse{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", c.ID))
	}
	if paused {
		return container.TopResponse{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("Container %s is paused, unpause the container before top", c.ID))
	}
	rt, err := d.runtime(c.Runtime)
	if err != nil {
		return container.TopResponse{}, err
	}
	pids, err := rt.Pids(ctx, c.ID)
	if err != nil {
		return container.TopResponse{}, err
	}
	if psArgs == "" {
		psArgs = "-ef"
	}
	out, err := exec.CommandContext(ctx, "ps", strings.Fields(psArgs)...).Output()
	if err != nil {
		return container.TopResponse{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("ps: %v", err))
	}
	return parsePS(string(out), pids)
}

// parsePS keeps the rows of ps output whose PID column is one of pids.
func parsePS(out string, pids []int) (container.TopResponse, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 {
		return container.TopResponse{}, errdefs.ErrInvalidArgument.WithMessage("ps printed nothing")
	}
	titles := strings.Fields(lines[0])
	pidCol := -1
	for i, t := range titles {
		if t == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return container.TopResponse{}, errdefs.ErrInvalidArgument.WithMessage("Couldn't find PID field in ps output")
	}
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	resp := container.TopResponse{Titles: titles, Processes: [][]string{}}
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		if len(fields) <= pidCol {
			continue
		}
		pid, err := strconv.Atoi(fields[pidCol])
		if err != nil || !want[pid] {
			continue
		}
		// The last column (the command) keeps its spaces.
		row := fields[:len(titles)-1]
		row = append(append([]string{}, row...), strings.Join(fields[len(titles)-1:], " "))
		resp.Processes = append(resp.Processes, row)
	}
	return resp, nil
}

package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// Stats streams docker's stats document for a container once a second (or once, when !stream).
func (d *Service) Stats(ctx context.Context, ref string, stream, oneShot bool, out io.Writer) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	flusher, _ := out.(interface{ Flush() })
	var pre container.StatsResponse
	first := true
	for {
		cur := d.sample(ctx, c)
		if !first || !stream && !oneShot {
			cur.PreCPUStats = pre.CPUStats
			cur.PreRead = pre.Read
		}
		if !stream && !oneShot && first {
			// docker's one-shot-less single sample waits a second so CPU % has a baseline.
			pre = cur
			first = false
			select {
			case <-d.clock.After(time.Second):
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
		case <-d.clock.After(time.Second):
		case <-ctx.Done():
			return nil
		}
	}
}

// sample converts the task's metrics into docker's stats document. A stopped container reports zeros, as
// docker does.
func (d *Service) sample(ctx context.Context, c *Container) container.StatsResponse {
	c.mu.Lock()
	id, name, running, t := c.ID, c.Name, c.running(), c.task
	c.mu.Unlock()
	s := container.StatsResponse{ID: id, Name: name, OSType: platformOS, Read: d.clock.Now().UTC()}
	if !running || t == nil {
		return s
	}
	m, err := t.Metrics(ctx)
	if err != nil {
		return s
	}
	s.Read = m.Read
	s.CPUStats = container.CPUStats{
		CPUUsage: container.CPUUsage{TotalUsage: m.CPU.Total, UsageInUsermode: m.CPU.User, UsageInKernelmode: m.CPU.Kernel,
			PercpuUsage: m.CPU.PerCPU},
		SystemUsage:    m.CPU.System,
		OnlineCPUs:     m.CPU.OnlineCPUs,
		ThrottlingData: container.ThrottlingData{Periods: m.CPU.Periods, ThrottledPeriods: m.CPU.ThrottledPeriods, ThrottledTime: m.CPU.ThrottledTime},
	}
	s.MemoryStats = container.MemoryStats{Usage: m.Memory.Usage, MaxUsage: m.Memory.MaxUsage, Failcnt: m.Memory.Failcnt,
		Limit: m.Memory.Limit, Stats: m.Memory.Stats}
	s.PidsStats = container.PidsStats{Current: m.Pids.Current, Limit: m.Pids.Limit}
	if len(m.Networks) > 0 {
		s.Networks = map[string]container.NetworkStats{}
		for name, n := range m.Networks {
			s.Networks[name] = container.NetworkStats{RxBytes: n.RxBytes, RxPackets: n.RxPackets, RxErrors: n.RxErrors,
				RxDropped: n.RxDropped, TxBytes: n.TxBytes, TxPackets: n.TxPackets, TxErrors: n.TxErrors, TxDropped: n.TxDropped}
		}
	}
	return s
}

// Top lists the container's processes with ps (default args "-ef"), keeping the rows whose PID belongs to it.
func (d *Service) Top(ctx context.Context, ref, psArgs string) (container.TopResponse, error) {
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
	c.mu.Lock()
	t := c.task
	c.mu.Unlock()
	if t == nil {
		return container.TopResponse{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("container %s is not running", c.ID))
	}
	pids, err := t.Pids(ctx)
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

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

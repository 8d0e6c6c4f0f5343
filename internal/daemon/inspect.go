package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"

	"github.com/berth/berth/internal/containers"
)

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Inspect returns docker's inspect document for a container.
func (d *Daemon) Inspect(ctx context.Context, ref string, size bool) (container.InspectResponse, error) {
	c, err := d.containers.get(ref)
	if err != nil {
		return container.InspectResponse{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.State
	resp := container.InspectResponse{
		ID:      c.ID,
		Created: formatTime(c.Created),
		Path:    c.Path,
		Args:    append([]string{}, c.Args...),
		State: &container.State{
			Status:     st.Status,
			Running:    st.Status == container.StateRunning || st.Status == container.StatePaused,
			Paused:     st.Status == container.StatePaused,
			Restarting: st.Status == container.StateRestarting,
			OOMKilled:  st.OOMKilled,
			Dead:       st.Status == container.StateDead,
			Pid:        st.Pid,
			ExitCode:   st.ExitCode,
			Error:      st.Error,
			StartedAt:  formatTime(st.StartedAt),
			FinishedAt: formatTime(st.FinishedAt),
			Health:     copyHealth(st.Health),
		},
		Image:          c.ImageID,
		ResolvConfPath: c.ResolvConfPath,
		HostnamePath:   c.HostnamePath,
		HostsPath:      c.HostsPath,
		LogPath:        c.LogPath,
		Name:           c.Name,
		RestartCount:   c.RestartCount,
		Driver:         "overlay2",
		Platform:       platformOS,
		HostConfig:     c.HostConfig,
		Config:         c.Config,
		Mounts:         []container.MountPoint{},
		NetworkSettings: &container.NetworkSettings{
			Ports:    portMap(c),
			Networks: map[string]*network.EndpointSettings{},
		},
	}
	if st.Status == container.StateRunning || st.Status == container.StatePaused {
		resp.NetworkSettings.SandboxKey = fmt.Sprintf("/proc/%d/ns/net", st.Pid)
	}
	resp.NetworkSettings.Networks = d.endpointSettings(c)
	if usesBridge(c.HostConfig) && (st.Status == container.StateRunning || st.Status == container.StatePaused) {
		resp.NetworkSettings.SandboxKey = d.networks.SandboxPath(c.ID)
	}
	for _, m := range c.MountPoints {
		resp.Mounts = append(resp.Mounts, m.MountPoint)
	}
	resp.ExecIDs = d.execIDs(c.ID)
	if lowers, err := d.snapshots.LowersOf(ctx, c.ID); err == nil {
		dir := filepath.Join(d.cfg.DataRoot, "overlay", "containers", c.ID)
		resp.GraphDriver = &storage.DriverData{Name: "overlay2", Data: map[string]string{
			"LowerDir":  strings.Join(lowers, ":"),
			"UpperDir":  filepath.Join(dir, "upper"),
			"WorkDir":   filepath.Join(dir, "work"),
			"MergedDir": filepath.Join(dir, "merged"),
		}}
	}
	if size {
		c.mu.Unlock()
		rw := d.snapshots.Usage(ctx, c.ID)
		rootfs := rw + d.imageSize(ctx, resp.Image)
		resp.SizeRw, resp.SizeRootFs = &rw, &rootfs
		c.mu.Lock()
	}
	return resp, nil
}

func (d *Daemon) execIDs(containerID string) []string {
	d.execs.mu.Lock()
	defer d.execs.mu.Unlock()
	var ids []string
	for id, e := range d.execs.m {
		e.mu.Lock()
		if e.ContainerID == containerID && e.Running {
			ids = append(ids, id)
		}
		e.mu.Unlock()
	}
	return ids
}

// statusString is docker's human status column: "Up 3 seconds", "Exited (0) 5 seconds ago", ...
func statusString(st State, now time.Time) string {
	switch st.Status {
	case container.StateRunning:
		if st.Health != nil {
			return "Up " + units.HumanDuration(now.Sub(st.StartedAt)) + " (" + healthString(st.Health) + ")"
		}
		return "Up " + units.HumanDuration(now.Sub(st.StartedAt))
	case container.StatePaused:
		return "Up " + units.HumanDuration(now.Sub(st.StartedAt)) + " (Paused)"
	case container.StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, units.HumanDuration(now.Sub(st.FinishedAt)))
	case container.StateCreated:
		return "Created"
	case container.StateRemoving:
		return "Removal In Progress"
	case container.StateDead:
		return "Dead"
	case container.StateExited:
		if st.FinishedAt.IsZero() {
			return "Created"
		}
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, units.HumanDuration(now.Sub(st.FinishedAt)))
	}
	return string(st.Status)
}

// List returns containers, newest first, with docker's filters: id, name, label, status, exited, ancestor,
// before, since, volume, network, is-task.
func (d *Daemon) List(ctx context.Context, opts containers.ListOptions) ([]container.Summary, error) {
	for k := range opts.Filters {
		switch k {
		case "id", "name", "label", "status", "exited", "ancestor", "before", "since", "volume", "network", "is-task", "health", "publish", "expose":
		default:
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	for _, h := range opts.Filters["health"] {
		if err := container.ValidateHealthStatus(container.HealthStatus(h)); err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Unrecognised filter value for health: %s", h))
		}
	}
	for _, s := range opts.Filters["status"] {
		switch s {
		case "created", "restarting", "running", "removing", "paused", "exited", "dead":
		default:
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter 'status=%s'", s))
		}
	}
	all := d.containers.list()
	sort.Slice(all, func(i, j int) bool { return all[i].Created.After(all[j].Created) })
	var beforeT, sinceT time.Time
	if v := opts.Filters["before"]; len(v) > 0 {
		c, err := d.containers.get(v[0])
		if err != nil {
			return nil, err
		}
		beforeT = c.Created
	}
	if v := opts.Filters["since"]; len(v) > 0 {
		c, err := d.containers.get(v[0])
		if err != nil {
			return nil, err
		}
		sinceT = c.Created
	}
	// Resolve ancestors before taking container locks: the image store calls back into containers under its lock.
	ancestors := map[string]bool{}
	for _, v := range opts.Filters["ancestor"] {
		if img, err := d.images.Get(ctx, v); err == nil {
			ancestors[img.ID.String()] = true
		}
	}
	now := time.Now()
	out := []container.Summary{}
	for _, c := range all {
		c.mu.Lock()
		s, ok := d.summary(ctx, c, opts, now, beforeT, sinceT, ancestors)
		c.mu.Unlock()
		if !ok {
			continue
		}
		if opts.Size {
			s.SizeRw = d.snapshots.Usage(ctx, c.ID)
			s.SizeRootFs = s.SizeRw + d.imageSize(ctx, s.ImageID)
		}
		out = append(out, s)
		if opts.Limit > 0 && len(out) >= opts.Limit {
			break
		}
	}
	return out, nil
}

// summary builds c's row and applies the filters; the caller holds c.mu.
func (d *Daemon) summary(ctx context.Context, c *Container, opts containers.ListOptions, now, beforeT, sinceT time.Time, ancestors map[string]bool) (container.Summary, bool) {
	f := opts.Filters
	st := c.State.Status
	if c.removed {
		return container.Summary{}, false
	}
	if !opts.All && len(f["status"]) == 0 && len(f["exited"]) == 0 && st != container.StateRunning && st != container.StatePaused && st != container.StateRestarting {
		return container.Summary{}, false
	}
	anyOf := func(key string, ok func(string) bool) bool {
		vals := f[key]
		if len(vals) == 0 {
			return true
		}
		for _, v := range vals {
			if ok(v) {
				return true
			}
		}
		return false
	}
	name := strings.TrimPrefix(c.Name, "/")
	match := anyOf("id", func(v string) bool { return strings.HasPrefix(c.ID, v) }) &&
		anyOf("name", func(v string) bool { return strings.Contains(name, strings.TrimPrefix(v, "/")) }) &&
		anyOf("status", func(v string) bool { return v == string(st) }) &&
		anyOf("exited", func(v string) bool {
			return st == container.StateExited && c.HasBeenStarted && strconv.Itoa(c.State.ExitCode) == v
		}) &&
		// Every label filter must match, as in docker (compose selects project AND service AND oneoff).
		labelsMatch(c.Config.Labels, f["label"], nil) &&
		(len(f["ancestor"]) == 0 || ancestors[c.ImageID]) &&
		anyOf("volume", func(v string) bool {
			for _, m := range c.MountPoints {
				if m.Name == v || m.Destination == v || m.Source == v {
					return true
				}
			}
			return false
		}) &&
		anyOf("network", func(v string) bool { return v == string(c.HostConfig.NetworkMode) }) &&
		anyOf("is-task", func(v string) bool { return v == "false" }) &&
		anyOf("health", func(v string) bool { return v == string(healthStatus(c.State.Health)) })
	if !match {
		return container.Summary{}, false
	}
	if !beforeT.IsZero() && !c.Created.Before(beforeT) {
		return container.Summary{}, false
	}
	if !sinceT.IsZero() && !c.Created.After(sinceT) {
		return container.Summary{}, false
	}
	cmd := c.Path
	if len(c.Args) > 0 {
		cmd += " " + strings.Join(c.Args, " ")
	}
	s := container.Summary{
		ID:              c.ID,
		Names:           []string{c.Name},
		Image:           c.Config.Image,
		ImageID:         c.ImageID,
		Command:         cmd,
		Created:         c.Created.Unix(),
		Ports:           portSummaries(c),
		Labels:          c.Config.Labels,
		State:           st,
		Status:          statusString(c.State, now),
		Mounts:          []container.MountPoint{},
		NetworkSettings: &container.NetworkSettingsSummary{Networks: d.endpointSettings(c)},
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	if h := c.State.Health; h != nil {
		s.Health = &container.HealthSummary{Status: h.Status, FailingStreak: h.FailingStreak}
	}
	for _, m := range c.MountPoints {
		s.Mounts = append(s.Mounts, m.MountPoint)
	}
	return s, true
}

// healthStatus is the value the "health" filter matches: the status, or "none" without a health check.
func healthStatus(h *container.Health) container.HealthStatus {
	if h == nil {
		return container.NoHealthcheck
	}
	return h.Status
}

// copyHealth copies h for a response built while the container's lock is held.
func copyHealth(h *container.Health) *container.Health {
	if h == nil {
		return nil
	}
	out := &container.Health{Status: h.Status, FailingStreak: h.FailingStreak, Log: make([]*container.HealthcheckResult, len(h.Log))}
	for i, r := range h.Log {
		rc := *r
		out.Log[i] = &rc
	}
	return out
}

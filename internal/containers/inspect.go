package containers

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"

	"github.com/berth/berth/internal/state"
)

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Inspect returns docker's inspect document for a container.
func (d *Service) Inspect(ctx context.Context, ref string, size bool) (container.InspectResponse, error) {
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
		upper := d.snapshots.Upper(c.ID)
		dir := filepath.Dir(upper)
		resp.GraphDriver = &storage.DriverData{Name: "overlay2", Data: map[string]string{
			"LowerDir":  strings.Join(lowers, ":"),
			"UpperDir":  upper,
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

func (d *Service) execIDs(containerID string) []string {
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

// List returns containers, newest first, with docker's filters (see psFilter). It reads the view store's
// snapshot: no container's lock is taken, so a listing never waits behind a start or a stop.
func (d *Service) List(ctx context.Context, opts ListOptions) ([]container.Summary, error) {
	snap := d.views.Snapshot()
	all := snap.List()
	sort.Slice(all, func(i, j int) bool { return all[i].Created.After(all[j].Created) })
	ids := make([]string, len(all))
	for i, c := range all {
		ids[i] = c.ID
	}
	filter, err := newPsFilter(opts.Filters, opts.All, opts.Limit, psLookup{
		ids: ids,
		created: func(ref string) (time.Time, error) {
			c, err := d.containers.get(ref)
			if err != nil {
				return time.Time{}, err
			}
			v, _, ok := snap.Get(c.ID)
			if !ok {
				return time.Time{}, errdefs.ErrNotFound.WithMessage("No such container: " + ref)
			}
			return v.Created, nil
		},
		lineage: func(ref string) ([]string, error) {
			ds, err := d.images.Descendants(ctx, ref)
			out := make([]string, len(ds))
			for i, id := range ds {
				out[i] = id.String()
			}
			return out, err
		},
	})
	if err != nil {
		return nil, err
	}
	now := d.clock.Now()
	out := []container.Summary{}
	for _, c := range all {
		s, ok := d.summary(ctx, c, filter, now)
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

// Snapshot returns every container's view at one revision of the view store: consistent, and immutable.
func (d *Service) Snapshot() *state.Snapshot[*Container] { return d.views.Snapshot() }

// Watch streams the changes of the containers' views after revision rev (0: from now on); see state.Watch.
func (d *Service) Watch(rev int64) *state.Watch[*Container] { return d.views.Watch(rev) }

// summary builds the row of c, a view, and applies the filters.
func (d *Service) summary(ctx context.Context, c *Container, filter *psFilter, now time.Time) (container.Summary, bool) {
	st := c.State.Status
	if c.removed {
		return container.Summary{}, false
	}
	row := psRow{ID: c.ID, Name: c.Name, ImageID: c.ImageID, State: st, Started: c.HasBeenStarted, ExitCode: c.State.ExitCode,
		Created: c.Created, Labels: c.Config.Labels, Health: healthStatus(c.State.Health)}
	for _, m := range c.MountPoints {
		row.Mounts = append(row.Mounts, m.MountPoint)
	}
	if !filter.include(row) {
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
	return s, filter.includeSummary(s)
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

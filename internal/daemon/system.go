package daemon

import (
	"context"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/cgroups"
	"github.com/berth/berth/internal/containers"
	"github.com/berth/berth/internal/version"
)

func numCPU() int { return goruntime.NumCPU() }

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func operatingSystem() string {
	for _, line := range strings.Split(readString("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

// KernelVersion is the host kernel's release.
func (d *Daemon) KernelVersion() string { return kernelVersion() }

// Info describes this daemon for GET /info.
func (d *Daemon) Info(ctx context.Context) system.Info {
	info := system.Info{
		ID:                 "berth",
		Driver:             "overlay2",
		DriverStatus:       [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}},
		Plugins:            system.PluginsInfo{Volume: []string{"local"}, Network: []string{"host", "null"}, Log: []string{"json-file"}},
		MemoryLimit:        true,
		SwapLimit:          swapSupported(d.cgroupV2),
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		CPUShares:          true,
		CPUSet:             true,
		PidsLimit:          true,
		Debug:              d.cfg.Debug,
		NGoroutines:        goruntime.NumGoroutine(),
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		LoggingDriver:      "json-file",
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      "1",
		KernelVersion:      kernelVersion(),
		OperatingSystem:    operatingSystem(),
		OSType:             platformOS,
		Architecture:       unameMachine(),
		IndexServerAddress: "https://index.docker.io/v1/",
		NCPU:               numCPU(),
		MemTotal:           int64(cgroups.HostMemory()),
		DockerRootDir:      d.cfg.DataRoot,
		ServerVersion:      version.Version,
		Runtimes:           map[string]system.RuntimeWithStatus{},
		DefaultRuntime:     d.cfg.DefaultRuntime,
		LiveRestoreEnabled: true,
		InitBinary:         "docker-init",
		SecurityOptions:    []string{"name=cgroupns"},
		Warnings:           []string{},
		Labels:             []string{},
		RegistryConfig:     d.registries.ServiceConfig(),
	}
	if d.cgroupV2 {
		info.CgroupVersion = "2"
	}
	if h, err := os.Hostname(); err == nil {
		info.Name = h
	}
	for name, rt := range d.runtimes {
		info.Runtimes[name] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: rt.Path, Args: rt.Args}}
	}
	for _, c := range d.containers.list() {
		c.mu.Lock()
		info.Containers++
		switch c.State.Status {
		case container.StateRunning:
			info.ContainersRunning++
		case container.StatePaused:
			info.ContainersPaused++
		default:
			info.ContainersStopped++
		}
		c.mu.Unlock()
	}
	if list, err := d.images.List(ctx, false, nil); err == nil {
		info.Images = len(list)
	}
	return info
}

func unameMachine() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return platformArch
	}
	return unix.ByteSliceToString(u.Machine[:])
}

// PruneContainers removes every stopped container matching the filters (label, until).
func (d *Daemon) PruneContainers(ctx context.Context, filters map[string][]string) (container.PruneReport, error) {
	report := container.PruneReport{ContainersDeleted: []string{}}
	until := time.Time{}
	if v := filters["until"]; len(v) > 0 {
		t, err := parseFilterTime(v[0])
		if err != nil {
			return report, err
		}
		until = t
	}
	for _, c := range d.containers.list() {
		c.mu.Lock()
		st := c.State.Status
		labels := c.Config.Labels
		created := c.Created
		c.mu.Unlock()
		if st == container.StateRunning || st == container.StatePaused || st == container.StateRestarting || st == container.StateRemoving {
			continue
		}
		if !until.IsZero() && !created.Before(until) {
			continue
		}
		if !labelsMatch(labels, filters["label"], filters["label!"]) {
			continue
		}
		size := d.snapshots.Usage(ctx, c.ID)
		if err := d.Remove(ctx, c.ID, containers.RemoveOptions{}); err != nil {
			continue
		}
		report.ContainersDeleted = append(report.ContainersDeleted, c.ID)
		report.SpaceReclaimed += uint64(size)
	}
	d.events.Publish(events.ContainerEventType, events.ActionPrune, "", map[string]string{"reclaimed": itoa(int64(report.SpaceReclaimed))})
	return report, nil
}

func labelsMatch(labels map[string]string, want, notWant []string) bool {
	has := func(f string) bool {
		k, v, hasV := strings.Cut(f, "=")
		got, ok := labels[k]
		return ok && (!hasV || got == v)
	}
	for _, f := range want {
		if !has(f) {
			return false
		}
	}
	for _, f := range notWant {
		if has(f) {
			return false
		}
	}
	return true
}

// parseFilterTime parses docker's "until"/"since" filter values: unix timestamps, RFC3339 or durations like 24h.
func parseFilterTime(v string) (time.Time, error) {
	if dur, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-dur), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	return parseUnixTime(v)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

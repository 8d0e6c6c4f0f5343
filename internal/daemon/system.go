package daemon

import (
	"context"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/cgroups"
	"github.com/berth/berth/internal/distribution"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/oci"
	"github.com/berth/berth/internal/sysinfo"
	"github.com/berth/berth/internal/version"
	"github.com/berth/berth/internal/volume"
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

// Info describes this daemon in Berth's terms; the server builds docker's /info from it.
func (d *Daemon) Info(ctx context.Context) sysinfo.Info {
	info := sysinfo.Info{
		ID:          "berth",
		Version:     version.Version,
		DataRoot:    d.cfg.DataRoot,
		Debug:       d.cfg.Debug,
		LiveRestore: true,
		Time:        time.Now(),
		Goroutines:  goruntime.NumGoroutine(),
		Host: sysinfo.Host{
			Kernel:          kernelVersion(),
			OperatingSystem: operatingSystem(),
			OS:              "linux",
			Architecture:    unameMachine(),
			CPUs:            numCPU(),
			Memory:          int64(cgroups.HostMemory()),
		},
		Storage: sysinfo.Storage{Driver: "overlay2", Status: [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}}},
		Cgroups: sysinfo.Cgroups{
			Driver: "cgroupfs", Version: "1",
			MemoryLimit: true, SwapLimit: cgroups.SwapSupported(d.cgroupV2),
			CPUCfsPeriod: true, CPUCfsQuota: true, CPUShares: true, CPUSet: true, PidsLimit: true,
		},
		Runtimes:        map[string]sysinfo.Runtime{},
		DefaultRuntime:  d.cfg.DefaultRuntime,
		InitBinary:      "docker-init",
		LoggingDriver:   "json-file",
		VolumeDrivers:   []string{volume.DriverName},
		NetworkDrivers:  []string{"bridge", "host", "null"},
		LogDrivers:      []string{"json-file"},
		SecurityOptions: d.securityOptions(),
		Registries:      registriesInfo(d.registries.Settings()),
	}
	if d.cgroupV2 {
		info.Cgroups.Version = "2"
	}
	if h, err := os.Hostname(); err == nil {
		info.Name = h
	}
	for name, rt := range d.runtimes {
		info.Runtimes[name] = sysinfo.Runtime{Path: rt.Path, Args: rt.Args}
	}
	c := &info.Containers
	c.Total, c.Running, c.Paused, c.Stopped = d.containers.Counts()
	if list, err := d.images.List(ctx, false, filters.Args{}); err == nil {
		info.Images = len(list)
	}
	return info
}

// registriesInfo is the registry settings in the description's terms.
func registriesInfo(st distribution.Settings) sysinfo.Registries {
	r := sysinfo.Registries{InsecureCIDRs: st.InsecureCIDRs, InsecureHosts: st.InsecureHosts}
	for _, m := range st.Mirrors {
		r.Mirrors = append(r.Mirrors, m.String())
	}
	return r
}

func unameMachine() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return goruntime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// securityOptions are /info's: the seccomp profile in force, AppArmor when the host has it, the cgroup namespace.
func (d *Daemon) securityOptions() []string {
	var out []string
	if d.appArmorProfile != "" {
		out = append(out, "name=apparmor")
	}
	switch d.cfg.SeccompProfile {
	case "", oci.SeccompBuiltin:
		out = append(out, "name=seccomp,profile=builtin")
	case oci.SeccompUnconfined:
		out = append(out, "name=seccomp,profile=unconfined")
	default:
		out = append(out, "name=seccomp,profile="+d.cfg.SeccompProfile)
	}
	return append(out, "name=cgroupns")
}

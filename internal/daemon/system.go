package daemon

import (
	"context"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/cgroups"
	"github.com/berth/berth/internal/distribution"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/oci"
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
		SwapLimit:          cgroups.SwapSupported(d.cgroupV2),
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
		OSType:             "linux",
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
		SecurityOptions:    d.securityOptions(),
		Warnings:           []string{},
		Labels:             []string{},
		RegistryConfig:     registryConfig(d.registries.Settings()),
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
	info.Containers, info.ContainersRunning, info.ContainersPaused, info.ContainersStopped = d.containers.Counts()
	if list, err := d.images.List(ctx, false, filters.Args{}); err == nil {
		info.Images = len(list)
	}
	return info
}

// registryConfig is Info's RegistryConfig, shaped like dockerd's: docker.io is official and secure, each
// insecure registry gets an index entry of its own.
func registryConfig(st distribution.Settings) *registry.ServiceConfig {
	sc := &registry.ServiceConfig{
		InsecureRegistryCIDRs: st.InsecureCIDRs,
		IndexConfigs:          map[string]*registry.IndexInfo{},
		Mirrors:               []string{},
	}
	for _, m := range st.Mirrors {
		sc.Mirrors = append(sc.Mirrors, m.String()+"/")
	}
	sc.IndexConfigs[distribution.DockerHubDomain] = &registry.IndexInfo{Name: distribution.DockerHubDomain, Mirrors: sc.Mirrors, Secure: true, Official: true}
	for _, h := range st.InsecureHosts {
		sc.IndexConfigs[h] = &registry.IndexInfo{Name: h, Mirrors: []string{}, Secure: false}
	}
	return sc
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

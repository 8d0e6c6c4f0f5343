package server

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"

	"github.com/berth/berth/internal/sysinfo"
)

// GET /info is docker's Info built from Berth's description of the engine: every field the docker CLI's
// `info` prints comes from it.
func TestInfoRoute(t *testing.T) {
	e := newFakeEngine()
	e.system.info = sysinfo.Info{
		ID: "berth", Name: "node-1", Version: "0.1.0", DataRoot: "/var/lib/berth", Debug: true, LiveRestore: true,
		Time: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC), Goroutines: 42,
		Host: sysinfo.Host{Kernel: "6.1.0", OperatingSystem: "Debian GNU/Linux 12 (bookworm)", OS: "linux",
			Architecture: "x86_64", CPUs: 8, Memory: 16 << 30},
		Storage: sysinfo.Storage{Driver: "overlay2", Status: [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}}},
		Cgroups: sysinfo.Cgroups{Driver: "cgroupfs", Version: "2", MemoryLimit: true, SwapLimit: true,
			CPUCfsPeriod: true, CPUCfsQuota: true, CPUShares: true, CPUSet: true, PidsLimit: true},
		Containers:      sysinfo.ContainerCounts{Total: 5, Running: 2, Paused: 1, Stopped: 2},
		Images:          3,
		Runtimes:        map[string]sysinfo.Runtime{"runc": {Path: "/usr/bin/runc"}, "crun": {Path: "/usr/bin/crun", Args: []string{"--debug"}}},
		DefaultRuntime:  "runc",
		InitBinary:      "docker-init",
		LoggingDriver:   "json-file",
		VolumeDrivers:   []string{"local"},
		NetworkDrivers:  []string{"bridge", "host", "null"},
		LogDrivers:      []string{"json-file"},
		SecurityOptions: []string{"name=cgroupns"},
		Registries: sysinfo.Registries{InsecureCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			InsecureHosts: []string{"reg.local:5000"}, Mirrors: []string{"https://mirror.example"}},
	}
	_, c := e.serve(t)
	got, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := system.Info{
		ID: "berth", Name: "node-1", ServerVersion: "0.1.0", DockerRootDir: "/var/lib/berth", Debug: true, LiveRestoreEnabled: true,
		SystemTime: "2025-01-02T03:04:05.000000006Z", NGoroutines: 42,
		KernelVersion: "6.1.0", OperatingSystem: "Debian GNU/Linux 12 (bookworm)", OSType: "linux", Architecture: "x86_64",
		NCPU: 8, MemTotal: 16 << 30,
		Driver: "overlay2", DriverStatus: [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}},
		CgroupDriver: "cgroupfs", CgroupVersion: "2", MemoryLimit: true, SwapLimit: true,
		CPUCfsPeriod: true, CPUCfsQuota: true, CPUShares: true, CPUSet: true, PidsLimit: true,
		Containers: 5, ContainersRunning: 2, ContainersPaused: 1, ContainersStopped: 2, Images: 3,
		Runtimes: map[string]system.RuntimeWithStatus{
			"runc": {Runtime: system.Runtime{Path: "/usr/bin/runc"}},
			"crun": {Runtime: system.Runtime{Path: "/usr/bin/crun", Args: []string{"--debug"}}}},
		DefaultRuntime: "runc", InitBinary: "docker-init", LoggingDriver: "json-file",
		Plugins:            system.PluginsInfo{Volume: []string{"local"}, Network: []string{"bridge", "host", "null"}, Log: []string{"json-file"}},
		SecurityOptions:    []string{"name=cgroupns"},
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig: &registry.ServiceConfig{
			InsecureRegistryCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			IndexConfigs: map[string]*registry.IndexInfo{
				"docker.io":      {Name: "docker.io", Mirrors: []string{"https://mirror.example/"}, Secure: true, Official: true},
				"reg.local:5000": {Name: "reg.local:5000", Mirrors: []string{}, Secure: false},
			},
			Mirrors: []string{"https://mirror.example/"},
		},
		Swarm:    swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
		Labels:   []string{},
		Warnings: []string{},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("info:\n%s\nwant:\n%s", g, w)
	}
}

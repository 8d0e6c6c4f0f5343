// Package sysinfo is how a Berth engine describes itself to its front ends, in Berth's terms: the host it runs
// on, its storage, its OCI runtimes and the cgroup features containers get, its object counts and its registry
// settings. The daemon fills an Info; the Docker API's GET /info is built from it at the server's edge, and a
// cluster node's or a cloud endpoint's description can be.
package sysinfo

import (
	"net/netip"
	"time"
)

// Info describes one engine at one moment.
type Info struct {
	// ID identifies the engine; Name is the host's name.
	ID, Name string
	// Version is Berth's version.
	Version string
	// DataRoot is where the engine keeps its state.
	DataRoot string
	Debug    bool
	// LiveRestore: containers keep running while the engine is down (always, in Berth).
	LiveRestore bool
	// Time is when the description was taken; Goroutines the engine's at that time.
	Time       time.Time
	Goroutines int

	Host       Host
	Storage    Storage
	Cgroups    Cgroups
	Containers ContainerCounts
	Images     int

	// Runtimes are the OCI runtimes by name; DefaultRuntime names the one containers get by default.
	Runtimes       map[string]Runtime
	DefaultRuntime string
	// InitBinary is the name of the init --init runs in a container.
	InitBinary string
	// LoggingDriver is the default log driver.
	LoggingDriver string
	// VolumeDrivers, NetworkDrivers and LogDrivers are the drivers the engine has.
	VolumeDrivers, NetworkDrivers, LogDrivers []string
	// SecurityOptions are the engine's confinement features, in docker's "name=value" form.
	SecurityOptions []string
	Registries      Registries
	Labels          []string
	Warnings        []string
}

// Host is the machine the engine runs on.
type Host struct {
	// Kernel is the kernel's release; OperatingSystem the distribution's name; OS the kernel's kind ("linux").
	Kernel, OperatingSystem, OS string
	// Architecture is the machine's (uname -m).
	Architecture string
	CPUs         int
	// Memory is the host's memory in bytes.
	Memory int64
}

// Storage is how container filesystems are stored.
type Storage struct {
	// Driver is the snapshot driver ("overlay2"); Status its details as name/value pairs, in order.
	Driver string
	Status [][2]string
}

// Cgroups are the control groups containers run in and the limits they support.
type Cgroups struct {
	// Driver manages them ("cgroupfs"); Version is "1" or "2".
	Driver, Version string

	MemoryLimit, SwapLimit                       bool
	CPUCfsPeriod, CPUCfsQuota, CPUShares, CPUSet bool
	PidsLimit                                    bool
}

// ContainerCounts are the containers by state.
type ContainerCounts struct {
	Total, Running, Paused, Stopped int
}

// Runtime is one OCI runtime: its binary and the arguments it is always given.
type Runtime struct {
	Path string
	Args []string
}

// Registries are the registry settings images are pulled and pushed with.
type Registries struct {
	// InsecureCIDRs and InsecureHosts are the registries reached without TLS verification.
	InsecureCIDRs []netip.Prefix
	InsecureHosts []string
	// Mirrors are the URLs of Docker Hub's pull-through mirrors, in the order they are tried.
	Mirrors []string
}

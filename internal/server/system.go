package server

import (
	"net/http"
	goruntime "runtime"
	"slices"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	volumetypes "github.com/moby/moby/api/types/volume"
	"github.com/opencontainers/go-digest"

	"github.com/berth/berth/internal/containers"
	"github.com/berth/berth/internal/distribution"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/sysinfo"
	"github.com/berth/berth/internal/version"
)

// info is GET /info: the engine's description, in docker's shape.
func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	info := infoResponse(s.b.System.Info(r.Context()))
	info.Swarm = swarmInfo(s.b.Swarm.Info(r.Context()))
	writeJSON(w, 200, info)
}

// infoResponse builds docker's Info from Berth's description of the engine.
func infoResponse(in sysinfo.Info) system.Info {
	info := system.Info{
		ID:                 in.ID,
		Name:               in.Name,
		ServerVersion:      in.Version,
		DockerRootDir:      in.DataRoot,
		Debug:              in.Debug,
		LiveRestoreEnabled: in.LiveRestore,
		SystemTime:         in.Time.Format(time.RFC3339Nano),
		NGoroutines:        in.Goroutines,
		KernelVersion:      in.Host.Kernel,
		OperatingSystem:    in.Host.OperatingSystem,
		OSType:             in.Host.OS,
		Architecture:       in.Host.Architecture,
		NCPU:               in.Host.CPUs,
		MemTotal:           in.Host.Memory,
		Driver:             in.Storage.Driver,
		DriverStatus:       in.Storage.Status,
		CgroupDriver:       in.Cgroups.Driver,
		CgroupVersion:      in.Cgroups.Version,
		MemoryLimit:        in.Cgroups.MemoryLimit,
		SwapLimit:          in.Cgroups.SwapLimit,
		CPUCfsPeriod:       in.Cgroups.CPUCfsPeriod,
		CPUCfsQuota:        in.Cgroups.CPUCfsQuota,
		CPUShares:          in.Cgroups.CPUShares,
		CPUSet:             in.Cgroups.CPUSet,
		PidsLimit:          in.Cgroups.PidsLimit,
		Containers:         in.Containers.Total,
		ContainersRunning:  in.Containers.Running,
		ContainersPaused:   in.Containers.Paused,
		ContainersStopped:  in.Containers.Stopped,
		Images:             in.Images,
		Runtimes:           map[string]system.RuntimeWithStatus{},
		DefaultRuntime:     in.DefaultRuntime,
		InitBinary:         in.InitBinary,
		LoggingDriver:      in.LoggingDriver,
		Plugins:            system.PluginsInfo{Volume: in.VolumeDrivers, Network: in.NetworkDrivers, Log: in.LogDrivers},
		SecurityOptions:    nonNil(in.SecurityOptions),
		IndexServerAddress: "https://index.docker.io/v1/",
		RegistryConfig:     registryConfig(in.Registries),
		// The swarm section is the swarm backend's (info, above); outside a swarm, docker's words for that.
		Swarm:    swarm.Info{LocalNodeState: swarm.LocalNodeStateInactive},
		Labels:   nonNil(in.Labels),
		Warnings: nonNil(in.Warnings),
	}
	for name, rt := range in.Runtimes {
		info.Runtimes[name] = system.RuntimeWithStatus{Runtime: system.Runtime{Path: rt.Path, Args: rt.Args}}
	}
	return info
}

// registryConfig is docker's view of the registry settings: Docker Hub's index with its mirrors, and one
// insecure index per insecure host.
func registryConfig(r sysinfo.Registries) *registry.ServiceConfig {
	sc := &registry.ServiceConfig{
		InsecureRegistryCIDRs: slices.Clone(r.InsecureCIDRs),
		IndexConfigs:          map[string]*registry.IndexInfo{},
		Mirrors:               []string{},
	}
	for _, m := range r.Mirrors {
		sc.Mirrors = append(sc.Mirrors, m+"/") // dockerd shows mirrors with a trailing slash
	}
	sc.IndexConfigs[distribution.DockerHubDomain] = &registry.IndexInfo{Name: distribution.DockerHubDomain, Mirrors: sc.Mirrors, Secure: true, Official: true}
	for _, h := range r.InsecureHosts {
		sc.IndexConfigs[h] = &registry.IndexInfo{Name: h, Mirrors: []string{}, Secure: false}
	}
	return sc
}

// nonNil is s, or an empty slice: docker sends [] rather than null for these lists.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// version is GET /version: Berth's version and the API versions it speaks.
func (s *Server) version() system.VersionResponse {
	kernel := s.b.System.KernelVersion()
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "Berth Engine"},
		Version:       version.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            "linux",
		Arch:          goruntime.GOARCH,
		GoVersion:     goruntime.Version(),
		KernelVersion: kernel,
		Components: []system.ComponentVersion{{Name: "Engine", Version: version.Version, Details: map[string]string{
			"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "Os": "linux", "Arch": goruntime.GOARCH,
			"GoVersion": goruntime.Version(), "KernelVersion": kernel,
		}}},
	}
}

// legacyDiskUsage is /system/df as API versions before 1.52 shape it (the docker CLI 28 reads this one).
type legacyDiskUsage struct {
	LayersSize int64
	Images     []image.Summary
	Containers []container.Summary
	Volumes    []volumetypes.Volume
	BuildCache []struct{}
}

func (s *Server) systemDF(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	imgs, err := s.b.Images.List(ctx, false, filters.Args{})
	if err != nil {
		writeError(w, err)
		return
	}
	ctrs, err := s.b.Containers.List(ctx, containers.ListOptions{All: true, Size: true})
	if err != nil {
		writeError(w, err)
		return
	}
	vols, err := s.b.Volumes.List(ctx, filters.Args{})
	if err != nil {
		writeError(w, err)
		return
	}
	du := legacyDiskUsage{Images: []image.Summary{}, Containers: ctrs, Volumes: make([]volumetypes.Volume, len(vols)), BuildCache: []struct{}{}}
	// An image's SharedSize counts its layers that other images use too; LayersSize counts each layer once, as
	// dockerd's disk usage does.
	users := map[digest.Digest]int{}
	for _, img := range imgs {
		for _, l := range img.Layers {
			if users[l.ChainID]++; users[l.ChainID] == 1 {
				du.LayersSize += l.Size
			}
		}
	}
	for _, img := range imgs {
		sum := imageSummary(img)
		sum.SharedSize = 0
		for _, l := range img.Layers {
			if users[l.ChainID] > 1 {
				sum.SharedSize += l.Size
			}
		}
		du.Images = append(du.Images, sum)
	}
	for i := range du.Images {
		n := int64(0)
		for _, c := range ctrs {
			if c.ImageID == du.Images[i].ID {
				n++
			}
		}
		du.Images[i].Containers = n
	}
	for i, v := range vols {
		du.Volumes[i] = volumeResponse(v)
		if u, err := s.b.Volumes.Usage(ctx, v.Name); err == nil {
			du.Volumes[i].UsageData = &volumetypes.UsageData{Size: u.Size, RefCount: int64(u.RefCount)}
		}
	}
	writeJSON(w, 200, du)
}

package server

import (
	"net/http"
	goruntime "runtime"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	volumetypes "github.com/moby/moby/api/types/volume"

	"github.com/berth/berth/internal/containers"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/version"
)

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
	du := legacyDiskUsage{Images: imgs, Containers: ctrs, Volumes: make([]volumetypes.Volume, len(vols)), BuildCache: []struct{}{}}
	if du.Images == nil {
		du.Images = []image.Summary{}
	}
	for i := range du.Images {
		du.LayersSize += du.Images[i].Size
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

package server

import (
	"encoding/json"
	"net/http"
	goruntime "runtime"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"

	"github.com/berth/berth/internal/containers"
	berthevents "github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/version"
)

// parseEventTime parses the docker CLI's since/until values ("1700000000.000000000"), or RFC 3339.
func parseEventTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return filters.ParseUnixTimestamp(v)
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	f, err := filtersParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	since, err := parseEventTime(r.URL.Query().Get("since"))
	if err != nil {
		writeError(w, err)
		return
	}
	until, err := parseEventTime(r.URL.Query().Get("until"))
	if err != nil {
		writeError(w, err)
		return
	}
	past, ch, cancel := s.b.Events.Subscribe(since)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	fw := newFlushWriter(w)
	fw.Flush()
	enc := json.NewEncoder(fw)
	send := func(m events.Message) bool {
		if !until.IsZero() && m.TimeNano > until.UnixNano() {
			return false
		}
		if berthevents.Match(m, f) {
			if err := enc.Encode(m); err != nil {
				return false
			}
		}
		return true
	}
	for _, m := range past {
		if !send(m) {
			return
		}
	}
	var timer <-chan time.Time
	if !until.IsZero() {
		d := time.Until(until)
		if d <= 0 {
			return
		}
		timer = time.After(d)
	}
	for {
		select {
		case m := <-ch:
			if !send(m) {
				return
			}
		case <-timer:
			return
		case <-r.Context().Done():
			return
		}
	}
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
	Volumes    []volume.Volume
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
	du := legacyDiskUsage{Images: []image.Summary{}, Containers: ctrs, Volumes: vols, BuildCache: []struct{}{}}
	for _, img := range imgs {
		du.Images = append(du.Images, imageSummary(img))
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
	for i := range du.Volumes {
		if u, err := s.b.Volumes.Usage(ctx, du.Volumes[i].Name); err == nil {
			du.Volumes[i].UsageData = &u
		}
	}
	if du.Volumes == nil {
		du.Volumes = []volume.Volume{}
	}
	writeJSON(w, 200, du)
}

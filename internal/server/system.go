package server

import (
	"encoding/json"
	"net/http"
	goruntime "runtime"
	"strconv"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"

	berthevents "github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/version"
)

// parseEventTime parses the docker CLI's since/until values ("1700000000.000000000").
func parseEventTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t, nil
		}
		return time.Time{}, errdefs.ErrInvalidArgument.WithMessage("invalid timestamp: " + v)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
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

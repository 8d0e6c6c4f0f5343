package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/containerd/errdefs"
	volumetypes "github.com/moby/moby/api/types/volume"

	"github.com/berth/berth/internal/volume"
)

// volumeResponse is a volume as the Docker API shows it.
func volumeResponse(v volume.Volume) volumetypes.Volume {
	return volumetypes.Volume{
		Name:       v.Name,
		Driver:     v.Driver,
		Mountpoint: v.Mountpoint,
		CreatedAt:  v.CreatedAt.Format(time.RFC3339),
		Labels:     v.Labels,
		Options:    v.Options,
		Scope:      "local",
	}
}

func (s *Server) volumeRoutes() {
	m := s.mux
	m.HandleFunc("GET /volumes", func(w http.ResponseWriter, r *http.Request) {
		f, err := filtersParam(r)
		if err != nil {
			writeError(w, err)
			return
		}
		list, err := s.b.Volumes.List(r.Context(), f)
		if err != nil {
			writeError(w, err)
			return
		}
		vols := make([]volumetypes.Volume, len(list))
		for i, v := range list {
			vols[i] = volumeResponse(v)
		}
		writeJSON(w, 200, volumetypes.ListResponse{Volumes: vols, Warnings: []string{}})
	})
	m.HandleFunc("POST /volumes/create", func(w http.ResponseWriter, r *http.Request) {
		var req volumetypes.CreateRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if req.Driver != "" && req.Driver != "local" {
			writeError(w, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("error looking up volume plugin %s: plugin %q not found", req.Driver, req.Driver)))
			return
		}
		v, err := s.b.Volumes.Create(r.Context(), req.Name, req.Labels, req.DriverOpts)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, volumeResponse(v))
	})
	m.HandleFunc("POST /volumes/prune", func(w http.ResponseWriter, r *http.Request) {
		f, err := filtersParam(r)
		if err != nil {
			writeError(w, err)
			return
		}
		rep, err := s.b.Volumes.Prune(r.Context(), f)
		if err != nil {
			writeError(w, err)
			return
		}
		deleted := rep.Deleted
		if deleted == nil {
			deleted = []string{}
		}
		writeJSON(w, 200, volumetypes.PruneReport{VolumesDeleted: deleted, SpaceReclaimed: rep.SpaceReclaimed})
	})
	m.HandleFunc("GET /volumes/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, err := s.b.Volumes.Inspect(r.Context(), r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, volumeResponse(v))
	})
	m.HandleFunc("DELETE /volumes/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.b.Volumes.Remove(r.Context(), r.PathValue("name"), boolValue(r, "force")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

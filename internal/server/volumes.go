package server

import (
	"fmt"
	"net/http"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/volume"
)

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
		if list == nil {
			list = []volume.Volume{}
		}
		writeJSON(w, 200, volume.ListResponse{Volumes: list, Warnings: []string{}})
	})
	m.HandleFunc("POST /volumes/create", func(w http.ResponseWriter, r *http.Request) {
		var req volume.CreateRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if req.Driver != "" && req.Driver != "local" {
			writeError(w, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("error looking up volume plugin %s: plugin %q not found", req.Driver, req.Driver)))
			return
		}
		v, err := s.b.Volumes.Create(r.Context(), req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, v)
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
		if rep.VolumesDeleted == nil {
			rep.VolumesDeleted = []string{}
		}
		writeJSON(w, 200, rep)
	})
	m.HandleFunc("GET /volumes/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, err := s.b.Volumes.Inspect(r.Context(), r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, v)
	})
	m.HandleFunc("DELETE /volumes/{name}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.b.Volumes.Remove(r.Context(), r.PathValue("name"), boolValue(r, "force")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

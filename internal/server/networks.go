package server

import (
	"net/http"

	"github.com/moby/moby/api/types/network"
)

func (s *Server) networkRoutes() {
	m := s.mux
	m.HandleFunc("GET /networks", func(w http.ResponseWriter, r *http.Request) {
		f, err := filtersParam(r)
		if err != nil {
			writeError(w, err)
			return
		}
		list, err := s.b.Networks.List(r.Context(), f)
		if err != nil {
			writeError(w, err)
			return
		}
		if list == nil {
			list = []network.Inspect{}
		}
		writeJSON(w, 200, list)
	})
	m.HandleFunc("GET /networks/{id}", func(w http.ResponseWriter, r *http.Request) {
		n, err := s.b.Networks.Inspect(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, n)
	})
	m.HandleFunc("POST /networks/create", func(w http.ResponseWriter, r *http.Request) {
		var req network.CreateRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, err)
			return
		}
		resp, err := s.b.Networks.Create(r.Context(), req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, resp)
	})
	m.HandleFunc("DELETE /networks/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.b.Networks.Remove(r.Context(), r.PathValue("id")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /networks/{id}/connect", func(w http.ResponseWriter, r *http.Request) {
		var req network.ConnectRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if err := s.b.Networks.Connect(r.Context(), r.PathValue("id"), req.Container, req.EndpointConfig); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(200)
	})
	m.HandleFunc("POST /networks/{id}/disconnect", func(w http.ResponseWriter, r *http.Request) {
		var req network.DisconnectRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if err := s.b.Networks.Disconnect(r.Context(), r.PathValue("id"), req.Container, req.Force); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(200)
	})
	m.HandleFunc("POST /networks/prune", func(w http.ResponseWriter, r *http.Request) {
		f, err := filtersParam(r)
		if err != nil {
			writeError(w, err)
			return
		}
		removed, err := s.b.Networks.Prune(r.Context(), f)
		if err != nil {
			writeError(w, err)
			return
		}
		if removed == nil {
			removed = []string{}
		}
		writeJSON(w, 200, network.PruneReport{NetworksDeleted: removed})
	})
}

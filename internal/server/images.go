package server

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/image"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func (s *Server) imageRoutes() {
	m := s.mux
	m.HandleFunc("GET /images/json", s.imageList)
	m.HandleFunc("POST /images/create", s.imageCreate)
	m.HandleFunc("POST /images/prune", s.imagePrune)
	m.HandleFunc("POST /images/load", s.imageLoad)
	m.HandleFunc("GET /images/get", s.imageSave)
	m.HandleFunc("GET /images/search", s.imageSearch)
	m.HandleFunc("POST /auth", s.auth)
	m.HandleFunc("GET /images/{rest...}", s.imageGet)
	m.HandleFunc("POST /images/{rest...}", s.imagePost)
	m.HandleFunc("DELETE /images/{rest...}", s.imageDelete)
}

// splitAction splits "docker.io/x/y:tag/json" into the image name and the trailing action.
func splitAction(rest string) (string, string) {
	i := strings.LastIndex(rest, "/")
	if i < 0 {
		return rest, ""
	}
	return rest[:i], rest[i+1:]
}

func (s *Server) imageList(w http.ResponseWriter, r *http.Request) {
	f, err := filtersParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if v := r.URL.Query().Get("filter"); v != "" {
		f.Add("reference", v)
	}
	list, err := s.b.Images.List(r.Context(), boolValue(r, "all"), f)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, list)
}

// imageCreate is `docker import` (fromSrc) and `docker pull` (fromImage).
func (s *Server) imageCreate(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("fromImage") != "" {
		s.imagePull(w, r)
		return
	}
	src := q.Get("fromSrc")
	if src == "" {
		writeError(w, errdefs.ErrInvalidArgument.WithMessage("fromImage or fromSrc is required"))
		return
	}
	if src != "-" {
		writeError(w, errdefs.ErrNotImplemented.WithMessage("importing from a URL is not supported yet; pipe the archive to - instead"))
		return
	}
	ref := q.Get("repo")
	if tag := q.Get("tag"); tag != "" && ref != "" {
		ref += ":" + tag
	}
	var platform *ocispec.Platform
	if p := q.Get("platform"); p != "" {
		os, arch, _ := strings.Cut(p, "/")
		arch, variant, _ := strings.Cut(arch, "/")
		platform = &ocispec.Platform{OS: os, Architecture: arch, Variant: variant}
	}
	id, err := s.b.Images.Import(r.Context(), r.Body, ref, q["changes"], q.Get("message"), platform)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, map[string]string{"status": id.String()})
}

func (s *Server) imagePrune(w http.ResponseWriter, r *http.Request) {
	f, err := filtersParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	rep, err := s.b.Images.Prune(r.Context(), false, f) // dangling=false in f prunes all unused images
	if err != nil {
		writeError(w, err)
		return
	}
	if rep.ImagesDeleted == nil {
		rep.ImagesDeleted = []image.DeleteResponse{}
	}
	writeJSON(w, 200, rep)
}

func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) {
	lines, err := s.b.Images.Load(r.Context(), r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	enc := json.NewEncoder(w)
	for _, l := range lines {
		enc.Encode(map[string]string{"stream": l + "\n"})
	}
}

func (s *Server) imageSave(w http.ResponseWriter, r *http.Request) {
	s.save(w, r, r.URL.Query()["names"])
}

func (s *Server) save(w http.ResponseWriter, r *http.Request, names []string) {
	// Resolve every name first so a bad one is a JSON error, not a broken tar.
	for _, n := range names {
		if _, err := s.b.Images.Get(r.Context(), n); err != nil {
			writeError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	sw := &startWriter{w: w}
	if err := s.b.Images.Save(r.Context(), sw, names); err != nil && !sw.started {
		writeError(w, err)
	}
}

func (s *Server) imageGet(w http.ResponseWriter, r *http.Request) {
	name, action := splitAction(r.PathValue("rest"))
	switch action {
	case "json":
		resp, err := s.b.Images.Inspect(r.Context(), name)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, resp)
	case "history":
		resp, err := s.b.Images.History(r.Context(), name)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, resp)
	case "get":
		s.save(w, r, []string{name})
	default:
		writeError(w, errdefs.ErrNotFound.WithMessage("page not found"))
	}
}

func (s *Server) imagePost(w http.ResponseWriter, r *http.Request) {
	name, action := splitAction(r.PathValue("rest"))
	switch action {
	case "tag":
		target := r.URL.Query().Get("repo")
		if tag := r.URL.Query().Get("tag"); tag != "" {
			target += ":" + tag
		}
		if err := s.b.Images.Tag(r.Context(), name, target); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusCreated)
	case "push":
		s.imagePush(w, r, name)
	default:
		writeError(w, errdefs.ErrNotFound.WithMessage("page not found"))
	}
}

func (s *Server) imageDelete(w http.ResponseWriter, r *http.Request) {
	resp, err := s.b.Images.Delete(r.Context(), r.PathValue("rest"), boolValue(r, "force"), boolValue(r, "noprune"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, resp)
}

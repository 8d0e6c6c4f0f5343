package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/containers"
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
		f["reference"] = append(f["reference"], v)
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
	all := false
	if v := f["dangling"]; len(v) > 0 && (v[0] == "false" || v[0] == "0") {
		all = true
	}
	delete(f, "dangling")
	rep, err := s.b.Images.Prune(r.Context(), all, f)
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
	imgs, err := s.b.Images.List(ctx, false, nil)
	if err != nil {
		writeError(w, err)
		return
	}
	ctrs, err := s.b.Containers.List(ctx, containers.ListOptions{All: true, Size: true})
	if err != nil {
		writeError(w, err)
		return
	}
	vols, err := s.b.Volumes.List(ctx, nil)
	if err != nil {
		writeError(w, err)
		return
	}
	du := legacyDiskUsage{Images: imgs, Containers: ctrs, Volumes: vols, BuildCache: []struct{}{}}
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
	m.HandleFunc("POST /build/prune", func(w http.ResponseWriter, r *http.Request) {
		keys, reclaimed, err := s.b.Build.Prune(r.Context())
		if err != nil {
			writeError(w, err)
			return
		}
		if keys == nil {
			keys = []string{}
		}
		writeJSON(w, 200, map[string]any{"CachesDeleted": keys, "SpaceReclaimed": reclaimed})
	})
}

package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/storage"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/image"
)

// storageDriver is the GraphDriver inspect reports (the daemon's /info says the same): layers are overlay snapshots.
const storageDriver = "overlay2"

// imageSummary is one entry of GET /images/json. Containers and SharedSize are -1, Docker's "not computed"
// (only /system/df counts them).
func imageSummary(s image.Summary) imagetypes.Summary {
	out := imagetypes.Summary{
		Containers:  -1,
		Created:     unixOrZero(s.Created),
		ID:          s.ID.String(),
		Labels:      s.Labels,
		ParentID:    s.ParentID.String(),
		RepoDigests: s.RepoDigests,
		RepoTags:    s.RepoTags,
		SharedSize:  -1,
		Size:        s.Size,
	}
	if out.RepoDigests == nil {
		out.RepoDigests = []string{}
	}
	if out.RepoTags == nil {
		out.RepoTags = []string{}
	}
	return out
}

// unixOrZero is t in Unix seconds, 0 for an unknown time (not year 1), as dockerd reports a missing date.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// imageInspect is GET /images/{name}/json: the record's config blob, references and sizes in Docker's shape.
// The comment is the config's (an import's or a commit's message), else the last history entry's.
func imageInspect(img *image.Image) imagetypes.InspectResponse {
	cfg := img.Config
	comment := cfg.Comment
	if comment == "" && len(cfg.History) > 0 {
		comment = cfg.History[len(cfg.History)-1].Comment
	}
	var created string
	if cfg.Created != nil {
		created = cfg.Created.Format(time.RFC3339Nano)
	}
	layers := make([]string, 0, len(cfg.RootFS.DiffIDs))
	for _, d := range cfg.RootFS.DiffIDs {
		layers = append(layers, d.String())
	}
	out := imagetypes.InspectResponse{
		ID:           img.ID.String(),
		RepoTags:     img.RepoTags,
		RepoDigests:  img.RepoDigests,
		Comment:      comment,
		Created:      created,
		Author:       cfg.Author,
		Config:       &cfg.Config,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Os:           cfg.OS,
		OsVersion:    cfg.OSVersion,
		Size:         img.Size,
		GraphDriver:  &storage.DriverData{Name: storageDriver, Data: map[string]string{}},
		RootFS:       imagetypes.RootFS{Type: cfg.RootFS.Type, Layers: layers},
		Metadata:     imagetypes.Metadata{LastTagTime: img.LastTagTime},
	}
	if out.RepoTags == nil {
		out.RepoTags = []string{}
	}
	if out.RepoDigests == nil {
		out.RepoDigests = []string{}
	}
	return out
}

// imageHistory is GET /images/{name}/history: a step whose image is not known locally has the ID "<missing>".
func imageHistory(entries []image.HistoryEntry) []imagetypes.HistoryResponseItem {
	out := make([]imagetypes.HistoryResponseItem, 0, len(entries))
	for _, e := range entries {
		id := "<missing>"
		if e.ID != "" {
			id = e.ID.String()
		}
		out = append(out, imagetypes.HistoryResponseItem{
			ID:        id,
			Created:   unixOrZero(e.Created),
			CreatedBy: e.CreatedBy,
			Comment:   e.Comment,
			Size:      e.Size,
			Tags:      e.Tags,
		})
	}
	return out
}

// deleteResponses are the "Untagged"/"Deleted" records of DELETE /images/{name} and of a prune, never null.
func deleteResponses(items []image.DeleteItem) []imagetypes.DeleteResponse {
	out := make([]imagetypes.DeleteResponse, 0, len(items))
	for _, it := range items {
		out = append(out, imagetypes.DeleteResponse{Untagged: it.Untagged, Deleted: it.Deleted.String()})
	}
	return out
}

// pruneReport is POST /images/prune's answer; the CLI prints SpaceReclaimed as "Total reclaimed space".
func pruneReport(r image.PruneResult) imagetypes.PruneReport {
	rep := imagetypes.PruneReport{ImagesDeleted: deleteResponses(r.Deleted)}
	if r.Reclaimed > 0 {
		rep.SpaceReclaimed = uint64(r.Reclaimed)
	}
	return rep
}

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
	out := make([]imagetypes.Summary, 0, len(list))
	for _, img := range list {
		out = append(out, imageSummary(img))
	}
	writeJSON(w, 200, out)
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
	writeJSON(w, 200, pruneReport(rep))
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
		img, err := s.b.Images.Get(r.Context(), name)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, imageInspect(img))
	case "history":
		entries, err := s.b.Images.History(r.Context(), name)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, imageHistory(entries))
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
	items, err := s.b.Images.Delete(r.Context(), r.PathValue("rest"), boolValue(r, "force"), boolValue(r, "noprune"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, deleteResponses(items))
}

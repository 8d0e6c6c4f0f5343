package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/builder"
)

// build is POST /build, the classic builder's protocol: the body is the context tar, the answer a stream of JSON
// messages ({"stream": ...}, {"aux": {"ID": ...}}, {"errorDetail": ...}). An error before any output is a plain
// API error, as dockerd answers.
func (s *Server) build(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("remote") != "" {
		writeError(w, errdefs.ErrNotImplemented.WithMessage("building from a remote context is not supported"))
		return
	}
	if v := q.Get("version"); v == "2" {
		writeError(w, errdefs.ErrNotImplemented.WithMessage("BuildKit is not supported by this daemon; use the classic builder (DOCKER_BUILDKIT=0)"))
		return
	}
	opts := builder.Options{
		Dockerfile:  q.Get("dockerfile"),
		Tags:        q["t"],
		Target:      q.Get("target"),
		NoCache:     boolValue(r, "nocache"),
		Pull:        boolValue(r, "pull"),
		NetworkMode: q.Get("networkmode"),
		Platform:    q.Get("platform"),
		ExtraHosts:  q["extrahosts"],
		Quiet:       boolValue(r, "q"),
		// only berth build uses this path: its context may name large files by digest
		ContextManifest: r.URL.Path == "/berth/build",
	}
	if opts.NetworkMode == "default" {
		opts.NetworkMode = ""
	}
	for _, p := range []struct {
		name string
		v    any
	}{{"buildargs", &opts.BuildArgs}, {"labels", &opts.Labels}} {
		if raw := q.Get(p.name); raw != "" {
			if err := json.Unmarshal([]byte(raw), p.v); err != nil {
				writeError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid %s: %v", p.name, err)))
				return
			}
		}
	}
	out := &streamWriter{w: w, f: http.NewResponseController(w)}
	id, err := s.b.Build.Build(r.Context(), r.Body, opts, out)
	if err != nil {
		if !out.started() {
			writeError(w, err)
			return
		}
		detail := map[string]any{"message": err.Error()}
		var re *builder.RunError
		if errors.As(err, &re) {
			detail["code"] = re.Code
		}
		out.message(map[string]any{"errorDetail": detail, "error": err.Error()})
		return
	}
	out.message(map[string]any{"aux": map[string]string{"ID": id}})
	if opts.Quiet {
		out.message(map[string]string{"stream": id + "\n"})
	}
}

// streamWriter turns the builder's text into {"stream": ...} messages, flushed as they come.
type streamWriter struct {
	mu   sync.Mutex
	w    http.ResponseWriter
	f    *http.ResponseController
	sent bool
}

func (s *streamWriter) started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

func (s *streamWriter) Write(p []byte) (int, error) {
	if err := s.message(map[string]string{"stream": string(p)}); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *streamWriter) message(v any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sent {
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
		s.sent = true
	}
	if err := json.NewEncoder(s.w).Encode(v); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

func (s *Server) buildRoutes() {
	m := s.mux
	m.HandleFunc("POST /build", s.build)
	m.HandleFunc("POST /berth/build", s.build) // berth build's context manifests (see internal/builder)
	m.HandleFunc("POST /session", notImplemented("BuildKit sessions are not supported"))
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

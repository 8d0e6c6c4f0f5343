// Package registry serves the OCI distribution API (v1.1) under /v2/ from a
// filesystem root: content-addressed blobs shared by every repository, kept in
// an internal/content store at the root, and per-repository link files that
// decide which blobs and manifests each repository can see.
package registry

import (
	"context"
	_ "crypto/sha256" // register the digest algorithms go-digest relies on
	_ "crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
)

// Option configures a Registry.
type Option func(*Registry)

// WithLogger sets the structured logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(r *Registry) { r.log = l }
}

// Registry is an http.Handler for the OCI distribution API backed by a
// directory on the local filesystem.
type Registry struct {
	store *store
	log   *slog.Logger
	// uploads serialises requests on one upload session (uuid -> *sync.Mutex).
	uploads sync.Map
	// auth gates /v2/ when set (WithHtpasswd, WithTokenAuth); tokens serves /token.
	auth   authorizer
	tokens http.Handler
	optErr error // the first error an option met, returned by New
	// gc coordinates online garbage collection with writes (gc.go).
	gc gcState
	// proxy, when set, makes the registry a pull-through cache (proxy.go).
	proxy *proxy
}

var _ http.Handler = (*Registry)(nil)

// New returns a Registry storing its data under root, creating it if needed.
func New(root string, opts ...Option) (*Registry, error) {
	if root == "" {
		return nil, fmt.Errorf("registry root: %w", errdefs.ErrInvalidArgument)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("registry root %q: %w", root, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "repositories"), 0o755); err != nil {
		return nil, fmt.Errorf("registry root %q: %w", root, err)
	}
	r := &Registry{log: slog.Default()}
	for _, o := range opts {
		o(r)
	}
	if r.optErr != nil {
		return nil, r.optErr
	}
	if r.store, err = openStore(context.Background(), abs, r.log); err != nil {
		return nil, fmt.Errorf("registry root %q: %w", root, err)
	}
	return r, nil
}

// route is a parsed /v2/<name>/<kind>/<ref> path.
type route struct {
	name string
	kind string // "blob", "uploads", "upload", "manifest", "tags", "referrers"
	ref  string
}

// parseRoute splits the part of the path after /v2/. Names may themselves
// contain "blobs" or "manifests" components, so the kind is taken from the end.
func parseRoute(rest string) (route, bool) {
	p := strings.Split(rest, "/")
	n := len(p)
	join := func(k int) string { return strings.Join(p[:k], "/") }
	switch {
	case n >= 3 && p[n-2] == "tags" && p[n-1] == "list":
		return route{name: join(n - 2), kind: "tags"}, true
	case n >= 4 && p[n-3] == "blobs" && p[n-2] == "uploads":
		if p[n-1] == "" {
			return route{name: join(n - 3), kind: "uploads"}, true
		}
		return route{name: join(n - 3), kind: "upload", ref: p[n-1]}, true
	case n >= 3 && p[n-2] == "blobs" && p[n-1] == "uploads":
		return route{name: join(n - 2), kind: "uploads"}, true
	case n >= 3 && p[n-2] == "blobs":
		return route{name: join(n - 2), kind: "blob", ref: p[n-1]}, true
	case n >= 3 && p[n-2] == "manifests":
		return route{name: join(n - 2), kind: "manifest", ref: p[n-1]}, true
	case n >= 3 && p[n-2] == "referrers":
		return route{name: join(n - 2), kind: "referrers", ref: p[n-1]}, true
	}
	return route{}, false
}

type handlerFunc func(w http.ResponseWriter, req *http.Request, rt route) error

// ServeHTTP implements http.Handler.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.tokens != nil && req.URL.Path == tokenPath {
		r.tokens.ServeHTTP(w, req)
		return
	}
	if err := r.serve(w, req); err != nil {
		var re *relayedError
		if errors.As(err, &re) {
			if re.contentType != "" {
				w.Header().Set("Content-Type", re.contentType)
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(re.body)))
			w.WriteHeader(re.status)
			_, _ = w.Write(re.body)
			return
		}
		var ae *apiError
		if errors.Is(err, errUpstreamUnreachable) {
			r.log.WarnContext(req.Context(), "registry request failed", "method", req.Method, "path", req.URL.Path, "error", err)
			ae = &apiError{status: http.StatusBadGateway, code: "UNKNOWN", msg: "upstream registry unreachable"}
		} else if !errors.As(err, &ae) {
			r.log.ErrorContext(req.Context(), "registry request failed",
				"method", req.Method, "path", req.URL.Path, "error", err)
			ae = &apiError{status: http.StatusInternalServerError, code: "UNKNOWN", msg: "internal error"}
		}
		ae.write(w)
	}
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) error {
	if err := r.authorize(req); err != nil {
		return err
	}
	path := req.URL.Path
	if path == "/v2" || path == "/v2/" {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			return errUnsupported(req)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
		return nil
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return &apiError{status: http.StatusNotFound, code: "NOT_FOUND", msg: "not a distribution API path"}
	}
	if rest == "_catalog" {
		if req.Method != http.MethodGet {
			return errUnsupported(req)
		}
		return r.catalog(w, req)
	}
	rt, ok := parseRoute(rest)
	if !ok {
		return &apiError{status: http.StatusNotFound, code: "NOT_FOUND", msg: "not a distribution API path"}
	}
	// Names are validated before anything touches the filesystem.
	if err := validateName(rt.name); err != nil {
		return err
	}
	if r.proxy != nil {
		return r.serveProxy(w, req, rt)
	}
	methods := map[string]map[string]handlerFunc{
		"blob": {
			http.MethodGet: r.getBlob, http.MethodHead: r.getBlob, http.MethodDelete: r.deleteBlob,
		},
		"uploads": {http.MethodPost: r.startUpload},
		"upload": {
			http.MethodGet: r.uploadStatus, http.MethodPatch: r.patchUpload,
			http.MethodPut: r.putUpload, http.MethodDelete: r.cancelUpload,
		},
		"manifest": {
			http.MethodGet: r.getManifest, http.MethodHead: r.getManifest,
			http.MethodPut: r.putManifest, http.MethodDelete: r.deleteManifest,
		},
		"tags":      {http.MethodGet: r.listTags},
		"referrers": {http.MethodGet: r.referrers},
	}
	h, ok := methods[rt.kind][req.Method]
	if !ok {
		return errUnsupported(req)
	}
	return h(w, req, rt)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

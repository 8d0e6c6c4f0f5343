// Package server is the Docker Engine HTTP API over the engine's services: routing, API versions, hijacked
// streams, and the one place where error categories become HTTP statuses.
package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/version"
)

// APIVersion is the Docker Engine API version Berth speaks; MinAPIVersion the oldest it accepts.
const (
	APIVersion    = "1.47"
	MinAPIVersion = "1.24"
)

// Server serves the Docker Engine API over the engine's services.
type Server struct {
	b     Backends
	debug bool
	mux   *http.ServeMux
}

// Option configures a Server.
type Option func(*Server)

// WithDebug serves Go's profiler at /debug/pprof/, as dockerd does in debug mode.
func WithDebug(on bool) Option { return func(s *Server) { s.debug = on } }

// New builds the API handler over b.
func New(b Backends, opts ...Option) *Server {
	s := &Server{b: b, mux: http.NewServeMux()}
	for _, o := range opts {
		o(s)
	}
	if s.b.Swarm == nil {
		s.b.Swarm = noSwarm{}
	}
	s.routes()
	s.swarmRoutes()
	return s
}

var versionPrefix = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`)

// ServeHTTP strips and checks the /vX.Y prefix, sets docker's response headers and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Api-Version", APIVersion)
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	h.Set("Server", "Berth/"+version.Version+" (linux)")
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		v := m[1]
		if versionLess(APIVersion, v) {
			writeError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", v, APIVersion)))
			return
		}
		if versionLess(v, MinAPIVersion) {
			writeError(w, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, MinAPIVersion)))
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = m[2]
		r2.URL.RawPath = ""
		r = r2
	}
	slog.Debug("api request", "method", r.Method, "path", r.URL.Path)
	s.mux.ServeHTTP(w, r)
}

func versionLess(a, b string) bool {
	pa, pb := strings.SplitN(a, ".", 2), strings.SplitN(b, ".", 2)
	for i := 0; i < 2; i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return false
}

// statusFor maps an error category to its HTTP status.
func statusFor(err error) int {
	switch {
	case errdefs.IsNotFound(err):
		return http.StatusNotFound
	case errdefs.IsInvalidArgument(err):
		return http.StatusBadRequest
	case errdefs.IsAlreadyExists(err), errdefs.IsConflict(err):
		return http.StatusConflict
	case errdefs.IsNotModified(err):
		return http.StatusNotModified
	case errdefs.IsUnauthorized(err):
		return http.StatusUnauthorized
	case errdefs.IsPermissionDenied(err):
		return http.StatusForbidden
	case errdefs.IsNotImplemented(err):
		return http.StatusNotImplemented
	case errdefs.IsUnavailable(err):
		return http.StatusServiceUnavailable
	case errdefs.IsFailedPrecondition(err):
		return http.StatusPreconditionFailed
	}
	return http.StatusInternalServerError
}

// writeError writes docker's error body {"message": ...} with the status of err's category.
func writeError(w http.ResponseWriter, err error) {
	code := statusFor(err)
	if code == http.StatusNotModified {
		w.WriteHeader(code)
		return
	}
	if code == http.StatusInternalServerError {
		slog.Error("api error", "error", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// decodeBody reads a JSON request body into v; an empty body leaves v unchanged.
//
// A JSON body is a configuration (a container's, a network's, an exec's...): it is refused past maxJSONBody, so
// that a client cannot make the engine keep and serve hundreds of megabytes with every listing (a 100 MB label
// made `ps -a` take 9 s). dockerd sets no such limit; Berth's is far above any real configuration.
func decodeBody(r *http.Request, v any) error {
	if r.Body == nil {
		return nil
	}
	body := &limitedReader{r: r.Body, left: maxJSONBody}
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		if body.over {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("request body too large: a JSON body may be at most %d MiB", maxJSONBody>>20))
		}
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid JSON: %v", err))
	}
	return nil
}

// maxJSONBody bounds a JSON request body.
const maxJSONBody = 16 << 20

// limitedReader reads at most left bytes and then fails, remembering that it did.
type limitedReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		l.over = true
		return 0, errors.New("request body too large")
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

func boolValue(r *http.Request, k string) bool {
	v := strings.ToLower(strings.TrimSpace(r.URL.Query().Get(k)))
	return !(v == "" || v == "0" || v == "no" || v == "false" || v == "none")
}

// filtersParam parses docker's "filters" query parameter, in either of its JSON shapes.
func filtersParam(r *http.Request) (filters.Args, error) {
	return filters.FromJSON(r.URL.Query().Get("filters"))
}

// flushWriter flushes after every write, for streamed responses.
type flushWriter struct {
	w http.ResponseWriter
	f *http.ResponseController
}

func newFlushWriter(w http.ResponseWriter) *flushWriter {
	return &flushWriter{w: w, f: http.NewResponseController(w)}
}

func (fw *flushWriter) Write(p []byte) (int, error) {
	n, err := fw.w.Write(p)
	if err == nil {
		fw.f.Flush()
	}
	return n, err
}

func (fw *flushWriter) Flush() { fw.f.Flush() }

// hijacked is a client connection taken over for a raw stream.
type hijacked struct {
	conn net.Conn
	br   *bufio.Reader
}

func (h *hijacked) Read(p []byte) (int, error)  { return h.br.Read(p) }
func (h *hijacked) Write(p []byte) (int, error) { return h.conn.Write(p) }
func (h *hijacked) CloseWrite() {
	if cw, ok := h.conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// hijack takes over the connection and answers 101 UPGRADED (or 200 for clients that didn't ask to upgrade),
// as dockerd does for attach and exec.
func hijack(w http.ResponseWriter, r *http.Request, contentType string) (*hijacked, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	var hdr string
	if strings.EqualFold(r.Header.Get("Upgrade"), "tcp") || strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
		hdr = "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + contentType + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
	} else {
		hdr = "HTTP/1.1 200 OK\r\nContent-Type: " + contentType + "\r\n"
	}
	hdr += "Api-Version: " + APIVersion + "\r\n\r\n"
	if _, err := conn.Write([]byte(hdr)); err != nil {
		conn.Close()
		return nil, err
	}
	return &hijacked{conn: conn, br: brw.Reader}, nil
}

// Listen opens the listener for one -H address: unix:///path (mode 0660, owned by root and group gid, as
// dockerd's socket is owned by the docker group; the socket's directory is made traversable by that group), or
// tcp://host:port, which requires TLS with verified client certificates.
func Listen(addr string, tlsCfg *tls.Config, gid int) (net.Listener, error) {
	proto, path, ok := strings.Cut(addr, "://")
	if !ok {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid host %q: expected unix:///path or tcp://host:port", addr))
	}
	switch proto {
	case "unix":
		if err := os.MkdirAll(dirOf(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		l, err := net.Listen("unix", path)
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(path, 0o660); err != nil {
			l.Close()
			return nil, err
		}
		if err := os.Chown(path, 0, gid); err != nil {
			l.Close()
			return nil, err
		}
		if gid != 0 {
			if err := groupTraversable(dirOf(path), gid); err != nil {
				l.Close()
				return nil, err
			}
		}
		return l, nil
	case "tcp":
		if tlsCfg == nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("refusing to listen on %s without TLS: pass --tlsverify with --tlscacert, --tlscert and --tlskey", addr))
		}
		l, err := net.Listen("tcp", path)
		if err != nil {
			return nil, err
		}
		return tls.NewListener(l, tlsCfg), nil
	}
	return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid host %q: unsupported protocol %q", addr, proto))
}

// TLSConfig builds a server TLS config that requires client certificates signed by caFile.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errdefs.ErrInvalidArgument.WithMessage("no certificates found in " + caFile)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

func dirOf(p string) string {
	if i := strings.LastIndex(p, "/"); i > 0 {
		return p[:i]
	}
	return "/"
}

// Serve runs the API on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// groupTraversable lets group gid reach entries of dir (the socket's directory, often the daemon's exec root,
// which is 0710): it gives dir that group and the group's search bit unless everybody may search it already.
// Only the search bit: the group can open what it names, not list the directory.
func groupTraversable(dir string, gid int) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	mode := st.Mode().Perm()
	if mode&0o001 != 0 {
		return nil
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Gid) != gid {
		if err := os.Chown(dir, -1, gid); err != nil {
			return err
		}
	}
	return os.Chmod(dir, mode|0o010)
}

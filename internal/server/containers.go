package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"
	"strconv"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth/berth/internal/containers"
)

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /_ping", s.ping)
	m.HandleFunc("HEAD /_ping", s.ping)
	m.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.version()) })
	m.HandleFunc("GET /info", s.info)
	m.HandleFunc("GET /events", s.events)
	m.HandleFunc("GET /system/df", s.systemDF)
	s.vmRoutes()

	m.HandleFunc("POST /containers/create", s.containerCreate)
	m.HandleFunc("GET /containers/json", s.containerList)
	m.HandleFunc("POST /containers/prune", s.containerPrune)
	m.HandleFunc("GET /containers/{id}/json", s.containerInspect)
	m.HandleFunc("POST /containers/{id}/start", s.containerStart)
	m.HandleFunc("POST /containers/{id}/stop", s.containerStop)
	m.HandleFunc("POST /containers/{id}/restart", s.containerRestart)
	m.HandleFunc("POST /containers/{id}/kill", s.containerKill)
	m.HandleFunc("POST /containers/{id}/pause", s.simple(func(ctx context.Context, id string) error { return s.b.Containers.Pause(ctx, id) }))
	m.HandleFunc("POST /containers/{id}/unpause", s.simple(func(ctx context.Context, id string) error { return s.b.Containers.Unpause(ctx, id) }))
	m.HandleFunc("POST /containers/{id}/rename", s.containerRename)
	m.HandleFunc("POST /containers/{id}/wait", s.containerWait)
	m.HandleFunc("POST /containers/{id}/attach", s.containerAttach)
	m.HandleFunc("POST /containers/{id}/resize", s.containerResize)
	m.HandleFunc("POST /containers/{id}/update", s.containerUpdate)
	m.HandleFunc("DELETE /containers/{id}", s.containerRemove)
	m.HandleFunc("GET /containers/{id}/logs", s.containerLogs)
	m.HandleFunc("GET /containers/{id}/top", s.containerTop)
	m.HandleFunc("GET /containers/{id}/stats", s.containerStats)
	m.HandleFunc("GET /containers/{id}/changes", s.containerChanges)
	m.HandleFunc("GET /containers/{id}/export", s.containerExport)
	m.HandleFunc("HEAD /containers/{id}/archive", s.archiveHead)
	m.HandleFunc("GET /containers/{id}/archive", s.archiveGet)
	m.HandleFunc("PUT /containers/{id}/archive", s.archivePut)
	m.HandleFunc("POST /containers/{id}/exec", s.execCreate)
	m.HandleFunc("POST /exec/{id}/start", s.execStart)
	m.HandleFunc("POST /exec/{id}/resize", s.execResize)
	m.HandleFunc("GET /exec/{id}/json", s.execInspect)
	m.HandleFunc("POST /commit", s.commit)

	s.imageRoutes()
	s.volumeRoutes()
	s.networkRoutes()
	s.buildRoutes()
	if s.debug {
		// dockerd serves the Go profiler on its API socket in debug mode; so does Berth.
		m.HandleFunc("GET /debug/pprof/", pprof.Index)
		m.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		m.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		m.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		m.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errdefs.ErrNotFound.WithMessage("page not found"))
	})
}

func notImplemented(msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errdefs.ErrNotImplemented.WithMessage(msg))
	}
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Builder-Version", "1")
	h.Set("Swarm", "inactive")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(200)
		return
	}
	w.WriteHeader(200)
	w.Write([]byte("OK"))
}

// simple adapts a POST action on a container that answers 204.
func (s *Server) simple(fn func(ctx context.Context, id string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(r.Context(), r.PathValue("id")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

type createRequest struct {
	container.Config
	HostConfig       *container.HostConfig     `json:"HostConfig,omitempty"`
	NetworkingConfig *network.NetworkingConfig `json:"NetworkingConfig,omitempty"`
}

func (s *Server) containerCreate(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	resp, err := s.b.Containers.Create(r.Context(), containers.CreateOptions{
		Name:             r.URL.Query().Get("name"),
		Config:           &req.Config,
		HostConfig:       req.HostConfig,
		NetworkingConfig: req.NetworkingConfig,
		Platform:         r.URL.Query().Get("platform"),
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) containerList(w http.ResponseWriter, r *http.Request) {
	f, err := filtersParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	list, err := s.b.Containers.List(r.Context(), containers.ListOptions{All: boolValue(r, "all"), Limit: limit, Size: boolValue(r, "size"), Filters: f})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, list)
}

func (s *Server) containerPrune(w http.ResponseWriter, r *http.Request) {
	f, err := filtersParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	rep, err := s.b.Containers.PruneContainers(r.Context(), f)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, rep)
}

func (s *Server) containerInspect(w http.ResponseWriter, r *http.Request) {
	resp, err := s.b.Containers.Inspect(r.Context(), r.PathValue("id"), boolValue(r, "size"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, inspectJSON(resp))
}

// legacyInspect is a container's inspect document as the API versions Berth speaks (up to 1.51) shape it:
// NetworkSettings still carries the default bridge endpoint's fields at its top level, which docker-py
// (attrs["NetworkSettings"]["IPAddress"]) and `inspect -f '{{.NetworkSettings.IPAddress}}'` read. moby's Go
// types dropped them with API 1.52.
type legacyInspect struct {
	container.InspectResponse
	NetworkSettings *legacyNetworkSettings `json:",omitempty"`
}

type legacyNetworkSettings struct {
	Bridge                 string
	SandboxID              string
	SandboxKey             string
	HairpinMode            bool
	LinkLocalIPv6Address   string
	LinkLocalIPv6PrefixLen int
	Ports                  network.PortMap
	SecondaryIPAddresses   []legacyAddress
	SecondaryIPv6Addresses []legacyAddress
	EndpointID             string
	Gateway                string
	GlobalIPv6Address      string
	GlobalIPv6PrefixLen    int
	IPAddress              string
	IPPrefixLen            int
	IPv6Gateway            string
	MacAddress             string
	Networks               map[string]*network.EndpointSettings
}

// legacyAddress is an address and its prefix length, as the legacy secondary address lists hold them.
type legacyAddress struct {
	Addr      string
	PrefixLen int
}

func inspectJSON(resp container.InspectResponse) legacyInspect {
	out := legacyInspect{InspectResponse: resp}
	ns := resp.NetworkSettings
	if ns == nil {
		return out
	}
	l := &legacyNetworkSettings{SandboxID: ns.SandboxID, SandboxKey: ns.SandboxKey, Ports: ns.Ports, Networks: ns.Networks}
	// As dockerd: the top-level fields describe the endpoint on the default bridge network, empty otherwise.
	if ep := ns.Networks["bridge"]; ep != nil {
		l.EndpointID, l.MacAddress = ep.EndpointID, ep.MacAddress.String()
		if ep.IPAddress.IsValid() {
			l.IPAddress, l.IPPrefixLen = ep.IPAddress.String(), ep.IPPrefixLen
		}
		if ep.Gateway.IsValid() {
			l.Gateway = ep.Gateway.String()
		}
		if ep.GlobalIPv6Address.IsValid() {
			l.GlobalIPv6Address, l.GlobalIPv6PrefixLen = ep.GlobalIPv6Address.String(), ep.GlobalIPv6PrefixLen
		}
		if ep.IPv6Gateway.IsValid() {
			l.IPv6Gateway = ep.IPv6Gateway.String()
		}
	}
	out.NetworkSettings = l
	return out
}

func (s *Server) containerStart(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Containers.Start(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func timeoutParam(r *http.Request) (*int, error) {
	v := r.URL.Query().Get("t")
	if v == "" {
		v = r.URL.Query().Get("timeout")
	}
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("invalid value for timeout: " + v)
	}
	return &n, nil
}

func (s *Server) containerStop(w http.ResponseWriter, r *http.Request) {
	t, err := timeoutParam(r)
	if err == nil {
		err = s.b.Containers.Stop(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal"), t)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) containerRestart(w http.ResponseWriter, r *http.Request) {
	t, err := timeoutParam(r)
	if err == nil {
		err = s.b.Containers.Restart(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal"), t)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) containerKill(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Containers.Kill(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) containerRename(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Containers.Rename(r.Context(), r.PathValue("id"), r.URL.Query().Get("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) containerRemove(w http.ResponseWriter, r *http.Request) {
	err := s.b.Containers.Remove(r.Context(), r.PathValue("id"), containers.RemoveOptions{Force: boolValue(r, "force"), Volumes: boolValue(r, "v"), Link: boolValue(r, "link")})
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) {
	cond := container.WaitCondition(r.URL.Query().Get("condition"))
	switch cond {
	case "", container.WaitConditionNotRunning, container.WaitConditionNextExit, container.WaitConditionRemoved:
	default:
		writeError(w, errdefs.ErrInvalidArgument.WithMessage("invalid condition: "+string(cond)))
		return
	}
	fw := newFlushWriter(w)
	headerSent := false
	code, err := s.b.Containers.Wait(r.Context(), r.PathValue("id"), cond, func() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		fw.Flush()
		headerSent = true
	})
	if err != nil {
		if !headerSent {
			writeError(w, err)
			return
		}
		json.NewEncoder(w).Encode(container.WaitResponse{StatusCode: -1, Error: &container.WaitExitError{Message: err.Error()}})
		return
	}
	json.NewEncoder(w).Encode(container.WaitResponse{StatusCode: int64(code)})
}

func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	tty, err := s.b.Streams.AttachTTY(id)
	if err != nil {
		writeError(w, err)
		return
	}
	ct := "application/vnd.docker.multiplexed-stream"
	if tty {
		ct = "application/vnd.docker.raw-stream"
	}
	q := r.URL.Query()
	if !boolValue(r, "stream") && !boolValue(r, "logs") {
		if h, err := hijack(w, r, ct); err == nil {
			h.conn.Close()
		}
		return
	}
	// The connection is hijacked only once the daemon has registered the stream (Ready), so the client's next
	// request (start) cannot overtake it; until then the stream's ends wait for the connection.
	lz := newLazyStream()
	opts := containers.AttachOptions{
		Out:        lz,
		Stdout:     boolValue(r, "stdout"),
		Stderr:     boolValue(r, "stderr"),
		DetachKeys: q.Get("detachKeys"),
		Logs:       boolValue(r, "logs"),
		Ready: func() error {
			h, err := hijack(w, r, ct)
			if err != nil {
				return err
			}
			lz.set(h)
			return nil
		},
	}
	if boolValue(r, "stdin") {
		opts.Stdin = lz
	}
	// The client's context ends when the hijacked connection is done; detach from the request.
	err = s.b.Streams.Attach(context.WithoutCancel(r.Context()), id, opts)
	h := lz.get()
	if h == nil {
		if err != nil {
			writeError(w, err)
		}
		return
	}
	defer h.conn.Close()
	if err != nil && !errors.Is(err, containers.ErrDetached) {
		h.Write([]byte(err.Error() + "\n"))
	}
}

// lazyStream is a hijacked connection that does not exist yet: reads and writes wait until it is set.
type lazyStream struct {
	ready chan struct{}
	h     *hijacked
}

func newLazyStream() *lazyStream { return &lazyStream{ready: make(chan struct{})} }

func (l *lazyStream) set(h *hijacked) {
	l.h = h
	close(l.ready)
}

// get returns the connection, or nil if it was never set.
func (l *lazyStream) get() *hijacked {
	select {
	case <-l.ready:
		return l.h
	default:
		return nil
	}
}

func (l *lazyStream) Read(p []byte) (int, error) {
	<-l.ready
	return l.h.Read(p)
}

func (l *lazyStream) Write(p []byte) (int, error) {
	<-l.ready
	return l.h.Write(p)
}

func (s *Server) containerResize(w http.ResponseWriter, r *http.Request) {
	hgt, _ := strconv.Atoi(r.URL.Query().Get("h"))
	wid, _ := strconv.Atoi(r.URL.Query().Get("w"))
	if err := s.b.Streams.Resize(r.Context(), r.PathValue("id"), uint16(hgt), uint16(wid)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(200)
}

func (s *Server) containerUpdate(w http.ResponseWriter, r *http.Request) {
	var req container.UpdateConfig
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	warnings, err := s.b.Containers.Update(r.Context(), r.PathValue("id"), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, container.UpdateResponse{Warnings: warnings})
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	tty, err := s.b.Streams.AttachTTY(id)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	opts := containers.LogsOptions{
		Stdout: boolValue(r, "stdout"), Stderr: boolValue(r, "stderr"), Follow: boolValue(r, "follow"),
		Tail: q.Get("tail"), Since: q.Get("since"), Until: q.Get("until"),
		Timestamps: boolValue(r, "timestamps"), Details: boolValue(r, "details"),
	}
	if !opts.Stdout && !opts.Stderr {
		writeError(w, errdefs.ErrInvalidArgument.WithMessage("Bad parameters: you must choose at least one stream"))
		return
	}
	ct := "application/vnd.docker.multiplexed-stream"
	if tty {
		ct = "application/vnd.docker.raw-stream"
	}
	fw := newFlushWriter(w)
	answered := false
	// The status goes out once the log is found readable (a driver that cannot be read is an error status, as
	// docker's), and at once, before any record: a follow of a quiet container still gets its response.
	opts.Ready = func() {
		answered = true
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(200)
		fw.Flush()
	}
	if err := s.b.Streams.Logs(r.Context(), id, opts, fw); err != nil {
		if !answered {
			writeError(w, err)
			return
		}
		fw.Write([]byte(err.Error()))
	}
}

func (s *Server) containerTop(w http.ResponseWriter, r *http.Request) {
	resp, err := s.b.Streams.Top(r.Context(), r.PathValue("id"), r.URL.Query().Get("ps_args"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, resp)
}

func (s *Server) containerStats(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.b.Streams.AttachTTY(id); err != nil {
		writeError(w, err)
		return
	}
	stream := r.URL.Query().Get("stream") == "" || boolValue(r, "stream")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	s.b.Streams.Stats(r.Context(), id, stream, boolValue(r, "one-shot"), newFlushWriter(w))
}

func (s *Server) containerChanges(w http.ResponseWriter, r *http.Request) {
	ch, err := s.b.Files.Changes(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, ch)
}

func (s *Server) containerExport(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-tar")
	sw := &startWriter{w: w}
	if err := s.b.Files.Export(r.Context(), r.PathValue("id"), sw); err != nil && !sw.started {
		writeError(w, err)
	}
}

// startWriter remembers whether anything was written, so an early error can still become a JSON error.
type startWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *startWriter) Write(p []byte) (int, error) {
	s.started = true
	return s.w.Write(p)
}

func statHeader(st container.PathStat) string {
	b, _ := json.Marshal(st)
	return base64.StdEncoding.EncodeToString(b)
}

func (s *Server) archiveHead(w http.ResponseWriter, r *http.Request) {
	st, err := s.b.Files.StatPath(r.Context(), r.PathValue("id"), r.URL.Query().Get("path"))
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("X-Docker-Container-Path-Stat", statHeader(st))
	w.WriteHeader(200)
}

func (s *Server) archiveGet(w http.ResponseWriter, r *http.Request) {
	sw := &startWriter{w: w}
	err := s.b.Files.ArchivePath(r.Context(), r.PathValue("id"), r.URL.Query().Get("path"), func(st container.PathStat) {
		w.Header().Set("X-Docker-Container-Path-Stat", statHeader(st))
		w.Header().Set("Content-Type", "application/x-tar")
	}, sw)
	if err != nil && !sw.started {
		w.Header().Del("X-Docker-Container-Path-Stat")
		writeError(w, err)
	}
}

func (s *Server) archivePut(w http.ResponseWriter, r *http.Request) {
	err := s.b.Files.ExtractToPath(r.Context(), r.PathValue("id"), r.URL.Query().Get("path"), boolValue(r, "noOverwriteDirNonDir"), r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(200)
}

func (s *Server) execCreate(w http.ResponseWriter, r *http.Request) {
	var req container.ExecCreateRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	id, err := s.b.Exec.ExecCreate(r.Context(), r.PathValue("id"), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
}

func (s *Server) execStart(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req container.ExecStartRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	tty, err := s.b.Exec.ExecTTY(id)
	if err != nil {
		writeError(w, err)
		return
	}
	if req.Detach {
		if err := s.b.Exec.ExecStart(r.Context(), id, containers.ExecStartOptions{Detach: true}); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(200)
		return
	}
	ct := "application/vnd.docker.multiplexed-stream"
	if tty {
		ct = "application/vnd.docker.raw-stream"
	}
	h, err := hijack(w, r, ct)
	if err != nil {
		return
	}
	defer h.conn.Close()
	if err := s.b.Exec.ExecStart(context.WithoutCancel(r.Context()), id, containers.ExecStartOptions{Stdin: h, Out: h}); err != nil {
		h.Write([]byte(err.Error() + "\n"))
	}
}

func (s *Server) execResize(w http.ResponseWriter, r *http.Request) {
	hgt, _ := strconv.Atoi(r.URL.Query().Get("h"))
	wid, _ := strconv.Atoi(r.URL.Query().Get("w"))
	if err := s.b.Exec.ExecResize(r.Context(), r.PathValue("id"), uint16(hgt), uint16(wid)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(200)
}

func (s *Server) execInspect(w http.ResponseWriter, r *http.Request) {
	resp, err := s.b.Exec.ExecInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, 200, resp)
}

func (s *Server) commit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var cfg *container.Config
	if r.ContentLength != 0 {
		var c container.Config
		if err := decodeBody(r, &c); err != nil {
			writeError(w, err)
			return
		}
		cfg = &c
	}
	pause := q.Get("pause") == "" || boolValue(r, "pause")
	id, err := s.b.Files.Commit(r.Context(), containers.CommitOptions{
		Container: q.Get("container"), Repo: q.Get("repo"), Tag: q.Get("tag"), Comment: q.Get("comment"),
		Author: q.Get("author"), Changes: q["changes"], Pause: pause, Config: cfg,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"Id": id})
}

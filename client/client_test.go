package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/volume"
)

// newTCPServer serves h on loopback TCP and returns a client for it.
func newTCPServer(t *testing.T, h http.Handler, opts ...Opt) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New("tcp://"+srv.Listener.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newUnixServer serves h on a unix socket and returns a client for it.
func newUnixServer(t *testing.T, h http.Handler, opts ...Opt) *Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "berth-client")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := New("unix://"+sock, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pingHandler answers /_ping with version and passes everything else to next.
func pingHandler(version string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", version)
			w.Header().Set("Ostype", "linux")
			_, _ = w.Write([]byte("OK"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestParseHost(t *testing.T) {
	tests := []struct {
		name, host, proto, addr string
		wantErr                 bool
	}{
		{name: "unix", host: "unix:///run/berth/berth.sock", proto: "unix", addr: "/run/berth/berth.sock"},
		{name: "tcp", host: "tcp://127.0.0.1:2376", proto: "tcp", addr: "127.0.0.1:2376"},
		{name: "tcp default port", host: "tcp://example.com", proto: "tcp", addr: "example.com:2375"},
		{name: "tcp ipv6", host: "tcp://[::1]:1234", proto: "tcp", addr: "[::1]:1234"},
		{name: "no scheme", host: "/run/berth.sock", wantErr: true},
		{name: "bad scheme", host: "ssh://host", wantErr: true},
		{name: "empty unix", host: "unix://", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proto, addr, err := ParseHost(tt.host)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseHost(%q) = %q %q, want error", tt.host, proto, addr)
				}
				return
			}
			if err != nil || proto != tt.proto || addr != tt.addr {
				t.Fatalf("ParseHost(%q) = %q, %q, %v; want %q, %q", tt.host, proto, addr, err, tt.proto, tt.addr)
			}
		})
	}
}

func TestVersionNegotiation(t *testing.T) {
	tests := []struct {
		name, server, want string
	}{
		{name: "older server lowers", server: "1.41", want: "/v1.41/info"},
		{name: "newer server keeps ours", server: "1.56", want: "/v" + DefaultVersion + "/info"},
		{name: "no header keeps ours", server: "", want: "/v" + DefaultVersion + "/info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pings atomic.Int32
			var got atomic.Value
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/_ping" {
					pings.Add(1)
					if tt.server != "" {
						w.Header().Set("Api-Version", tt.server)
					}
					return
				}
				got.Store(r.URL.Path)
				writeJSON(w, 200, map[string]any{"ID": "x"})
			})
			c := newTCPServer(t, h)
			for range 3 {
				if _, err := c.Info(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got.Load() != tt.want {
				t.Errorf("path = %v, want %s", got.Load(), tt.want)
			}
			if pings.Load() != 1 {
				t.Errorf("pinged %d times, want once", pings.Load())
			}
		})
	}
}

func TestWithVersionSkipsPing(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			t.Error("unexpected ping")
		}
		if r.URL.Path != "/v1.44/version" {
			t.Errorf("path = %s", r.URL.Path)
		}
		writeJSON(w, 200, map[string]any{"Version": "1.0"})
	})
	c := newTCPServer(t, h, WithVersion("1.44"))
	v, err := c.ServerVersion(context.Background())
	if err != nil || v.Version != "1.0" {
		t.Fatalf("ServerVersion = %+v, %v", v, err)
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		category error
		message  string
	}{
		{name: "not found", status: 404, body: `{"message":"No such container: foo"}`, category: errdefs.ErrNotFound, message: "No such container: foo"},
		{name: "conflict", status: 409, body: `{"message":"cannot remove container \"/x\": container is running: stop the container before removing or force remove"}`, category: errdefs.ErrConflict, message: `cannot remove container "/x": container is running: stop the container before removing or force remove`},
		{name: "bad request", status: 400, body: `{"message":"invalid filter"}`, category: errdefs.ErrInvalidArgument, message: "invalid filter"},
		{name: "unauthorized", status: 401, body: `{"message":"login"}`, category: errdefs.ErrUnauthenticated, message: "login"},
		{name: "forbidden", status: 403, body: `{"message":"read-only"}`, category: errdefs.ErrPermissionDenied, message: "read-only"},
		{name: "not implemented", status: 501, body: `{"message":"pull is not implemented"}`, category: errdefs.ErrNotImplemented, message: "pull is not implemented"},
		{name: "internal", status: 500, body: `{"message":"boom"}`, category: errdefs.ErrInternal, message: "boom"},
		{name: "plain text body", status: 500, body: "something broke\n", category: errdefs.ErrInternal, message: "something broke"},
		{name: "empty body", status: 404, body: "", category: errdefs.ErrNotFound, message: "404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			c := newTCPServer(t, h)
			err := c.ContainerRemove(context.Background(), "x", ContainerRemoveOptions{})
			if err == nil {
				t.Fatal("expected an error")
			}
			if err.Error() != tt.message {
				t.Errorf("message = %q, want %q", err.Error(), tt.message)
			}
			if !errors.Is(err, tt.category) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.category)
			}
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status {
				t.Errorf("not an *Error with status %d: %#v", tt.status, err)
			}
		})
	}
	// The errdefs helpers see the category too.
	if !errdefs.IsNotFound(newError(404, nil)) || !errdefs.IsConflict(newError(409, nil)) {
		t.Error("errdefs.Is* does not recognise the mapped categories")
	}
}

func TestNotModifiedIsSuccess(t *testing.T) {
	h := pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotModified)
	}))
	c := newTCPServer(t, h)
	if err := c.ContainerStart(context.Background(), "x", ContainerStartOptions{}); err != nil {
		t.Fatalf("start of a running container: %v", err)
	}
}

func TestConnectionError(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "missing.sock")
	c, err := New("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ContainerList(context.Background(), ContainerListOptions{})
	want := "Cannot connect to the Berth daemon at unix://" + sock + ". Is the daemon running?"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if !IsErrConnectionFailed(err) || !errdefs.IsUnavailable(err) {
		t.Errorf("connection error not recognised: %#v", err)
	}

	// A TCP port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, _ = New("tcp://" + addr)
	if _, err := c.Info(context.Background()); !IsErrConnectionFailed(err) {
		t.Errorf("tcp: err = %v, want connection error", err)
	}
}

func TestUnixSocketAndQuery(t *testing.T) {
	h := pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.47/containers/json" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		if q.Get("all") != "1" || q.Get("limit") != "2" || q.Get("size") != "1" {
			t.Errorf("query = %s", r.URL.RawQuery)
		}
		var f map[string][]string
		if err := json.Unmarshal([]byte(q.Get("filters")), &f); err != nil || f["status"][0] != "exited" || f["label"][0] != "a=b" {
			t.Errorf("filters = %q (%v)", q.Get("filters"), err)
		}
		writeJSON(w, 200, []container.Summary{{ID: "abc", Names: []string{"/one"}}})
	}))
	c := newUnixServer(t, h)
	list, err := c.ContainerList(context.Background(), ContainerListOptions{
		All: true, Limit: 2, Size: true,
		Filters: Filters{}.Add("status", "exited").Add("label", "a=b"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != "abc" {
		t.Fatalf("list = %+v", list)
	}
}

func TestContainerCreateBody(t *testing.T) {
	h := pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1.47/containers/create" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if r.URL.Query().Get("name") != "web" || r.URL.Query().Get("platform") != "linux/amd64" {
			t.Errorf("query = %s", r.URL.RawQuery)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body["Image"] != "alpine" || body["HostConfig"].(map[string]any)["Memory"].(float64) != 1024 {
			t.Errorf("body = %v", body)
		}
		writeJSON(w, 201, container.CreateResponse{ID: "123", Warnings: []string{}})
	}))
	c := newTCPServer(t, h)
	resp, err := c.ContainerCreate(context.Background(), &container.Config{Image: "alpine"},
		&container.HostConfig{Resources: container.Resources{Memory: 1024}}, nil,
		ContainerCreateOptions{Name: "web", Platform: "linux/amd64"})
	if err != nil || resp.ID != "123" {
		t.Fatalf("create = %+v, %v", resp, err)
	}
}

func TestContainerWaitRegistersBeforeReturning(t *testing.T) {
	release := make(chan struct{})
	registered := make(chan struct{})
	h := pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("condition") != "next-exit" {
			t.Errorf("condition = %q", r.URL.Query().Get("condition"))
		}
		// The daemon registers the waiter before it sends the headers.
		close(registered)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-release
		_ = json.NewEncoder(w).Encode(container.WaitResponse{StatusCode: 3})
	}))
	c := newTCPServer(t, h)
	// Unblock the handler before the server's cleanup waits for it, even when the test fails early.
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	results, errs := c.ContainerWait(context.Background(), "x", container.WaitConditionNextExit)
	select {
	case <-registered:
	default:
		t.Fatal("ContainerWait returned before the daemon registered the waiter")
	}
	unblock()
	select {
	case r := <-results:
		if r.StatusCode != 3 {
			t.Errorf("status = %d", r.StatusCode)
		}
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("timeout")
	}
}

func TestContainerWaitError(t *testing.T) {
	h := pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 404, map[string]string{"message": "No such container: x"})
	}))
	c := newTCPServer(t, h)
	_, errs := c.ContainerWait(context.Background(), "x", "")
	if err := <-errs; !errdefs.IsNotFound(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestEventsStream(t *testing.T) {
	h := pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("since") != "100" || !strings.Contains(q.Get("filters"), `"type":["container"]`) {
			t.Errorf("query = %s", r.URL.RawQuery)
		}
		enc := json.NewEncoder(w)
		for _, a := range []events.Action{"create", "start"} {
			_ = enc.Encode(events.Message{Type: "container", Action: a, Actor: events.Actor{ID: "abc"}, TimeNano: 1})
			w.(http.Flusher).Flush()
		}
	}))
	c := newTCPServer(t, h)
	msgs, errs := c.Events(context.Background(), EventsOptions{Since: "100", Filters: Filters{"type": {"container"}}})
	var got []string
	for m := range msgs {
		got = append(got, string(m.Action))
	}
	if strings.Join(got, ",") != "create,start" {
		t.Errorf("actions = %v", got)
	}
	if err := <-errs; err == nil || err.Error() != "EOF" {
		t.Errorf("end error = %v, want EOF", err)
	}
}

func TestDiskUsageLegacyShape(t *testing.T) {
	h := pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{
			"LayersSize": 100,
			"Images":     []map[string]any{{"Id": "a", "Size": 60, "Containers": 1}, {"Id": "b", "Size": 40, "Containers": 0}},
			"Containers": []map[string]any{{"Id": "c1", "State": "running", "SizeRw": 5}, {"Id": "c2", "State": "exited", "SizeRw": 7}},
			"Volumes":    []volume.Volume{{Name: "v", UsageData: &volume.UsageData{Size: 9, RefCount: 0}}},
		})
	}))
	c := newTCPServer(t, h)
	du, err := c.DiskUsage(context.Background(), DiskUsageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if du.ImageUsage.TotalCount != 2 || du.ImageUsage.ActiveCount != 1 || du.ImageUsage.TotalSize != 100 || du.ImageUsage.Reclaimable != 40 {
		t.Errorf("images = %+v", *du.ImageUsage)
	}
	if du.ContainerUsage.TotalSize != 12 || du.ContainerUsage.ActiveCount != 1 || du.ContainerUsage.Reclaimable != 7 {
		t.Errorf("containers = %+v", *du.ContainerUsage)
	}
	if du.VolumeUsage.TotalSize != 9 || du.VolumeUsage.Reclaimable != 9 {
		t.Errorf("volumes = %+v", *du.VolumeUsage)
	}
}

func TestArchiveStatHeader(t *testing.T) {
	h := pingHandler("1.47", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("path") != "/etc/hostname" {
			t.Errorf("path = %q", r.URL.Query().Get("path"))
		}
		w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString([]byte(`{"name":"hostname","size":13,"mode":420,"mtime":"2024-01-01T00:00:00Z","linkTarget":""}`)))
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte("tar"))
		}
	}))
	c := newTCPServer(t, h)
	st, err := c.ContainerStatPath(context.Background(), "x", "/etc/hostname")
	if err != nil || st.Name != "hostname" || st.Size != 13 || st.Mode != 0o644 {
		t.Fatalf("stat = %+v, %v", st, err)
	}
	rc, st, err := c.CopyFromContainer(context.Background(), "x", "/etc/hostname")
	if err != nil || st.Name != "hostname" {
		t.Fatalf("copy = %+v, %v", st, err)
	}
	rc.Close()
}

func TestGetTimestamp(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "10s", want: "990.000000000"},
		{in: "1500", want: "1500"},
		{in: "1500.25", want: "1500.25"},
		{in: "1970-01-01T00:10:00Z", want: "600.000000000"},
		{in: "1970-01-01T01:10:00+01:00", want: "600.000000000"},
		{in: "1970-01-01T00:10", want: strconv.FormatInt(time.Date(1970, 1, 1, 0, 10, 0, 0, time.Local).Unix(), 10) + ".000000000"},
		{in: "not a time", wantErr: true},
	}
	for _, tt := range tests {
		got, err := GetTimestamp(tt.in, now)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("GetTimestamp(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSplitRepoTag(t *testing.T) {
	tests := []struct{ in, repo, tag string }{
		{"alpine", "alpine", ""},
		{"alpine:3.20", "alpine", "3.20"},
		{"localhost:5000/app", "localhost:5000/app", ""},
		{"localhost:5000/app:v1", "localhost:5000/app", "v1"},
		{"app@sha256:abc", "app@sha256:abc", ""},
	}
	for _, tt := range tests {
		if r, tag := splitRepoTag(tt.in); r != tt.repo || tag != tt.tag {
			t.Errorf("splitRepoTag(%q) = %q, %q", tt.in, r, tag)
		}
	}
}

package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/daemon"
	"github.com/berth/berth/internal/testutil"
)

// newTestServer serves the API of a real daemon whose state lives in temp dirs.
func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	testutil.RequiresRoot(t)
	dir := t.TempDir()
	d, err := daemon.New(context.Background(), daemon.Config{DataRoot: dir + "/data", ExecRoot: dir + "/exec", ShimPath: "/nonexistent/berth-shim", Bridge: "none"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	srv := httptest.NewServer(New(d))
	t.Cleanup(srv.Close)
	return srv
}

func TestAPIBasics(t *testing.T) {
	srv := newTestServer(t)
	tests := []struct {
		name, method, path string
		body               string
		status             int
		message            string // expected {"message": ...} for errors
	}{
		{name: "ping", method: "GET", path: "/_ping", status: 200},
		{name: "ping head", method: "HEAD", path: "/_ping", status: 200},
		{name: "versioned ping", method: "GET", path: "/v1.44/_ping", status: 200},
		{name: "version", method: "GET", path: "/v1.47/version", status: 200},
		{name: "too new", method: "GET", path: "/v1.99/version", status: 400, message: "client version 1.99 is too new. Maximum supported API version is " + daemon.APIVersion},
		{name: "too old", method: "GET", path: "/v1.12/version", status: 400},
		{name: "no such container", method: "GET", path: "/containers/nope/json", status: 404, message: "No such container: nope"},
		{name: "no such image", method: "GET", path: "/images/nope/json", status: 404, message: "No such image: nope:latest"},
		{name: "create from missing image", method: "POST", path: "/containers/create", body: `{"Image":"nope"}`, status: 404, message: "No such image: nope:latest"},
		{name: "bad json", method: "POST", path: "/containers/create", body: `{`, status: 400},
		{name: "bad filter", method: "GET", path: "/containers/json?filters=" + url.QueryEscape(`{"bogus":["x"]}`), status: 400, message: "invalid filter 'bogus'"},
		{name: "list", method: "GET", path: "/containers/json?all=1&filters=" + url.QueryEscape(`{"status":{"exited":true}}`), status: 200},
		{name: "volume create", method: "POST", path: "/volumes/create", body: `{"Name":"v1"}`, status: 201},
		{name: "volume bad name", method: "POST", path: "/volumes/create", body: `{"Name":"a/b"}`, status: 400},
		{name: "volume missing", method: "GET", path: "/volumes/nope", status: 404},
		{name: "unknown route", method: "GET", path: "/nope", status: 404, message: "page not found"},
		{name: "system df", method: "GET", path: "/system/df", status: 200},
		{name: "info", method: "GET", path: "/info", status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if resp.Header.Get("Api-Version") != daemon.APIVersion {
				t.Fatalf("Api-Version header %q", resp.Header.Get("Api-Version"))
			}
			if tt.message != "" {
				var e struct{ Message string }
				if err := json.Unmarshal(body, &e); err != nil || e.Message != tt.message {
					t.Fatalf("message %q, want %q (%s)", e.Message, tt.message, body)
				}
			}
		})
	}
}

func TestStatusFor(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{errdefs.ErrNotFound, 404},
		{errdefs.ErrInvalidArgument, 400},
		{errdefs.ErrConflict, 409},
		{errdefs.ErrAlreadyExists, 409},
		{errdefs.ErrNotModified, 304},
		{errdefs.ErrNotImplemented, 501},
		{errdefs.ErrUnavailable, 503},
		{io.EOF, 500},
	}
	for _, tt := range tests {
		if got := statusFor(tt.err); got != tt.want {
			t.Errorf("statusFor(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestFiltersParam(t *testing.T) {
	for _, raw := range []string{`{"status":["exited","created"]}`, `{"status":{"exited":true,"created":true}}`} {
		r := httptest.NewRequest("GET", "/containers/json?filters="+url.QueryEscape(raw), nil)
		f, err := filtersParam(r)
		if err != nil || len(f.Get("status")) != 2 {
			t.Fatalf("filtersParam(%s) = %v, %v", raw, f, err)
		}
	}
	r := httptest.NewRequest("GET", "/containers/json?filters=notjson", nil)
	if _, err := filtersParam(r); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad filters: %v", err)
	}
}

func TestSplitAction(t *testing.T) {
	tests := []struct{ in, name, action string }{
		{"busybox/json", "busybox", "json"},
		{"docker.io/library/busybox:1.36/history", "docker.io/library/busybox:1.36", "history"},
		{"localhost:5000/a/b/get", "localhost:5000/a/b", "get"},
	}
	for _, tt := range tests {
		if n, a := splitAction(tt.in); n != tt.name || a != tt.action {
			t.Errorf("splitAction(%q) = %q %q", tt.in, n, a)
		}
	}
}

package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestAPIBasics(t *testing.T) {
	srv, _ := newFakeEngine().serve(t)
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
		{name: "too new", method: "GET", path: "/v1.99/version", status: 400, message: "client version 1.99 is too new. Maximum supported API version is " + APIVersion},
		{name: "too old", method: "GET", path: "/v1.12/version", status: 400},
		{name: "no such container", method: "GET", path: "/containers/nope/json", status: 404, message: "No such container: nope"},
		{name: "no such image", method: "GET", path: "/images/nope/json", status: 404, message: "No such image: nope"},
		{name: "create without image", method: "POST", path: "/containers/create", body: `{}`, status: 400, message: "No command specified"},
		{name: "bad json", method: "POST", path: "/containers/create", body: `{`, status: 400},
		{name: "bad filter JSON", method: "GET", path: "/containers/json?filters=" + url.QueryEscape(`{"bogus":`), status: 400},
		{name: "list", method: "GET", path: "/containers/json?all=1&filters=" + url.QueryEscape(`{"status":{"exited":true}}`), status: 200},
		{name: "volume create", method: "POST", path: "/volumes/create", body: `{"Name":"v1"}`, status: 201},
		{name: "volume bad name", method: "POST", path: "/volumes/create", body: `{"Name":"a/b"}`, status: 400},
		{name: "volume of a plugin", method: "POST", path: "/volumes/create", body: `{"Name":"v2","Driver":"nfs"}`, status: 404, message: `error looking up volume plugin nfs: plugin "nfs" not found`},
		{name: "start missing", method: "POST", path: "/containers/nope/start", status: 404, message: "No such container: nope"},
		{name: "wait bad condition", method: "POST", path: "/containers/nope/wait?condition=bogus", status: 400, message: "invalid condition: bogus"},
		{name: "stop bad timeout", method: "POST", path: "/containers/nope/stop?t=soon", status: 400, message: "invalid value for timeout: soon"},
		{name: "exec of missing instance", method: "POST", path: "/exec/nope/start", body: `{}`, status: 404, message: "No such exec instance: nope"},
		{name: "BuildKit refused", method: "POST", path: "/build?version=2", status: 501},
		{name: "BuildKit session refused", method: "POST", path: "/session", status: 501},
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
			if resp.Header.Get("Api-Version") != APIVersion {
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

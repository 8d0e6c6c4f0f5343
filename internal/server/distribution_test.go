package server

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth/berth/internal/distribution"
	"github.com/berth/berth/internal/image"
)

func TestProgressStreamWireFormat(t *testing.T) {
	rec := httptest.NewRecorder()
	ps := newProgressStream(rec)
	ps.send(image.Progress{ID: "latest", Status: "Pulling from library/busybox", Plain: true})
	ps.send(image.Progress{ID: "0123456789ab", Status: "Pulling fs layer"})
	ps.send(image.Progress{ID: "0123456789ab", Status: "Downloading", Current: 1000000, Total: 4000000})
	ps.send(image.Progress{Status: "Digest: sha256:abc"})
	ps.send(image.Progress{Pushed: &image.PushResult{Tag: "latest", Digest: "sha256:abc", Size: 527}})
	ps.fail(errors.New("unauthorized: authentication required"))

	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	want := []string{
		`{"status":"Pulling from library/busybox","id":"latest"}`,
		`{"status":"Pulling fs layer","progressDetail":{},"id":"0123456789ab"}`,
		`{"status":"Downloading","progressDetail":{"current":1000000,"total":4000000},"progress":"[============\u003e                                      ]      1MB/4MB","id":"0123456789ab"}`,
		`{"status":"Digest: sha256:abc"}`,
		`{"progressDetail":{},"aux":{"Tag":"latest","Digest":"sha256:abc","Size":527}}`,
		`{"errorDetail":{"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"}`,
	}
	got := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(got), rec.Body.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

// An error before any progress is a plain error response with the category's status.
func TestProgressStreamEarlyError(t *testing.T) {
	rec := httptest.NewRecorder()
	newProgressStream(rec).fail(errors.New("boom"))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"message":"boom"`) {
		t.Errorf("early error: %d %s", rec.Code, rec.Body.String())
	}
}

// X-Registry-Auth is base64url JSON of Docker's AuthConfig; the routes hand the service Berth's credentials.
func TestRegistryAuthHeader(t *testing.T) {
	encode := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.URLEncoding.EncodeToString(b)
	}
	alice := distribution.Credentials{Username: "alice", Password: "p+/=?", ServerAddress: "r.example:5000"}
	tests := []struct {
		name   string
		header string
		want   distribution.Credentials
	}{
		{name: "none is anonymous", header: "", want: distribution.Credentials{}},
		{name: "padded base64url", header: encode(map[string]string{"username": "alice", "password": "p+/=?", "serveraddress": "r.example:5000"}), want: alice},
		{name: "unpadded base64url", header: strings.TrimRight(encode(map[string]string{"username": "alice", "password": "p+/=?", "serveraddress": "r.example:5000"}), "="), want: alice},
		{name: "config.json's auth field", header: encode(map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("alice:p+/=?")), "serveraddress": "r.example:5000"}), want: alice},
		{name: "auth field that does not decode is ignored", header: encode(map[string]string{"auth": "!!!"}), want: distribution.Credentials{}},
		{name: "tokens", header: encode(map[string]string{"identitytoken": "refresh", "registrytoken": "bearer"}),
			want: distribution.Credentials{IdentityToken: "refresh", RegistryToken: "bearer"}},
		{name: "garbage is anonymous, as dockerd", header: "!!!not base64", want: distribution.Credentials{}},
		{name: "base64 of something not JSON is anonymous", header: base64.URLEncoding.EncodeToString([]byte("alice:pw")), want: distribution.Credentials{}},
	}
	for _, tc := range tests {
		for _, route := range []struct{ method, path string }{
			{"POST", "/images/create?fromImage=r.example:5000/app&tag=1"},
			{"POST", "/images/r.example:5000/app/push?tag=1"},
			{"GET", "/images/search?term=r.example:5000/app"},
		} {
			t.Run(tc.name+" "+route.path, func(t *testing.T) {
				e := newFakeEngine()
				srv, _ := e.serve(t)
				req, _ := http.NewRequest(route.method, srv.URL+"/v1.47"+route.path, nil)
				if tc.header != "" {
					req.Header.Set("X-Registry-Auth", tc.header)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				if got := e.dist.last(); got != tc.want {
					t.Errorf("credentials %+v, want %+v", got, tc.want)
				}
			})
		}
	}
}

func TestLoginAndSearchJSON(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		path    string
		body    string
		results []distribution.SearchResult
		status  int
		want    string
	}{
		{name: "login succeeds", method: "POST", path: "/auth", body: `{"username":"alice","password":"s3cret","serveraddress":"r.example"}`,
			status: 200, want: `{"Status":"Login Succeeded"}`},
		{name: "login with config.json's auth field", method: "POST", path: "/auth",
			body:   `{"auth":"` + base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) + `","serveraddress":"r.example"}`,
			status: 200, want: `{"Status":"Login Succeeded"}`},
		{name: "login refused is 401 with the registry's words", method: "POST", path: "/auth", body: `{"username":"alice","password":"nope"}`,
			status: 401, want: `{"message":"login attempt to https://r.example/v2/ failed with status: 401 Unauthorized"}`},
		{name: "login body not JSON", method: "POST", path: "/auth", body: `{`, status: 400},
		{name: "search results in Hub's shape", method: "GET", path: "/images/search?term=app",
			results: []distribution.SearchResult{{Name: "app", Description: "the app", Stars: 42, Official: true}, {Name: "r.example/team/app"}},
			status:  200, want: `[{"name":"app","description":"the app","star_count":42,"is_official":true,"is_automated":false},
				{"name":"r.example/team/app","description":"","star_count":0,"is_official":false,"is_automated":false}]`},
		{name: "no results: an empty list", method: "GET", path: "/images/search?term=zzz", status: 200, want: `[]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEngine()
			e.dist.results = tc.results
			srv, _ := e.serve(t)
			req, _ := http.NewRequest(tc.method, srv.URL+"/v1.47"+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if tc.want == "" {
				return
			}
			var got any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			sameJSON(t, got, tc.want)
		})
	}
}

package registry_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth/berth/internal/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type env struct {
	t    *testing.T
	srv  *httptest.Server
	root string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e, _ := newRegistryEnv(t)
	return e
}

// newRegistryEnv serves a fresh registry over httptest and also returns it, for tests that call it directly.
func newRegistryEnv(t *testing.T) (*env, *registry.Registry) {
	t.Helper()
	return serveRoot(t, t.TempDir())
}

// serveRoot serves the registry kept under root over httptest.
func serveRoot(t *testing.T, root string, opts ...registry.Option) (*env, *registry.Registry) {
	t.Helper()
	reg, err := registry.New(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, root: root}, reg
}

func (e *env) do(method, path string, body []byte, hdr map[string]string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func errCode(t *testing.T, r *http.Response) string {
	t.Helper()
	var body struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if err := json.Unmarshal(readAll(t, r), &body); err != nil || len(body.Errors) == 0 {
		return ""
	}
	return body.Errors[0].Code
}

// pushBlob uploads a blob monolithically and fails the test unless 201.
func (e *env) pushBlob(name string, data []byte) digest.Digest {
	e.t.Helper()
	d := digest.FromBytes(data)
	r := e.do(http.MethodPost, "/v2/"+name+"/blobs/uploads/?digest="+d.String(), data, nil)
	if r.StatusCode != http.StatusCreated {
		e.t.Fatalf("push blob: %d", r.StatusCode)
	}
	return d
}

func (e *env) pushManifest(name, ref, mt string, m any) (digest.Digest, *http.Response) {
	e.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		e.t.Fatal(err)
	}
	r := e.do(http.MethodPut, "/v2/"+name+"/manifests/"+ref, b, map[string]string{"Content-Type": mt})
	return digest.FromBytes(b), r
}

func desc(mt string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

type manifest struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType,omitempty"`
	ArtifactType  string               `json:"artifactType,omitempty"`
	Config        *ocispec.Descriptor  `json:"config,omitempty"`
	Layers        []ocispec.Descriptor `json:"layers,omitempty"`
	Manifests     []ocispec.Descriptor `json:"manifests,omitempty"`
	Subject       *ocispec.Descriptor  `json:"subject,omitempty"`
	Annotations   map[string]string    `json:"annotations,omitempty"`
}

// pushImage pushes config + layer + manifest under tag and returns the manifest digest.
func (e *env) pushImage(name, tag string) digest.Digest {
	e.t.Helper()
	cfg, layer := []byte(`{"architecture":"amd64"}`), []byte("layer-"+name+tag)
	e.pushBlob(name, cfg)
	e.pushBlob(name, layer)
	cd := desc(ocispec.MediaTypeImageConfig, cfg)
	d, r := e.pushManifest(name, tag, ocispec.MediaTypeImageManifest, manifest{
		SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: &cd,
		Layers: []ocispec.Descriptor{desc(ocispec.MediaTypeImageLayerGzip, layer)},
	})
	if r.StatusCode != http.StatusCreated {
		e.t.Fatalf("push manifest: %d %s", r.StatusCode, readAll(e.t, r))
	}
	return d
}

func TestBase(t *testing.T) {
	e := newEnv(t)
	r := e.do(http.MethodGet, "/v2/", nil, nil)
	if r.StatusCode != 200 || string(readAll(t, r)) != "{}" || r.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("GET /v2/: %d %v", r.StatusCode, r.Header)
	}
}

func TestPushPull(t *testing.T) {
	e := newEnv(t)
	md := e.pushImage("library/app", "v1")
	layer := []byte("layer-library/appv1")
	ld := digest.FromBytes(layer)

	tests := []struct {
		name, method, path string
		status             int
		digest, ctype      string
		body               []byte
	}{
		{name: "get blob", method: "GET", path: "/v2/library/app/blobs/" + ld.String(), status: 200, digest: ld.String(), body: layer},
		{name: "head blob", method: "HEAD", path: "/v2/library/app/blobs/" + ld.String(), status: 200, digest: ld.String()},
		{name: "get manifest by tag", method: "GET", path: "/v2/library/app/manifests/v1", status: 200, digest: md.String(), ctype: ocispec.MediaTypeImageManifest},
		{name: "head manifest by digest", method: "HEAD", path: "/v2/library/app/manifests/" + md.String(), status: 200, digest: md.String(), ctype: ocispec.MediaTypeImageManifest},
		{name: "blob in other repo", method: "GET", path: "/v2/other/blobs/" + ld.String(), status: 404},
		{name: "unknown tag", method: "GET", path: "/v2/library/app/manifests/v2", status: 404},
		// A reference no tag can match names no manifest: 404, as the conformance suite wants.
		{name: "bad tag", method: "GET", path: "/v2/library/app/manifests/-bad", status: 404},
		{name: "bad tag head", method: "HEAD", path: "/v2/library/app/manifests/.INVALID_MANIFEST_NAME", status: 404},
		{name: "bad digest", method: "GET", path: "/v2/library/app/blobs/sha256:zz", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, nil, nil)
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", r.StatusCode, tt.status)
			}
			if tt.digest != "" && r.Header.Get("Docker-Content-Digest") != tt.digest {
				t.Errorf("digest %q", r.Header.Get("Docker-Content-Digest"))
			}
			if tt.ctype != "" && r.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("content-type %q", r.Header.Get("Content-Type"))
			}
			if tt.body != nil {
				if got := readAll(t, r); !bytes.Equal(got, tt.body) {
					t.Errorf("body %q", got)
				}
				if r.ContentLength != int64(len(tt.body)) {
					t.Errorf("content-length %d", r.ContentLength)
				}
			}
		})
	}
	// The pulled manifest is byte-identical to what hashes to its digest.
	r := e.do("GET", "/v2/library/app/manifests/v1", nil, nil)
	if digest.FromBytes(readAll(t, r)) != md {
		t.Fatal("manifest bytes changed")
	}
}

func TestErrorCodes(t *testing.T) {
	e := newEnv(t)
	e.pushImage("app", "v1")
	cfg := []byte("{}")
	cd := desc(ocispec.MediaTypeImageConfig, cfg)
	missing := desc(ocispec.MediaTypeImageLayerGzip, []byte("never pushed"))
	ghost := desc(ocispec.MediaTypeImageManifest, []byte("no such manifest"))
	e.pushBlob("app", cfg)
	tests := []struct {
		name, method, path string
		body               []byte
		hdr                map[string]string
		status             int
		code               string
	}{
		{name: "blob unknown", method: "GET", path: "/v2/app/blobs/" + missing.Digest.String(), status: 404, code: "BLOB_UNKNOWN"},
		{name: "name invalid", method: "GET", path: "/v2/App/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "name unknown", method: "GET", path: "/v2/nope/tags/list", status: 404, code: "NAME_UNKNOWN"},
		{name: "upload unknown", method: "GET", path: "/v2/app/blobs/uploads/00000000-0000-4000-8000-000000000000", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload id not a uuid", method: "PATCH", path: "/v2/app/blobs/uploads/..", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "manifest unknown", method: "GET", path: "/v2/app/manifests/" + missing.Digest.String(), status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "manifest not json", method: "PUT", path: "/v2/app/manifests/x", body: []byte("{"), hdr: map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}, status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest media type unsupported", method: "PUT", path: "/v2/app/manifests/x", body: []byte(`{"schemaVersion":2}`), hdr: map[string]string{"Content-Type": "text/plain"}, status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest missing layer", method: "PUT", path: "/v2/app/manifests/x", body: mustJSON(t, manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: &cd, Layers: []ocispec.Descriptor{missing}}), hdr: map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}, status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "index missing child", method: "PUT", path: "/v2/app/manifests/x", body: mustJSON(t, manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{ghost}}), hdr: map[string]string{"Content-Type": ocispec.MediaTypeImageIndex}, status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "manifest digest mismatch", method: "PUT", path: "/v2/app/manifests/" + missing.Digest.String(), body: mustJSON(t, manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: &cd}), hdr: map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}, status: 400, code: "DIGEST_INVALID"},
		{name: "tag invalid", method: "PUT", path: "/v2/app/manifests/.bad", body: []byte("{}"), status: 400, code: "TAG_INVALID"},
		{name: "unsupported method", method: "POST", path: "/v2/app/manifests/v1", status: 405, code: "UNSUPPORTED"},
		{name: "bad pagination", method: "GET", path: "/v2/app/tags/list?n=-1", status: 400, code: "PAGINATION_NUMBER_INVALID"},
		{name: "unsupported digest algorithm", method: "GET", path: "/v2/app/blobs/sha384:" + strings.Repeat("a", 96), status: 400, code: "DIGEST_INVALID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, tt.body, tt.hdr)
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", r.StatusCode, tt.status)
			}
			if got := errCode(t, r); got != tt.code {
				t.Errorf("code %q, want %q", got, tt.code)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestChunkedUpload(t *testing.T) {
	e := newEnv(t)
	data := []byte("hello, chunked world")
	d := digest.FromBytes(data)

	r := e.do("POST", "/v2/app/blobs/uploads/", nil, nil)
	if r.StatusCode != 202 || r.Header.Get("Docker-Upload-UUID") == "" {
		t.Fatalf("start: %d", r.StatusCode)
	}
	loc := r.Header.Get("Location")

	steps := []struct {
		name, method, rng string
		body              []byte
		status            int
		wantRange         string
	}{
		{name: "first chunk", method: "PATCH", rng: "0-4", body: data[:5], status: 202, wantRange: "0-4"},
		{name: "gap is rejected", method: "PATCH", rng: "6-9", body: data[6:10], status: 416},
		{name: "overlap is rejected", method: "PATCH", rng: "3-9", body: data[3:10], status: 416},
		{name: "length disagrees with range", method: "PATCH", rng: "5-9", body: data[5:8], status: 416},
		{name: "status unchanged", method: "GET", status: 204, wantRange: "0-4"},
		{name: "second chunk", method: "PATCH", rng: "5-9", body: data[5:10], status: 202, wantRange: "0-9"},
		{name: "streamed chunk", method: "PATCH", body: data[10:15], status: 202, wantRange: "0-14"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			hdr := map[string]string{}
			if s.rng != "" {
				hdr["Content-Range"] = s.rng
			}
			r := e.do(s.method, loc, s.body, hdr)
			if r.StatusCode != s.status {
				t.Fatalf("status %d, want %d", r.StatusCode, s.status)
			}
			if s.wantRange != "" && r.Header.Get("Range") != s.wantRange {
				t.Errorf("range %q, want %q", r.Header.Get("Range"), s.wantRange)
			}
		})
	}
	// Finish with the final chunk in the PUT body.
	r = e.do("PUT", loc+"?digest="+d.String(), data[15:], nil)
	if r.StatusCode != 201 || r.Header.Get("Docker-Content-Digest") != d.String() || r.Header.Get("Location") != "/v2/app/blobs/"+d.String() {
		t.Fatalf("finish: %d %v", r.StatusCode, r.Header)
	}
	r = e.do("GET", "/v2/app/blobs/"+d.String(), nil, nil)
	if got := readAll(t, r); !bytes.Equal(got, data) {
		t.Fatalf("got %q", got)
	}
	if r = e.do("GET", loc, nil, nil); r.StatusCode != 404 {
		t.Fatalf("upload still present: %d", r.StatusCode)
	}
}

func TestDigestMismatch(t *testing.T) {
	e := newEnv(t)
	claimed := digest.FromBytes([]byte("something else"))
	tests := []struct {
		name string
		push func() *http.Response
	}{
		{name: "monolithic", push: func() *http.Response {
			return e.do("POST", "/v2/app/blobs/uploads/?digest="+claimed.String(), []byte("data"), nil)
		}},
		{name: "put after patch", push: func() *http.Response {
			loc := e.do("POST", "/v2/app/blobs/uploads/", nil, nil).Header.Get("Location")
			e.do("PATCH", loc, []byte("data"), nil)
			return e.do("PUT", loc+"?digest="+claimed.String(), nil, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.push()
			if r.StatusCode != 400 || errCode(t, r) != "DIGEST_INVALID" {
				t.Fatalf("status %d", r.StatusCode)
			}
			if r := e.do("HEAD", "/v2/app/blobs/"+claimed.String(), nil, nil); r.StatusCode != 404 {
				t.Fatalf("blob visible: %d", r.StatusCode)
			}
			for _, d := range []digest.Digest{claimed, digest.FromBytes([]byte("data"))} {
				if _, err := os.Stat(filepath.Join(e.root, "blobs", "sha256", d.Encoded())); err == nil {
					t.Fatalf("blob %s stored", d)
				}
			}
		})
	}
}

func TestSHA512Blob(t *testing.T) {
	e := newEnv(t)
	data := []byte("sha512 content")
	d := digest.SHA512.FromBytes(data)
	loc := e.do("POST", "/v2/app/blobs/uploads/", nil, nil).Header.Get("Location")
	if r := e.do("PUT", loc+"?digest="+d.String(), data, nil); r.StatusCode != 201 {
		t.Fatalf("put: %d", r.StatusCode)
	}
	r := e.do("GET", "/v2/app/blobs/"+d.String(), nil, nil)
	if r.StatusCode != 200 || r.Header.Get("Docker-Content-Digest") != d.String() || !bytes.Equal(readAll(t, r), data) {
		t.Fatalf("get: %d", r.StatusCode)
	}
	bad := digest.SHA512.FromBytes([]byte("other"))
	if r := e.do("POST", "/v2/app/blobs/uploads/?digest="+bad.String(), data, nil); r.StatusCode != 400 {
		t.Fatalf("mismatch accepted: %d", r.StatusCode)
	}
}

func TestMount(t *testing.T) {
	e := newEnv(t)
	d := e.pushBlob("src", []byte("shared layer"))
	missing := digest.FromBytes([]byte("missing"))
	tests := []struct {
		name, query string
		status      int
	}{
		{name: "existing blob", query: "?mount=" + d.String() + "&from=src", status: 201},
		{name: "blob not in source", query: "?mount=" + missing.String() + "&from=src", status: 202},
		{name: "no from (automatic discovery)", query: "?mount=" + d.String(), status: 201},
		{name: "no from, missing blob", query: "?mount=" + missing.String(), status: 202},
		{name: "bad from", query: "?mount=" + d.String() + "&from=../src", status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("POST", "/v2/dst/blobs/uploads/"+tt.query, nil, nil)
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", r.StatusCode, tt.status)
			}
			if tt.status == 202 && r.Header.Get("Docker-Upload-UUID") == "" {
				t.Error("no upload started")
			}
		})
	}
	if r := e.do("HEAD", "/v2/dst/blobs/"+d.String(), nil, nil); r.StatusCode != 200 {
		t.Fatalf("mounted blob: %d", r.StatusCode)
	}
}

func TestTagsAndCatalogPagination(t *testing.T) {
	e := newEnv(t)
	for _, tag := range []string{"c", "a", "b", "d"} {
		e.pushImage("app", tag)
	}
	for _, name := range []string{"zeta", "alpha/nested", "mid"} {
		e.pushBlob(name, []byte(name))
	}
	tests := []struct {
		name, path, key string
		want            []string
		link            string
	}{
		{name: "all tags", path: "/v2/app/tags/list", key: "tags", want: []string{"a", "b", "c", "d"}},
		{name: "first page", path: "/v2/app/tags/list?n=2", key: "tags", want: []string{"a", "b"}, link: `</v2/app/tags/list?last=b&n=2>; rel="next"`},
		{name: "second page", path: "/v2/app/tags/list?n=2&last=b", key: "tags", want: []string{"c", "d"}},
		{name: "after last", path: "/v2/app/tags/list?last=d", key: "tags", want: []string{}},
		{name: "catalog", path: "/v2/_catalog", key: "repositories", want: []string{"alpha/nested", "app", "mid", "zeta"}},
		{name: "catalog page", path: "/v2/_catalog?n=1&last=app", key: "repositories", want: []string{"mid"}, link: `</v2/_catalog?last=mid&n=1>; rel="next"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("GET", tt.path, nil, nil)
			if r.StatusCode != 200 {
				t.Fatalf("status %d", r.StatusCode)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(readAll(t, r), &body); err != nil {
				t.Fatal(err)
			}
			var got []string
			if err := json.Unmarshal(body[tt.key], &got); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || got == nil {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if l := r.Header.Get("Link"); l != tt.link {
				t.Errorf("link %q, want %q", l, tt.link)
			}
		})
	}
}

func TestReferrers(t *testing.T) {
	e := newEnv(t)
	subject := e.pushImage("app", "v1")
	sr := e.do("HEAD", "/v2/app/manifests/v1", nil, nil)
	sdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: subject, Size: sr.ContentLength}
	empty := e.pushBlob("app", []byte("{}"))
	cfg := ocispec.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: empty, Size: 2}

	for _, at := range []string{"application/vnd.example.sig", "application/vnd.example.sbom"} {
		m := manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: at, Config: &cfg, Subject: &sdesc, Annotations: map[string]string{"kind": at}}
		// Referrers are pushed by digest, as clients do.
		_, r := e.pushManifest("app", digest.FromBytes(mustJSON(t, m)).String(), ocispec.MediaTypeImageManifest, m)
		if r.StatusCode != 201 || r.Header.Get("OCI-Subject") != subject.String() {
			t.Fatalf("push referrer: %d %q", r.StatusCode, r.Header.Get("OCI-Subject"))
		}
	}
	tests := []struct {
		name, query string
		want        int
		filtered    bool
	}{
		{name: "all", want: 2},
		{name: "filtered", query: "?artifactType=application/vnd.example.sbom", want: 1, filtered: true},
		{name: "filter matches none", query: "?artifactType=x/y", want: 0, filtered: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("GET", "/v2/app/referrers/"+subject.String()+tt.query, nil, nil)
			if r.StatusCode != 200 || r.Header.Get("Content-Type") != ocispec.MediaTypeImageIndex {
				t.Fatalf("status %d %q", r.StatusCode, r.Header.Get("Content-Type"))
			}
			if (r.Header.Get("OCI-Filters-Applied") == "artifactType") != tt.filtered {
				t.Errorf("OCI-Filters-Applied %q", r.Header.Get("OCI-Filters-Applied"))
			}
			var idx ocispec.Index
			if err := json.Unmarshal(readAll(t, r), &idx); err != nil {
				t.Fatal(err)
			}
			if len(idx.Manifests) != tt.want {
				t.Fatalf("got %d referrers, want %d", len(idx.Manifests), tt.want)
			}
			for _, m := range idx.Manifests {
				if m.ArtifactType == "" || m.Annotations["kind"] != m.ArtifactType || m.Size == 0 || m.MediaType != ocispec.MediaTypeImageManifest {
					t.Errorf("descriptor %+v", m)
				}
			}
		})
	}
}

func TestDockerIndex(t *testing.T) {
	e := newEnv(t)
	child := e.pushImage("app", "amd64")
	const listType = "application/vnd.docker.distribution.manifest.list.v2+json"
	d, r := e.pushManifest("app", "multi", listType, manifest{SchemaVersion: 2, MediaType: listType,
		Manifests: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: child, Size: 1}}})
	if r.StatusCode != 201 {
		t.Fatalf("push index: %d %s", r.StatusCode, readAll(t, r))
	}
	r = e.do("GET", "/v2/app/manifests/multi", nil, nil)
	if r.Header.Get("Content-Type") != listType || r.Header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("get index: %v", r.Header)
	}
}

func TestDeletes(t *testing.T) {
	e := newEnv(t)
	md := e.pushImage("app", "v1")
	e.do("PUT", "/v2/app/manifests/v2", mustGet(t, e, "/v2/app/manifests/v1"), map[string]string{"Content-Type": ocispec.MediaTypeImageManifest})
	ld := digest.FromBytes([]byte("layer-appv1"))
	uploadLoc := e.do("POST", "/v2/app/blobs/uploads/", nil, nil).Header.Get("Location")
	steps := []struct {
		name, method, path string
		status             int
	}{
		{name: "delete tag", method: "DELETE", path: "/v2/app/manifests/v2", status: 202},
		{name: "tag gone", method: "GET", path: "/v2/app/manifests/v2", status: 404},
		{name: "other tag kept", method: "GET", path: "/v2/app/manifests/v1", status: 200},
		{name: "delete manifest", method: "DELETE", path: "/v2/app/manifests/" + md.String(), status: 202},
		{name: "manifest gone", method: "GET", path: "/v2/app/manifests/" + md.String(), status: 404},
		{name: "its tags gone", method: "GET", path: "/v2/app/manifests/v1", status: 404},
		{name: "delete again", method: "DELETE", path: "/v2/app/manifests/" + md.String(), status: 404},
		{name: "delete blob", method: "DELETE", path: "/v2/app/blobs/" + ld.String(), status: 202},
		{name: "blob gone", method: "HEAD", path: "/v2/app/blobs/" + ld.String(), status: 404},
		{name: "delete upload", method: "DELETE", path: uploadLoc, status: 204},
		{name: "upload gone", method: "GET", path: uploadLoc, status: 404},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if r := e.do(s.method, s.path, nil, nil); r.StatusCode != s.status {
				t.Fatalf("status %d, want %d", r.StatusCode, s.status)
			}
		})
	}
}

func mustGet(t *testing.T, e *env, path string) []byte {
	t.Helper()
	r := e.do("GET", path, nil, nil)
	if r.StatusCode != 200 {
		t.Fatalf("GET %s: %d", path, r.StatusCode)
	}
	return readAll(t, r)
}

func TestPathEscape(t *testing.T) {
	root := t.TempDir()
	reg, err := registry.New(filepath.Join(root, "reg"))
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes([]byte("x"))
	tests := []struct {
		name, method, target string
	}{
		{name: "dotdot name upload", method: "POST", target: "/v2/a/../../x/blobs/uploads/"},
		{name: "dotdot name tags", method: "GET", target: "/v2/a/../../x/tags/list"},
		{name: "encoded dotdot", method: "POST", target: "/v2/a%2F..%2F..%2Fx/blobs/uploads/"},
		{name: "absolute-looking name", method: "PUT", target: "/v2//etc/manifests/latest"},
		{name: "dot component", method: "GET", target: "/v2/a/./b/blobs/" + d.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://registry"+"/", strings.NewReader("{}"))
			req.URL.RawPath = ""
			req.URL.Path = mustUnescape(t, tt.target)
			w := httptest.NewRecorder()
			reg.ServeHTTP(w, req)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", w.Code)
			}
			var body struct{ Errors []struct{ Code string } }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Errors[0].Code != "NAME_INVALID" {
				t.Fatalf("body %s", w.Body)
			}
		})
	}
	entries, err := os.ReadDir(root)
	if err != nil || len(entries) != 1 {
		t.Fatalf("something escaped the registry root: %v", entries)
	}
}

func mustUnescape(t *testing.T, s string) string {
	t.Helper()
	u, err := http.NewRequest("GET", "http://x"+s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return u.URL.Path
}

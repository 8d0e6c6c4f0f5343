package registry_test

// Requirements of the distribution spec (v1.1, and the tag parameters of its
// development version) not covered by the scenario tests in registry_test.go,
// one table entry per requirement.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestSpecUploadFlows(t *testing.T) {
	e := newEnv(t)
	data := []byte("upload flows")
	d := digest.FromBytes(data)
	empty := digest.FromBytes(nil)
	tests := []struct {
		name string
		push func(t *testing.T) *http.Response
		want digest.Digest
	}{
		{"POST then monolithic PUT", func(t *testing.T) *http.Response {
			r := e.do("POST", "/v2/flows/blobs/uploads/", nil, nil)
			if r.StatusCode != 202 || r.Header.Get("Location") == "" || r.Header.Get("Range") != "0-0" {
				t.Fatalf("POST: %d %v", r.StatusCode, r.Header)
			}
			return e.do("PUT", r.Header.Get("Location")+"?digest="+d.String(), data,
				map[string]string{"Content-Type": "application/octet-stream"})
		}, d},
		{"single POST", func(t *testing.T) *http.Response {
			return e.do("POST", "/v2/flows/blobs/uploads/?digest="+d.String(), data, nil)
		}, d},
		{"empty blob", func(t *testing.T) *http.Response {
			return e.do("POST", "/v2/flows/blobs/uploads/?digest="+empty.String(), nil, nil)
		}, empty},
		{"chunks then PUT with the last chunk's Content-Range", func(t *testing.T) *http.Response {
			loc := e.do("POST", "/v2/flows/blobs/uploads/", nil, nil).Header.Get("Location")
			r := e.do("PATCH", loc, data[:4], map[string]string{"Content-Range": "0-3", "Content-Type": "application/octet-stream"})
			if r.StatusCode != 202 || r.Header.Get("Range") != "0-3" || r.Header.Get("Location") == "" {
				t.Fatalf("PATCH: %d %v", r.StatusCode, r.Header)
			}
			return e.do("PUT", r.Header.Get("Location")+"?digest="+d.String(), data[4:],
				map[string]string{"Content-Range": "4-" + itoa(len(data)-1)})
		}, d},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.push(t)
			if r.StatusCode != 201 || r.Header.Get("Docker-Content-Digest") != tt.want.String() ||
				r.Header.Get("Location") != "/v2/flows/blobs/"+tt.want.String() {
				t.Fatalf("push: %d %v", r.StatusCode, r.Header)
			}
			r = e.do("HEAD", "/v2/flows/blobs/"+tt.want.String(), nil, nil)
			if r.StatusCode != 200 || r.Header.Get("Docker-Content-Digest") != tt.want.String() {
				t.Fatalf("HEAD: %d %v", r.StatusCode, r.Header)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestSpecBlobRange(t *testing.T) {
	e := newEnv(t)
	data := []byte("0123456789")
	d := e.pushBlob("app", data)
	tests := []struct {
		rng    string
		status int
		body   string
	}{
		{"bytes=2-4", 206, "234"},
		{"bytes=7-", 206, "789"},
		{"bytes=-2", 206, "89"},
		{"bytes=20-30", 416, ""},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			r := e.do("GET", "/v2/app/blobs/"+d.String(), nil, map[string]string{"Range": tt.rng})
			if r.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", r.StatusCode, tt.status)
			}
			if b := readAll(t, r); tt.status == 206 && string(b) != tt.body {
				t.Fatalf("body %q, want %q", b, tt.body)
			}
		})
	}
}

func TestSpecErrorBody(t *testing.T) {
	e := newEnv(t)
	missing := digest.FromBytes([]byte("missing"))
	r := e.do("GET", "/v2/app/blobs/"+missing.String(), nil, nil)
	if r.StatusCode != 404 || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content-type %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	var body struct {
		Errors []struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Detail  json.RawMessage `json:"detail"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(readAll(t, r), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Errors) != 1 || body.Errors[0].Code != "BLOB_UNKNOWN" || body.Errors[0].Message == "" ||
		!bytes.Contains(body.Errors[0].Detail, []byte(missing.String())) {
		t.Fatalf("error body %+v", body)
	}
}

func TestSpecNamesAndTags(t *testing.T) {
	e := newEnv(t)
	e.pushImage("app", "v1")
	tests := []struct {
		name, path string
		status     int
		code       string
	}{
		{"nested name", "/v2/a/b/c/tags/list", 404, "NAME_UNKNOWN"},
		{"separators", "/v2/a.b_c__d-e--f/tags/list", 404, "NAME_UNKNOWN"},
		{"uppercase", "/v2/App/tags/list", 400, "NAME_INVALID"},
		{"leading separator", "/v2/-app/tags/list", 400, "NAME_INVALID"},
		{"trailing separator", "/v2/app-/tags/list", 400, "NAME_INVALID"},
		{"triple underscore", "/v2/a___b/tags/list", 400, "NAME_INVALID"},
		{"empty component", "/v2/a//b/tags/list", 400, "NAME_INVALID"},
		{"too long", "/v2/" + strings.Repeat("a", 256) + "/tags/list", 400, "NAME_INVALID"},
		{"tag of 128 characters", "/v2/app/manifests/" + strings.Repeat("t", 128), 404, "MANIFEST_UNKNOWN"},
		{"tag of 129 characters", "/v2/app/manifests/" + strings.Repeat("t", 129), 404, "MANIFEST_UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("GET", tt.path, nil, nil)
			if r.StatusCode != tt.status || errCode(t, r) != tt.code {
				t.Fatalf("status %d, want %d %s", r.StatusCode, tt.status, tt.code)
			}
		})
	}
	// Pushing under a tag the grammar refuses is TAG_INVALID.
	m := mustJSON(t, manifest{SchemaVersion: 2})
	if r := e.do("PUT", "/v2/app/manifests/"+strings.Repeat("t", 129), m, nil); r.StatusCode != 400 || errCode(t, r) != "TAG_INVALID" {
		t.Fatalf("push under a 129-character tag: %d", r.StatusCode)
	}
}

func TestSpecManifestMediaTypes(t *testing.T) {
	e := newEnv(t)
	cfg, layer := []byte(`{"os":"linux"}`), []byte("docker layer")
	e.pushBlob("app", cfg)
	e.pushBlob("app", layer)
	cd := desc("application/vnd.docker.container.image.v1+json", cfg)
	docker := manifest{SchemaVersion: 2, MediaType: "application/vnd.docker.distribution.manifest.v2+json", Config: &cd,
		Layers: []ocispec.Descriptor{desc("application/vnd.docker.image.rootfs.diff.tar.gzip", layer)}}
	dd, r := e.pushManifest("app", "docker", docker.MediaType, docker)
	if r.StatusCode != 201 {
		t.Fatalf("push docker manifest: %d %s", r.StatusCode, readAll(t, r))
	}
	// Without a mediaType field, Content-Type decides; without either, the shape.
	noField := manifest{SchemaVersion: 2, Config: &cd, Layers: docker.Layers, Annotations: map[string]string{"a": "b"}}
	nd, r := e.pushManifest("app", "nofield", ocispec.MediaTypeImageManifest, noField)
	if r.StatusCode != 201 {
		t.Fatalf("push manifest without mediaType: %d %s", r.StatusCode, readAll(t, r))
	}
	tests := []struct {
		ref, ctype string
		digest     digest.Digest
	}{
		{"docker", "application/vnd.docker.distribution.manifest.v2+json", dd},
		{dd.String(), "application/vnd.docker.distribution.manifest.v2+json", dd},
		{"nofield", ocispec.MediaTypeImageManifest, nd},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "HEAD"} {
			r := e.do(method, "/v2/app/manifests/"+tt.ref, nil, nil)
			if r.StatusCode != 200 || r.Header.Get("Content-Type") != tt.ctype || r.Header.Get("Docker-Content-Digest") != tt.digest.String() {
				t.Fatalf("%s %s: %d %q %q", method, tt.ref, r.StatusCode, r.Header.Get("Content-Type"), r.Header.Get("Docker-Content-Digest"))
			}
		}
	}
	// Body and Content-Type disagreeing is refused.
	if _, r := e.pushManifest("app", "clash", ocispec.MediaTypeImageIndex, docker); r.StatusCode != 400 || errCode(t, r) != "MANIFEST_INVALID" {
		t.Fatalf("mediaType clash: %d", r.StatusCode)
	}
}

func TestSpecTagParameters(t *testing.T) {
	e := newEnv(t)
	cfg := []byte("{}")
	e.pushBlob("app", cfg)
	cd := desc(ocispec.MediaTypeImageConfig, cfg)
	m := mustJSON(t, manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: &cd})
	d := digest.FromBytes(m)
	hdr := map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}
	r := e.do("PUT", "/v2/app/manifests/"+d.String()+"?tag=one&tag=two", m, hdr)
	if r.StatusCode != 201 || strings.Join(r.Header.Values("OCI-Tag"), ",") != "one,two" {
		t.Fatalf("push with tag parameters: %d %v", r.StatusCode, r.Header.Values("OCI-Tag"))
	}
	for _, tag := range []string{"one", "two"} {
		if r := e.do("HEAD", "/v2/app/manifests/"+tag, nil, nil); r.StatusCode != 200 || r.Header.Get("Docker-Content-Digest") != d.String() {
			t.Fatalf("tag %s: %d", tag, r.StatusCode)
		}
	}
	if r := e.do("PUT", "/v2/app/manifests/"+d.String()+"?tag=-bad", m, hdr); r.StatusCode != 400 || errCode(t, r) != "TAG_INVALID" {
		t.Fatalf("bad tag parameter: %d", r.StatusCode)
	}
}

func TestSpecSubjectAndReferrers(t *testing.T) {
	e := newEnv(t)
	cfg := []byte("{}")
	e.pushBlob("app", cfg)
	cd := desc("application/vnd.example.sig", cfg)
	// The subject need not exist yet: the push is accepted and answers OCI-Subject.
	absent := digest.FromBytes([]byte("pushed later"))
	sig := manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: &cd,
		Subject: &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: absent, Size: 12}}
	sd, r := e.pushManifest("app", "sig", ocispec.MediaTypeImageManifest, sig)
	if r.StatusCode != 201 || r.Header.Get("OCI-Subject") != absent.String() {
		t.Fatalf("push with a missing subject: %d %q", r.StatusCode, r.Header.Get("OCI-Subject"))
	}
	tests := []struct {
		name, path string
		want       []digest.Digest
	}{
		{"referrers of a missing subject", "/v2/app/referrers/" + absent.String(), []digest.Digest{sd}},
		{"artifact type from the config", "/v2/app/referrers/" + absent.String() + "?artifactType=application/vnd.example.sig", []digest.Digest{sd}},
		{"unknown repository", "/v2/nothere/referrers/" + absent.String(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("GET", tt.path, nil, nil)
			if r.StatusCode != 200 || r.Header.Get("Content-Type") != ocispec.MediaTypeImageIndex {
				t.Fatalf("status %d %q", r.StatusCode, r.Header.Get("Content-Type"))
			}
			var idx ocispec.Index
			if err := json.Unmarshal(readAll(t, r), &idx); err != nil {
				t.Fatal(err)
			}
			if idx.SchemaVersion != 2 || len(idx.Manifests) != len(tt.want) {
				t.Fatalf("index %+v", idx)
			}
			for i, d := range tt.want {
				if idx.Manifests[i].Digest != d || idx.Manifests[i].ArtifactType != "application/vnd.example.sig" {
					t.Fatalf("descriptor %d: %+v", i, idx.Manifests[i])
				}
			}
		})
	}
}

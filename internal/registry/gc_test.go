package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// later is a clock two hours ahead: everything on disk is past the grace period.
func later() time.Time { return time.Now().Add(2 * time.Hour) }

func runGC(t *testing.T, reg *registry.Registry, opts registry.GCOptions) registry.GCReport {
	t.Helper()
	rep, err := reg.GC(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (e *env) status(method, path string) int {
	e.t.Helper()
	return e.do(method, path, nil, nil).StatusCode
}

func TestGCTaggedSurvivesUnreferencedDeleted(t *testing.T) {
	e, reg := newRegistryEnv(t)
	md := e.pushImage("app", "v1")
	layer := digest.FromBytes([]byte("layer-appv1"))
	orphan := []byte("nobody references me")
	od := e.pushBlob("app", orphan)

	rep := runGC(t, reg, registry.GCOptions{DryRun: true, Now: later})
	if !slices.Equal(rep.BlobsDeleted, []digest.Digest{od}) || rep.BytesFreed != int64(len(orphan)) {
		t.Fatalf("dry run report %+v", rep)
	}
	if s := e.status("GET", "/v2/app/blobs/"+od.String()); s != 200 {
		t.Fatalf("dry run deleted the blob: %d", s)
	}

	rep = runGC(t, reg, registry.GCOptions{Now: later})
	if !slices.Equal(rep.BlobsDeleted, []digest.Digest{od}) || rep.BytesFreed != int64(len(orphan)) || len(rep.ManifestsDeleted) != 0 {
		t.Fatalf("report %+v", rep)
	}
	if s := e.status("GET", "/v2/app/blobs/"+od.String()); s != 404 {
		t.Fatalf("orphan still served: %d", s)
	}
	if _, err := os.Stat(filepath.Join(e.root, "blobs", "sha256", od.Encoded())); !os.IsNotExist(err) {
		t.Fatalf("orphan still on disk: %v", err)
	}
	for _, p := range []string{"/v2/app/manifests/v1", "/v2/app/manifests/" + md.String(), "/v2/app/blobs/" + layer.String()} {
		if s := e.status("GET", p); s != 200 {
			t.Fatalf("GET %s after GC: %d", p, s)
		}
	}
}

func TestGCGracePeriod(t *testing.T) {
	e, reg := newRegistryEnv(t)
	cfg, layer := []byte(`{"os":"linux"}`), []byte("layer pushed before its manifest")
	e.pushBlob("app", cfg)
	ld := e.pushBlob("app", layer)

	// Just linked: kept by the real clock's grace period though nothing references it.
	if rep := runGC(t, reg, registry.GCOptions{DeleteUntagged: true}); len(rep.BlobsDeleted) != 0 {
		t.Fatalf("deleted within grace period: %+v", rep)
	}
	cd := desc(ocispec.MediaTypeImageConfig, cfg)
	_, r := e.pushManifest("app", "v1", ocispec.MediaTypeImageManifest, manifest{
		SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: &cd,
		Layers: []ocispec.Descriptor{desc(ocispec.MediaTypeImageLayerGzip, layer)},
	})
	if r.StatusCode != 201 {
		t.Fatalf("manifest after GC: %d %s", r.StatusCode, readAll(t, r))
	}

	// An unreferenced blob whose link and content are two hours old goes.
	od := e.pushBlob("app", []byte("stale"))
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{
		filepath.Join(e.root, "blobs", "sha256", od.Encoded()),
		filepath.Join(e.root, "repositories", "app", "_layers", "sha256", od.Encoded()),
	} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	rep := runGC(t, reg, registry.GCOptions{})
	if !slices.Equal(rep.BlobsDeleted, []digest.Digest{od}) {
		t.Fatalf("report %+v", rep)
	}
	if s := e.status("GET", "/v2/app/blobs/"+ld.String()); s != 200 {
		t.Fatalf("referenced layer: %d", s)
	}
}

func TestGCDeleteUntagged(t *testing.T) {
	e, reg := newRegistryEnv(t)
	tagged := e.pushImage("app", "v1")
	cfg := []byte(`{"architecture":"amd64"}`) // shared with the tagged image
	excl := []byte("only the untagged manifest uses this")
	e.pushBlob("app", excl)
	cd := desc(ocispec.MediaTypeImageConfig, cfg)
	m := manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: &cd,
		Layers: []ocispec.Descriptor{desc(ocispec.MediaTypeImageLayerGzip, excl)}}
	untagged := digest.FromBytes(mustJSON(t, m))
	if _, r := e.pushManifest("app", untagged.String(), ocispec.MediaTypeImageManifest, m); r.StatusCode != 201 {
		t.Fatalf("push untagged: %d", r.StatusCode)
	}
	// A referrer of the tagged manifest and an index child are kept by what they hang off.
	tm := mustGet(t, e, "/v2/app/manifests/v1")
	sig := manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/example.sig",
		Config: &cd, Subject: &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: tagged, Size: int64(len(tm))}}
	sigD := digest.FromBytes(mustJSON(t, sig))
	if _, r := e.pushManifest("app", sigD.String(), ocispec.MediaTypeImageManifest, sig); r.StatusCode != 201 {
		t.Fatalf("push referrer: %d", r.StatusCode)
	}
	child := e.pushImage("multi", "tmp")
	cm := mustGet(t, e, "/v2/multi/manifests/tmp")
	idx := manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{desc(ocispec.MediaTypeImageManifest, cm)}}
	if _, r := e.pushManifest("multi", "latest", ocispec.MediaTypeImageIndex, idx); r.StatusCode != 201 {
		t.Fatalf("push index: %d", r.StatusCode)
	}
	if s := e.status("DELETE", "/v2/multi/manifests/tmp"); s != 202 {
		t.Fatalf("untag child: %d", s)
	}

	if rep := runGC(t, reg, registry.GCOptions{Now: later}); len(rep.BlobsDeleted)+len(rep.ManifestsDeleted) != 0 {
		t.Fatalf("deleted without DeleteUntagged: %+v", rep)
	}
	if s := e.status("GET", "/v2/app/manifests/"+untagged.String()); s != 200 {
		t.Fatalf("untagged manifest: %d", s)
	}

	rep := runGC(t, reg, registry.GCOptions{Now: later, DeleteUntagged: true})
	if !slices.Equal(rep.ManifestsDeleted, []digest.Digest{untagged}) {
		t.Fatalf("manifests deleted %v, want %v", rep.ManifestsDeleted, untagged)
	}
	want := []digest.Digest{untagged, digest.FromBytes(excl)}
	slices.Sort(want)
	if !slices.Equal(rep.BlobsDeleted, want) {
		t.Fatalf("blobs deleted %v, want %v", rep.BlobsDeleted, want)
	}
	tests := []struct {
		name, path string
		status     int
	}{
		{name: "untagged manifest", path: "/v2/app/manifests/" + untagged.String(), status: 404},
		{name: "exclusive layer", path: "/v2/app/blobs/" + digest.FromBytes(excl).String(), status: 404},
		{name: "shared config", path: "/v2/app/blobs/" + cd.Digest.String(), status: 200},
		{name: "tagged manifest", path: "/v2/app/manifests/v1", status: 200},
		{name: "referrer", path: "/v2/app/manifests/" + sigD.String(), status: 200},
		{name: "index", path: "/v2/multi/manifests/latest", status: 200},
		{name: "index child", path: "/v2/multi/manifests/" + child.String(), status: 200},
		{name: "index child layer", path: "/v2/multi/blobs/" + digest.FromBytes([]byte("layer-multitmp")).String(), status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s := e.status("GET", tt.path); s != tt.status {
				t.Fatalf("status %d, want %d", s, tt.status)
			}
		})
	}
}

func TestGCLeavesUploadInProgress(t *testing.T) {
	e, reg := newRegistryEnv(t)
	data := []byte("a chunked upload that GC interrupts")
	d := digest.FromBytes(data)
	r := e.do("POST", "/v2/app/blobs/uploads/", nil, nil)
	if r.StatusCode != 202 {
		t.Fatalf("start: %d", r.StatusCode)
	}
	loc := r.Header.Get("Location")
	if r = e.do("PATCH", loc, data[:10], map[string]string{"Content-Range": "0-9"}); r.StatusCode != 202 {
		t.Fatalf("chunk: %d", r.StatusCode)
	}
	runGC(t, reg, registry.GCOptions{Now: later, DeleteUntagged: true})
	if r = e.do("GET", loc, nil, nil); r.StatusCode != 204 || r.Header.Get("Range") != "0-9" {
		t.Fatalf("upload status after GC: %d %q", r.StatusCode, r.Header.Get("Range"))
	}
	if r = e.do("PUT", loc+"?digest="+d.String(), data[10:], nil); r.StatusCode != 201 {
		t.Fatalf("finish after GC: %d", r.StatusCode)
	}
	if got := mustGet(t, e, "/v2/app/blobs/"+d.String()); !bytes.Equal(got, data) {
		t.Fatalf("got %q", got)
	}
}

// raceClient pushes over HTTP from goroutines, returning errors instead of failing the test.
type raceClient struct {
	c    *http.Client
	base string
}

func (c raceClient) do(method, path, ctype string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// pushImage pushes config, layer and manifest, starting over when a
// concurrent GC collected the blobs before the manifest arrived.
func (c raceClient) pushImage(name, tag string, cfg, layer []byte) (digest.Digest, error) {
	cd, ld := desc(ocispec.MediaTypeImageConfig, cfg), desc(ocispec.MediaTypeImageLayerGzip, layer)
	m, err := json.Marshal(manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: &cd, Layers: []ocispec.Descriptor{ld}})
	if err != nil {
		return "", err
	}
	for attempt := 0; attempt < 50; attempt++ {
		for _, b := range [][]byte{cfg, layer} {
			s, body, err := c.do("POST", "/v2/"+name+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), "", b)
			if err != nil || s != 201 {
				return "", fmt.Errorf("push blob: %d %s %v", s, body, err)
			}
		}
		s, body, err := c.do("PUT", "/v2/"+name+"/manifests/"+tag, ocispec.MediaTypeImageManifest, m)
		if err != nil {
			return "", err
		}
		if s == 201 {
			return digest.FromBytes(m), nil
		}
		if s != 400 || !bytes.Contains(body, []byte("MANIFEST_BLOB_UNKNOWN")) {
			return "", fmt.Errorf("push manifest: %d %s", s, body)
		}
	}
	return "", fmt.Errorf("push %s:%s: GC won every time", name, tag)
}

func TestGCRace(t *testing.T) {
	e, reg := newRegistryEnv(t)
	c := raceClient{c: e.srv.Client(), base: e.srv.URL}
	const pushers, images = 4, 8
	type pushed struct {
		name, tag  string
		d          digest.Digest
		cfg, layer []byte
	}
	var (
		mu  sync.Mutex
		all []pushed
		wg  sync.WaitGroup
	)
	errs := make(chan error, pushers)
	for p := range pushers {
		wg.Go(func() {
			name := fmt.Sprintf("race/%d", p%2) // two pushers share each repository
			for i := range images {
				tag := fmt.Sprintf("p%d-%d", p, i)
				cfg := []byte(`{"shared":true}`)
				layer := []byte("layer " + tag)
				d, err := c.pushImage(name, tag, cfg, layer)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				all = append(all, pushed{name, tag, d, cfg, layer})
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	gcDone := make(chan error, 1)
	go func() {
		runs := 0
		for {
			select {
			case <-done:
				if runs == 0 {
					gcDone <- fmt.Errorf("GC never ran")
				}
				close(gcDone)
				return
			default:
			}
			// The clock runs ahead, so only the locking keeps in-flight pushes alive.
			if _, err := reg.GC(context.Background(), registry.GCOptions{Now: later, DeleteUntagged: runs%2 == 0}); err != nil {
				gcDone <- err
				close(gcDone)
				return
			}
			runs++
		}
	}()
	wg.Wait()
	close(done)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := <-gcDone; err != nil {
		t.Fatal(err)
	}
	runGC(t, reg, registry.GCOptions{Now: later, DeleteUntagged: true})
	if len(all) != pushers*images {
		t.Fatalf("pushed %d images", len(all))
	}
	for _, p := range all {
		m := mustGet(t, e, "/v2/"+p.name+"/manifests/"+p.tag)
		if digest.FromBytes(m) != p.d {
			t.Fatalf("%s:%s changed", p.name, p.tag)
		}
		for _, b := range [][]byte{p.cfg, p.layer} {
			if got := mustGet(t, e, "/v2/"+p.name+"/blobs/"+digest.FromBytes(b).String()); !bytes.Equal(got, b) {
				t.Fatalf("%s:%s blob %q", p.name, p.tag, got)
			}
		}
	}
}

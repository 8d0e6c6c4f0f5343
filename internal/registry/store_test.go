package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth/berth/internal/content"
	"github.com/berth/berth/internal/content/testsuite"
	"github.com/berth/berth/internal/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// oldRoot is a registry root as the registry wrote it before its blobs moved onto internal/content: blob files
// of mode 0644 in 0755 directories (renamed from an upload), link files, and an upload in progress whose bytes
// are in _uploads/<uuid>/data.
type oldRoot struct {
	layer, cfg       []byte
	manifest         digest.Digest
	uploadID         string
	upload, uploaded []byte // the whole blob being uploaded, and the part of it that arrived
}

func writeOldRoot(t *testing.T, root string, withUpload bool) oldRoot {
	t.Helper()
	o := oldRoot{layer: []byte("a layer pushed by the old registry"), cfg: []byte(`{"architecture":"amd64"}`)}
	put := func(path string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo := filepath.Join(root, "repositories", "library", "app")
	blob := func(data []byte) ocispec.Descriptor {
		d := digest.FromBytes(data)
		put(filepath.Join(root, "blobs", "sha256", d.Encoded()), data)
		put(filepath.Join(repo, "_layers", "sha256", d.Encoded()), []byte(d.String()))
		return ocispec.Descriptor{Digest: d, Size: int64(len(data))}
	}
	cd, ld := blob(o.cfg), blob(o.layer)
	cd.MediaType, ld.MediaType = ocispec.MediaTypeImageConfig, ocispec.MediaTypeImageLayerGzip
	m, err := json.Marshal(manifest{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageManifest, Config: &cd, Layers: []ocispec.Descriptor{ld}})
	if err != nil {
		t.Fatal(err)
	}
	o.manifest = digest.FromBytes(m)
	put(filepath.Join(root, "blobs", "sha256", o.manifest.Encoded()), m)
	put(filepath.Join(repo, "_manifests", "revisions", "sha256", o.manifest.Encoded()), []byte(`{"mediaType":"`+ocispec.MediaTypeImageManifest+`"}`))
	put(filepath.Join(repo, "_manifests", "tags", "v1"), []byte(o.manifest.String()))
	if withUpload {
		o.uploadID = "5a0c5f6e-3f0b-4d8e-9c61-0f7a4c3b2a19"
		o.upload = bytes.Repeat([]byte("resumed across versions "), 1000)
		o.uploaded = o.upload[:10_000]
		put(filepath.Join(repo, "_uploads", o.uploadID, "data"), o.uploaded)
		put(filepath.Join(repo, "_uploads", o.uploadID, "startedat"), []byte("2026-11-20T10:00:00Z"))
	}
	return o
}

// TestBlobBackendConformance runs the content conformance suite against the registry's blob storage, opened by
// the registry on a root the earlier registry wrote.
func TestBlobBackendConformance(t *testing.T) {
	testsuite.Run(t, func(t *testing.T, root string) content.Backend {
		if _, err := os.Stat(filepath.Join(root, "repositories")); os.IsNotExist(err) {
			writeOldRoot(t, root, false)
		}
		reg, err := registry.New(root, registry.WithLogger(quietLogger()))
		if err != nil {
			t.Fatal(err)
		}
		return registry.BlobBackend(reg)
	})
}

// TestOpenOldRoot: a root the earlier registry wrote serves its blobs and manifests, and its upload in progress
// goes on where it stopped.
func TestOpenOldRoot(t *testing.T) {
	root := t.TempDir()
	o := writeOldRoot(t, root, true)
	e, _ := serveRoot(t, root, registry.WithLogger(quietLogger()))
	if got := mustGet(t, e, "/v2/library/app/blobs/"+digest.FromBytes(o.layer).String()); !bytes.Equal(got, o.layer) {
		t.Fatalf("old blob read back %q", got)
	}
	r := e.do("GET", "/v2/library/app/manifests/v1", nil, map[string]string{"Accept": ocispec.MediaTypeImageManifest})
	if r.StatusCode != 200 || r.Header.Get("Docker-Content-Digest") != o.manifest.String() {
		t.Fatalf("old manifest: %d %v", r.StatusCode, r.Header)
	}
	loc := "/v2/library/app/blobs/uploads/" + o.uploadID
	r = e.do("GET", loc, nil, nil)
	if want := fmt.Sprintf("0-%d", len(o.uploaded)-1); r.StatusCode != 204 || r.Header.Get("Range") != want {
		t.Fatalf("old upload status: %d %q, want 204 %q", r.StatusCode, r.Header.Get("Range"), want)
	}
	if _, err := os.Stat(filepath.Join(root, "repositories", "library", "app", "_uploads", o.uploadID, "data")); !os.IsNotExist(err) {
		t.Errorf("the old upload's data file is still there: %v", err)
	}
	d := digest.FromBytes(o.upload)
	r = e.do("PUT", loc+"?digest="+d.String(), o.upload[len(o.uploaded):],
		map[string]string{"Content-Range": fmt.Sprintf("%d-%d", len(o.uploaded), len(o.upload)-1)})
	if r.StatusCode != 201 {
		t.Fatalf("finishing the old upload: %d %s", r.StatusCode, readAll(t, r))
	}
	if got := mustGet(t, e, "/v2/library/app/blobs/"+d.String()); !bytes.Equal(got, o.upload) {
		t.Fatal("the resumed upload read back wrong")
	}
	// A blob the old registry stored counts as there: pushing it again is satisfied without a new file.
	if d := e.pushBlob("library/app", o.layer); d != digest.FromBytes(o.layer) {
		t.Fatalf("push again: %s", d)
	}
}

// TestUploadSurvivesRestart: an upload session's bytes are kept across a restart of the registry, and a
// client goes on with it.
func TestUploadSurvivesRestart(t *testing.T) {
	root := t.TempDir()
	data := bytes.Repeat([]byte("0123456789"), 5000)
	d := digest.FromBytes(data)
	e, _ := serveRoot(t, root, registry.WithLogger(quietLogger()))
	loc := e.do("POST", "/v2/app/blobs/uploads/", nil, nil).Header.Get("Location")
	if r := e.do("PATCH", loc, data[:30_000], map[string]string{"Content-Range": "0-29999"}); r.StatusCode != 202 {
		t.Fatalf("PATCH: %d", r.StatusCode)
	}
	e.srv.Close()

	e, _ = serveRoot(t, root, registry.WithLogger(quietLogger()))
	if r := e.do("GET", loc, nil, nil); r.StatusCode != 204 || r.Header.Get("Range") != "0-29999" {
		t.Fatalf("status after restart: %d %q", r.StatusCode, r.Header.Get("Range"))
	}
	if r := e.do("PATCH", loc, data[30_000:], map[string]string{"Content-Range": "30000-49999"}); r.StatusCode != 202 {
		t.Fatalf("PATCH after restart: %d", r.StatusCode)
	}
	if r := e.do("PUT", loc+"?digest="+d.String(), nil, nil); r.StatusCode != 201 {
		t.Fatalf("PUT: %d %s", r.StatusCode, readAll(t, r))
	}
	if got := mustGet(t, e, "/v2/app/blobs/"+d.String()); !bytes.Equal(got, data) {
		t.Fatal("read back wrong")
	}
}

// TestOpenDiscardsOrphanIngests: what no session owns any more (a proxy fetch cut short by a restart, an upload
// whose session is gone) is discarded when the registry opens; its sessions and other ingests stay.
func TestOpenDiscardsOrphanIngests(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	e, reg := serveRoot(t, root, registry.WithLogger(quietLogger()))
	session := e.do("POST", "/v2/app/blobs/uploads/", nil, nil).Header.Get("Docker-Upload-UUID")
	blobs := registry.BlobBackend(reg)
	for _, ref := range []string{
		"proxy/app@" + digest.FromString("x").String(),
		"upload/app/00000000-0000-4000-8000-000000000000",
		"someone else's",
	} {
		w, err := blobs.Writer(ctx, content.WithRef(ref))
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("left over"))
		w.Close()
	}
	e.srv.Close()

	reg, err := registry.New(root, registry.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	sts, err := registry.BlobBackend(reg).ListStatuses(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, st := range sts {
		refs = append(refs, st.Ref)
	}
	if want := []string{"someone else's", "upload/app/" + session}; fmt.Sprint(refs) != fmt.Sprint(want) {
		t.Fatalf("ingests after open: %q, want %q", refs, want)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

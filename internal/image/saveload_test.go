package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/filters"
)

func TestSaveFormat(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t)
	id := env.importTar("busybox", map[string]string{"bin/sh": "sh"}, `CMD ["sh"]`)
	if err := env.s.Tag(ctx, "busybox", "busybox:1.36"); err != nil {
		t.Fatal(err)
	}
	if err := env.s.Tag(ctx, "busybox", "other"); err != nil {
		t.Fatal(err)
	}
	img, _ := env.s.Get(ctx, id.String())
	env.events.take()

	var buf bytes.Buffer
	if err := env.s.Save(ctx, &buf, []string{"busybox"}); err != nil {
		t.Fatal(err)
	}
	files, names := readArchive(t, buf.Bytes())
	layerHex := img.Config.RootFS.DiffIDs[0].Encoded()

	// Layout: directories first, blobs sorted, then the top-level files in name order.
	if names[0] != "blobs/" || names[1] != "blobs/sha256/" {
		t.Errorf("entries %v", names)
	}
	tail := names[len(names)-4:]
	if !slices.Equal(tail, []string{"index.json", "manifest.json", "oci-layout", "repositories"}) {
		t.Errorf("top-level files %v", tail)
	}
	if string(files["oci-layout"]) != `{"imageLayoutVersion": "1.0.0"}` {
		t.Errorf("oci-layout %q", files["oci-layout"])
	}
	// Every blob is named by its digest.
	for name, data := range files {
		if strings.HasPrefix(name, "blobs/sha256/") {
			if digest.FromBytes(data).Encoded() != strings.TrimPrefix(name, "blobs/sha256/") {
				t.Errorf("blob %s has wrong content", name)
			}
		}
	}
	if !bytes.Equal(files["blobs/sha256/"+id.Encoded()], mustBlob(t, env, id)) {
		t.Errorf("config blob differs")
	}

	var items []map[string]any
	if err := json.Unmarshal(files["manifest.json"], &items); err != nil {
		t.Fatal(err)
	}
	wantItem := `[{"Config":"blobs/sha256/` + id.Encoded() + `","RepoTags":["busybox:1.36","busybox:latest"],"Layers":["blobs/sha256/` + layerHex + `"]}]` + "\n"
	if string(files["manifest.json"]) != wantItem {
		t.Errorf("manifest.json\n got %s\nwant %s", files["manifest.json"], wantItem)
	}
	wantRepos := `{"busybox":{"1.36":"` + layerHex + `","latest":"` + layerHex + `"}}` + "\n"
	if string(files["repositories"]) != wantRepos {
		t.Errorf("repositories %s, want %s", files["repositories"], wantRepos)
	}

	var idx ocispec.Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex || len(idx.Manifests) != 2 {
		t.Fatalf("index %+v", idx)
	}
	d := idx.Manifests[0]
	if d.MediaType != ocispec.MediaTypeImageManifest || d.Annotations[annotationImageName] != "docker.io/library/busybox:1.36" ||
		d.Annotations[ocispec.AnnotationRefName] != "1.36" {
		t.Errorf("index entry %+v", d)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(files["blobs/sha256/"+d.Digest.Encoded()], &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.Config.Digest != id || m.Config.MediaType != ocispec.MediaTypeImageConfig ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != ocispec.MediaTypeImageLayer || m.Layers[0].Digest.Encoded() != layerHex {
		t.Errorf("manifest %+v", m)
	}
	if got := env.events.take(); !slices.Equal(got, []string{"save " + id.String()}) {
		t.Errorf("events %v", got)
	}

	// Saving by ID writes the image untagged.
	buf.Reset()
	if err := env.s.Save(ctx, &buf, []string{id.Encoded()[:8]}); err != nil {
		t.Fatal(err)
	}
	files, _ = readArchive(t, buf.Bytes())
	if !strings.Contains(string(files["manifest.json"]), `"RepoTags":null`) {
		t.Errorf("untagged manifest.json %s", files["manifest.json"])
	}
	if _, ok := files["repositories"]; ok {
		t.Errorf("untagged save has a repositories file")
	}
	if err := env.s.Save(ctx, &buf, []string{"nothere"}); !errdefs.IsNotFound(err) {
		t.Errorf("save unknown: %v", err)
	}
}

func mustBlob(t *testing.T, env *testEnv, d digest.Digest) []byte {
	t.Helper()
	b, err := readBlob(t, env, d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := newEnv(t)
	base := src.importTar("busybox", map[string]string{"bin/sh": "sh", "etc/hosts": "localhost"}, `CMD ["sh"]`)
	child, err := src.s.Commit(ctx, "busybox", bytes.NewReader(makeTar(t, map[string]string{"app": "1"})),
		CommitConfig{Config: &dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"app"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := src.s.Save(ctx, &buf, []string{"busybox", child.String()}); err != nil {
		t.Fatal(err)
	}

	for _, compressed := range []bool{false, true} {
		name := "plain"
		input := buf.Bytes()
		if compressed {
			name, input = "gzip", gzipBytes(t, input)
		}
		t.Run(name, func(t *testing.T) {
			dst := newEnv(t)
			lines, err := dst.s.Load(ctx, bytes.NewReader(input))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"Loaded image: busybox:latest", "Loaded image ID: " + child.String()}
			if !slices.Equal(lines, want) {
				t.Errorf("lines %q, want %q", lines, want)
			}
			for _, id := range []digest.Digest{base, child} {
				a, _ := src.s.Get(ctx, id.String())
				b, err := dst.s.Get(ctx, id.String())
				if err != nil {
					t.Fatalf("loaded image %s: %v", id, err)
				}
				a.LastTagTime, b.LastTagTime = time.Time{}, time.Time{} // tag times are local
				aj, _ := json.Marshal(a)
				bj, _ := json.Marshal(b)
				if !bytes.Equal(aj, bj) {
					t.Errorf("image differs:\n%s\n%s", aj, bj)
				}
			}
			// Saved together, the parent link survives.
			img, _ := dst.s.Get(ctx, child.String())
			if img.Parent != base {
				t.Errorf("parent %q, want %s", img.Parent, base)
			}
			if got := dst.events.take(); !slices.Equal(got, []string{"load " + base.String(), "load " + child.String()}) {
				t.Errorf("events %v", got)
			}
			if !dst.layers.has(img.TopChainID()) {
				t.Errorf("top layer not unpacked")
			}
			// Loading again is idempotent.
			if _, err := dst.s.Load(ctx, bytes.NewReader(input)); err != nil {
				t.Fatal(err)
			}
			all, _ := dst.s.List(ctx, true, filters.Args{})
			if len(all) != 2 {
				t.Errorf("%d images after second load", len(all))
			}
		})
	}
}

func TestLoadRetagsExisting(t *testing.T) {
	ctx := context.Background()
	src := newEnv(t)
	src.importTar("busybox", map[string]string{"f": "new"})
	var buf bytes.Buffer
	if err := src.s.Save(ctx, &buf, []string{"busybox"}); err != nil {
		t.Fatal(err)
	}
	dst := newEnv(t)
	old := dst.importTar("busybox", map[string]string{"f": "old"})
	lines, err := dst.s.Load(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"The image busybox:latest already exists, renaming the old one with ID " + old.String() + " to empty string",
		"Loaded image: busybox:latest"}
	if !slices.Equal(lines, want) {
		t.Errorf("lines %q", lines)
	}
	dangling, _ := dst.s.List(ctx, false, filters.NewArgs(filters.Arg("dangling", "true")))
	if len(dangling) != 1 || dangling[0].ID != old {
		t.Errorf("old image should be dangling: %+v", dangling)
	}
}

// legacyArchive builds a Docker 1.10–24 style archive: <id>/layer.tar, <hex>.json, manifest.json; the second
// image reuses the first one's layer through a symlink, as old docker save did.
func legacyArchive(t *testing.T, layer []byte, gz bool) ([]byte, digest.Digest) {
	t.Helper()
	diffID := digest.FromBytes(layer)
	cfg := map[string]any{
		"architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z",
		"config": map[string]any{"Cmd": []string{"sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID.String(), diffID.String()}},
	}
	raw, _ := json.Marshal(cfg)
	id := digest.FromBytes(raw)
	stored := layer
	if gz {
		stored = gzipBytes(t, layer)
	}
	manifest, _ := json.Marshal([]manifestItem{{
		Config:   id.Encoded() + ".json",
		RepoTags: []string{"legacy:1"},
		Layers:   []string{"aaa/layer.tar", "bbb/layer.tar"},
	}})
	return buildArchive(t, []tarEntry{
		{name: "aaa/", typeflag: tar.TypeDir},
		{name: "aaa/layer.tar", body: stored},
		{name: "bbb/", typeflag: tar.TypeDir},
		{name: "bbb/layer.tar", typeflag: tar.TypeSymlink, link: "../aaa/layer.tar"},
		{name: id.Encoded() + ".json", body: raw},
		{name: "manifest.json", body: manifest},
	}), id
}

func TestLoadLegacyFormat(t *testing.T) {
	ctx := context.Background()
	layer := makeTar(t, map[string]string{"f": "legacy"})
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain layers", true: "gzip layers"}[gz], func(t *testing.T) {
			env := newEnv(t)
			arc, id := legacyArchive(t, layer, gz)
			lines, err := env.s.Load(ctx, bytes.NewReader(arc))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(lines, []string{"Loaded image: legacy:1"}) {
				t.Errorf("lines %q", lines)
			}
			img, err := env.s.Get(ctx, "legacy:1")
			if err != nil || img.ID != id {
				t.Fatalf("Get: %v %v", img, err)
			}
			// Stored uncompressed: blob digest == diffID.
			if got := mustBlob(t, env, digest.FromBytes(layer)); !bytes.Equal(got, layer) {
				t.Error("layer not stored uncompressed")
			}
			d := digest.FromBytes(layer)
			if !slices.Equal(img.ChainIDs(), identity.ChainIDs([]digest.Digest{d, d})) {
				t.Errorf("chains %v", img.ChainIDs())
			}
		})
	}
}

func TestLoadOCILayoutOnly(t *testing.T) {
	ctx := context.Background()
	src := newEnv(t)
	id := src.importTar("busybox", map[string]string{"f": "oci"})
	var buf bytes.Buffer
	if err := src.s.Save(ctx, &buf, []string{"busybox"}); err != nil {
		t.Fatal(err)
	}
	// Drop manifest.json and repositories: a plain OCI layout must still load.
	files, names := readArchive(t, buf.Bytes())
	var entries []tarEntry
	for _, n := range names {
		if n == "manifest.json" || n == "repositories" {
			continue
		}
		if data, ok := files[n]; ok {
			entries = append(entries, tarEntry{name: n, body: data})
		}
	}
	dst := newEnv(t)
	lines, err := dst.s.Load(ctx, bytes.NewReader(buildArchive(t, entries)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lines, []string{"Loaded image: busybox:latest"}) {
		t.Errorf("lines %q", lines)
	}
	if img, err := dst.s.Get(ctx, "busybox"); err != nil || img.ID != id {
		t.Errorf("Get: %v %v", img, err)
	}
}

// assertEmpty checks a failed load left nothing visible or stored.
func assertEmpty(t *testing.T, env *testEnv) {
	t.Helper()
	imgs, err := env.s.List(context.Background(), true, filters.Args{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 0 {
		t.Errorf("images visible after failed load: %+v", imgs)
	}
	if b := env.blobs(); len(b) != 0 {
		t.Errorf("blobs left after failed load: %v", b)
	}
	if env.layers.count() != 0 {
		t.Errorf("layers left after failed load: %v", env.layers.chains)
	}
	if _, err := env.s.Get(context.Background(), "legacy:1"); !errdefs.IsNotFound(err) {
		t.Errorf("reference visible after failed load: %v", err)
	}
	if des, _ := os.ReadDir(env.s.tmpDir()); len(des) != 0 {
		t.Errorf("temp files left: %v", des)
	}
}

func TestLoadDiffIDMismatch(t *testing.T) {
	ctx := context.Background()
	good := makeTar(t, map[string]string{"f": "good"})
	good2 := makeTar(t, map[string]string{"f": "good2"})
	bad := makeTar(t, map[string]string{"f": "evil"})
	diffID := digest.FromBytes(good)

	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID.String(), digest.FromBytes(good2).String()}},
	})
	id := digest.FromBytes(cfg)
	manifest, _ := json.Marshal([]manifestItem{{
		Config: "blobs/sha256/" + id.Encoded(), RepoTags: []string{"legacy:1"},
		// The first layer is fine (and gets stored), the second does not match its diff_id.
		Layers: []string{"blobs/sha256/" + diffID.Encoded(), "blobs/sha256/bad"},
	}})
	arc := buildArchive(t, []tarEntry{
		{name: "blobs/sha256/" + diffID.Encoded(), body: good},
		{name: "blobs/sha256/bad", body: bad},
		{name: "blobs/sha256/" + id.Encoded(), body: cfg},
		{name: "manifest.json", body: manifest},
	})
	env := newEnv(t)
	_, err := env.s.Load(ctx, bytes.NewReader(arc))
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "invalid diffID for layer 1") {
		t.Fatalf("err = %v", err)
	}
	assertEmpty(t, env)
}

func TestLoadRejectsMalformed(t *testing.T) {
	ctx := context.Background()
	layer := makeTar(t, map[string]string{"f": "x"})
	diffID := digest.FromBytes(layer)
	cfg, _ := json.Marshal(map[string]any{
		"os": "linux", "architecture": "amd64",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID.String()}},
	})
	id := digest.FromBytes(cfg)
	manifestWith := func(config string, layers ...string) []byte {
		b, _ := json.Marshal([]manifestItem{{Config: config, RepoTags: []string{"legacy:1"}, Layers: layers}})
		return b
	}
	// A file outside the archive a successful escape would read; the load must never touch it.
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, layer, 0o600)

	tests := []struct {
		name    string
		entries []tarEntry
		isErr   func(error) bool
		wantMsg string
	}{
		{name: "entry escapes with ..", entries: []tarEntry{
			{name: "../../evil", body: []byte("x")},
			{name: "manifest.json", body: manifestWith("c.json", "layer.tar")},
		}, isErr: errdefs.IsInvalidArgument, wantMsg: "outside of the archive"},
		{name: "config path escapes", entries: []tarEntry{
			{name: "layer.tar", body: layer},
			{name: "manifest.json", body: manifestWith("../../../../../../etc/passwd", "layer.tar")},
		}, isErr: errdefs.IsInvalidArgument, wantMsg: "outside of the archive"},
		{name: "layer path escapes", entries: []tarEntry{
			{name: "c.json", body: cfg},
			{name: "manifest.json", body: manifestWith("c.json", "../../../.."+outside)},
		}, isErr: errdefs.IsInvalidArgument, wantMsg: "outside of the archive"},
		{name: "layer symlink escapes", entries: []tarEntry{
			{name: "c.json", body: cfg},
			{name: "x/layer.tar", typeflag: tar.TypeSymlink, link: "../../../../../../../.." + outside},
			{name: "manifest.json", body: manifestWith("c.json", "x/layer.tar")},
		}, isErr: errdefs.IsInvalidArgument, wantMsg: "outside of the archive"},
		{name: "absolute symlink stays inside", entries: []tarEntry{
			{name: "c.json", body: cfg},
			{name: "layer.tar", typeflag: tar.TypeSymlink, link: outside},
			{name: "manifest.json", body: manifestWith("c.json", "layer.tar")},
		}, isErr: errdefs.IsInvalidArgument, wantMsg: "not found"},
		{name: "hardlink escapes", entries: []tarEntry{
			{name: "c.json", body: cfg},
			{name: "layer.tar", typeflag: tar.TypeLink, link: "../secret"},
			{name: "manifest.json", body: manifestWith("c.json", "layer.tar")},
		}, isErr: errdefs.IsInvalidArgument, wantMsg: "outside of the archive"},
		{name: "symlink loop", entries: []tarEntry{
			{name: "c.json", body: cfg},
			{name: "a", typeflag: tar.TypeSymlink, link: "b"},
			{name: "b", typeflag: tar.TypeSymlink, link: "a"},
			{name: "manifest.json", body: manifestWith("c.json", "a")},
		}, isErr: errdefs.IsInvalidArgument, wantMsg: "too many links"},
		{name: "layer count mismatch", entries: []tarEntry{
			{name: "c.json", body: cfg},
			{name: "manifest.json", body: manifestWith("c.json")},
		}, isErr: errdefs.IsInvalidArgument, wantMsg: "layers length mismatch"},
		{name: "digest ref as tag", entries: []tarEntry{
			{name: "c.json", body: cfg},
			{name: "layer.tar", body: layer},
			{name: "manifest.json", body: func() []byte {
				b, _ := json.Marshal([]manifestItem{{Config: "c.json", RepoTags: []string{"x@" + id.String()}, Layers: []string{"layer.tar"}}})
				return b
			}()},
		}, isErr: errdefs.IsInvalidArgument, wantMsg: "invalid tag"},
		{name: "no manifest", entries: []tarEntry{{name: "c.json", body: cfg}},
			isErr: errdefs.IsInvalidArgument, wantMsg: "no manifest.json"},
		{name: "legacy v1 format", entries: []tarEntry{{name: "repositories", body: []byte("{}")}},
			isErr: errdefs.IsNotImplemented},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			_, err := env.s.Load(ctx, bytes.NewReader(buildArchive(t, tc.entries)))
			if !tc.isErr(err) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %v, want %q", err, tc.wantMsg)
			}
			assertEmpty(t, env)
			if _, err := os.Stat(filepath.Join(env.root, "evil")); err == nil {
				t.Error("archive entry written outside the temp dir")
			}
		})
	}
}

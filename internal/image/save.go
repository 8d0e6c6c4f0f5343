package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/content"
)

// Names of the files in a `docker save` archive.
const (
	manifestFileName     = "manifest.json"
	repositoriesFileName = "repositories"
	// annotationImageName is containerd's annotation for an index entry's full image name.
	annotationImageName = "io.containerd.image.name"
)

// manifestItem is one entry of a `docker save` manifest.json.
type manifestItem struct {
	Config       string
	RepoTags     []string
	Layers       []string
	Parent       digest.Digest                        `json:",omitempty"`
	LayerSources map[digest.Digest]ocispec.Descriptor `json:",omitempty"`
}

// saveImage is one image to save and the tags to save it under.
type saveImage struct {
	e    *entry
	tags []reference.NamedTagged
}

// Save writes the images names refer to as a `docker save` archive in Docker 25+'s format: an OCI image layout
// (oci-layout, index.json with one entry per tag, blobs/sha256/<hex> holding OCI manifests, configs and
// uncompressed layers) plus the legacy manifest.json and repositories files. A name without a tag saves every
// tag of that repository; an ID saves the image untagged.
func (s *Store) Save(ctx context.Context, w io.Writer, names []string) error {
	if len(names) == 0 {
		return errdefs.ErrInvalidArgument.WithMessage("no images specified")
	}
	t := s.begin()
	defer t.release(ctx)

	s.mu.Lock()
	var imgs []*saveImage
	byID := map[digest.Digest]*saveImage{}
	for _, name := range names {
		pairs, err := s.saveTargetsLocked(name)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		for _, p := range pairs {
			si := byID[p.e.rec.ID]
			if si == nil {
				si = &saveImage{e: p.e}
				byID[p.e.rec.ID] = si
				imgs = append(imgs, si)
				t.holdImageLocked(p.e)
			}
			if p.tag != nil && !containsTag(si.tags, p.tag) {
				si.tags = append(si.tags, p.tag)
			}
		}
	}
	s.mu.Unlock()

	blobs := map[digest.Digest]blobSource{}
	var items []manifestItem
	var index []ocispec.Descriptor
	repos := map[string]map[string]string{}
	for _, si := range imgs {
		e := si.e
		sort.Slice(si.tags, func(i, j int) bool { return si.tags[i].String() < si.tags[j].String() })
		layerDescs := []ocispec.Descriptor{}
		var layerPaths []string
		for _, l := range e.layers {
			layerDescs = append(layerDescs, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: l.Digest, Size: l.Size})
			layerPaths = append(layerPaths, blobPath(l.Digest))
			blobs[l.Digest] = blobSource{dgst: l.Digest}
		}
		mb, err := json.Marshal(ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: e.rec.ID, Size: int64(len(e.raw))},
			Layers:    layerDescs,
		})
		if err != nil {
			return err
		}
		md := digest.FromBytes(mb)
		blobs[md] = blobSource{dgst: md, data: mb}
		blobs[e.rec.ID] = blobSource{dgst: e.rec.ID, data: e.raw}

		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mb))}
		var repoTags []string
		for _, tag := range si.tags {
			d := desc
			d.Annotations = map[string]string{annotationImageName: tag.String(), ocispec.AnnotationRefName: tag.Tag()}
			index = append(index, d)
			repoTags = append(repoTags, reference.FamiliarString(tag))
			if len(e.layers) > 0 {
				name := reference.FamiliarName(tag)
				if repos[name] == nil {
					repos[name] = map[string]string{}
				}
				repos[name][tag.Tag()] = e.layers[len(e.layers)-1].Digest.Encoded()
			}
		}
		if len(si.tags) == 0 {
			index = append(index, desc)
		}
		item := manifestItem{Config: blobPath(e.rec.ID), RepoTags: repoTags, Layers: layerPaths}
		if item.Layers == nil {
			item.Layers = []string{}
		}
		// Like Docker, a parent is recorded only when it is saved too.
		if p := e.rec.Parent; p != "" && byID[p] != nil {
			item.Parent = p
		}
		items = append(items, item)
	}

	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch})
	}
	file := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: epoch}); err != nil {
			return err
		}
		_, err := io.Copy(tw, content.ContextReader(ctx, r))
		return err
	}
	if err := dir("blobs/"); err != nil {
		return err
	}
	var algs []string
	algSeen := map[string]bool{}
	var paths []string
	byPath := map[string]blobSource{}
	for d, b := range blobs {
		if !algSeen[d.Algorithm().String()] {
			algSeen[d.Algorithm().String()] = true
			algs = append(algs, d.Algorithm().String())
		}
		paths = append(paths, blobPath(d))
		byPath[blobPath(d)] = b
	}
	sort.Strings(algs)
	sort.Strings(paths)
	for _, a := range algs {
		if err := dir("blobs/" + a + "/"); err != nil {
			return err
		}
		for _, p := range paths {
			if path.Dir(p) != "blobs/"+a {
				continue
			}
			if err := s.writeBlobEntry(ctx, byPath[p], p, file); err != nil {
				return err
			}
		}
	}

	indexJSON, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: index,
	})
	if err != nil {
		return err
	}
	manifestJSON, err := encodeJSONLine(items)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{
		{ocispec.ImageIndexFile, indexJSON},
		{manifestFileName, manifestJSON},
		{ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion": "` + ocispec.ImageLayoutVersion + `"}`)},
	}
	if len(repos) > 0 {
		rb, err := encodeJSONLine(repos)
		if err != nil {
			return err
		}
		files = append(files, struct {
			name string
			data []byte
		}{repositoriesFileName, rb})
	}
	for _, f := range files {
		if err := file(f.name, int64(len(f.data)), bytes.NewReader(f.data)); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	var evs []event
	for _, si := range imgs {
		evs = append(evs, event{"save", si.e.rec.ID.String(), si.e.rec.ID.String()})
	}
	s.emit(evs...)
	return nil
}

type saveTarget struct {
	e   *entry
	tag reference.NamedTagged
}

// saveTargetsLocked resolves one `docker save` argument the way Docker does: a bare repository name means all
// its tags (or, if it has none, an ID prefix), name:tag that tag, name@digest and IDs the image untagged.
// s.mu is held.
func (s *Store) saveTargetsLocked(name string) ([]saveTarget, error) {
	ref, err := reference.ParseAnyReference(name)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	named, ok := ref.(reference.Named)
	if !ok || reference.FamiliarName(named) == digest.SHA256.String() {
		e, err := s.resolveLocked(name)
		if err != nil {
			return nil, err
		}
		return []saveTarget{{e: e}}, nil
	}
	if reference.IsNameOnly(named) {
		var out []saveTarget
		for _, r := range s.refs {
			if tagged, ok := r.ref.(reference.NamedTagged); ok && r.ref.Name() == named.Name() {
				if e := s.images[r.id]; e != nil {
					out = append(out, saveTarget{e: e, tag: tagged})
				}
			}
		}
		if len(out) > 0 {
			sort.Slice(out, func(i, j int) bool { return out[i].tag.String() < out[j].tag.String() })
			return out, nil
		}
		if e := s.searchIDLocked(name); e != nil {
			return []saveTarget{{e: e}}, nil
		}
		return nil, noSuchImage(named)
	}
	e := s.lookupRefLocked(named)
	if e == nil {
		return nil, noSuchImage(named)
	}
	if tagged, ok := named.(reference.NamedTagged); ok {
		return []saveTarget{{e: e, tag: tagged}}, nil
	}
	return []saveTarget{{e: e}}, nil
}

func containsTag(tags []reference.NamedTagged, t reference.NamedTagged) bool {
	for _, x := range tags {
		if x.String() == t.String() {
			return true
		}
	}
	return false
}

// blobSource is a blob to write: in memory or from the content store.
type blobSource struct {
	dgst digest.Digest
	data []byte
}

func (s *Store) writeBlobEntry(ctx context.Context, b blobSource, name string, file func(string, int64, io.Reader) error) error {
	if b.data != nil {
		return file(name, int64(len(b.data)), bytes.NewReader(b.data))
	}
	ra, err := s.cs.ReaderAt(ctx, b.dgst)
	if err != nil {
		return fmt.Errorf("save %s: %w", b.dgst, err)
	}
	defer ra.Close()
	return file(name, ra.Size(), io.NewSectionReader(ra, 0, ra.Size()))
}

// blobPath is a blob's path inside an OCI layout.
func blobPath(d digest.Digest) string {
	return path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded())
}

// encodeJSONLine encodes v as json.Encoder does (with a trailing newline), like Docker's manifest.json.
func encodeJSONLine(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

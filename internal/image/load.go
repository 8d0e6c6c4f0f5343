package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/content"
)

const mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

// Load reads a `docker save` archive (optionally compressed) and adds its images, as `docker load`. It accepts
// Docker 25+'s OCI layout with manifest.json, the Docker 1.10–24 format (<id>/layer.tar, <hex>.json configs,
// manifest.json) and a plain OCI layout (index.json only). Layers may be plain or compressed tars; they are
// stored uncompressed and must match the config's diff_ids. Either every image in the archive becomes visible
// or, on any error, none does. It returns Docker's output lines: "Loaded image: <ref>" per tag, or
// "Loaded image ID: <id>" for an untagged image.
//
// Paths inside the archive are untrusted: entries are spooled to temp files named by the store, never by the
// archive, and any path or link that would leave the archive root is refused.
func (s *Store) Load(ctx context.Context, r io.Reader) ([]string, error) {
	dir, err := os.MkdirTemp(s.tmpDir(), "load-")
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer os.RemoveAll(dir)

	rc, err := decompress(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	arc, err := spoolArchive(ctx, rc, dir)
	rc.Close()
	if err != nil {
		return nil, err
	}
	plans, err := arc.plan()
	if err != nil {
		return nil, err
	}

	t := s.begin()
	defer t.release(ctx)
	entries := make([]*entry, len(plans))
	for i, p := range plans {
		if entries[i], err = s.writeLoaded(ctx, t, arc, p); err != nil {
			return nil, err
		}
	}

	var lines []string
	var evs []event
	s.mu.Lock()
	for i, p := range plans {
		e, err := s.addLocked(entries[i])
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		id := e.rec.ID
		for _, tag := range p.tags {
			if old := s.setRefLocked(tag, id); old != "" && old != id {
				lines = append(lines, fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string",
					reference.FamiliarString(tag), old))
			}
			lines = append(lines, "Loaded image: "+reference.FamiliarString(tag))
		}
		if len(p.tags) == 0 {
			lines = append(lines, "Loaded image ID: "+id.String())
		}
		evs = append(evs, event{"load", id.String(), id.String()})
	}
	err = s.saveRefsLocked()
	s.mu.Unlock()
	s.emit(evs...)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return lines, nil
}

// writeLoaded stores one planned image's layers (verified against its diff_ids), config and manifest, and
// unpacks its layers; the image is not visible yet.
func (s *Store) writeLoaded(ctx context.Context, t *txn, arc *archive, p *loadPlan) (*entry, error) {
	var layers []ocispec.Descriptor
	for i, diffID := range p.config.RootFS.DiffIDs {
		t.holdBlob(diffID)
		if info, err := s.cs.Info(ctx, diffID); err == nil {
			// Already stored (and verified when it was): like Docker, don't unpack it again.
			layers = append(layers, ocispec.Descriptor{MediaType: MediaTypeLayer, Digest: diffID, Size: info.Size})
			continue
		}
		size, err := s.loadLayer(ctx, t, arc, p.layers[i], diffID, i)
		if err != nil {
			return nil, err
		}
		layers = append(layers, ocispec.Descriptor{MediaType: MediaTypeLayer, Digest: diffID, Size: size})
	}
	e, err := t.writeImage(ctx, p.raw, layers, p.parent)
	if err != nil {
		return nil, err
	}
	if err := t.ensureLayers(ctx, e.layers, e.chainIDs); err != nil {
		return nil, err
	}
	return e, nil
}

func (s *Store) loadLayer(ctx context.Context, t *txn, arc *archive, name string, diffID digest.Digest, i int) (int64, error) {
	file, err := arc.resolve(name)
	if err != nil {
		return 0, err
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, fmt.Errorf("load: %w", err)
	}
	defer f.Close()
	rc, err := decompress(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("load layer %d: %w", i, err)
	}
	defer rc.Close()
	got, size, err := t.writeBlob(ctx, rc, diffID)
	if errdefs.IsFailedPrecondition(err) {
		return 0, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid diffID for layer %d: expected %q, got %q", i, diffID, got))
	}
	if err != nil {
		return 0, fmt.Errorf("load layer %d: %w", i, err)
	}
	return size, nil
}

// loadPlan is one image found in an archive.
type loadPlan struct {
	raw    []byte
	id     digest.Digest
	config ConfigFile
	layers []string // archive paths, one per diff_id
	tags   []reference.NamedTagged
	parent digest.Digest
}

// archive is a spooled tar: regular files copied to temp files, links remembered, both by cleaned path.
type archive struct {
	files map[string]string // archive path -> temp file
	links map[string]archiveLink
}

type archiveLink struct {
	target string
	hard   bool
}

func badArchive(format string, args ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, args...))
}

// cleanArchivePath normalizes an archive path relative to the archive root; a path that leaves the root is an
// error. A leading "/" is relative to the root, like extracting into a directory.
func cleanArchivePath(name string) (string, error) {
	p := path.Clean(name)
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", badArchive("invalid archive path %q: outside of the archive", name)
	}
	p = strings.TrimLeft(p, "/")
	if p == "" {
		p = "."
	}
	return p, nil
}

func spoolArchive(ctx context.Context, r io.Reader, dir string) (*archive, error) {
	a := &archive{files: map[string]string{}, links: map[string]archiveLink{}}
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, badArchive("invalid archive: %v", err)
		}
		name, err := cleanArchivePath(hdr.Name)
		if err != nil {
			return nil, err
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			tmp := filepath.Join(dir, fmt.Sprintf("f%d", n))
			f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return nil, fmt.Errorf("load: %w", err)
			}
			_, err = io.Copy(f, content.ContextReader(ctx, tr))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, fmt.Errorf("load: %s: %w", hdr.Name, err)
			}
			delete(a.links, name)
			a.files[name] = tmp
		case tar.TypeSymlink, tar.TypeLink:
			delete(a.files, name)
			a.links[name] = archiveLink{target: hdr.Linkname, hard: hdr.Typeflag == tar.TypeLink}
		}
	}
	return a, nil
}

// resolve finds the temp file holding the archive's file name, following links inside the archive only.
func (a *archive) resolve(name string) (string, error) {
	p, err := cleanArchivePath(name)
	if err != nil {
		return "", err
	}
	for range 64 {
		if f, ok := a.files[p]; ok {
			return f, nil
		}
		l, ok := a.links[p]
		if !ok {
			return "", badArchive("invalid archive: %s not found", name)
		}
		target := l.target
		if !l.hard && !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		if p, err = cleanArchivePath(target); err != nil {
			return "", badArchive("invalid archive: %s links to %q, outside of the archive", name, l.target)
		}
	}
	return "", badArchive("invalid archive: too many links resolving %s", name)
}

func (a *archive) has(name string) bool {
	_, err := a.resolve(name)
	return err == nil
}

func (a *archive) readFile(name string) ([]byte, error) {
	f, err := a.resolve(name)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(f)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxJSONBlob {
		return nil, badArchive("invalid archive: %s is too large", name)
	}
	return os.ReadFile(f)
}

// readBlob reads a blob of an OCI layout and verifies its digest.
func (a *archive) readBlob(d ocispec.Descriptor) ([]byte, error) {
	if err := content.ValidateDigest(d.Digest); err != nil {
		return nil, err
	}
	b, err := a.readFile(blobPath(d.Digest))
	if err != nil {
		return nil, err
	}
	if got := d.Digest.Algorithm().FromBytes(b); got != d.Digest {
		return nil, badArchive("invalid archive: blob %s has digest %s", d.Digest, got)
	}
	return b, nil
}

// plan reads the archive's manifests: manifest.json if present (as Docker does), else an OCI index.json.
func (a *archive) plan() ([]*loadPlan, error) {
	var plans []*loadPlan
	var err error
	switch {
	case a.has(manifestFileName):
		plans, err = a.planManifestJSON()
	case a.has(ocispec.ImageIndexFile):
		plans, err = a.planOCI()
	case a.has(repositoriesFileName):
		return nil, errdefs.ErrNotImplemented.WithMessage("loading the legacy (pre Docker 1.10) image format is not supported")
	default:
		return nil, badArchive("invalid archive: no manifest.json or index.json")
	}
	if err != nil {
		return nil, err
	}
	// Merge duplicates (one image under several index entries) and keep Docker's parent links only when the
	// parent is loaded too.
	var out []*loadPlan
	byID := map[digest.Digest]*loadPlan{}
	for _, p := range plans {
		if q := byID[p.id]; q != nil {
			for _, t := range p.tags {
				if !containsTag(q.tags, t) {
					q.tags = append(q.tags, t)
				}
			}
			if q.parent == "" {
				q.parent = p.parent
			}
			continue
		}
		byID[p.id] = p
		out = append(out, p)
	}
	for _, p := range out {
		if byID[p.parent] == nil {
			p.parent = ""
		}
	}
	if len(out) == 0 {
		return nil, badArchive("invalid archive: no images")
	}
	return out, nil
}

func (a *archive) planManifestJSON() ([]*loadPlan, error) {
	b, err := a.readFile(manifestFileName)
	if err != nil {
		return nil, err
	}
	var items []manifestItem
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, badArchive("invalid archive: manifest.json: %v", err)
	}
	var plans []*loadPlan
	for _, m := range items {
		raw, err := a.readFile(m.Config)
		if err != nil {
			return nil, err
		}
		p, err := newLoadPlan(raw, m.Layers, m.RepoTags)
		if err != nil {
			return nil, err
		}
		p.parent = m.Parent
		plans = append(plans, p)
	}
	return plans, nil
}

func (a *archive) planOCI() ([]*loadPlan, error) {
	b, err := a.readFile(ocispec.ImageIndexFile)
	if err != nil {
		return nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, badArchive("invalid archive: index.json: %v", err)
	}
	var plans []*loadPlan
	var walk func(descs []ocispec.Descriptor, name string, nested bool, depth int) error
	walk = func(descs []ocispec.Descriptor, name string, nested bool, depth int) error {
		if depth > 8 {
			return badArchive("invalid archive: index nesting too deep")
		}
		for _, d := range descs {
			n := name
			if v := d.Annotations[annotationImageName]; v != "" {
				n = v
			} else if v := d.Annotations[ocispec.AnnotationRefName]; v != "" && n == "" && strings.ContainsAny(v, "/:") {
				n = v
			}
			switch d.MediaType {
			case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
				ib, err := a.readBlob(d)
				if err != nil {
					return err
				}
				var sub ocispec.Index
				if err := json.Unmarshal(ib, &sub); err != nil {
					return badArchive("invalid archive: index %s: %v", d.Digest, err)
				}
				if err := walk(sub.Manifests, n, true, depth+1); err != nil {
					return err
				}
			case ocispec.MediaTypeImageManifest, MediaTypeManifest:
				if nested && d.Platform != nil && (d.Platform.OS != "linux" || d.Platform.Architecture != runtime.GOARCH) {
					continue
				}
				mb, err := a.readBlob(d)
				if err != nil {
					return err
				}
				var m ocispec.Manifest
				if err := json.Unmarshal(mb, &m); err != nil {
					return badArchive("invalid archive: manifest %s: %v", d.Digest, err)
				}
				raw, err := a.readBlob(m.Config)
				if err != nil {
					return err
				}
				var layers []string
				for _, l := range m.Layers {
					if err := content.ValidateDigest(l.Digest); err != nil {
						return err
					}
					layers = append(layers, blobPath(l.Digest))
				}
				var tags []string
				if named, err := reference.ParseNormalizedNamed(n); err == nil {
					if _, ok := named.(reference.NamedTagged); ok {
						tags = []string{n}
					}
				}
				p, err := newLoadPlan(raw, layers, tags)
				if err != nil {
					return err
				}
				plans = append(plans, p)
				if nested {
					return nil // the first manifest for this platform
				}
			}
		}
		return nil
	}
	if err := walk(idx.Manifests, "", false, 0); err != nil {
		return nil, err
	}
	return plans, nil
}

// newLoadPlan checks one image's config, layer list and tags before anything is written.
func newLoadPlan(raw []byte, layers, repoTags []string) (*loadPlan, error) {
	p := &loadPlan{raw: raw, id: digest.FromBytes(raw), layers: layers}
	if err := json.Unmarshal(raw, &p.config); err != nil {
		return nil, badArchive("invalid image config: %v", err)
	}
	if osName := p.config.OS; osName != "" && osName != "linux" {
		return nil, badArchive("image operating system %q cannot be used on this platform", osName)
	}
	if p.config.RootFS.Type != "layers" {
		return nil, badArchive("invalid image config %s: rootfs type %q", p.id, p.config.RootFS.Type)
	}
	if want, got := len(layers), len(p.config.RootFS.DiffIDs); want != got {
		return nil, badArchive("invalid manifest, layers length mismatch: expected %d, got %d", want, got)
	}
	for _, d := range p.config.RootFS.DiffIDs {
		if err := content.ValidateDigest(d); err != nil {
			return nil, err
		}
	}
	for _, rt := range repoTags {
		named, err := reference.ParseNormalizedNamed(rt)
		if err != nil {
			return nil, badArchive("invalid tag %q: %v", rt, err)
		}
		tagged, ok := named.(reference.NamedTagged)
		if !ok {
			return nil, badArchive("invalid tag %q", rt)
		}
		p.tags = append(p.tags, tagged)
	}
	return p, nil
}

package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// defaultPlatform is the platform of imported and committed-from-scratch images.
func defaultPlatform() ocispec.Platform {
	return ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Import creates an image from a root filesystem tar (plain, gzip, bzip2, xz or zstd), as `docker import`: one
// layer, a config for platform (default linux/GOARCH) with changes applied (Dockerfile instructions such as
// `CMD ["sh"]` or `ENV A=B`), and one history entry whose comment is message, "Imported from -" when empty. ref,
// if set, is tagged. It returns the new image ID.
func (s *Store) Import(ctx context.Context, r io.Reader, ref string, changes []string, message string, platform *ocispec.Platform) (digest.Digest, error) {
	var tagged reference.NamedTagged
	if ref != "" {
		var err error
		if tagged, err = parseTag(ref); err != nil {
			return "", err
		}
	}
	p := defaultPlatform()
	if platform != nil {
		if platform.OS != "" && platform.OS != "linux" {
			return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("operating system is not supported: %s", platform.OS))
		}
		if platform.Architecture != "" {
			p.Architecture = platform.Architecture
			p.Variant = platform.Variant
		}
	}
	var cfg dockerspec.DockerOCIImageConfig
	if err := applyChanges(&cfg, changes); err != nil {
		return "", err
	}
	if message == "" {
		message = "Imported from -"
	}

	t := s.begin()
	defer t.release(ctx)
	rc, err := decompress(ctx, r)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	diffID, size, err := t.writeBlob(ctx, rc, "")
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}

	created := s.now().UTC()
	var img ConfigFile
	img.Created = &created
	img.Platform = p
	img.Config = cfg
	img.Comment = message
	img.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}}
	img.History = []ocispec.History{{Created: &created, Comment: message}}
	layers := []ocispec.Descriptor{{MediaType: MediaTypeLayer, Digest: diffID, Size: size}}
	id, err := s.create(ctx, t, img, layers, "", tagged)
	if err != nil {
		return "", err
	}
	evs := []event{{"import", id.String(), id.String()}}
	if tagged != nil {
		evs = append(evs, event{"tag", id.String(), reference.FamiliarString(tagged)})
	}
	s.emit(evs...)
	return id, nil
}

// CommitConfig describes a `docker commit`.
type CommitConfig struct {
	// Config is the container's config in image terms; its non-empty fields override the parent image's config,
	// and a non-nil empty Entrypoint clears the parent's (docker run --entrypoint "").
	Config *dockerspec.DockerOCIImageConfig
	// ContainerID is recorded as the config's "container".
	ContainerID string
	// Comment is the history comment (-m); Author the image author (-a).
	Comment string
	Author  string
	// Changes are Dockerfile instructions applied to the resulting config (-c).
	Changes []string
	// Ref, if set, is tagged to the new image.
	Ref string
	// Pause records whether the daemon paused the container while taking the layer; the store does not pause.
	Pause bool
}

// Commit creates an image from parentID (an image reference or ID, "" for none) plus layer, the uncompressed
// tar of the container's changes, as `docker commit`: the history gains an entry created by the container's
// command, and a layer with no entries adds no layer (an empty-layer history entry). It returns the new image ID.
func (s *Store) Commit(ctx context.Context, parentID string, layer io.Reader, cfg CommitConfig) (digest.Digest, error) {
	var tagged reference.NamedTagged
	if cfg.Ref != "" {
		var err error
		if tagged, err = parseTag(cfg.Ref); err != nil {
			return "", err
		}
	}
	t := s.begin()
	defer t.release(ctx)

	var parent *entry
	if parentID != "" {
		s.mu.Lock()
		e, err := s.resolveLocked(parentID)
		if err == nil {
			// Hold the parent's blobs and layers: the new image shares them.
			t.holdImageLocked(e)
		}
		s.mu.Unlock()
		if err != nil {
			return "", err
		}
		parent = e
	}

	var img ConfigFile
	var layers []ocispec.Descriptor
	var parentRef digest.Digest
	if parent != nil {
		if err := json.Unmarshal(parent.raw, &img); err != nil {
			return "", fmt.Errorf("parent config %s: %w", parent.rec.ID, err)
		}
		layers = append(layers, parent.layers...)
		parentRef = parent.rec.ID
	} else {
		img.Platform = defaultPlatform()
		img.RootFS.Type = "layers"
	}
	img.Config = mergeContainerConfig(img.Config, cfg.Config)
	if err := applyChanges(&img.Config, cfg.Changes); err != nil {
		return "", err
	}

	diffID, size, err := t.writeBlob(ctx, layer, "")
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	empty := diffID == emptyLayerDiffID
	if !empty {
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, diffID)
		layers = append(layers, ocispec.Descriptor{MediaType: MediaTypeLayer, Digest: diffID, Size: size})
	}
	created := s.now().UTC()
	var createdBy string
	if cfg.Config != nil {
		createdBy = strings.Join(cfg.Config.Cmd, " ")
	}
	img.Created = &created
	img.Author = cfg.Author
	img.Container = cfg.ContainerID
	img.Comment = ""
	img.History = append(img.History, ocispec.History{
		Created:    &created,
		CreatedBy:  createdBy,
		Author:     cfg.Author,
		Comment:    cfg.Comment,
		EmptyLayer: empty,
	})
	id, err := s.create(ctx, t, img, layers, parentRef, tagged)
	if err != nil {
		return "", err
	}
	if tagged != nil {
		s.emit(event{"tag", id.String(), reference.FamiliarString(tagged)})
	}
	return id, nil
}

// create stores img's config and manifest, unpacks its layers (whose blobs t already holds), makes it visible
// and tags it.
func (s *Store) create(ctx context.Context, t *txn, img ConfigFile, layers []ocispec.Descriptor, parent digest.Digest, tagged reference.NamedTagged) (digest.Digest, error) {
	raw, err := json.Marshal(img)
	if err != nil {
		return "", err
	}
	e, err := t.writeImage(ctx, raw, layers, parent)
	if err != nil {
		return "", err
	}
	if err := t.ensureLayers(ctx, e.layers, e.chainIDs); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.addLocked(e); err != nil {
		return "", err
	}
	if tagged != nil {
		s.setRefLocked(tagged, e.rec.ID)
		if err := s.saveRefsLocked(); err != nil {
			return "", fmt.Errorf("tag %s: %w", reference.FamiliarString(tagged), err)
		}
	}
	return e.rec.ID, nil
}

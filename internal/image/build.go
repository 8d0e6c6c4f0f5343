package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// StepConfig describes one builder step's image: the full config that replaces the parent's, the history entry's
// created_by, and whether the step may add a layer.
type StepConfig struct {
	// Config is the new image's container config (not merged with the parent's).
	Config dockerspec.DockerOCIImageConfig
	// CreatedBy is the history entry's created_by, e.g. `/bin/sh -c #(nop)  CMD ["sh"]`.
	CreatedBy string
	// Author is the image author (MAINTAINER).
	Author string
	// Platform is used when there is no parent (FROM scratch); empty means linux/GOARCH.
	Platform *ocispec.Platform
}

// CreateStep creates an untagged image from parentID (an image ID, "" for scratch) plus layer (an uncompressed tar
// of the step's changes, nil for a config-only step), as the classic builder commits each step: the parent's
// history gains one entry, an empty_layer one when no layer was added (nil, or a tar with no entries). The new
// image records parentID as its parent, so intermediate images are hidden by `images` and survive `image prune`
// while their children exist.
func (s *Store) CreateStep(ctx context.Context, parentID string, layer io.Reader, cfg StepConfig) (digest.Digest, error) {
	t := s.begin()
	defer t.release(ctx)

	var img ConfigFile
	var layers []ocispec.Descriptor
	var parentRef digest.Digest
	if parentID != "" {
		s.mu.Lock()
		e, err := s.resolveLocked(parentID)
		if err == nil {
			t.holdImageLocked(e)
		}
		s.mu.Unlock()
		if err != nil {
			return "", err
		}
		if err := json.Unmarshal(e.raw, &img); err != nil {
			return "", fmt.Errorf("parent config %s: %w", e.rec.ID, err)
		}
		layers = append(layers, e.layers...)
		parentRef = e.rec.ID
	} else {
		img.Platform = defaultPlatform()
		if cfg.Platform != nil && cfg.Platform.Architecture != "" {
			img.Platform.Architecture = cfg.Platform.Architecture
			img.Platform.Variant = cfg.Platform.Variant
		}
		img.RootFS.Type = "layers"
	}
	img.Config = cloneConfig(cfg.Config)

	empty := true
	if layer != nil {
		diffID, size, err := t.writeBlob(ctx, layer, "")
		if err != nil {
			return "", fmt.Errorf("commit: %w", err)
		}
		if diffID != emptyLayerDiffID {
			empty = false
			img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, diffID)
			layers = append(layers, ocispec.Descriptor{MediaType: MediaTypeLayer, Digest: diffID, Size: size})
		}
	}
	created := s.now().UTC()
	img.Created = &created
	img.Author = cfg.Author
	img.Container = ""
	img.Comment = ""
	img.History = append(img.History, ocispec.History{Created: &created, CreatedBy: cfg.CreatedBy, EmptyLayer: empty})
	return s.create(ctx, t, img, layers, parentRef, nil)
}

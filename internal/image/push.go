package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/berth/berth/internal/content"
)

// maxConcurrentUploads is dockerd's default max-concurrent-uploads.
const maxConcurrentUploads = 5

// PushOptions configures Push.
type PushOptions struct {
	// Registry is the reference's registry domain, to find and record where layers live.
	Registry string
	// Progress receives docker's push messages.
	Progress ProgressFunc
}

// PushResult is what a finished push wrote: the tag, and the digest and size of its manifest.
type PushResult struct {
	Tag    string
	Digest digest.Digest
	Size   int64
}

// MountCandidates lists the repositories of registry that hold a layer of the image ref names, so a push can
// ask for pull access to them (token scopes) and mount from them.
func (s *Store) MountCandidates(ctx context.Context, ref reference.Named, registry string) []string {
	img, err := s.Get(ctx, reference.FamiliarString(ref))
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, d := range img.Config.RootFS.DiffIDs {
		for _, src := range s.LayerSources(d) {
			if src.Registry == registry && !seen[src.Repository] && len(out) < 8 {
				seen[src.Repository] = true
				out = append(out, src.Repository)
			}
		}
	}
	return out
}

// Push uploads the image ref (name:tag) names to p, as `docker push`: for each layer, a compressed copy the
// registry already has is reused ("Layer already exists"), one in another repository of the same registry is
// mounted ("Mounted from ..."), and otherwise the layer is gzip-compressed while it streams ("Pushed"); then the
// config and a schema2 manifest go up under the tag. The manifest digest becomes a RepoDigest of the image.
func (s *Store) Push(ctx context.Context, p Pusher, ref reference.NamedTagged, opts PushOptions) (digest.Digest, error) {
	prog := opts.Progress
	img, err := s.Get(ctx, reference.FamiliarString(ref))
	if err != nil {
		if errdefs.IsNotFound(err) {
			return "", errdefs.ErrNotFound.WithMessage("An image does not exist locally with the tag: " + reference.FamiliarName(ref))
		}
		return "", err
	}
	prog.send(Progress{Status: "The push refers to repository [" + p.Name() + "]"})

	diffIDs := img.Config.RootFS.DiffIDs
	descs := make([]ocispec.Descriptor, len(diffIDs))
	// dockerd lists layers top-down.
	for i := len(diffIDs) - 1; i >= 0; i-- {
		prog.send(Progress{ID: shortID(diffIDs[i].String()), Status: "Preparing"})
	}
	for i := len(diffIDs) - 1 - maxConcurrentUploads; i >= 0; i-- {
		prog.send(Progress{ID: shortID(diffIDs[i].String()), Status: "Waiting"})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxConcurrentUploads)
	for i := len(diffIDs) - 1; i >= 0; i-- {
		g.Go(func() error {
			d, err := s.pushLayer(gctx, p, diffIDs[i], img.Layers[i].Size, opts)
			descs[i] = d
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}

	raw, err := s.configBlob(ctx, img.ID)
	if err != nil {
		return "", err
	}
	if ok, err := p.Exists(ctx, img.ID); err != nil {
		return "", err
	} else if !ok {
		got, _, err := p.PushBlob(ctx, bytes.NewReader(raw))
		if err != nil {
			return "", err
		}
		if got != img.ID {
			return "", fmt.Errorf("config pushed as %s, expected %s", got, img.ID)
		}
	}

	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: MediaTypeManifest,
		Config:    ocispec.Descriptor{MediaType: MediaTypeConfig, Digest: img.ID, Size: int64(len(raw))},
		Layers:    descs,
	}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	for _, d := range descs {
		if d.MediaType != MediaTypeLayerGzip && d.MediaType != MediaTypeLayer {
			// zstd layers (from an OCI pull) only fit an OCI manifest.
			m.MediaType, m.Config.MediaType = ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig
			for j := range m.Layers {
				m.Layers[j].MediaType = ociLayerType(m.Layers[j].MediaType)
			}
			break
		}
	}
	mb, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		return "", err
	}
	if err := p.PushManifest(ctx, ref.Tag(), m.MediaType, mb); err != nil {
		return "", err
	}
	md := digest.FromBytes(mb)
	if canonical, err := reference.WithDigest(reference.TrimNamed(ref), md); err == nil {
		s.mu.Lock()
		if s.images[img.ID] != nil {
			s.setRefLocked(canonical, img.ID)
			if err := s.saveRefsLocked(); err != nil {
				slog.WarnContext(ctx, "image: recording repo digest", "ref", canonical, "err", err)
			}
		}
		s.mu.Unlock()
	}
	s.emit(event{"push", img.ID.String(), reference.FamiliarString(ref)})
	prog.send(Progress{Status: fmt.Sprintf("%s: digest: %s size: %d", ref.Tag(), md, len(mb))})
	prog.send(Progress{Pushed: &PushResult{Tag: ref.Tag(), Digest: md, Size: int64(len(mb))}})
	return md, nil
}

func ociLayerType(mt string) string {
	switch mt {
	case MediaTypeLayerGzip:
		return ocispec.MediaTypeImageLayerGzip
	case MediaTypeLayer:
		return ocispec.MediaTypeImageLayer
	}
	return mt
}

func (s *Store) configBlob(ctx context.Context, id digest.Digest) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.images[id]
	if e == nil {
		return nil, errdefs.ErrNotFound.WithMessage("No such image: " + id.String())
	}
	return e.raw, nil
}

// pushLayer makes one layer present in p's repository and returns its manifest descriptor.
func (s *Store) pushLayer(ctx context.Context, p Pusher, diffID digest.Digest, size int64, opts PushOptions) (ocispec.Descriptor, error) {
	prog, id := opts.Progress, shortID(diffID.String())
	sources := s.LayerSources(diffID)
	for _, src := range sources {
		if src.Registry != opts.Registry || src.Repository != p.Path() {
			continue
		}
		if ok, err := p.Exists(ctx, src.Digest); err == nil && ok {
			prog.send(Progress{ID: id, Status: "Layer already exists"})
			return ocispec.Descriptor{MediaType: src.MediaType, Digest: src.Digest, Size: src.Size}, nil
		}
	}
	for _, src := range sources {
		if src.Registry != opts.Registry || src.Repository == p.Path() {
			continue
		}
		ok, err := p.Mount(ctx, src.Digest, src.Repository)
		if err != nil || !ok {
			continue
		}
		prog.send(Progress{ID: id, Status: "Mounted from " + src.Repository})
		src.Repository = p.Path()
		if err := s.addLayerSource(diffID, src); err != nil {
			slog.WarnContext(ctx, "image: recording layer source", "layer", src.Digest, "err", err)
		}
		return ocispec.Descriptor{MediaType: src.MediaType, Digest: src.Digest, Size: src.Size}, nil
	}

	rc, err := s.cs.Open(ctx, diffID)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		src := &progressReader{r: rc, total: size, id: id, status: "Pushing", report: prog}
		_, err := io.Copy(zw, content.ContextReader(ctx, src))
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	dg, n, err := p.PushBlob(ctx, pr)
	pr.CloseWithError(err)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	prog.send(Progress{ID: id, Status: "Pushed"})
	src := LayerSource{Digest: dg, MediaType: MediaTypeLayerGzip, Size: n, Registry: opts.Registry, Repository: p.Path()}
	if err := s.addLayerSource(diffID, src); err != nil {
		slog.WarnContext(ctx, "image: recording layer source", "layer", dg, "err", err)
	}
	return ocispec.Descriptor{MediaType: MediaTypeLayerGzip, Digest: dg, Size: n}, nil
}

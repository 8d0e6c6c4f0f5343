package daemon

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/berth/berth/internal/archive"
	"github.com/berth/berth/internal/containers"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/image"
	"github.com/berth/berth/internal/snapshot"
)

// layerStore unpacks image layers into overlay snapshots: the image store's view of internal/snapshot.
type layerStore struct {
	s *snapshot.Store
}

func (l *layerStore) EnsureLayer(ctx context.Context, chainID, parent digest.Digest, open func() (io.ReadCloser, error)) error {
	_, err := l.s.EnsureLayer(ctx, chainID, parent, func(dir string) error {
		rc, err := open()
		if err != nil {
			return err
		}
		_, err = archive.Apply(ctx, dir, rc)
		// A streamed layer's reader reports at Close whether its content verified: only then is it committed.
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		return err
	})
	return err
}

// RemoveLayer removes layer chainID and returns the bytes its files took, measured just before, so that
// `image prune` reports what it freed. A layer's files are its diff directory and the snapshot store's
// bookkeeping beside it (the directory above).
func (l *layerStore) RemoveLayer(ctx context.Context, chainID digest.Digest) (int64, error) {
	var freed int64
	// The init layer made over this chain (see initLayer) goes with it, unless a container still sits on it.
	if dir, ok := l.s.Layer(ctx, containers.InitChainID(chainID)); ok && !l.containerOn(ctx, dir) {
		n := l.s.LayerUsage(ctx, containers.InitChainID(chainID))
		if err := l.s.RemoveLayer(ctx, containers.InitChainID(chainID)); err != nil {
			return 0, err
		}
		freed += n
	}
	n := l.s.LayerUsage(ctx, chainID)
	if err := l.s.RemoveLayer(ctx, chainID); err != nil {
		return freed, err
	}
	return freed + n, nil
}

// containerOn reports whether some container snapshot has layer dir as its top lower layer.
func (l *layerStore) containerOn(ctx context.Context, dir string) bool {
	ids, err := l.s.Containers(ctx)
	if err != nil {
		return true // when in doubt, keep it
	}
	for _, id := range ids {
		if lowers, err := l.s.LowersOf(ctx, id); err == nil && len(lowers) > 0 && lowers[0] == dir {
			return true
		}
	}
	return false
}

// Images exposes the image store to the API server.
func (d *Daemon) Images() *image.Store { return d.images }

// ImageDelete removes or untags an image (docker rmi), refusing images that containers use unless forced.
func (d *Daemon) ImageDelete(ctx context.Context, ref string, force, noPrune bool) ([]image.DeleteItem, error) {
	d.containers.Settle()
	return d.images.Delete(ctx, ref, force, noPrune, d.containers.ImageUsers)
}

// ImagePrune removes dangling images (all unused ones with all), never one a container uses.
func (d *Daemon) ImagePrune(ctx context.Context, all bool, f filters.Args) (image.PruneResult, error) {
	d.containers.Settle()
	return d.images.Prune(ctx, all, f, d.containers.ImageUsers)
}

// ImageService is the local image store, with deletions and prunes that know which containers use an image.
type ImageService struct {
	*image.Store
	d *Daemon
}

// ImageService returns the daemon's image service.
func (d *Daemon) ImageService() ImageService { return ImageService{Store: d.images, d: d} }

// Delete removes an image reference or the image, refusing images that containers use unless forced.
func (s ImageService) Delete(ctx context.Context, ref string, force, noPrune bool) ([]image.DeleteItem, error) {
	return s.d.ImageDelete(ctx, ref, force, noPrune)
}

// Prune removes dangling (or, with all, unused) images.
func (s ImageService) Prune(ctx context.Context, all bool, f filters.Args) (image.PruneResult, error) {
	return s.d.ImagePrune(ctx, all, f)
}

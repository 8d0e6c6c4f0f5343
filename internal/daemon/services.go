package daemon

import (
	"context"
	"io"

	"github.com/distribution/reference"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/volume"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/builder"
	"github.com/berth/berth/internal/image"
)

// The daemon's services, as front ends (the Docker API server) see them. The containers service is the Daemon
// itself for now; images, distribution, builds, networks and volumes are views of the stores it wires.

// ImageService is the local image store, with deletions and prunes that know which containers use an image.
type ImageService struct {
	*image.Store
	d *Daemon
}

// ImageService returns the daemon's image service.
func (d *Daemon) ImageService() ImageService { return ImageService{Store: d.images, d: d} }

// Delete removes an image reference or the image, refusing images that containers use unless forced.
func (s ImageService) Delete(ctx context.Context, ref string, force, noPrune bool) ([]imagetypes.DeleteResponse, error) {
	return s.d.ImageDelete(ctx, ref, force, noPrune)
}

// Prune removes dangling (or, with all, unused) images.
func (s ImageService) Prune(ctx context.Context, all bool, filters map[string][]string) (imagetypes.PruneReport, error) {
	return s.d.ImagePrune(ctx, all, filters)
}

// DistributionService pulls, pushes, logs in to and searches registries.
type DistributionService struct{ d *Daemon }

// DistributionService returns the daemon's distribution service.
func (d *Daemon) DistributionService() DistributionService { return DistributionService{d} }

func (s DistributionService) Pull(ctx context.Context, ref reference.Named, platform *ocispec.Platform, auth registry.AuthConfig, progress image.ProgressFunc) (digest.Digest, error) {
	return s.d.PullImage(ctx, ref, platform, auth, progress)
}

func (s DistributionService) Push(ctx context.Context, ref reference.NamedTagged, auth registry.AuthConfig, progress image.ProgressFunc) error {
	return s.d.PushImage(ctx, ref, auth, progress)
}

func (s DistributionService) Login(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error) {
	return s.d.Login(ctx, auth)
}

func (s DistributionService) Search(ctx context.Context, term string, limit int, auth registry.AuthConfig) (*registry.SearchResults, error) {
	return s.d.SearchImages(ctx, term, limit, auth)
}

// BuildService builds images with the daemon's builder.
type BuildService struct{ d *Daemon }

// BuildService returns the daemon's build service.
func (d *Daemon) BuildService() BuildService { return BuildService{d} }

func (s BuildService) Build(ctx context.Context, r io.Reader, opts builder.Options, out io.Writer) (string, error) {
	b, err := s.d.Builder()
	if err != nil {
		return "", err
	}
	return b.Build(ctx, r, opts, out)
}

func (s BuildService) Prune(ctx context.Context) ([]string, int64, error) { return s.d.BuildPrune(ctx) }

// NetworkService is networks and containers' attachments to them.
type NetworkService struct{ d *Daemon }

// NetworkService returns the daemon's network service.
func (d *Daemon) NetworkService() NetworkService { return NetworkService{d} }

func (s NetworkService) List(ctx context.Context, filters map[string][]string) ([]network.Inspect, error) {
	return s.d.networks.List(filters), nil
}

func (s NetworkService) Inspect(ctx context.Context, ref string) (network.Inspect, error) {
	return s.d.networks.Inspect(ref)
}

func (s NetworkService) Create(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	return s.d.NetworkCreate(ctx, req)
}

func (s NetworkService) Remove(ctx context.Context, ref string) error {
	return s.d.NetworkRemove(ctx, ref)
}

func (s NetworkService) Connect(ctx context.Context, netRef, containerRef string, cfg *network.EndpointSettings) error {
	return s.d.NetworkConnect(ctx, netRef, containerRef, cfg)
}

func (s NetworkService) Disconnect(ctx context.Context, netRef, containerRef string, force bool) error {
	return s.d.NetworkDisconnect(ctx, netRef, containerRef, force)
}

func (s NetworkService) Prune(ctx context.Context, filters map[string][]string) ([]string, error) {
	return s.d.NetworkPrune(ctx, filters["label"])
}

// VolumeService is named volumes.
type VolumeService struct{ d *Daemon }

// VolumeService returns the daemon's volume service.
func (d *Daemon) VolumeService() VolumeService { return VolumeService{d} }

func (s VolumeService) List(ctx context.Context, filters map[string][]string) ([]volume.Volume, error) {
	return s.d.VolumeList(ctx, filters)
}

func (s VolumeService) Inspect(ctx context.Context, name string) (volume.Volume, error) {
	return s.d.VolumeInspect(ctx, name)
}

func (s VolumeService) Create(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	return s.d.VolumeCreate(ctx, req)
}

func (s VolumeService) Remove(ctx context.Context, name string, force bool) error {
	return s.d.VolumeRemove(ctx, name, force)
}

func (s VolumeService) Prune(ctx context.Context, filters map[string][]string) (volume.PruneReport, error) {
	return s.d.VolumePrune(ctx, filters)
}

func (s VolumeService) Usage(ctx context.Context, name string) (volume.UsageData, error) {
	return s.d.VolumeUsage(ctx, name)
}

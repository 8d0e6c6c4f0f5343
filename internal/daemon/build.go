package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"

	"github.com/berth/berth/internal/archive"
	"github.com/berth/berth/internal/builder"
	"github.com/berth/berth/internal/containers"
	"github.com/berth/berth/internal/distribution"
	"github.com/berth/berth/internal/image"
)

// buildBackend is the daemon as internal/builder sees it: images from the store, and build containers through
// the normal create/start/wait/remove path.
type buildBackend struct{ d *Daemon }

var _ builder.Backend = buildBackend{}

// Builder returns the daemon's image builder; its cache index lives in <data-root>/builder.
func (d *Daemon) Builder() (*builder.Builder, error) {
	d.builderOnce.Do(func() {
		dir := filepath.Join(d.cfg.DataRoot, "builder")
		cache, err := builder.OpenCache(dir)
		if err != nil {
			d.builderErr = err
			return
		}
		// Entries for images deleted since are dropped (lookups would drop them too, one by one).
		if err := cache.Sweep(func(id string) bool {
			_, err := d.images.Get(d.ctx, id)
			return err == nil
		}); err != nil {
			slog.Warn("builder: sweeping the cache index", "err", err)
		}
		// Contexts a previous daemon was unpacking when it stopped are garbage now.
		tmp := filepath.Join(dir, "tmp")
		if err := os.RemoveAll(tmp); err != nil {
			slog.Warn("builder: cleaning contexts left over", "dir", tmp, "err", err)
		}
		d.builder = builder.New(buildBackend{d}, cache, tmp)
	})
	return d.builder, d.builderErr
}

// BuildPrune empties the build cache index and the context file store, and returns the cache keys it dropped and
// the bytes the store held. The images stay (untagged intermediate images, which `image prune` handles).
func (d *Daemon) BuildPrune(ctx context.Context) ([]string, int64, error) {
	b, err := d.Builder()
	if err != nil {
		return nil, 0, err
	}
	keys, err := b.Cache().Prune()
	if err != nil {
		return nil, 0, err
	}
	n, err := b.PruneStore()
	return keys, n, err
}

// GetImage is the one place a build gets its base images: the local one, or with opts.Pull or when it is
// missing, the one pulled from its registry (anonymously), as docker's classic builder does.
func (b buildBackend) GetImage(ctx context.Context, ref string, opts builder.GetImageOptions) (*image.Image, error) {
	if !opts.Pull {
		img, err := b.d.images.Get(ctx, ref)
		if err == nil || !errdefs.IsNotFound(err) {
			return img, err
		}
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return b.d.images.Get(ctx, ref) // an ID, or nothing a registry could have: the store's answer
	}
	if _, ok := named.(reference.Canonical); !ok {
		named = reference.TagNameOnly(named)
	}
	platform, err := distribution.ParsePlatform(opts.Platform)
	if err != nil {
		return nil, err
	}
	id, err := b.d.PullImage(ctx, named, platform, distribution.Credentials{}, pullLines(opts.Out))
	if err != nil {
		return nil, err
	}
	return b.d.images.Get(ctx, id.String())
}

// pullLines writes a pull's status messages as the lines the classic builder shows; byte counts are left out.
func pullLines(w io.Writer) image.ProgressFunc {
	if w == nil {
		return nil
	}
	var mu sync.Mutex
	return func(p image.Progress) {
		switch p.Status {
		case "Downloading", "Extracting", "Waiting", "Verifying Checksum", "Download complete", "Pulling fs layer", "":
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if p.ID != "" {
			fmt.Fprintf(w, "%s: %s\n", p.ID, p.Status)
		} else {
			fmt.Fprintln(w, p.Status)
		}
	}
}

func (b buildBackend) CreateStep(ctx context.Context, parentID string, layer io.Reader, cfg image.StepConfig) (string, error) {
	id, err := b.d.images.CreateStep(ctx, parentID, layer, cfg)
	return id.String(), err
}

func (b buildBackend) TagImage(ctx context.Context, id, ref string) error {
	return b.d.images.Tag(ctx, id, ref)
}

func (b buildBackend) RemoveImage(ctx context.Context, id string) error {
	// noPrune: only what the build made goes; parents it found in the cache stay.
	_, err := b.d.images.Delete(ctx, id, false, true, b.d.containers.ImageUsers)
	return err
}

func (b buildBackend) CreateContainer(ctx context.Context, spec builder.ContainerSpec) (string, error) {
	resp, err := b.d.containers.Create(ctx, containers.CreateOptions{
		Config: &container.Config{
			Image:      spec.Image,
			Entrypoint: spec.Cmd, // the command replaces the image's entrypoint, as the classic builder's RUN does
			Env:        spec.Env,
			User:       spec.User,
			WorkingDir: spec.WorkingDir,
		},
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(spec.Network), ExtraHosts: spec.ExtraHosts},
	})
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

func (b buildBackend) StartContainer(ctx context.Context, id string) error {
	return b.d.containers.Start(ctx, id)
}

func (b buildBackend) ContainerOutput(ctx context.Context, id string, stdout, stderr io.Writer) error {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(b.d.containers.Logs(ctx, id, containers.LogsOptions{Stdout: true, Stderr: true, Follow: true}, pw))
	}()
	_, err := stdcopy.StdCopy(stdout, stderr, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	return err
}

func (b buildBackend) WaitContainer(ctx context.Context, id string) (int, error) {
	return b.d.containers.Wait(ctx, id, container.WaitConditionNotRunning, nil)
}

func (b buildBackend) MountContainer(ctx context.Context, id string) (string, func(), error) {
	return b.d.containers.Mount(ctx, id)
}

func (b buildBackend) ContainerChanges(ctx context.Context, id string, w io.Writer) error {
	return archive.WriteDiff(ctx, w, b.d.snapshots.Upper(id))
}

func (b buildBackend) RemoveContainer(ctx context.Context, id string) error {
	return b.d.containers.Remove(ctx, id, containers.RemoveOptions{Force: true, Volumes: true})
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

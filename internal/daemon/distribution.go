package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/distribution"
	"github.com/berth/berth/internal/image"
)

// PullImage pulls ref (name[:tag] or name@digest) with credentials ac, trying docker.io's mirrors before
// docker.io itself; a mirror that fails for any reason falls back to the next endpoint, as dockerd does.
func (d *Daemon) PullImage(ctx context.Context, ref reference.Named, platform *ocispec.Platform, ac distribution.Credentials, progress image.ProgressFunc) (digest.Digest, error) {
	domain := reference.Domain(ref)
	eps, err := d.registries.Endpoints(domain)
	if err != nil {
		return "", err
	}
	var lastErr error
	for _, ep := range eps {
		auth := ac
		if ep.Mirror {
			auth = distribution.Credentials{} // a mirror gets no docker.io secrets
		}
		repo, err := d.registries.Open(ctx, ep, reference.Path(ref), auth, false)
		if err == nil {
			var id digest.Digest
			id, err = d.images.Pull(ctx, repo, ref, image.PullOptions{Platform: platform, Registry: domain, Progress: progress})
			if err == nil {
				return id, nil
			}
		}
		lastErr = err
		if !ep.Mirror || ctx.Err() != nil {
			break
		}
		slog.InfoContext(ctx, "pull from mirror failed, trying the next endpoint", "mirror", ep.Host, "ref", ref.String(), "err", err)
	}
	return "", registryError(lastErr)
}

// registryError keeps a registry's refusal of credentials from reaching the client as 401: the docker CLI takes
// a 401 from pull or push as the daemon asking it to log in, and prompts. dockerd answers 500 there too.
func registryError(err error) error {
	if err != nil && errdefs.IsUnauthorized(err) {
		return errdefs.ErrUnknown.WithMessage(err.Error())
	}
	return err
}

// PushImage pushes ref (name:tag) to its registry with credentials ac.
func (d *Daemon) PushImage(ctx context.Context, ref reference.NamedTagged, ac distribution.Credentials, progress image.ProgressFunc) error {
	if _, err := d.images.Get(ctx, reference.FamiliarString(ref)); err != nil {
		if errdefs.IsNotFound(err) {
			return errdefs.ErrNotFound.WithMessage("An image does not exist locally with the tag: " + reference.FamiliarName(ref))
		}
		return err
	}
	domain := reference.Domain(ref)
	eps, err := d.registries.Endpoints(domain)
	if err != nil {
		return err
	}
	ep := eps[len(eps)-1] // never push to a mirror
	mounts := d.images.MountCandidates(ctx, ref, domain)
	repo, err := d.registries.Open(ctx, ep, reference.Path(ref), ac, true, mounts...)
	if err != nil {
		return registryError(err)
	}
	_, err = d.images.Push(ctx, repo, ref, image.PushOptions{Registry: domain, Progress: progress})
	return registryError(err)
}

// Login checks credentials against a registry, for POST /auth.
func (d *Daemon) Login(ctx context.Context, ac distribution.Credentials) (distribution.LoginResult, error) {
	return d.registries.Login(ctx, ac)
}

// SearchImages answers GET /images/search: term "host/text" searches that registry's catalog; a bare term goes
// to Docker Hub's search index, like dockerd.
func (d *Daemon) SearchImages(ctx context.Context, term string, limit int, ac distribution.Credentials) ([]distribution.SearchResult, error) {
	if limit <= 0 {
		limit = 25
	}
	if limit > 100 {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("limit %d is outside the range of [1, 100]", limit))
	}
	host, text := distribution.DockerHubDomain, term
	if i := strings.IndexByte(term, '/'); i >= 0 && strings.ContainsAny(term[:i], ".:") || strings.HasPrefix(term, "localhost/") {
		host, text = term[:i], term[i+1:]
	}
	results, err := d.registries.Search(ctx, host, text, limit, ac)
	if err != nil {
		return nil, registryError(err)
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].Name < results[j].Name })
	return results, nil
}

// DistributionService pulls, pushes, logs in to and searches registries.
type DistributionService struct{ d *Daemon }

// DistributionService returns the daemon's distribution service.
func (d *Daemon) DistributionService() DistributionService { return DistributionService{d} }

func (s DistributionService) Pull(ctx context.Context, ref reference.Named, platform *ocispec.Platform, auth distribution.Credentials, progress image.ProgressFunc) (digest.Digest, error) {
	return s.d.PullImage(ctx, ref, platform, auth, progress)
}

func (s DistributionService) Push(ctx context.Context, ref reference.NamedTagged, auth distribution.Credentials, progress image.ProgressFunc) error {
	return s.d.PushImage(ctx, ref, auth, progress)
}

func (s DistributionService) Login(ctx context.Context, auth distribution.Credentials) (distribution.LoginResult, error) {
	return s.d.Login(ctx, auth)
}

func (s DistributionService) Search(ctx context.Context, term string, limit int, auth distribution.Credentials) ([]distribution.SearchResult, error) {
	return s.d.SearchImages(ctx, term, limit, auth)
}

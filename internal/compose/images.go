package compose

import (
	"context"

	"github.com/berth/berth/client"
	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/sync/errgroup"
)

// Build builds the images of the named services (all when none) that have a build section.
func (s *Service) Build(ctx context.Context, p *types.Project, services []string) error {
	return s.eachService(ctx, p, services, func(svc types.ServiceConfig) bool { return svc.Build != nil },
		func(ctx context.Context, svc types.ServiceConfig) error { return s.build(ctx, p, svc) })
}

// eachService runs do, in parallel, for the named services (all when none) that want selects, then closes the
// progress display.
func (s *Service) eachService(ctx context.Context, p *types.Project, services []string, want func(types.ServiceConfig) bool, do func(context.Context, types.ServiceConfig) error) error {
	defer s.progress.Close()
	names, err := ServiceNamesOrAll(p, services)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range names {
		if svc := p.Services[n]; want(svc) {
			g.Go(func() error { return do(gctx, svc) })
		}
	}
	return g.Wait()
}

// Pull pulls the images of the named services that have an image: name.
func (s *Service) Pull(ctx context.Context, p *types.Project, services []string) error {
	return s.eachService(ctx, p, services, func(svc types.ServiceConfig) bool { return svc.Image != "" },
		func(ctx context.Context, svc types.ServiceConfig) error { return s.pull(ctx, svc.Image, svc.Platform) })
}

// Push pushes the images of the named services that are built and named.
func (s *Service) Push(ctx context.Context, p *types.Project, services []string) error {
	return s.eachService(ctx, p, services, func(svc types.ServiceConfig) bool { return svc.Build != nil && svc.Image != "" },
		func(ctx context.Context, svc types.ServiceConfig) error {
			res := "Image " + svc.Image
			s.progress.Event(res, "Pushing", false)
			body, err := s.api.ImagePush(ctx, svc.Image, client.ImagePushOptions{RegistryAuth: s.RegistryAuth(svc.Image)})
			if err != nil {
				return err
			}
			defer body.Close()
			if err := readStream(body); err != nil {
				return err
			}
			s.progress.Event(res, "Pushed", true)
			return nil
		})
}

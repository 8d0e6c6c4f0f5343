package compose

import (
	"context"

	"github.com/berth/berth/client"
	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/sync/errgroup"
)

// Build builds the images of the named services (all when none) that have a build section.
func (s *Service) Build(ctx context.Context, p *types.Project, services []string) error {
	defer s.progress.Close()
	names, err := ServiceNamesOrAll(p, services)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range names {
		svc := p.Services[n]
		if svc.Build == nil {
			continue
		}
		g.Go(func() error { return s.build(gctx, p, svc) })
	}
	return g.Wait()
}

// Pull pulls the images of the named services that have an image: name.
func (s *Service) Pull(ctx context.Context, p *types.Project, services []string) error {
	defer s.progress.Close()
	names, err := ServiceNamesOrAll(p, services)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range names {
		svc := p.Services[n]
		if svc.Image == "" {
			continue
		}
		g.Go(func() error { return s.pull(gctx, svc.Image, svc.Platform) })
	}
	return g.Wait()
}

// Push pushes the images of the named services that are built and named.
func (s *Service) Push(ctx context.Context, p *types.Project, services []string) error {
	defer s.progress.Close()
	names, err := ServiceNamesOrAll(p, services)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range names {
		svc := p.Services[n]
		if svc.Build == nil || svc.Image == "" {
			continue
		}
		g.Go(func() error {
			res := "Image " + svc.Image
			s.progress.Event(res, "Pushing", false)
			body, err := s.api.ImagePush(gctx, svc.Image, client.ImagePushOptions{RegistryAuth: s.RegistryAuth(svc.Image)})
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
	return g.Wait()
}

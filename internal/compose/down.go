package compose

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/berth/berth/client"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/network"
	"golang.org/x/sync/errgroup"
)

// DownOptions are `compose down`'s flags.
type DownOptions struct {
	Volumes       bool   // -v: also the project's named volumes (never external ones)
	RemoveOrphans bool   // also containers of services no longer in the project
	Rmi           string // "", "local" (images without an image: name) or "all"
	Timeout       *int
}

// Down stops and removes what Up made: the project's containers (dependents first), the networks it
// created, and with the options its volumes and images. p may be nil when only the name is known (no
// compose file): then every container labelled with the project goes.
func (s *Service) Down(ctx context.Context, project string, p *types.Project, o DownOptions) error {
	defer s.progress.Close()
	_, observed, err := s.Containers(ctx, project, true)
	if err != nil {
		return err
	}
	var victims []Observed
	var orphans []Observed
	for _, c := range observed {
		known := false
		if p != nil {
			_, known = p.Services[c.Service]
		}
		switch {
		case p == nil || known || o.RemoveOrphans:
			victims = append(victims, c)
		case c.Oneoff:
			victims = append(victims, c)
		default:
			orphans = append(orphans, c)
		}
	}
	if len(orphans) > 0 {
		var names []string
		for _, c := range orphans {
			names = append(names, c.Name)
		}
		s.progress.Warn("Found orphan containers (%v) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", names)
	}
	// Dependents go first: remove level by level from the deepest.
	var levels [][]string
	if p != nil {
		if levels, err = Order(p); err != nil {
			return err
		}
	}
	rank := map[string]int{}
	for i, l := range levels {
		for _, n := range l {
			rank[n] = i
		}
	}
	byRank := map[int][]Observed{}
	maxRank := 0
	for _, c := range victims {
		r, ok := rank[c.Service]
		if !ok {
			r = len(levels) // orphans and unknowns go first
		}
		byRank[r] = append(byRank[r], c)
		maxRank = max(maxRank, r)
	}
	for r := maxRank; r >= 0; r-- {
		if err := s.removeContainers(ctx, byRank[r], o.Timeout, o.Volumes); err != nil {
			return err
		}
	}

	nets, err := s.api.NetworkList(ctx, projectFilter(project))
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range nets {
		g.Go(func() error {
			res := "Network " + n.Name
			s.progress.Event(res, "Removing", false)
			if err := s.api.NetworkRemove(gctx, n.ID); err != nil && !isNotFound(err) {
				return err
			}
			s.progress.Event(res, "Removed", true)
			return nil
		})
	}
	if o.Volumes {
		vols, err := s.api.VolumeList(ctx, projectFilter(project))
		if err != nil {
			return err
		}
		for _, v := range vols.Volumes {
			g.Go(func() error {
				res := fmt.Sprintf("Volume %s", v.Name)
				s.progress.Event(res, "Removing", false)
				if err := s.api.VolumeRemove(gctx, v.Name, false); err != nil && !isNotFound(err) {
					return err
				}
				s.progress.Event(res, "Removed", true)
				return nil
			})
		}
	}
	if o.Rmi != "" && p != nil {
		var refs []string
		for _, svc := range p.Services {
			if o.Rmi == "all" || svc.Image == "" {
				ref := ImageName(p.Name, svc)
				if !slices.Contains(refs, ref) {
					refs = append(refs, ref)
				}
			}
		}
		sort.Strings(refs)
		for _, ref := range refs {
			g.Go(func() error {
				res := "Image " + ref
				s.progress.Event(res, "Removing", false)
				if _, err := s.api.ImageRemove(gctx, ref, client.ImageRemoveOptions{}); err != nil && !isNotFound(err) {
					return err
				}
				s.progress.Event(res, "Removed", true)
				return nil
			})
		}
	}
	return g.Wait()
}

// removeContainers stops and removes containers concurrently; anonymous volumes go too with volumes.
func (s *Service) removeContainers(ctx context.Context, list []Observed, timeout *int, volumes bool) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range list {
		g.Go(func() error {
			res := containerRes(c.Name)
			if c.State == "running" || c.State == "paused" || c.State == "restarting" {
				s.progress.Event(res, "Stopping", false)
				if err := s.api.ContainerStop(gctx, c.ID, client.ContainerStopOptions{Timeout: timeout}); err != nil && !isNotFound(err) {
					return err
				}
				s.progress.Event(res, "Stopped", false)
			}
			s.progress.Event(res, "Removing", false)
			if err := s.api.ContainerRemove(gctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: volumes}); err != nil && !isNotFound(err) {
				return err
			}
			s.progress.Event(res, "Removed", true)
			return nil
		})
	}
	return g.Wait()
}

func ipamConfig(c *types.IPAMPool) (network.IPAMConfig, error) {
	var out network.IPAMConfig
	var err error
	if c.Subnet != "" {
		if out.Subnet, err = netip.ParsePrefix(c.Subnet); err != nil {
			return out, fmt.Errorf("invalid subnet %q: %w", c.Subnet, err)
		}
	}
	if c.IPRange != "" {
		if out.IPRange, err = netip.ParsePrefix(c.IPRange); err != nil {
			return out, fmt.Errorf("invalid ip_range %q: %w", c.IPRange, err)
		}
	}
	if c.Gateway != "" {
		if out.Gateway, err = netip.ParseAddr(c.Gateway); err != nil {
			return out, fmt.Errorf("invalid gateway %q: %w", c.Gateway, err)
		}
	}
	return out, nil
}

// Stop stops the project's running containers concurrently, leaving them in place (what an interrupted
// attached `up` does).
func (s *Service) Stop(ctx context.Context, project string, timeout *int) error {
	defer s.progress.Close()
	_, observed, err := s.Containers(ctx, project, false)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range observed {
		if c.State != "running" && c.State != "paused" && c.State != "restarting" {
			continue
		}
		g.Go(func() error {
			res := containerRes(c.Name)
			s.progress.Event(res, "Stopping", false)
			if err := s.api.ContainerStop(gctx, c.ID, client.ContainerStopOptions{Timeout: timeout}); err != nil && !isNotFound(err) {
				return err
			}
			s.progress.Event(res, "Stopped", true)
			return nil
		})
	}
	return g.Wait()
}

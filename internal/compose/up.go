package compose

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth/berth/client"
	"github.com/berth/berth/internal/buildcontext"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"
	"golang.org/x/sync/errgroup"
)

// UpOptions are `compose up`'s flags.
type UpOptions struct {
	Build         bool // --build: build images before starting
	NoBuild       bool
	ForceRecreate bool
	NoRecreate    bool
	RemoveOrphans bool
	Timeout       *int // stop timeout for recreated containers
}

// Up creates networks and volumes, then converges every service's containers in dependency order,
// independent services in parallel, waiting on depends_on conditions.
func (s *Service) Up(ctx context.Context, p *types.Project, o UpOptions) error {
	defer s.progress.Close()
	if _, err := Order(p); err != nil { // a dependency cycle fails before anything is created
		return err
	}
	images, err := s.ensureImages(ctx, p, o.Build, o.NoBuild)
	if err != nil {
		return err
	}
	if err := s.ensureNetworks(ctx, p); err != nil {
		return err
	}
	if err := s.ensureVolumes(ctx, p); err != nil {
		return err
	}
	_, observed, err := s.Containers(ctx, p.Name, false)
	if err != nil {
		return err
	}
	if orphans := Orphans(p, observed); len(orphans) > 0 {
		if o.RemoveOrphans {
			if err := s.removeContainers(ctx, orphans, nil, false); err != nil {
				return err
			}
		} else {
			var names []string
			for _, c := range orphans {
				names = append(names, c.Name)
			}
			s.progress.Warn("Found orphan containers (%s) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.", strings.Join(names, ", "))
		}
	}
	hashes := map[string]string{}
	for name, svc := range p.Services {
		if hashes[name], err = ServiceHash(svc); err != nil {
			return err
		}
	}
	plan := Plan(p, observed, hashes, images, PlanOptions{ForceRecreate: o.ForceRecreate, NoRecreate: o.NoRecreate})
	for name, svc := range p.Services {
		if images[name] != "" {
			svc.CustomLabels = svc.CustomLabels.Add(LabelImage, images[name])
			p.Services[name] = svc
		}
	}

	// Each service starts once its dependencies meet their conditions; the rest runs concurrently.
	done := map[string]chan struct{}{}
	ids := map[string][]string{}
	var mu sync.Mutex
	for name := range p.Services {
		done[name] = make(chan struct{})
	}
	g, gctx := errgroup.WithContext(ctx)
	for name, svc := range p.Services {
		g.Go(func() error {
			for dep, d := range svc.DependsOn {
				ch, ok := done[dep]
				if !ok {
					continue
				}
				select {
				case <-ch:
				case <-gctx.Done():
					return gctx.Err()
				}
				mu.Lock()
				depIDs := ids[dep]
				mu.Unlock()
				if err := s.waitCondition(gctx, dep, d, depIDs); err != nil {
					return err
				}
			}
			got, err := s.converge(gctx, p, svc, hashes[name], plan[name], o.Timeout)
			if err != nil {
				return err
			}
			mu.Lock()
			ids[name] = got
			mu.Unlock()
			close(done[name])
			return nil
		})
	}
	return g.Wait()
}

// converge carries out a service's actions, replicas in parallel, and returns its containers' IDs.
func (s *Service) converge(ctx context.Context, p *types.Project, svc types.ServiceConfig, hash string, actions []Action, timeout *int) ([]string, error) {
	var mu sync.Mutex
	var ids []string
	g, gctx := errgroup.WithContext(ctx)
	for _, a := range actions {
		g.Go(func() error {
			id, err := s.apply(gctx, p, svc, hash, a, timeout)
			if err != nil {
				return err
			}
			if id != "" {
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
			return nil
		})
	}
	err := g.Wait()
	return ids, err
}

func (s *Service) apply(ctx context.Context, p *types.Project, svc types.ServiceConfig, hash string, a Action, timeout *int) (string, error) {
	switch a.Kind {
	case Keep:
		s.progress.Event(containerRes(a.Container.Name), "Running", true)
		return a.Container.ID, nil
	case Start:
		res := containerRes(a.Container.Name)
		s.progress.Event(res, "Starting", false)
		if err := s.api.ContainerStart(ctx, a.Container.ID, client.ContainerStartOptions{}); err != nil {
			return "", err
		}
		s.progress.Event(res, "Started", true)
		return a.Container.ID, nil
	case Remove:
		return "", s.removeContainers(ctx, []Observed{*a.Container}, timeout, false)
	case Recreate:
		res := containerRes(a.Container.Name)
		s.progress.Event(res, "Recreate", false)
		if err := s.api.ContainerStop(ctx, a.Container.ID, client.ContainerStopOptions{Timeout: stopTimeout(svc, timeout)}); err != nil && !isNotFound(err) {
			return "", err
		}
		if err := s.api.ContainerRemove(ctx, a.Container.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !isNotFound(err) {
			return "", err
		}
		id, err := s.create(ctx, p, svc, hash, a.Number, false)
		if err != nil {
			return "", err
		}
		s.progress.Event(res, "Recreated", false)
		return id, s.start(ctx, res, id)
	default: // Create
		name := ContainerName(p.Name, svc, a.Number)
		res := containerRes(name)
		s.progress.Event(res, "Creating", false)
		id, err := s.create(ctx, p, svc, hash, a.Number, false)
		if err != nil {
			return "", err
		}
		s.progress.Event(res, "Created", false)
		return id, s.start(ctx, res, id)
	}
}

func (s *Service) create(ctx context.Context, p *types.Project, svc types.ServiceConfig, hash string, number int, oneoff bool) (string, error) {
	spec, err := ContainerSpec(p, svc, number, hash, oneoff)
	if err != nil {
		return "", err
	}
	resp, err := s.api.ContainerCreate(ctx, spec.Config, spec.HostConfig, spec.Networking, client.ContainerCreateOptions{Name: spec.Name, Platform: svc.Platform})
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

func (s *Service) start(ctx context.Context, res, id string) error {
	s.progress.Event(res, "Starting", false)
	if err := s.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return err
	}
	s.progress.Event(res, "Started", true)
	return nil
}

func stopTimeout(svc types.ServiceConfig, override *int) *int {
	if override != nil {
		return override
	}
	if svc.StopGracePeriod != nil {
		t := int(time.Duration(*svc.StopGracePeriod).Seconds())
		return &t
	}
	return nil
}

// waitCondition blocks until the containers of dependency dep meet d.Condition.
func (s *Service) waitCondition(ctx context.Context, dep string, d types.ServiceDependency, ids []string) error {
	switch d.Condition {
	case types.ServiceConditionHealthy, types.ServiceConditionCompletedSuccessfully:
	default:
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, id := range ids {
		g.Go(func() error {
			var name string
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				c, err := s.api.ContainerInspect(gctx, id)
				if err != nil {
					return err
				}
				res := containerRes(strings.TrimPrefix(c.Name, "/"))
				s.progress.Event(res, "Waiting", false)
				waitC, errC := s.api.ContainerWait(gctx, id, container.WaitConditionNotRunning)
				select {
				case w := <-waitC:
					if w.StatusCode != 0 {
						return fmt.Errorf("service %q didn't complete successfully: exit %d", dep, w.StatusCode)
					}
					s.progress.Event(res, "Exited", true)
					return nil
				case err := <-errC:
					return err
				}
			}
			for first := true; ; first = false {
				c, err := s.api.ContainerInspect(gctx, id)
				if err != nil {
					return err
				}
				name = strings.TrimPrefix(c.Name, "/")
				if first {
					s.progress.Event(containerRes(name), "Waiting", false)
				}
				if c.State == nil || c.State.Health == nil {
					return fmt.Errorf("container %s has no healthcheck configured", name)
				}
				switch c.State.Health.Status {
				case container.Healthy:
					s.progress.Event(containerRes(name), "Healthy", true)
					return nil
				case container.Unhealthy:
					return fmt.Errorf("dependency failed to start: container %s is unhealthy", name)
				}
				if !c.State.Running {
					return fmt.Errorf("dependency failed to start: container %s exited (%d)", name, c.State.ExitCode)
				}
				select {
				case <-gctx.Done():
					return gctx.Err()
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	return g.Wait()
}

// ensureImages makes sure every service's image exists, building or pulling as compose does, and
// returns the image IDs.
func (s *Service) ensureImages(ctx context.Context, p *types.Project, build, noBuild bool) (map[string]string, error) {
	images := map[string]string{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for name, svc := range p.Services {
		g.Go(func() error {
			ref := ImageName(p.Name, svc)
			needBuild := svc.Build != nil && !noBuild && (build || svc.PullPolicy == types.PullPolicyBuild)
			if !needBuild {
				insp, err := s.api.ImageInspect(gctx, ref)
				switch {
				case err == nil && svc.PullPolicy != types.PullPolicyAlways:
					mu.Lock()
					images[name] = insp.ID
					mu.Unlock()
					return nil
				case err != nil && !isNotFound(err):
					return err
				}
				if svc.Build != nil && !noBuild && svc.PullPolicy != types.PullPolicyAlways {
					needBuild = true
				} else if svc.PullPolicy == types.PullPolicyNever {
					return fmt.Errorf("No such image: %s", ref)
				} else if err := s.pull(gctx, ref, svc.Platform); err != nil {
					if svc.Build == nil || noBuild {
						return err
					}
					needBuild = true
				}
			}
			if needBuild {
				if err := s.build(gctx, p, svc); err != nil {
					return err
				}
			}
			insp, err := s.api.ImageInspect(gctx, ref)
			if err != nil {
				return err
			}
			mu.Lock()
			images[name] = insp.ID
			mu.Unlock()
			return nil
		})
	}
	return images, g.Wait()
}

func (s *Service) pull(ctx context.Context, ref, platform string) error {
	res := "Image " + ref
	s.progress.Event(res, "Pulling", false)
	body, err := s.api.ImagePullWithOptions(ctx, ref, client.PullOptions{Platform: platform, RegistryAuth: s.RegistryAuth(ref)})
	if err != nil {
		return err
	}
	defer body.Close()
	if err := readStream(body); err != nil {
		return err
	}
	s.progress.Event(res, "Pulled", true)
	return nil
}

// build sends the service's build context to POST /build, tagged with the service's image name.
func (s *Service) build(ctx context.Context, p *types.Project, svc types.ServiceConfig) error {
	b := svc.Build
	ref := ImageName(p.Name, svc)
	res := "Image " + ref
	s.progress.Event(res, "Building", false)
	dir := b.Context
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(p.WorkingDir, dir)
	}
	// build.dockerfile is relative to the context (compose's rule); it may lie outside it.
	dockerfile := b.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if !filepath.IsAbs(dockerfile) {
		dockerfile = filepath.Join(dir, dockerfile)
	}
	df := buildcontext.Dockerfile{InContext: ".dockerfile.inline", Outside: true, Data: []byte(b.DockerfileInline)}
	if b.DockerfileInline == "" {
		var err error
		if df, err = buildcontext.Locate(dir, dockerfile); err != nil {
			return fmt.Errorf("building %s: %w", svc.Name, err)
		}
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(buildcontext.Write(pw, dir, df, nil))
	}()
	defer pr.Close()
	labels := map[string]string{LabelProject: p.Name, LabelService: svc.Name, LabelVersion: Version}
	for k, v := range b.Labels {
		labels[k] = v
	}
	opts := client.ImageBuildOptions{
		Tags:        append([]string{ref}, b.Tags...),
		Dockerfile:  df.InContext,
		Target:      b.Target,
		BuildArgs:   map[string]*string(b.Args),
		Labels:      labels,
		NoCache:     b.NoCache,
		PullParent:  b.Pull,
		Platform:    svc.Platform,
		NetworkMode: b.Network,
		ExtraHosts:  b.ExtraHosts.AsList(":"),
	}
	body, err := s.api.ImageBuild(ctx, pr, opts)
	if err != nil {
		return fmt.Errorf("building %s: %w", svc.Name, err)
	}
	defer body.Close()
	if err := readStream(body); err != nil {
		return fmt.Errorf("building %s: %w", svc.Name, err)
	}
	s.progress.Event(res, "Built", true)
	return nil
}

// ensureNetworks creates the project's networks that don't exist yet, and checks external ones.
func (s *Service) ensureNetworks(ctx context.Context, p *types.Project) error {
	used := map[string]bool{}
	for _, svc := range p.Services {
		for _, n := range ServiceNetworks(svc) {
			used[n] = true
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for key, n := range p.Networks {
		if !used[key] {
			continue
		}
		g.Go(func() error {
			list, err := s.api.NetworkList(gctx, client.Filters{}.Add("name", n.Name))
			if err != nil {
				return err
			}
			for _, existing := range list {
				if existing.Name == n.Name {
					return nil
				}
			}
			if n.External {
				return fmt.Errorf("network %s declared as external, but could not be found", n.Name)
			}
			res := "Network " + n.Name
			s.progress.Event(res, "Creating", false)
			labels := map[string]string{LabelProject: p.Name, LabelNetwork: key, LabelVersion: Version}
			for k, v := range n.Labels {
				labels[k] = v
			}
			opts := client.NetworkCreateOptions{Driver: n.Driver, Internal: n.Internal, Attachable: n.Attachable,
				Options: n.DriverOpts, Labels: labels, EnableIPv4: n.EnableIPv4, EnableIPv6: n.EnableIPv6}
			if len(n.Ipam.Config) > 0 || n.Ipam.Driver != "" {
				opts.IPAM = &network.IPAM{Driver: n.Ipam.Driver}
				for _, c := range n.Ipam.Config {
					cfg, err := ipamConfig(c)
					if err != nil {
						return err
					}
					opts.IPAM.Config = append(opts.IPAM.Config, cfg)
				}
			}
			if _, err := s.api.NetworkCreate(gctx, n.Name, opts); err != nil {
				return err
			}
			s.progress.Event(res, "Created", true)
			return nil
		})
	}
	return g.Wait()
}

// ensureVolumes creates the project's named volumes that don't exist yet, and checks external ones.
func (s *Service) ensureVolumes(ctx context.Context, p *types.Project) error {
	g, gctx := errgroup.WithContext(ctx)
	for key, v := range p.Volumes {
		g.Go(func() error {
			_, err := s.api.VolumeInspect(gctx, v.Name)
			if err == nil {
				return nil
			}
			if !isNotFound(err) {
				return err
			}
			if v.External {
				return fmt.Errorf("external volume %q not found", v.Name)
			}
			res := fmt.Sprintf("Volume %q", v.Name)
			s.progress.Event(res, "Creating", false)
			labels := map[string]string{LabelProject: p.Name, LabelVolume: key, LabelVersion: Version}
			for k, val := range v.Labels {
				labels[k] = val
			}
			if _, err := s.api.VolumeCreate(gctx, volume.CreateRequest{Name: v.Name, Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: labels}); err != nil {
				return err
			}
			s.progress.Event(res, "Created", true)
			return nil
		})
	}
	return g.Wait()
}

// WaitHealthy blocks until every container of the project runs and, when it has a health check, is healthy
// (`up --wait`); a container that exits or turns unhealthy fails it.
func (s *Service) WaitHealthy(ctx context.Context, p *types.Project) error {
	defer s.progress.Close()
	_, observed, err := s.Containers(ctx, p.Name, false)
	if err != nil {
		return err
	}
	// One-shot services others wait on with service_completed_successfully may have exited 0.
	oneShot := map[string]bool{}
	for _, svc := range p.Services {
		for dep, d := range svc.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				oneShot[dep] = true
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, o := range observed {
		if _, ok := p.Services[o.Service]; !ok {
			continue
		}
		g.Go(func() error {
			res := containerRes(o.Name)
			s.progress.Event(res, "Waiting", false)
			for {
				c, err := s.api.ContainerInspect(gctx, o.ID)
				if err != nil {
					return err
				}
				switch {
				case c.State != nil && !c.State.Running && c.State.ExitCode == 0 && oneShot[o.Service]:
					s.progress.Event(res, "Exited", true)
					return nil
				case c.State == nil || !c.State.Running:
					return fmt.Errorf("container %s exited (%d)", o.Name, c.State.ExitCode)
				case c.State.Health == nil:
					s.progress.Event(res, "Running", true)
					return nil
				case c.State.Health.Status == container.Healthy:
					s.progress.Event(res, "Healthy", true)
					return nil
				case c.State.Health.Status == container.Unhealthy:
					return fmt.Errorf("container %s is unhealthy", o.Name)
				}
				select {
				case <-gctx.Done():
					return gctx.Err()
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
	return g.Wait()
}

package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/filters"
)

// The fake swarm's services: kept in memory, so that what the routes convert one way comes back the other.

func (f *fakeSwarm) CreateService(_ context.Context, spec api.ServiceSpec, auth string) (string, error) {
	if err := f.check(); err != nil {
		return "", err
	}
	if err := api.ValidateServiceSpec(&spec); err != nil {
		return "", err
	}
	for _, s := range f.services {
		if s.Spec.Name == spec.Name {
			return "", api.RPCError(errdefs.ErrAlreadyExists, "AlreadyExists", "name conflicts with an existing object: service %s already exists", spec.Name)
		}
	}
	f.record("create service %s auth=%s", spec.Name, auth)
	id := fmt.Sprintf("svc%d", len(f.services)+1)
	f.services = append(f.services, &api.Service{ID: id, Meta: api.Meta{Version: 10, CreatedAt: time.Unix(1700000000, 0).UTC()}, Spec: spec})
	return id, nil
}

func (f *fakeSwarm) lookupService(ref string) (*api.Service, error) {
	for _, s := range f.services {
		if s.ID == ref || s.Spec.Name == ref {
			return s, nil
		}
	}
	return nil, errdefs.ErrNotFound.WithMessage("service " + ref + " not found")
}

func (f *fakeSwarm) Services(_ context.Context, fl filters.Args, status bool) ([]cluster.Service, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	f.record("services status=%v names=%v", status, fl.Get("name"))
	var out []cluster.Service
	for _, s := range f.services {
		v := cluster.Service{Service: s}
		if status {
			v.Status = &cluster.ServiceStatus{Running: 2, Desired: 3}
		}
		out = append(out, v)
	}
	return out, nil
}

func (f *fakeSwarm) Service(_ context.Context, ref string) (cluster.Service, error) {
	if err := f.check(); err != nil {
		return cluster.Service{}, err
	}
	s, err := f.lookupService(ref)
	if err != nil {
		return cluster.Service{}, err
	}
	return cluster.Service{Service: s}, nil
}

func (f *fakeSwarm) UpdateService(_ context.Context, ref string, version uint64, spec api.ServiceSpec, opts cluster.ServiceUpdateOptions) error {
	s, err := f.lookupService(ref)
	if err != nil {
		return err
	}
	f.record("update service %s version=%d rollback=%s from=%s auth=%s", ref, version, opts.Rollback, opts.RegistryAuthFrom, opts.EncodedAuth)
	if version != s.Version {
		return api.RPCError(errdefs.ErrConflict, "Unknown", "update out of sequence")
	}
	prev := s.Spec
	s.PreviousSpec, s.Spec = &prev, spec
	s.Version++
	return nil
}

func (f *fakeSwarm) RemoveService(_ context.Context, ref string) error {
	s, err := f.lookupService(ref)
	if err != nil {
		return err
	}
	f.record("rm service %s", s.ID)
	for i, o := range f.services {
		if o == s {
			f.services = append(f.services[:i], f.services[i+1:]...)
		}
	}
	return nil
}

func (f *fakeSwarm) ServiceLogs(_ context.Context, ref string, o cluster.LogsOptions) (<-chan api.LogMessage, error) {
	f.record("service logs %s follow=%v tail=%d stdout=%v stderr=%v", ref, o.Follow, o.Tail, o.Stdout, o.Stderr)
	ch := make(chan api.LogMessage, len(f.logs))
	for _, m := range f.logs {
		ch <- m
	}
	close(ch)
	return ch, nil
}

func (f *fakeSwarm) TaskLogs(ctx context.Context, ref string, o cluster.LogsOptions) (<-chan api.LogMessage, error) {
	return f.ServiceLogs(ctx, strings.TrimSpace(ref), o)
}

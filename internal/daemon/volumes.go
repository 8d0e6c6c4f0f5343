package daemon

import (
	"context"

	"github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/volume"
)

// VolumeService is named volumes: the volume store, with the containers that use them and their events.
type VolumeService struct{ d *Daemon }

// VolumeService returns the daemon's volume service.
func (d *Daemon) VolumeService() VolumeService { return VolumeService{d} }

// Create creates a named volume (or returns the existing one of that name, as docker does; an empty name makes
// an anonymous volume).
func (s VolumeService) Create(ctx context.Context, name string, labels, opts map[string]string) (volume.Volume, error) {
	existed := false
	if name != "" {
		_, err := s.d.volumes.Get(ctx, name)
		existed = err == nil
	}
	v, err := s.d.volumes.Create(ctx, name, labels, opts)
	if err != nil {
		return volume.Volume{}, err
	}
	if !existed {
		s.d.events.Publish(events.VolumeEventType, events.ActionCreate, v.Name, map[string]string{"driver": v.Driver})
	}
	return v, nil
}

// List lists volumes matching docker's filters (name, label, driver, dangling).
func (s VolumeService) List(ctx context.Context, f filters.Args) ([]volume.Volume, error) {
	return s.d.volumes.List(ctx, f)
}

// Inspect describes one volume.
func (s VolumeService) Inspect(ctx context.Context, name string) (volume.Volume, error) {
	return s.d.volumes.Get(ctx, name)
}

// Remove deletes a volume no container uses.
func (s VolumeService) Remove(ctx context.Context, name string, force bool) error {
	if err := s.d.volumes.Remove(ctx, name, force, s.d.containers.VolumeUsers); err != nil {
		return err
	}
	s.d.events.Publish(events.VolumeEventType, events.ActionDestroy, name, map[string]string{"driver": volume.DriverName})
	return nil
}

// Prune removes unused anonymous volumes (every unused volume with the all=true filter) and reports the bytes
// their data took.
func (s VolumeService) Prune(ctx context.Context, f filters.Args) (volume.PruneReport, error) {
	rep, err := s.d.volumes.Prune(ctx, f, s.d.containers.VolumeUsers)
	if err != nil {
		return rep, err
	}
	for _, v := range rep.Deleted {
		s.d.events.Publish(events.VolumeEventType, events.ActionDestroy, v, map[string]string{"driver": volume.DriverName})
	}
	return rep, nil
}

// Usage is the size of a volume's data and the number of containers using it, for system df.
func (s VolumeService) Usage(ctx context.Context, name string) (volume.Usage, error) {
	u, err := s.d.volumes.Usage(ctx, name)
	if err != nil {
		return u, err
	}
	u.RefCount = len(s.d.containers.VolumeUsers(name))
	return u, nil
}

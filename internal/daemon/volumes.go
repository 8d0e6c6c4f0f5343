package daemon

import (
	"context"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/volume"

	"github.com/berth/berth/internal/filters"
)

// VolumeCreate creates a named volume (or returns the existing one of that name, as docker does).
func (d *Daemon) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	existed := false
	if req.Name != "" {
		_, err := d.volumes.Get(ctx, req.Name)
		existed = err == nil
	}
	v, err := d.volumes.Create(ctx, req.Name, req.Labels, req.DriverOpts)
	if err != nil {
		return volume.Volume{}, err
	}
	if !existed {
		d.events.Publish(events.VolumeEventType, events.ActionCreate, v.Name, map[string]string{"driver": v.Driver})
	}
	return v, nil
}

// VolumeList lists volumes matching docker's filters (name, label, driver, dangling).
func (d *Daemon) VolumeList(ctx context.Context, f filters.Args) ([]volume.Volume, error) {
	return d.volumes.List(ctx, f)
}

// VolumeInspect describes one volume.
func (d *Daemon) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	return d.volumes.Get(ctx, name)
}

// VolumeRemove deletes a volume no container uses.
func (d *Daemon) VolumeRemove(ctx context.Context, name string, force bool) error {
	if err := d.volumes.Remove(ctx, name, force, d.containers.VolumeUsers); err != nil {
		return err
	}
	d.events.Publish(events.VolumeEventType, events.ActionDestroy, name, map[string]string{"driver": "local"})
	return nil
}

// VolumePrune removes unused anonymous volumes (every unused volume with the all=true filter).
func (d *Daemon) VolumePrune(ctx context.Context, f filters.Args) (volume.PruneReport, error) {
	rep, err := d.volumes.Prune(ctx, f, d.containers.VolumeUsers)
	if err != nil {
		return rep, err
	}
	for _, v := range rep.VolumesDeleted {
		d.events.Publish(events.VolumeEventType, events.ActionDestroy, v, map[string]string{"driver": "local"})
	}
	return rep, nil
}

// VolumeUsage is the size of a volume's data, for system df.
func (d *Daemon) VolumeUsage(ctx context.Context, name string) (volume.UsageData, error) {
	u, err := d.volumes.Usage(ctx, name)
	if err != nil {
		return u, err
	}
	u.RefCount = int64(len(d.containers.VolumeUsers(name)))
	return u, nil
}

// VolumeService is named volumes.
type VolumeService struct{ d *Daemon }

// VolumeService returns the daemon's volume service.
func (d *Daemon) VolumeService() VolumeService { return VolumeService{d} }

func (s VolumeService) List(ctx context.Context, f filters.Args) ([]volume.Volume, error) {
	return s.d.VolumeList(ctx, f)
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

func (s VolumeService) Prune(ctx context.Context, f filters.Args) (volume.PruneReport, error) {
	return s.d.VolumePrune(ctx, f)
}

func (s VolumeService) Usage(ctx context.Context, name string) (volume.UsageData, error) {
	return s.d.VolumeUsage(ctx, name)
}

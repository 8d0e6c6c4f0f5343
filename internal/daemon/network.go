package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"

	"github.com/berth/berth/internal/filters"
	berthnet "github.com/berth/berth/internal/network"
)

func networkNames(dataRoot string) (bridge, table string) {
	if dataRoot == DefaultDataRoot {
		return "berth0", "berth"
	}
	sum := sha256.Sum256([]byte(dataRoot))
	h := hex.EncodeToString(sum[:])[:6]
	return "berth" + h, "berth-" + h
}

func (d *Daemon) NetworkCreate(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	resp, err := d.networks.Create(ctx, req.Name, req)
	if err != nil {
		return resp, err
	}
	d.events.Publish(events.NetworkEventType, events.ActionCreate, resp.ID, map[string]string{"name": req.Name, "type": "bridge"})
	return resp, nil
}

func (d *Daemon) NetworkRemove(ctx context.Context, ref string) error {
	d.containers.Settle() // endpoints of containers that just exited are still being detached
	n, err := d.networks.Get(ref)
	if err != nil {
		return err
	}
	if err := d.networks.Remove(ctx, ref); err != nil {
		return err
	}
	d.events.Publish(events.NetworkEventType, events.ActionDestroy, n.ID, map[string]string{"name": n.Name, "type": n.Driver})
	return nil
}

func (d *Daemon) NetworkPrune(ctx context.Context, f filters.Args) ([]string, error) {
	d.containers.Settle()
	return d.networks.Prune(ctx, f)
}

func (d *Daemon) Networks() *berthnet.Manager { return d.networks }

// NetworkService is networks and containers' attachments to them.
type NetworkService struct{ d *Daemon }

// NetworkService returns the daemon's network service.
func (d *Daemon) NetworkService() NetworkService { return NetworkService{d} }

func (s NetworkService) List(ctx context.Context, f filters.Args) ([]network.Inspect, error) {
	return s.d.networks.List(f)
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
	return s.d.containers.NetworkConnect(ctx, netRef, containerRef, cfg)
}

func (s NetworkService) Disconnect(ctx context.Context, netRef, containerRef string, force bool) error {
	return s.d.containers.NetworkDisconnect(ctx, netRef, containerRef, force)
}

func (s NetworkService) Prune(ctx context.Context, f filters.Args) ([]string, error) {
	return s.d.NetworkPrune(ctx, f)
}

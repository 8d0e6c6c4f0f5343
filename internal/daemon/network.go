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

package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/events"
	"github.com/berth/berth/internal/filters"
	berthnet "github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/network/bridge"
	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/ipam"
)

// networkNames derives the default bridge's and the firewall table's names from the data root, so that daemons
// side by side never share them: berth0 and "berth" for the default root.
func networkNames(dataRoot string) (bridge, table string) {
	if dataRoot == DefaultDataRoot {
		return "berth0", "berth"
	}
	sum := sha256.Sum256([]byte(dataRoot))
	h := hex.EncodeToString(sum[:])[:6]
	return "berth" + h, "berth-" + h
}

// gatewayBridge names docker_gwbridge's Linux bridge: dockerd's name for the default data root, one of the data
// root's own otherwise, so that daemons side by side never share one.
func gatewayBridge(dataRoot string) string {
	if dataRoot == DefaultDataRoot {
		return berthnet.GatewayNetwork
	}
	sum := sha256.Sum256([]byte(dataRoot))
	return "gwbr" + hex.EncodeToString(sum[:])[:6]
}

// openNetworks opens the network service: the bridge driver over the daemon's firewall table, the default
// address pools of daemon.json, and the networks on disk. It returns the network a container without --network
// joins.
func (d *Daemon) openNetworks(ctx context.Context) (string, error) {
	pools, err := defaultPools(d.cfg.DefaultAddressPools)
	if err != nil {
		return "", err
	}
	bridgeName, table := networkNames(d.cfg.DataRoot)
	if d.cfg.Bridge != "" {
		bridgeName = d.cfg.Bridge
	}
	br, err := bridge.New(ctx, bridge.WithFirewall(firewall.WithTableName(table)))
	if err != nil {
		return "", err
	}
	opts := []berthnet.Option{berthnet.WithDriver(berthnet.DriverBridge, br)}
	// Overlay networks: the driver, and the swarm's networks through the node's membership (overlay.go).
	ov, err := d.openOverlay(ctx, table)
	if err != nil {
		return "", err
	}
	opts = append(opts, berthnet.WithDriver(api.DriverOverlay, ov), berthnet.WithCluster(clusterNetworks{d}),
		berthnet.WithGatewayBridge(gatewayBridge(d.cfg.DataRoot)))
	if pools != nil {
		opts = append(opts, berthnet.WithDefaultPools(pools))
	}
	if d.networks, err = berthnet.New(ctx, berthnet.Config{Root: filepath.Join(d.cfg.DataRoot, "network"),
		ExecRoot: d.cfg.ExecRoot, DefaultBridge: bridgeName}, opts...); err != nil {
		return "", err
	}
	if bridgeName == "none" {
		return "none", nil
	}
	return berthnet.Bridge, nil
}

// defaultPools checks daemon.json's default-address-pools and splits them into subnets; nil keeps docker's.
func defaultPools(pools []AddressPool) ([]netip.Prefix, error) {
	if len(pools) == 0 {
		return nil, nil
	}
	in := make([]ipam.AddressPool, len(pools))
	for i, p := range pools {
		in[i] = ipam.AddressPool{Base: p.Base, Size: p.Size}
	}
	out, err := ipam.SplitPools(in)
	if err != nil {
		return nil, fmt.Errorf("invalid default-address-pools: %w", err)
	}
	return out, nil
}

// NetworkService is networks and containers' attachments to them.
type NetworkService struct{ d *Daemon }

// NetworkService returns the daemon's network service.
func (d *Daemon) NetworkService() NetworkService { return NetworkService{d} }

// List returns the networks matching docker's filters.
func (s NetworkService) List(ctx context.Context, f filters.Args) ([]berthnet.Network, error) {
	return s.d.networks.List(f)
}

// Inspect returns a network by name, ID or unique ID prefix. A worker knows a swarm network only while it is
// in use there, as docker's does.
func (s NetworkService) Inspect(ctx context.Context, ref string) (berthnet.Network, error) {
	n, err := s.d.networks.Get(ref)
	if err != nil || n.Scope != "swarm" || s.d.swarm == nil || s.d.swarm.IsManager() {
		return n, err
	}
	if !slices.Contains(s.d.networks.ClusterNetworkIDs(), n.ID) {
		return berthnet.Network{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", ref))
	}
	return n, nil
}

// Create makes a user-defined network.
func (s NetworkService) Create(ctx context.Context, opts berthnet.CreateOptions) (berthnet.Network, error) {
	n, err := s.d.networks.Create(ctx, opts)
	if err != nil {
		return n, err
	}
	s.d.events.Publish(events.NetworkEventType, events.ActionCreate, n.ID, map[string]string{"name": n.Name, "type": n.Driver})
	return n, nil
}

// Remove deletes a user-defined network without endpoints.
func (s NetworkService) Remove(ctx context.Context, ref string) error {
	s.d.containers.Settle() // endpoints of containers that just exited are still being detached
	n, err := s.d.networks.Get(ref)
	if err != nil {
		return err
	}
	if err := s.d.networks.Remove(ctx, ref); err != nil {
		return err
	}
	s.d.events.Publish(events.NetworkEventType, events.ActionDestroy, n.ID, map[string]string{"name": n.Name, "type": n.Driver})
	return nil
}

// Connect attaches a container to a network.
func (s NetworkService) Connect(ctx context.Context, netRef, containerRef string, opts berthnet.EndpointOptions) error {
	return s.d.containers.NetworkConnect(ctx, netRef, containerRef, opts)
}

// Disconnect detaches a container from a network.
func (s NetworkService) Disconnect(ctx context.Context, netRef, containerRef string, force bool) error {
	return s.d.containers.NetworkDisconnect(ctx, netRef, containerRef, force)
}

// Prune removes the unused user-defined networks matching docker's prune filters.
func (s NetworkService) Prune(ctx context.Context, f filters.Args) ([]string, error) {
	s.d.containers.Settle()
	return s.d.networks.Prune(ctx, f)
}

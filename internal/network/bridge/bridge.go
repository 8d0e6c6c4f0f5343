// Package bridge is the bridge network driver, docker's default: a network is a Linux bridge holding the
// network's gateway address, with firewall rules for its outbound NAT, isolation and published ports, and a
// container joins it through a veth pair whose host side is a port of the bridge.
//
// What each step does is decided by pure plans (planNetwork, planJoin, planPort: the driver options read and
// checked, the kernel objects named) and carried out by a thin shell over internal/network/link and
// internal/network/firewall. The driver keeps nothing that the kernel does not already have, except which
// network owns which bridge name; creating a network again (at every daemon start) is idempotent.
package bridge

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/link"
)

// Driver is the bridge driver. Safe for concurrent use.
type Driver struct {
	fw *firewall.Manager

	mu      sync.Mutex
	bridges map[string]owner // bridge name -> the network using it
}

type owner struct{ id, name string }

var (
	_ network.EndpointDriver = (*Driver)(nil)
	_ network.PortDriver     = (*Driver)(nil)
)

// Option configures a Driver.
type Option func(*config)

type config struct{ fw []firewall.Option }

// WithFirewall passes options to the driver's firewall (its table name: one per daemon).
func WithFirewall(opts ...firewall.Option) Option {
	return func(c *config) { c.fw = append(c.fw, opts...) }
}

// New returns a bridge driver with its firewall.
func New(ctx context.Context, opts ...Option) (*Driver, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	fw, err := firewall.New(ctx, c.fw...)
	if err != nil {
		return nil, err
	}
	return &Driver{fw: fw, bridges: map[string]owner{}}, nil
}

// Capability implements network.Driver: bridge networks are local.
func (d *Driver) Capability() network.Capability {
	return network.Capability{Scope: network.ScopeLocal}
}

// CreateNetwork implements network.Driver: the bridge with the gateway's address, and the firewall rules. On
// failure what this call made is removed again.
func (d *Driver) CreateNetwork(ctx context.Context, n network.NetworkInfo) error {
	p, err := planNetwork(n)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if o, ok := d.bridges[p.bridge]; ok && o.id != n.ID {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("cannot create network %s (%s): conflicts with network %s (%s): networks have same bridge name", n.ID, n.Name, o.id, o.name))
	}
	if err := link.EnsureBridge(ctx, p.bridge, p.gateway, p.mtu); err != nil {
		return err
	}
	if err := d.fw.AddNetwork(ctx, p.firewall); err != nil {
		undo := context.WithoutCancel(ctx)
		d.fw.RemoveNetwork(undo, p.bridge)
		link.DeleteBridge(undo, p.bridge)
		return err
	}
	d.bridges[p.bridge] = owner{n.ID, n.Name}
	return nil
}

// DeleteNetwork implements network.Driver: the firewall rules (with the ports published through the network),
// then the bridge.
func (d *Driver) DeleteNetwork(ctx context.Context, n network.NetworkInfo) error {
	name := bridgeName(n)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.fw.RemoveNetwork(ctx, name); err != nil {
		return err
	}
	if err := link.DeleteBridge(ctx, name); err != nil {
		return err
	}
	delete(d.bridges, name)
	return nil
}

// Join implements network.EndpointDriver: a veth pair whose host side joins the bridge and whose other side is
// created in the container's namespace with the endpoint's address, MAC and routes.
func (d *Driver) Join(ctx context.Context, n network.NetworkInfo, ep network.EndpointInfo, sb network.Sandbox) error {
	cfg, err := planJoin(n, ep, sb)
	if err != nil {
		return err
	}
	if err := link.AttachVeth(ctx, cfg); err != nil {
		return err
	}
	setHairpin(cfg.HostName)
	return nil
}

// Leave implements network.EndpointDriver: deleting the host side takes the pair.
func (d *Driver) Leave(ctx context.Context, n network.NetworkInfo, ep network.EndpointInfo) error {
	if ep.HostIfName == "" {
		return nil
	}
	return link.DetachVeth(ctx, ep.HostIfName)
}

// PublishPort implements network.PortDriver.
func (d *Driver) PublishPort(ctx context.Context, n network.NetworkInfo, ep network.EndpointInfo, p network.Port) error {
	return d.fw.AddPort(ctx, planPort(n, ep, p))
}

// PublishedPorts implements network.PortLister: the ports of the firewall that forward to ep on n's bridge.
func (d *Driver) PublishedPorts(ctx context.Context, n network.NetworkInfo, ep network.EndpointInfo) ([]network.Port, error) {
	all, err := d.fw.Ports(ctx)
	if err != nil {
		return nil, err
	}
	var out []network.Port
	for _, p := range all {
		if p.Bridge == bridgeName(n) && p.ContainerIP == ep.Addr.Addr() {
			out = append(out, network.Port{Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort})
		}
	}
	return out, nil
}

// UnpublishPort implements network.PortDriver.
func (d *Driver) UnpublishPort(ctx context.Context, n network.NetworkInfo, ep network.EndpointInfo, p network.Port) error {
	return d.fw.RemovePort(ctx, planPort(n, ep, p))
}

// setHairpin lets a container reach its own published ports through the host (the bridge sends its frames
// back out of the port they came in on), as docker does without its userland proxy.
func setHairpin(veth string) {
	os.WriteFile(filepath.Join("/sys/class/net", veth, "brport/hairpin_mode"), []byte("1"), 0o644)
}

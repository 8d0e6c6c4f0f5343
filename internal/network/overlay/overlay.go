// Package overlay is the overlay network driver: cluster networks that span nodes over VXLAN in the kernel, as
// docker's overlay driver lays them out. On each node where a network is in use it is a network namespace
// (<netns dir>/1-<first 10 digits of its ID>) holding a bridge br0, with the network's gateway address, and a
// VXLAN device vxlan0 with the network's VNI, made in the node's namespace (its UDP socket stays there, on the
// cluster's data-path port) and moved in; a container joins through a veth pair between its namespace and br0.
// Nothing is learned by flooding and there is no multicast: the VXLAN device answers ARP from its neighbour
// entries and forwards by its forwarding entries, both written from the cluster's state (Sync), which tells the
// driver every endpoint of every network and the node behind it. The MTU leaves room for the 50 bytes of
// VXLAN over IPv4.
//
// Encrypted networks (--opt encrypted) send their VXLAN packets through the node's encryption tunnel
// (tunnel.go: WireGuard in userspace over a TUN device) instead of in the clear, and the node's firewall drops
// their VNIs when they arrive in the clear.
//
// What each step does is decided by pure functions (plan.go: the network's kernel objects, the peers a
// network's devices should know, the change from what they hold) and carried out by a thin shell (kernel.go).
// The driver keeps no state that the kernel and the cluster do not have: creating a network again (at every
// daemon start, even after kill -9) adopts what is there, and a Sync rewrites only the entries that differ, so a
// restarted daemon never cuts running containers off.
//
//	d, _ := overlay.New(ctx, overlay.Config{NetNSDir: "/run/berth/netns", Encryption: &overlay.Encryption{...}})
//	d.CreateNetwork(ctx, n)              // the first container of n on this node (or the daemon's start)
//	d.Join(ctx, n, ep, sb)               // veth into the container
//	d.Sync(ctx, state)                   // the cluster changed: peers, tunnel
//	d.Leave(ctx, n, ep); d.DeleteNetwork(ctx, n)
package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/network/firewall"
)

// DefaultVXLANPort is the UDP port of VXLAN (IANA's, docker's data-path port).
const DefaultVXLANPort = 4789

// Config configures the driver.
type Config struct {
	// NetNSDir is where the networks' namespaces are bind-mounted (<exec-root>/netns).
	NetNSDir string
	// VXLANPort is the UDP port of the VXLAN traffic between nodes (DefaultVXLANPort when 0).
	VXLANPort uint16
	// Encryption enables encrypted networks; nil refuses them.
	Encryption *Encryption
	// HostMTU is the MTU of the node's way out; 0 reads the default route's interface.
	HostMTU int
}

// Encryption configures the node's encryption tunnel.
type Encryption struct {
	// Device names the TUN device (at most 15 characters); one per daemon.
	Device string
	// KeyFile keeps the node's WireGuard private key (made, mode 0600, the first time).
	KeyFile string
	// Port is the tunnels' UDP port (DefaultTunnelPort when 0).
	Port uint16
	// Firewall drops encrypted VNIs arriving in the clear; nil installs no rule.
	Firewall *firewall.Manager
}

// Driver is the overlay driver. Safe for concurrent use.
type Driver struct {
	cfg     Config
	hostMTU int
	tun     *tunnel // nil without encryption

	mu    sync.Mutex
	nets  map[string]netPlan // the networks present on this node, by ID
	state State              // the cluster as last synced
	// synced says a Sync came: until then (a daemon that just started) the entries in the kernel are kept as
	// they are, not emptied for want of a state.
	synced bool
	// rules are the encrypted VNIs whose firewall rule is installed, with the UDP port it names.
	rules     map[uint32]uint16
	rulesRead bool
}

var _ network.EndpointDriver = (*Driver)(nil)

// New returns an overlay driver; with encryption it reads (or makes) the node's key.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	if cfg.NetNSDir == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage("overlay driver: no namespace directory")
	}
	if cfg.VXLANPort == 0 {
		cfg.VXLANPort = DefaultVXLANPort
	}
	d := &Driver{cfg: cfg, hostMTU: cfg.HostMTU, nets: map[string]netPlan{}, rules: map[uint32]uint16{}}
	if d.hostMTU <= 0 {
		d.hostMTU = hostMTU()
	}
	if e := cfg.Encryption; e != nil {
		if e.Port == 0 {
			e.Port = DefaultTunnelPort
		}
		if e.Device == "" || len(e.Device) > 15 {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("overlay driver: invalid tunnel device name %q", e.Device))
		}
		priv, err := loadKey(e.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("overlay driver: the node's tunnel key: %w", err)
		}
		d.tun = &tunnel{name: e.Device, port: e.Port, priv: priv}
	}
	return d, nil
}

// PublicKey is the node's tunnel public key (base64), "" without encryption.
func (d *Driver) PublicKey() string {
	if d.tun == nil {
		return ""
	}
	return publicKey(d.tun.priv)
}

// Capability implements network.Driver: overlay networks span the cluster.
func (d *Driver) Capability() network.Capability {
	return network.Capability{Scope: network.ScopeGlobal}
}

// CreateNetwork implements network.Driver: the network's namespace, bridge and VXLAN device, and the peers the
// last Sync knows of.
func (d *Driver) CreateNetwork(ctx context.Context, n network.NetworkInfo) error {
	p, err := planNetwork(d.cfg.NetNSDir, n, d.hostMTU)
	if err != nil {
		return err
	}
	if p.encrypted && d.tun == nil {
		return errdefs.ErrNotImplemented.WithMessage("encrypted overlay networks are not available on this node")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ensureNetwork(ctx, p, d.portLocked(), d.synced); err != nil {
		return err
	}
	d.nets[p.id] = p
	if err := d.syncLocked(ctx); err != nil {
		slog.WarnContext(ctx, "overlay: programming peers", "network", n.Name, "error", err)
	}
	return nil
}

// DeleteNetwork implements network.Driver.
func (d *Driver) DeleteNetwork(ctx context.Context, n network.NetworkInfo) error {
	p, err := planNetwork(d.cfg.NetNSDir, n, d.hostMTU)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.nets, p.id)
	err = deleteNetwork(ctx, p)
	if serr := d.syncLocked(ctx); serr != nil {
		slog.WarnContext(ctx, "overlay: after removing a network", "network", n.Name, "error", serr)
	}
	return err
}

// Join implements network.EndpointDriver.
func (d *Driver) Join(ctx context.Context, n network.NetworkInfo, ep network.EndpointInfo, sb network.Sandbox) error {
	p, err := planNetwork(d.cfg.NetNSDir, n, d.hostMTU)
	if err != nil {
		return err
	}
	if ep.HostIfName == "" || ep.IfName == "" || !ep.Addr.IsValid() {
		return errdefs.ErrInvalidArgument.WithMessage("overlay endpoint without interface names or address")
	}
	return joinEndpoint(ctx, p, ep.HostIfName, ep.IfName, sb.NetNSPath, ep.Addr, ep.MAC)
}

// Leave implements network.EndpointDriver.
func (d *Driver) Leave(ctx context.Context, n network.NetworkInfo, ep network.EndpointInfo) error {
	p, err := planNetwork(d.cfg.NetNSDir, n, d.hostMTU)
	if err != nil {
		return err
	}
	if ep.HostIfName == "" {
		return nil
	}
	return leaveEndpoint(p, ep.HostIfName)
}

// portLocked is the VXLAN port: the swarm's (the last Sync's), else the configured one; the caller holds d.mu.
func (d *Driver) portLocked() uint16 {
	if d.state.VXLANPort != 0 {
		return d.state.VXLANPort
	}
	return d.cfg.VXLANPort
}

// Sync takes the cluster's state: the networks present here get the forwarding and neighbour entries of their
// remote endpoints (only the entries that differ are written), and the encryption tunnel its peers.
func (d *Driver) Sync(ctx context.Context, st State) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	old, first := d.portLocked(), !d.synced
	d.state, d.synced = st, true
	if port := d.portLocked(); first || port != old {
		// Networks made before the swarm's port was known (a restart, a new swarm) get their VXLAN device on it.
		for _, p := range d.nets {
			if err := ensureNetwork(ctx, p, port, true); err != nil {
				slog.WarnContext(ctx, "overlay: the VXLAN device on the swarm's port", "netns", p.ns, "port", port, "error", err)
			}
		}
	}
	return d.syncLocked(ctx)
}

// syncLocked applies d.state to the networks present; the caller holds d.mu.
func (d *Driver) syncLocked(ctx context.Context) error {
	if !d.synced {
		return nil
	}
	var errs []error
	plans := make([]netPlan, 0, len(d.nets))
	for _, p := range d.nets {
		plans = append(plans, p)
	}
	sort.Slice(plans, func(i, j int) bool { return plans[i].id < plans[j].id })
	if err := d.syncTunnel(ctx, plans); err != nil {
		errs = append(errs, err)
	}
	for _, p := range plans {
		fdb, neigh, err := readPeers(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ops := diffPeers(wantPeers(d.state, p), fdb, neigh)
		if ops.empty() {
			continue
		}
		if err := applyPeers(p, ops); err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", p.id, err))
			continue
		}
		slog.DebugContext(ctx, "overlay peers", "network", p.id, "vni", p.vni, "added", len(ops.addFDB), "removed", len(ops.delFDB))
	}
	return errors.Join(errs...)
}

// syncTunnel brings the encryption tunnel up while an encrypted network is present (and the cluster gave this
// node a tunnel address), with the peers of those networks, and the firewall rules of their VNIs; down when
// none is. The caller holds d.mu.
func (d *Driver) syncTunnel(ctx context.Context, plans []netPlan) error {
	if d.tun == nil {
		return nil
	}
	want := map[uint32]bool{}
	mtu := 0
	for _, p := range plans {
		if p.encrypted {
			want[p.vni] = true
			mtu = max(mtu, p.mtu+vxlanOverhead)
		}
	}
	var errs []error
	if fw := d.cfg.Encryption.Firewall; fw != nil {
		if !d.rulesRead {
			// Rules a previous run installed: those of networks gone meanwhile must go too.
			have, err := fw.Tunnels(ctx)
			if err != nil {
				return err
			}
			for _, t := range have {
				if t.Device == d.tun.name {
					d.rules[t.VNI] = t.Port
				}
			}
			d.rulesRead = true
		}
		port := d.portLocked()
		for vni, p := range d.rules {
			if want[vni] && p == port {
				continue
			}
			// A network gone, or a rule on another port than the swarm's.
			if err := fw.RemoveTunnel(ctx, firewall.Tunnel{VNI: vni, Port: p, Device: d.tun.name}); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(d.rules, vni)
		}
		for vni := range want {
			if _, ok := d.rules[vni]; ok {
				continue
			}
			if err := fw.AddTunnel(ctx, firewall.Tunnel{VNI: vni, Port: port, Device: d.tun.name}); err != nil {
				errs = append(errs, err)
				continue
			}
			d.rules[vni] = port
		}
	}
	self, ok := d.state.Nodes[d.state.Self]
	if len(want) == 0 || !ok || !self.TunnelAddr.IsValid() || self.PublicKey != d.PublicKey() {
		if len(want) == 0 {
			d.tun.down()
		}
		return errors.Join(errs...)
	}
	if err := d.tun.up(self.TunnelAddr, mtu); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := d.tun.setPeers(wantTunnelPeers(d.state, plans, d.cfg.Encryption.Port), d.state.PresharedKey); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Restore learns the cluster networks present on this node after a restart from their records (the Manager
// calls CreateNetwork for each, which does this); Close stops the encryption tunnel. The networks' kernel
// objects stay: the containers on them keep running.
func (d *Driver) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tun != nil {
		d.tun.down()
	}
}

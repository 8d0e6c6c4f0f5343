package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster"
	"github.com/berth/berth/internal/cluster/api"
	berthnet "github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/network/dns"
	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/overlay"
)

// Overlay networks: the overlay driver, the network manager's view of the swarm's networks (clusterNetworks, over
// the node's swarm membership), and the agent that keeps both in step with the cluster (overlaySink, fed by
// cluster.RunNetworks).

// tunnelName is the encryption tunnel's device, named after the data root like the default bridge, so that
// daemons side by side never share one.
func tunnelName(dataRoot string) string {
	if dataRoot == DefaultDataRoot {
		return "berthwg0"
	}
	sum := sha256.Sum256([]byte(dataRoot))
	return "bwg" + hex.EncodeToString(sum[:])[:6]
}

// openOverlay makes the overlay driver: namespaces under <exec-root>/netns, the node's tunnel key under
// <data-root>/network/overlay, and a firewall table of its own for the encrypted networks' rules.
func (d *Daemon) openOverlay(ctx context.Context, table string) (*overlay.Driver, error) {
	enc := &overlay.Encryption{Device: tunnelName(d.cfg.DataRoot), KeyFile: filepath.Join(d.cfg.DataRoot, "network", "overlay", "tunnel.key")}
	if fw, err := firewall.New(ctx, firewall.WithTableName(table+"-overlay"), firewall.WithIPTables(false)); err == nil {
		enc.Firewall = fw
	}
	ov, err := overlay.New(ctx, overlay.Config{NetNSDir: filepath.Join(d.cfg.ExecRoot, "netns"), Encryption: enc})
	if err != nil {
		return nil, fmt.Errorf("overlay driver: %w", err)
	}
	d.overlay = ov
	return ov, nil
}

// startNetworkAgent follows the cluster's networking for the daemon's lifetime.
func (d *Daemon) startNetworkAgent() {
	if d.swarm == nil || d.overlay == nil {
		return
	}
	go d.swarm.RunNetworks(d.ctx, overlaySink{d})
}

// clusterNetworks is the network manager's Cluster: the node's swarm membership, in the network package's types.
type clusterNetworks struct{ d *Daemon }

var _ berthnet.Cluster = clusterNetworks{}

func (c clusterNetworks) swarm() (*cluster.Cluster, error) {
	if c.d.swarm == nil {
		return nil, cluster.ErrNoSwarm
	}
	return c.d.swarm, nil
}

// Networks implements berthnet.Cluster.
func (c clusterNetworks) Networks(ctx context.Context) ([]berthnet.Network, error) {
	sw, err := c.swarm()
	if err != nil {
		return nil, nil
	}
	nets, err := sw.Networks(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]berthnet.Network, 0, len(nets))
	for _, n := range nets {
		out = append(out, networkOf(n))
	}
	return out, nil
}

// Network implements berthnet.Cluster.
func (c clusterNetworks) Network(ctx context.Context, ref string) (berthnet.Network, error) {
	sw, err := c.swarm()
	if err != nil {
		return berthnet.Network{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", ref))
	}
	n, err := sw.Network(ctx, ref)
	if err != nil {
		return berthnet.Network{}, err
	}
	return networkOf(n), nil
}

// CreateNetwork implements berthnet.Cluster.
func (c clusterNetworks) CreateNetwork(ctx context.Context, opts berthnet.CreateOptions) (berthnet.Network, error) {
	sw, err := c.swarm()
	if err != nil {
		return berthnet.Network{}, err
	}
	if drv := opts.IPAM.Driver; drv != "" && drv != "default" {
		return berthnet.Network{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("plugin %q not found", drv))
	}
	spec := api.NetworkSpec{Annotations: api.Annotations{Name: opts.Name, Labels: maps.Clone(opts.Labels)},
		Driver: &api.Driver{Name: opts.Driver, Options: maps.Clone(opts.Options)}, IPv6: opts.EnableIPv6,
		Internal: opts.Internal, Attachable: opts.Attachable, Ingress: opts.Ingress}
	for _, cfg := range opts.IPAM.Config {
		if !cfg.Subnet.IsValid() {
			continue
		}
		ic := api.IPAMConfig{Subnet: cfg.Subnet.String()}
		if cfg.IPRange.IsValid() {
			ic.Range = cfg.IPRange.String()
		}
		if cfg.Gateway.IsValid() {
			ic.Gateway = cfg.Gateway.String()
		}
		spec.IPAM = append(spec.IPAM, ic)
	}
	n, err := sw.CreateNetwork(ctx, spec)
	if err != nil {
		return berthnet.Network{}, err
	}
	return networkOf(n), nil
}

// RemoveNetwork implements berthnet.Cluster.
func (c clusterNetworks) RemoveNetwork(ctx context.Context, ref string) error {
	sw, err := c.swarm()
	if err != nil {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", ref))
	}
	return sw.RemoveNetwork(ctx, ref)
}

// Attach implements berthnet.Cluster.
func (c clusterNetworks) Attach(ctx context.Context, networkID string, req berthnet.ClusterAttach) (berthnet.Network, berthnet.ClusterEndpoint, error) {
	sw, err := c.swarm()
	if err != nil {
		return berthnet.Network{}, berthnet.ClusterEndpoint{}, err
	}
	ar := cluster.AttachRequest{Network: networkID, ContainerID: req.ContainerID, Name: req.Name, Aliases: req.Aliases,
		Addr: req.Addr, Attachment: req.Attachment}
	if len(req.MAC) > 0 {
		ar.MAC = req.MAC.String()
	}
	a, n, err := sw.AttachNetwork(ctx, ar)
	if err != nil {
		return berthnet.Network{}, berthnet.ClusterEndpoint{}, err
	}
	mac, err := net.ParseMAC(a.MAC)
	if err != nil {
		return berthnet.Network{}, berthnet.ClusterEndpoint{}, fmt.Errorf("attachment %s: %w", a.ID, err)
	}
	return networkOf(n), berthnet.ClusterEndpoint{ID: a.ID, Addr: a.Addr, MAC: mac}, nil
}

// Detach implements berthnet.Cluster.
func (c clusterNetworks) Detach(ctx context.Context, id string) error {
	sw, err := c.swarm()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return sw.DetachNetwork(ctx, id)
}

// networkOf is a cluster network as the network package describes networks.
func networkOf(n *api.Network) berthnet.Network {
	out := berthnet.Network{ID: n.ID, Name: n.Spec.Name, Driver: n.DriverName(), Scope: "swarm", Created: n.CreatedAt,
		Internal: n.Spec.Internal, Attachable: n.Spec.Attachable, Ingress: n.Spec.Ingress, EnableIPv4: true, Labels: maps.Clone(n.Spec.Labels),
		Options: map[string]string{}, IPAM: berthnet.IPAM{Driver: "default"}, Endpoints: map[string]berthnet.Endpoint{}}
	if n.Spec.Driver != nil {
		maps.Copy(out.Options, n.Spec.Driver.Options)
	}
	maps.Copy(out.Options, n.DriverState)
	for _, c := range n.IPAM {
		var cfg berthnet.IPAMConfig
		cfg.Subnet, _ = netip.ParsePrefix(c.Subnet)
		cfg.IPRange, _ = netip.ParsePrefix(c.Range)
		cfg.Gateway, _ = netip.ParseAddr(c.Gateway)
		out.IPAM.Config = append(out.IPAM.Config, cfg)
	}
	return out
}

// overlaySink is the node's side of cluster.RunNetworks.
type overlaySink struct{ d *Daemon }

var _ cluster.NetworkSink = overlaySink{}

// ApplyNetworkState implements cluster.NetworkSink: the overlay driver's peers and tunnel, the network
// manager's peers and remote names.
func (s overlaySink) ApplyNetworkState(ctx context.Context, st cluster.NetworkState) {
	ost := overlay.State{Self: st.Self, Nodes: map[string]overlay.Node{}, PresharedKey: st.PresharedKey, VXLANPort: uint16(st.DataPathPort)}
	hosts := map[string]cluster.NetworkPeer{}
	for _, n := range st.Nodes {
		hosts[n.ID] = n
		ost.Nodes[n.ID] = overlay.Node{Addr: n.Addr}
	}
	for _, k := range st.Keys {
		n, ok := ost.Nodes[k.ID]
		if !ok {
			continue
		}
		n.PublicKey, n.TunnelAddr = k.PublicKey, k.TunnelAddr
		ost.Nodes[k.ID] = n
	}
	views := map[string]berthnet.ClusterView{}
	peers := map[string]map[string]bool{}
	for _, a := range st.Attachments {
		if a.NodeID == "" {
			continue
		}
		mac, err := net.ParseMAC(a.MAC)
		if err != nil {
			continue
		}
		ost.Endpoints = append(ost.Endpoints, overlay.Endpoint{NetworkID: a.NetworkID, NodeID: a.NodeID, Addr: a.Addr.Addr(), MAC: mac})
		if peers[a.NetworkID] == nil {
			peers[a.NetworkID] = map[string]bool{}
		}
		v := views[a.NetworkID]
		if !peers[a.NetworkID][a.NodeID] {
			peers[a.NetworkID][a.NodeID] = true
			if h, ok := hosts[a.NodeID]; ok {
				v.Peers = append(v.Peers, berthnet.Peer{Name: h.Hostname, IP: h.Addr})
			}
		}
		if a.NodeID != st.Self && a.Name != "" {
			id := a.ContainerID
			if id == "" {
				id = a.ID
			}
			v.Remote = append(v.Remote, dns.Endpoint{ContainerID: id, Name: a.Name, Aliases: slices.Clone(a.Aliases), Addr: a.Addr.Addr()})
		}
		views[a.NetworkID] = v
	}
	addServiceViews(views, st)
	for _, n := range st.Networks {
		if v, ok := views[n.ID]; ok && n.Spec.Ingress {
			// No discovery on the ingress network, as docker's: the mesh alone uses it (ingress.go).
			v.Services, v.Remote = nil, nil
			views[n.ID] = v
		}
	}
	for id, v := range views {
		slices.SortFunc(v.Peers, func(a, b berthnet.Peer) int { return a.IP.Compare(b.IP) })
		views[id] = v
	}
	if err := s.d.overlay.Sync(ctx, ost); err != nil {
		slog.WarnContext(ctx, "overlay: applying the cluster's state", "error", err)
	}
	// A node of a swarm has docker_gwbridge, as dockerd's (made with its ingress sandbox at join).
	if err := s.d.networks.EnsureGatewayNetwork(ctx); err != nil {
		slog.WarnContext(ctx, "docker_gwbridge", "error", err)
	}
	s.d.networks.SetClusterView(views)
	s.d.syncIngress(ctx, st)
	// After both the VIP tables and the ingress sandbox's are written: a task waiting to leave the balancers
	// is out of every table of this node once it is out of this set.
	s.d.backends.set(st.Rev, st.Running)
}

// LocalAttachments implements cluster.NetworkSink.
func (s overlaySink) LocalAttachments() []string { return s.d.networks.ClusterAttachments() }

// PublicKey implements cluster.NetworkSink.
func (s overlaySink) PublicKey() string { return s.d.overlay.PublicKey() }

// LeftSwarm implements cluster.NetworkSink.
func (s overlaySink) LeftSwarm(ctx context.Context) {
	// The mesh first: its ports are published to the sandbox's docker_gwbridge endpoint, which DropCluster
	// takes away with docker_gwbridge.
	s.d.leaveIngress(ctx)
	s.d.networks.DropCluster(ctx)
	s.d.backends.set(0, nil)
}

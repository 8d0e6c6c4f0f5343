package network

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/network/dns"
)

// Cluster networks on a node. A network whose driver's scope is global (overlay) belongs to the cluster: its
// record, subnet and addresses live in the cluster's store, and this Manager learns of it through the Cluster
// interface below, which the daemon wires to the node's swarm membership. On a manager every cluster network is
// listed; on any node, a cluster network exists locally (as a record under the root, with its driver's kernel
// side) only while a container of this node is attached to it: the first attachment makes it, the last
// detachment removes it, and leaving the swarm (DropCluster) removes them all. The endpoints' addresses come
// from the cluster (Cluster.Attach), never from the local IPAM. The cluster's view of each local network (its
// peers, and the names of the containers on other nodes) comes in through SetClusterView.
//
//	m := network.New(ctx, cfg, network.WithDriver("overlay", ov), network.WithCluster(c))
//	m.Create(ctx, network.CreateOptions{Name: "ovl", Driver: "overlay", Attachable: true}) // on a manager
//	m.Attach(ctx, sb, "ovl", opts)      // docker run --network ovl, on any node: the address from the cluster
//	m.SetClusterView(views)             // the peers and remote names, as the cluster changes
//	m.DetachAll(ctx, id)                // the last container leaving removes the network from the node
//	m.DropCluster(ctx)                  // swarm leave

// Cluster is the swarm's side of cluster networks, as a node's Manager needs it.
type Cluster interface {
	// Networks lists the cluster's networks this node may list: all of them on a manager, the ingress network on
	// a worker (docker lists another cluster network on a worker only while it is in use there), none outside a
	// swarm.
	Networks(ctx context.Context) ([]Network, error)
	// Network finds a cluster network by name, ID or unique ID prefix (a worker asks a manager); an error
	// wrapping errdefs.ErrNotFound when there is none, or no swarm.
	Network(ctx context.Context, ref string) (Network, error)
	// CreateNetwork creates a cluster network (managers only, with docker's words elsewhere).
	CreateNetwork(ctx context.Context, opts CreateOptions) (Network, error)
	// RemoveNetwork removes a cluster network no one uses.
	RemoveNetwork(ctx context.Context, ref string) error
	// Attach asks the cluster for an endpoint of a container of this node on a cluster network (an address
	// and a MAC address), and returns the network as it is now.
	Attach(ctx context.Context, networkID string, req ClusterAttach) (Network, ClusterEndpoint, error)
	// Detach gives an endpoint back to the cluster.
	Detach(ctx context.Context, endpointID string) error
}

// ClusterAttach is what a node asks of the cluster for a container's endpoint.
type ClusterAttach struct {
	ContainerID, Name string
	Aliases           []string
	// Addr and MAC are the ones asked for (--ip, --mac-address), zero for any.
	Addr netip.Addr
	MAC  net.HardwareAddr
	// Attachment names an endpoint the cluster allocated beforehand (a service task's), which this call claims.
	Attachment string
}

// ClusterEndpoint is an endpoint the cluster gave.
type ClusterEndpoint struct {
	ID   string
	Addr netip.Prefix
	MAC  net.HardwareAddr
}

// Peer is a node that has endpoints on a cluster network (docker network inspect's Peers).
type Peer struct {
	Name string
	IP   netip.Addr
}

// ClusterView is what the cluster says of one of its networks present on this node: the nodes with endpoints
// on it, and the endpoints on other nodes, whose names the embedded DNS answers here too.
type ClusterView struct {
	Peers  []Peer
	Remote []dns.Endpoint
	// Services are the swarm services on the network: their names, VIPs and running tasks (services.go).
	Services []ServiceView
}

// AttachmentOption names, in an endpoint's DriverOpts, the cluster attachment a task's container claims.
const AttachmentOption = "com.berth.swarm.attachment"

// WithCluster connects the Manager to the node's cluster membership, for cluster networks.
func WithCluster(c Cluster) Option { return func(m *Manager) { m.cluster = c } }

// global reports whether r is a cluster network (its driver's scope is global); the caller holds m.mu.
func (m *Manager) global(r *record) bool {
	d, ok := m.drivers[r.Driver]
	return ok && d.Capability().Scope == ScopeGlobal
}

// clusterContext bounds a call to the cluster made where the caller gave no context.
func clusterContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// lookupCluster finds a cluster network this node does not have locally; the caller holds m.mu.
func (m *Manager) lookupCluster(ctx context.Context, ref string) (Network, error) {
	if m.cluster == nil {
		return Network{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", ref))
	}
	n, err := m.cluster.Network(ctx, ref)
	if err != nil {
		return Network{}, err
	}
	if r, ok := m.nets[n.ID]; ok {
		return m.describe(r), nil
	}
	return n, nil
}

// clusterList adds to out the cluster's networks this node lists and has no record of; the caller holds m.mu.
func (m *Manager) clusterList(nf filter, out []Network) []Network {
	if m.cluster == nil {
		return out
	}
	ctx, cancel := clusterContext()
	defer cancel()
	nets, err := m.cluster.Networks(ctx)
	if err != nil {
		if !errdefs.IsNotFound(err) && !errdefs.IsUnavailable(err) {
			slog.Warn("listing the cluster's networks", "error", err)
		}
		return out
	}
	for _, n := range nets {
		if _, local := m.nets[n.ID]; local || m.byName(n.Name) != nil {
			continue
		}
		if nf.matches(n) {
			out = append(out, n)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// createCluster creates a cluster network; the caller holds m.mu.
func (m *Manager) createCluster(ctx context.Context, opts CreateOptions) (Network, error) {
	if m.cluster == nil {
		return Network{}, errdefs.ErrUnavailable.WithMessage(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)
	}
	if m.byName(opts.Name) != nil {
		return Network{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("network with name %s already exists", opts.Name))
	}
	return m.cluster.CreateNetwork(ctx, opts)
}

// recordOf is the local record of a cluster network, made when a first container joins it here.
func recordOf(n Network) *record {
	r := &record{ID: n.ID, Name: n.Name, Driver: n.Driver, Created: n.Created, Internal: n.Internal,
		Attachable: n.Attachable, Ingress: n.Ingress, Labels: maps.Clone(n.Labels), Options: maps.Clone(n.Options),
		Endpoints: map[string]*endpointRecord{}}
	ipamCfg := &recordIPAM{Driver: n.IPAM.Driver, Options: maps.Clone(n.IPAM.Options)}
	if ipamCfg.Driver == "" {
		ipamCfg.Driver = "default"
	}
	if len(n.IPAM.Config) > 0 {
		c := n.IPAM.Config[0]
		ipamCfg.Subnet, ipamCfg.IPRange, ipamCfg.Gateway = c.Subnet, c.IPRange, c.Gateway
		if !ipamCfg.IPRange.IsValid() {
			ipamCfg.IPRange = c.Subnet
		}
	}
	r.IPAM = ipamCfg
	return r
}

// attachCluster joins a sandbox to a cluster network: the network comes up on this node if it was not, the
// cluster gives the endpoint, the driver plugs it in. On failure nothing is left, here or in the cluster. The
// caller holds m.mu.
func (m *Manager) attachCluster(ctx context.Context, sb Sandbox, n Network, opts EndpointOptions) (Endpoint, error) {
	d, err := m.driver(n.Driver)
	if err != nil {
		return Endpoint{}, err
	}
	ed, ok := d.(EndpointDriver)
	if !ok {
		return Endpoint{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("container cannot be connected to network %s", n.Name))
	}
	r, have := m.nets[n.ID]
	if have {
		if _, ok := r.Endpoints[sb.ContainerID]; ok {
			return Endpoint{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("endpoint with name %s already exists in network %s", sb.Name, r.Name))
		}
	}
	undo := context.WithoutCancel(ctx)
	cn, ce, err := m.cluster.Attach(ctx, n.ID, ClusterAttach{ContainerID: sb.ContainerID, Name: sb.Name, Aliases: opts.Aliases,
		Addr: opts.IPv4Address, MAC: opts.MacAddress, Attachment: opts.DriverOpts[AttachmentOption]})
	if err != nil {
		return Endpoint{}, fmt.Errorf("Could not attach to network %s: %w", n.Name, err)
	}
	if !have {
		r = recordOf(cn)
		if err := d.CreateNetwork(ctx, r.info()); err != nil {
			m.cluster.Detach(undo, ce.ID)
			return Endpoint{}, err
		}
		if err := m.add(r); err != nil {
			d.DeleteNetwork(undo, r.info())
			m.cluster.Detach(undo, ce.ID)
			return Endpoint{}, err
		}
	}
	ep := &endpointRecord{
		ID: ce.ID, ContainerID: sb.ContainerID, Name: sb.Name, Addr: ce.Addr, Gateway: r.IPAM.Gateway,
		MAC: ce.MAC.String(), HostVeth: "veth" + newID()[:7], IfName: m.nextIfName(sb.ContainerID),
		Aliases: slices.Clone(opts.Aliases),
	}
	// Cluster networks give no default route: their namespace has no way out.
	if err := ed.Join(ctx, r.info(), ep.info(false), sb); err != nil {
		m.cluster.Detach(undo, ce.ID)
		if len(r.Endpoints) == 0 {
			m.dropLocal(undo, r)
		}
		return Endpoint{}, err
	}
	m.reg.AddEndpoint(r.Name, dns.Endpoint{ContainerID: sb.ContainerID, Name: sb.Name, Aliases: ep.Aliases, Addr: ep.Addr.Addr()})
	r.Endpoints[sb.ContainerID] = ep
	// Without another way out, the container's default route is docker_gwbridge's (gateway.go).
	if err := m.syncGateway(ctx, sb.ContainerID, sb.NetNSPath); err != nil {
		if lerr := ed.Leave(undo, r.info(), ep.info(false)); lerr != nil {
			slog.WarnContext(ctx, "leaving a network", "network", r.Name, "container", sb.ContainerID, "error", lerr)
		}
		m.forgetCluster(undo, r, ep)
		return Endpoint{}, err
	}
	m.applyView(r)
	m.syncVIPs(ctx, sb.ContainerID)
	if err := m.save(r, atomicfile.NoSync()); err != nil {
		slog.WarnContext(ctx, "saving network", "network", r.Name, "error", err)
	}
	return ep.endpoint(), nil
}

// forgetCluster gives a cluster network's endpoint back to the cluster and, with the network's last endpoint
// gone, removes the network from this node; the caller holds m.mu.
func (m *Manager) forgetCluster(ctx context.Context, r *record, ep *endpointRecord) {
	m.reg.RemoveEndpoint(r.Name, ep.ContainerID)
	delete(r.Endpoints, ep.ContainerID)
	m.syncVIPs(ctx, ep.ContainerID) // the network's VIPs leave the container's table
	if m.cluster != nil {
		if err := m.cluster.Detach(ctx, ep.ID); err != nil {
			// The cluster releases it later: at the node's next sync, or when the node leaves.
			slog.WarnContext(ctx, "giving an endpoint back to the cluster", "network", r.Name, "endpoint", ep.ID, "error", err)
		}
	}
	if len(r.Endpoints) == 0 {
		m.dropLocal(ctx, r)
		return
	}
	if err := m.save(r, atomicfile.NoSync()); err != nil {
		slog.WarnContext(ctx, "saving network", "network", r.Name, "error", err)
	}
}

// dropLocal removes a cluster network from this node: its driver's kernel side, the names of its remote
// endpoints, its record. The caller holds m.mu.
func (m *Manager) dropLocal(ctx context.Context, r *record) {
	if d, ok := m.drivers[r.Driver]; ok {
		if err := d.DeleteNetwork(ctx, r.info()); err != nil {
			slog.WarnContext(ctx, "removing a cluster network from this node", "network", r.Name, "error", err)
		}
	}
	for _, ep := range m.remote[r.ID] {
		m.reg.RemoveEndpoint(r.Name, ep.ContainerID)
	}
	delete(m.remote, r.ID)
	m.reg.SetServices(r.Name, nil)
	if err := os.Remove(filepath.Join(m.cfg.Root, r.ID+".json")); err != nil && !os.IsNotExist(err) {
		slog.WarnContext(ctx, "removing a network record", "network", r.Name, "error", err)
	}
	delete(m.nets, r.ID)
}

// DropCluster removes every cluster network from this node, detaching the containers still on them (their
// interfaces go; they keep running): the node left the swarm, and its endpoints went with it.
func (m *Manager) DropCluster(ctx context.Context) {
	m.mu.Lock()
	var drop []*record
	for _, r := range m.nets {
		if m.global(r) {
			drop = append(drop, r)
		}
	}
	m.mu.Unlock()
	for _, r := range drop {
		m.mu.Lock()
		ed, _ := m.drivers[r.Driver].(EndpointDriver)
		eps := slices.Collect(maps.Values(r.Endpoints))
		info := r.info()
		m.mu.Unlock()
		for _, ep := range eps {
			if ed != nil {
				if err := ed.Leave(ctx, info, ep.info(false)); err != nil {
					slog.WarnContext(ctx, "leaving a cluster network", "network", r.Name, "container", ep.ContainerID, "error", err)
				}
			}
		}
		m.mu.Lock()
		for _, ep := range eps {
			m.reg.RemoveEndpoint(r.Name, ep.ContainerID)
		}
		m.dropLocal(ctx, r)
		for _, ep := range eps {
			m.syncVIPs(ctx, ep.ContainerID) // the network's VIPs leave the container's table
		}
		m.mu.Unlock()
		slog.InfoContext(ctx, "cluster network removed from this node", "network", r.Name, "endpoints", len(eps))
	}
	m.mu.Lock()
	m.dropGateway(ctx)
	m.mu.Unlock()
}

// ClusterAttachments are the IDs of this node's endpoints on cluster networks (the cluster's attachments),
// which the cluster compares with its own to release those the node no longer has.
func (m *Manager) ClusterAttachments() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.nets {
		if !m.global(r) {
			continue
		}
		for _, ep := range r.Endpoints {
			out = append(out, ep.ID)
		}
	}
	sort.Strings(out)
	return out
}

// ClusterNetworkIDs are the cluster networks present on this node.
func (m *Manager) ClusterNetworkIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.nets {
		if m.global(r) {
			out = append(out, r.ID)
		}
	}
	sort.Strings(out)
	return out
}

// SetClusterView takes the cluster's view of its networks, by network ID: their peers (network inspect) and
// the endpoints on other nodes, whose names the embedded DNS answers on this node while the network is here.
// The views of networks not (yet) on this node are kept for when they come.
func (m *Manager) SetClusterView(views map[string]ClusterView) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.views = map[string]ClusterView{}
	for id, v := range views {
		m.views[id] = ClusterView{Peers: slices.Clone(v.Peers), Remote: slices.Clone(v.Remote), Services: slices.Clone(v.Services)}
	}
	for _, r := range m.nets {
		if m.global(r) {
			m.applyView(r)
		}
	}
	ctx, cancel := clusterContext()
	defer cancel()
	m.syncAllVIPs(ctx)
}

// applyView registers the names of the remote endpoints of a cluster network present here, as its view has
// them, and drops those registered before and gone since; the caller holds m.mu.
func (m *Manager) applyView(r *record) {
	if m.remote == nil {
		m.remote = map[string][]dns.Endpoint{}
	}
	next := m.views[r.ID].Remote
	keep := map[string]bool{}
	for _, ep := range next {
		if _, local := r.Endpoints[ep.ContainerID]; local {
			continue
		}
		keep[ep.ContainerID] = true
		if err := m.reg.AddEndpoint(r.Name, ep); err != nil {
			slog.Warn("registering a remote endpoint's names", "network", r.Name, "container", ep.ContainerID, "error", err)
		}
	}
	for _, ep := range m.remote[r.ID] {
		if _, local := r.Endpoints[ep.ContainerID]; !keep[ep.ContainerID] && !local {
			m.reg.RemoveEndpoint(r.Name, ep.ContainerID)
		}
	}
	m.remote[r.ID] = slices.Clone(next)
	m.reg.SetServices(r.Name, serviceRecords(m.views[r.ID].Services))
}

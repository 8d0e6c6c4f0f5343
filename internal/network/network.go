// Package network owns Berth's networks: their records, the Linux bridge of each, the addresses of container
// endpoints, the firewall rules and the embedded DNS. It composes internal/network/ipam (addresses),
// internal/network/link (bridges, veths, namespaces), internal/network/firewall (NAT, isolation, ports) and
// internal/network/dns (names), and is driven by the daemon at container start and exit.
//
// Lifecycle of a container on a bridge network:
//
//	ns, _ := m.NewSandbox(ctx, id)                   // a network namespace bind-mounted under <exec-root>/netns
//	ep, _ := m.Attach(ctx, id, "web", ns, "mynet", cfg) // address, veth, DNS names
//	stop, _ := m.ServeDNS(ctx, id, ns)               // 127.0.0.11 inside, for user-defined networks
//	...                                              // the OCI runtime joins ns
//	m.DetachAll(ctx, id)                             // at exit: veths, addresses, names
//	m.DeleteSandbox(ctx, id)
package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/network/dns"
	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/ipam"
	"github.com/berth/berth/internal/network/link"
)

// Predefined network names.
const (
	Bridge = "bridge"
	Host   = "host"
	None   = "none"
)

// BridgeNameOption is docker's option naming a network's Linux bridge.
const BridgeNameOption = "com.docker.network.bridge.name"

// Network is the persisted record of one network.
type Network struct {
	ID         string
	Name       string
	Driver     string // bridge, host, null
	Created    time.Time
	Internal   bool
	Attachable bool
	Labels     map[string]string
	Options    map[string]string
	Bridge     string     `json:",omitempty"`
	Pool       *ipam.Pool `json:",omitempty"`
	Endpoints  map[string]*Endpoint
}

// Endpoint is one container's attachment to a network.
type Endpoint struct {
	ID          string
	ContainerID string
	Name        string // the container's name, without "/"
	Addr        netip.Prefix
	Gateway     netip.Addr
	MAC         string
	HostVeth    string
	Aliases     []string
}

// Config configures a Manager.
type Config struct {
	Root          string // <data-root>/network
	ExecRoot      string // network namespaces live in <exec-root>/netns
	DefaultBridge string // Linux bridge of the predefined "bridge" network; "none" disables it
	Table         string // the firewall's table name (unique per daemon)
}

// Manager owns the networks of one daemon. Safe for concurrent use.
type Manager struct {
	cfg Config
	fw  *firewall.Manager
	reg *dns.Registry

	mu      sync.Mutex
	nets    map[string]*Network // by ID
	servers map[string]func()   // DNS servers by container ID
}

// New loads the networks under cfg.Root and makes sure the predefined ones exist, bringing up the default
// bridge (unless disabled).
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if err := os.MkdirAll(cfg.Root, 0o700); err != nil {
		return nil, err
	}
	fw, err := firewall.New(ctx, firewall.WithTableName(cfg.Table))
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, fw: fw, reg: dns.NewRegistry(), nets: map[string]*Network{}, servers: map[string]func(){}}
	entries, err := os.ReadDir(cfg.Root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(cfg.Root, e.Name()))
		if err != nil {
			return nil, err
		}
		n := &Network{}
		if err := json.Unmarshal(b, n); err != nil {
			slog.WarnContext(ctx, "skipping a corrupt network record", "file", e.Name(), "error", err)
			continue
		}
		if n.Endpoints == nil {
			n.Endpoints = map[string]*Endpoint{}
		}
		m.nets[n.ID] = n
	}
	for _, p := range []struct{ name, driver string }{{Host, "host"}, {None, "null"}} {
		if m.byName(p.name) == nil {
			if err := m.add(&Network{ID: newID(), Name: p.name, Driver: p.driver, Created: time.Now().UTC()}); err != nil {
				return nil, err
			}
		}
	}
	if cfg.DefaultBridge != "none" && cfg.DefaultBridge != "" && m.byName(Bridge) == nil {
		if _, err := m.create(ctx, Bridge, network.CreateRequest{Driver: "bridge", Options: map[string]string{BridgeNameOption: cfg.DefaultBridge}}); err != nil {
			return nil, fmt.Errorf("default bridge network: %w", err)
		}
	}
	// Bring every bridge network's kernel side back (after a reboot, or if something removed it).
	for _, n := range m.nets {
		if n.Driver == "bridge" {
			if err := m.up(ctx, n); err != nil {
				return nil, fmt.Errorf("network %s: %w", n.Name, err)
			}
		}
	}
	return m, nil
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// save records n. Creating a network is durable; opts are atomicfile.NoSync for the endpoint changes of every
// container start and stop, which a host crash makes stale anyway.
func (m *Manager) save(n *Network, opts ...atomicfile.Option) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(m.cfg.Root, n.ID+".json"), b, 0o600, opts...)
}

func (m *Manager) add(n *Network) error {
	if n.Endpoints == nil {
		n.Endpoints = map[string]*Endpoint{}
	}
	if err := m.save(n); err != nil {
		return err
	}
	m.nets[n.ID] = n
	return nil
}

func (m *Manager) byName(name string) *Network {
	for _, n := range m.nets {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// get finds a network by name, full ID or unique ID prefix; the caller holds m.mu.
func (m *Manager) get(ref string) (*Network, error) {
	if n := m.byName(ref); n != nil {
		return n, nil
	}
	if n, ok := m.nets[ref]; ok {
		return n, nil
	}
	var found *Network
	for id, n := range m.nets {
		if strings.HasPrefix(id, ref) && ref != "" {
			if found != nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("network %s is ambiguous (%d matches found on name)", ref, 2))
			}
			found = n
		}
	}
	if found == nil {
		return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", ref))
	}
	return found, nil
}

// Get returns the named network's record (a copy).
func (m *Manager) Get(ref string) (Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.get(ref)
	if err != nil {
		return Network{}, err
	}
	return *n, nil
}

// up creates the bridge and the firewall rules of a bridge network (idempotent).
func (m *Manager) up(ctx context.Context, n *Network) error {
	gw := netip.PrefixFrom(n.Pool.Gateway(), n.Pool.Subnet().Bits())
	if err := link.EnsureBridge(ctx, n.Bridge, gw, 0); err != nil {
		return err
	}
	return m.fw.AddNetwork(ctx, firewall.Network{Bridge: n.Bridge, Subnet: n.Pool.Subnet(), Internal: n.Internal, ICC: true})
}

// Create makes a user-defined network (docker network create).
func (m *Manager) Create(ctx context.Context, name string, req network.CreateRequest) (network.CreateResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name == Bridge || name == Host || name == None {
		return network.CreateResponse{}, errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("%s is a pre-defined network and cannot be created", name))
	}
	n, err := m.create(ctx, name, req)
	if err != nil {
		return network.CreateResponse{}, err
	}
	return network.CreateResponse{ID: n.ID, Warning: ""}, nil
}

func (m *Manager) create(ctx context.Context, name string, req network.CreateRequest) (*Network, error) {
	if name == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage("network name must not be empty")
	}
	if m.byName(name) != nil {
		return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("network with name %s already exists", name))
	}
	driver := req.Driver
	if driver == "" {
		driver = "bridge"
	}
	if driver != "bridge" {
		return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("could not find plugin %s in v1 plugin registry: plugin not found", driver))
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return nil, errdefs.ErrNotImplemented.WithMessage("IPv6 networks are not supported")
	}
	var subnet, ipRange netip.Prefix
	var gateway netip.Addr
	if req.IPAM != nil {
		for _, c := range req.IPAM.Config {
			if !c.Subnet.IsValid() {
				continue
			}
			subnet, ipRange, gateway = c.Subnet, c.IPRange, c.Gateway
			break
		}
	}
	var inUse []netip.Prefix
	if host, err := ipam.HostPrefixes(); err == nil {
		inUse = append(inUse, host...)
	}
	for _, o := range m.nets {
		if o.Pool != nil {
			inUse = append(inUse, o.Pool.Subnet())
		}
	}
	if !subnet.IsValid() {
		s, err := ipam.ChooseSubnet(ipam.DefaultPools(), inUse)
		if err != nil {
			return nil, err
		}
		subnet = s
	} else {
		for _, o := range m.nets {
			if o.Pool != nil && o.Pool.Subnet().Overlaps(subnet) {
				return nil, errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("invalid pool request: Pool overlaps with other one on this address space"))
			}
		}
	}
	pool, err := ipam.NewPool(subnet, ipRange, gateway)
	if err != nil {
		return nil, err
	}
	id := newID()
	bridge := req.Options[BridgeNameOption]
	if bridge == "" {
		bridge = "br-" + id[:12]
	}
	n := &Network{ID: id, Name: name, Driver: "bridge", Created: time.Now().UTC(), Internal: req.Internal,
		Attachable: req.Attachable, Labels: req.Labels, Options: req.Options, Bridge: bridge, Pool: pool}
	if err := m.up(ctx, n); err != nil {
		m.fw.RemoveNetwork(context.WithoutCancel(ctx), bridge)
		link.DeleteBridge(context.WithoutCancel(ctx), bridge)
		return nil, err
	}
	if err := m.add(n); err != nil {
		m.fw.RemoveNetwork(context.WithoutCancel(ctx), bridge)
		link.DeleteBridge(context.WithoutCancel(ctx), bridge)
		return nil, err
	}
	return n, nil
}

// Remove deletes a user-defined network without endpoints: its bridge, rules and record.
func (m *Manager) Remove(ctx context.Context, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.get(ref)
	if err != nil {
		return err
	}
	return m.remove(ctx, n)
}

func (m *Manager) remove(ctx context.Context, n *Network) error {
	if n.Name == Bridge || n.Name == Host || n.Name == None {
		return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("%s is a pre-defined network and cannot be removed", n.Name))
	}
	if len(n.Endpoints) > 0 {
		var names []string
		for _, ep := range n.Endpoints {
			names = append(names, fmt.Sprintf("name:%q id:%q", ep.Name, ep.ContainerID[:12]))
		}
		sort.Strings(names)
		return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("error while removing network: network %s has active endpoints (%s)", n.Name, strings.Join(names, ", ")))
	}
	if err := m.fw.RemoveNetwork(ctx, n.Bridge); err != nil {
		return err
	}
	if err := link.DeleteBridge(ctx, n.Bridge); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(m.cfg.Root, n.ID+".json")); err != nil && !os.IsNotExist(err) {
		return err
	}
	delete(m.nets, n.ID)
	return nil
}

// Prune removes every user-defined network without endpoints that matches docker's prune filters (label,
// label!, until).
func (m *Manager) Prune(ctx context.Context, f filters.Args) ([]string, error) {
	nf, err := newPruneFilter(f, time.Now())
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var removed []string
	for _, n := range m.sorted() {
		if !nf.matches(n) {
			continue
		}
		if err := m.remove(ctx, n); err == nil {
			removed = append(removed, n.Name)
		}
	}
	return removed, nil
}

func (m *Manager) sorted() []*Network {
	out := make([]*Network, 0, len(m.nets))
	for _, n := range m.nets {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Inspect returns docker's description of a network.
func (m *Manager) Inspect(ref string) (network.Inspect, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.get(ref)
	if err != nil {
		return network.Inspect{}, err
	}
	return m.inspect(n), nil
}

func (m *Manager) inspect(n *Network) network.Inspect {
	in := network.Inspect{
		Network: network.Network{
			Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver, EnableIPv4: n.Driver == "bridge",
			IPAM:     network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}},
			Internal: n.Internal, Attachable: n.Attachable, Options: map[string]string{}, Labels: map[string]string{},
		},
		Containers: map[string]network.EndpointResource{},
	}
	for k, v := range n.Options {
		in.Options[k] = v
	}
	for k, v := range n.Labels {
		in.Labels[k] = v
	}
	if n.Pool != nil {
		cfg := network.IPAMConfig{Subnet: n.Pool.Subnet(), Gateway: n.Pool.Gateway()}
		if r := n.Pool.IPRange(); r.IsValid() && r != n.Pool.Subnet() {
			cfg.IPRange = r
		}
		in.IPAM.Config = append(in.IPAM.Config, cfg)
	}
	if n.Name == Bridge {
		// Like docker, only the default bridge reports its bridge's name unasked; a user network shows the
		// options it was created with (docker-compose recreates networks whose options differ).
		in.Options[BridgeNameOption] = n.Bridge
	}
	for id, ep := range n.Endpoints {
		mac, _ := net.ParseMAC(ep.MAC)
		in.Containers[id] = network.EndpointResource{Name: ep.Name, EndpointID: ep.ID, MacAddress: network.HardwareAddr(mac), IPv4Address: ep.Addr}
	}
	return in
}

// List returns every network matching docker's filters (dangling, driver, id, label, name, scope, type).
func (m *Manager) List(f filters.Args) ([]network.Inspect, error) {
	nf, err := newListFilter(f)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []network.Inspect
	for _, n := range m.sorted() {
		if !nf.matches(n) {
			continue
		}
		out = append(out, m.inspect(n))
	}
	return out, nil
}

func (m *Manager) nsPath(containerID string) string {
	return filepath.Join(m.cfg.ExecRoot, "netns", containerID)
}

// NewSandbox creates the container's network namespace and returns its path.
func (m *Manager) NewSandbox(ctx context.Context, containerID string) (string, error) {
	p := m.nsPath(containerID)
	link.DeleteNetNS(ctx, p) // a leftover from a crash
	if err := link.NewNetNS(ctx, p); err != nil {
		return "", err
	}
	return p, nil
}

// DeleteSandbox removes the container's network namespace.
func (m *Manager) DeleteSandbox(ctx context.Context, containerID string) error {
	return link.DeleteNetNS(ctx, m.nsPath(containerID))
}

// Attach connects a container's namespace to a network: an address, a veth on the bridge, and its names in the
// embedded DNS.
func (m *Manager) Attach(ctx context.Context, containerID, name, nsPath, ref string, cfg *network.EndpointSettings, ifIndex int) (Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.get(ref)
	if err != nil {
		return Endpoint{}, err
	}
	if n.Driver != "bridge" {
		return Endpoint{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("container cannot be connected to network %s", n.Name))
	}
	if _, ok := n.Endpoints[containerID]; ok {
		return Endpoint{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("endpoint with name %s already exists in network %s", name, n.Name))
	}
	var preferred netip.Addr
	var aliases []string
	if cfg != nil {
		if cfg.IPAMConfig != nil && cfg.IPAMConfig.IPv4Address.IsValid() {
			if n.Name == Bridge {
				return Endpoint{}, errdefs.ErrInvalidArgument.WithMessage("user specified IP address is supported on user defined networks only")
			}
			preferred = cfg.IPAMConfig.IPv4Address
		}
		aliases = cfg.Aliases
	}
	if len(aliases) > 0 && n.Name == Bridge {
		return Endpoint{}, errdefs.ErrInvalidArgument.WithMessage("network-scoped alias is supported only for containers in user defined networks")
	}
	addr, err := n.Pool.Allocate(preferred)
	if err != nil {
		return Endpoint{}, err
	}
	ep := Endpoint{
		ID: newID(), ContainerID: containerID, Name: name, Addr: netip.PrefixFrom(addr, n.Pool.Subnet().Bits()),
		Gateway: n.Pool.Gateway(), MAC: ipam.MAC(addr).String(), HostVeth: "veth" + newID()[:7], Aliases: aliases,
	}
	gw := ep.Gateway
	if n.Internal || m.hasGateway(containerID) {
		// One default route per container, as docker has: the first network that gives one keeps it.
		gw = netip.Addr{}
	}
	if err := link.AttachVeth(ctx, link.VethConfig{Bridge: n.Bridge, HostName: ep.HostVeth, NetNSPath: nsPath,
		IfName: fmt.Sprintf("eth%d", ifIndex), Addr: ep.Addr, Gateway: gw, MAC: ipam.MAC(addr)}); err != nil {
		n.Pool.Release(addr)
		return Endpoint{}, err
	}
	setHairpin(ep.HostVeth)
	if n.Name != Bridge {
		m.reg.AddEndpoint(n.Name, dns.Endpoint{ContainerID: containerID, Name: name, Aliases: aliases, Addr: addr})
	}
	n.Endpoints[containerID] = &ep
	if err := m.save(n, atomicfile.NoSync()); err != nil {
		slog.WarnContext(ctx, "saving network", "network", n.Name, "error", err)
	}
	return ep, nil
}

// setHairpin lets a container reach its own published ports through the host (the bridge sends its frames
// back out of the port they came in on), as docker does without its userland proxy.
func setHairpin(veth string) {
	os.WriteFile(filepath.Join("/sys/class/net", veth, "brport/hairpin_mode"), []byte("1"), 0o644)
}

// Detach disconnects a container from one network; the namespace and the veth's peer go with the namespace.
func (m *Manager) Detach(ctx context.Context, containerID, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.get(ref)
	if err != nil {
		return err
	}
	return m.detach(ctx, n, containerID)
}

func (m *Manager) detach(ctx context.Context, n *Network, containerID string) error {
	ep, ok := n.Endpoints[containerID]
	if !ok {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("container %s is not connected to network %s", containerID[:min(12, len(containerID))], n.Name))
	}
	if err := link.DetachVeth(ctx, ep.HostVeth); err != nil {
		slog.WarnContext(ctx, "removing veth", "veth", ep.HostVeth, "error", err)
	}
	return m.forget(n, containerID, ep)
}

// forget releases an endpoint whose veth is gone: its address, its names and its record. The caller holds m.mu.
func (m *Manager) forget(n *Network, containerID string, ep *Endpoint) error {
	n.Pool.Release(ep.Addr.Addr())
	m.reg.RemoveEndpoint(n.Name, containerID)
	delete(n.Endpoints, containerID)
	return m.save(n, atomicfile.NoSync())
}

// hasGateway reports whether the container already has an endpoint that gave it a default route; the caller
// holds m.mu.
func (m *Manager) hasGateway(containerID string) bool {
	for _, n := range m.nets {
		if _, ok := n.Endpoints[containerID]; ok && !n.Internal {
			return true
		}
	}
	return false
}

// DetachAll disconnects a container from every network and stops its DNS server. The veths are deleted
// without holding the manager's lock: each deletion waits for the kernel (an RCU grace period), and
// containers stopping together (compose down) then overlap those waits instead of queueing on the lock.
// The endpoints stay recorded until their veths are gone, so a network cannot be removed under them.
func (m *Manager) DetachAll(ctx context.Context, containerID string) {
	m.StopDNS(containerID)
	m.mu.Lock()
	var veths []string
	for _, n := range m.nets {
		if ep, ok := n.Endpoints[containerID]; ok {
			veths = append(veths, ep.HostVeth)
		}
	}
	m.mu.Unlock()
	for _, v := range veths {
		if err := link.DetachVeth(ctx, v); err != nil {
			slog.WarnContext(ctx, "removing veth", "veth", v, "error", err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.nets {
		if ep, ok := n.Endpoints[containerID]; ok {
			if err := m.forget(n, containerID, ep); err != nil {
				slog.WarnContext(ctx, "saving network", "network", n.Name, "error", err)
			}
		}
	}
}

// Endpoints returns the container's endpoints by network name.
func (m *Manager) Endpoints(containerID string) map[string]Endpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Endpoint{}
	for _, n := range m.nets {
		if ep, ok := n.Endpoints[containerID]; ok {
			out[n.Name] = *ep
		}
	}
	return out
}

// userNetworks lists the user-defined networks the container is on (the ones with embedded DNS).
func (m *Manager) userNetworks(containerID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, n := range m.sorted() {
		if _, ok := n.Endpoints[containerID]; ok && n.Name != Bridge {
			out = append(out, n.Name)
		}
	}
	return out
}

// ServeDNS starts the embedded DNS server in the container's namespace if it is on a user-defined network.
// upstream are the host's resolvers; internal-only containers get none.
func (m *Manager) ServeDNS(ctx context.Context, containerID, nsPath string, upstream []string) error {
	if len(m.userNetworks(containerID)) == 0 {
		return nil
	}
	stop, err := dns.Serve(ctx, nsPath, func() []string { return m.userNetworks(containerID) }, m.reg, upstream)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if old := m.servers[containerID]; old != nil {
		old()
	}
	m.servers[containerID] = stop
	m.mu.Unlock()
	return nil
}

// StopDNS stops the container's DNS server, if any.
func (m *Manager) StopDNS(containerID string) {
	m.mu.Lock()
	stop := m.servers[containerID]
	delete(m.servers, containerID)
	m.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Rename updates the container's names in the embedded DNS.
func (m *Manager) Rename(containerID, newName string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.nets {
		ep, ok := n.Endpoints[containerID]
		if !ok {
			continue
		}
		ep.Name = newName
		if n.Name != Bridge {
			m.reg.AddEndpoint(n.Name, dns.Endpoint{ContainerID: containerID, Name: newName, Aliases: ep.Aliases, Addr: ep.Addr.Addr()})
		}
		m.save(n, atomicfile.NoSync())
	}
}

// Restore re-registers a running container's names (the registry lives in memory) after a daemon restart.
func (m *Manager) Restore(containerID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.nets {
		if ep, ok := n.Endpoints[containerID]; ok && n.Name != Bridge {
			m.reg.AddEndpoint(n.Name, dns.Endpoint{ContainerID: containerID, Name: ep.Name, Aliases: ep.Aliases, Addr: ep.Addr.Addr()})
		}
	}
}

// IsUserDefined reports whether ref names a user-defined network (one with embedded DNS).
func (m *Manager) IsUserDefined(ref string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.get(ref)
	return err == nil && n.Driver == "bridge" && n.Name != Bridge
}

// AddPort publishes a container port through the firewall.
func (m *Manager) AddPort(ctx context.Context, p firewall.Port) error { return m.fw.AddPort(ctx, p) }

// RemovePort withdraws a published port.
func (m *Manager) RemovePort(ctx context.Context, p firewall.Port) error {
	return m.fw.RemovePort(ctx, p)
}

// SandboxPath is where the container's network namespace is bind-mounted.
func (m *Manager) SandboxPath(containerID string) string { return m.nsPath(containerID) }

package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/network/dns"
	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/ipam"
	"github.com/berth/berth/internal/network/link"
)

// Config configures a Manager.
type Config struct {
	Root          string // <data-root>/network: the records, and the local IPAM's state
	ExecRoot      string // network namespaces live in <exec-root>/netns
	DefaultBridge string // Linux bridge of the predefined "bridge" network; "" or "none" disables it
}

// Option configures a Manager.
type Option func(*Manager)

// WithDriver registers a driver under name (what `network create -d` names). host and null are built in.
func WithDriver(name string, d Driver) Option { return func(m *Manager) { m.drivers[name] = d } }

// WithIPAM sets the IPAM of local networks, which the Manager reconciles with its records at start (it must be
// this Manager's alone); by default an ipam.Allocator over <root>/ipam/local.json (pools written, addresses
// restored from the records) with docker's default pools.
func WithIPAM(a ipam.IPAM) Option { return func(m *Manager) { m.ipam = a } }

// WithDefaultPools sets the subnets the default IPAM gives networks without --subnet (daemon.json's
// default-address-pools, split by ipam.SplitPools).
func WithDefaultPools(subnets []netip.Prefix) Option {
	return func(m *Manager) { m.defaultPools = subnets }
}

// WithHostPrefixes replaces how the Manager learns the host's routes, which a subnet chosen from the default
// pools must not overlap (ipam.HostPrefixes by default).
func WithHostPrefixes(f func() ([]netip.Prefix, error)) Option {
	return func(m *Manager) { m.hostPrefixes = f }
}

// Manager owns the networks of one daemon. Safe for concurrent use.
type Manager struct {
	cfg          Config
	drivers      map[string]Driver
	ipam         ipam.IPAM
	defaultPools []netip.Prefix
	hostPrefixes func() ([]netip.Prefix, error)
	reg          *dns.Registry
	cluster      Cluster // nil: no cluster networks (see cluster.go)
	gwBridge     string  // the Linux bridge of docker_gwbridge; "": none (gateway.go)

	// dnsMu orders ServeDNS and StopDNS (taken before mu).
	dnsMu   sync.Mutex
	mu      sync.Mutex
	nets    map[string]*record // by ID
	servers map[string]func()  // DNS servers by container ID
	// views are the cluster's views of its networks, by ID; remote the remote endpoints whose names are
	// registered, by network ID (cluster.go).
	views  map[string]ClusterView
	remote map[string][]dns.Endpoint
	// balance programs the service VIPs of a container's namespace; vipsApplied what each says (services.go).
	balance     VIPBalancer
	vipsApplied map[string][]firewall.VIP
	vipsSynced  bool // the cluster's first view since the start was written to every container
}

// New loads the networks under cfg.Root, reconciles the IPAM with their endpoints, makes sure the predefined
// networks exist, and has each network's driver bring it up (again).
func New(ctx context.Context, cfg Config, opts ...Option) (*Manager, error) {
	if err := os.MkdirAll(cfg.Root, 0o700); err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:          cfg,
		drivers:      map[string]Driver{DriverHost: HostDriver(), DriverNull: NullDriver()},
		hostPrefixes: ipam.HostPrefixes,
		reg:          dns.NewRegistry(),
		nets:         map[string]*record{},
		servers:      map[string]func(){},
		balance:      firewall.SyncVIPs,
	}
	for _, o := range opts {
		o(m)
	}
	if m.ipam == nil {
		// The records hold every endpoint's address and reconcileIPAM hands them back: the IPAM's file need not
		// be rewritten at each container start and stop.
		store, err := ipam.OpenLocal(filepath.Join(cfg.Root, "ipam", "local.json"), ipam.AddressesInMemory())
		if err != nil {
			return nil, fmt.Errorf("local IPAM: %w", err)
		}
		var aopts []ipam.AllocatorOption
		if m.defaultPools != nil {
			aopts = append(aopts, ipam.WithDefaultPools(m.defaultPools))
		}
		m.ipam = ipam.NewAllocator(store, aopts...)
	}
	if err := m.load(ctx); err != nil {
		return nil, err
	}
	if err := m.reconcileIPAM(ctx); err != nil {
		return nil, fmt.Errorf("local IPAM: %w", err)
	}
	for _, p := range []struct{ name, driver string }{{Host, DriverHost}, {None, DriverNull}} {
		if m.byName(p.name) == nil {
			if err := m.add(&record{ID: newID(), Name: p.name, Driver: p.driver, Created: time.Now().UTC()}); err != nil {
				return nil, err
			}
		}
	}
	// Bring every network's kernel side back (after a reboot, or if something removed it).
	for _, r := range m.sorted() {
		d, ok := m.drivers[r.Driver]
		if !ok {
			slog.WarnContext(ctx, "network driver not found: the network stays down", "network", r.Name, "driver", r.Driver)
			continue
		}
		if err := d.CreateNetwork(ctx, r.info()); err != nil {
			return nil, fmt.Errorf("network %s: %w", r.Name, err)
		}
	}
	if cfg.DefaultBridge != "none" && cfg.DefaultBridge != "" && m.byName(Bridge) == nil {
		if _, err := m.create(ctx, CreateOptions{Name: Bridge, Driver: DriverBridge, Options: map[string]string{BridgeNameOption: cfg.DefaultBridge}}); err != nil {
			return nil, fmt.Errorf("default bridge network: %w", err)
		}
	}
	return m, nil
}

// load reads the records under the root; a record that cannot be read back is skipped with a warning.
func (m *Manager) load(ctx context.Context) error {
	entries, err := os.ReadDir(m.cfg.Root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(m.cfg.Root, e.Name()))
		if err != nil {
			return err
		}
		r, err := decodeRecord(b)
		if err != nil {
			slog.WarnContext(ctx, "skipping a corrupt network record", "file", e.Name(), "error", err)
			continue
		}
		m.nets[r.ID] = r
	}
	return nil
}

// reconcileIPAM makes the IPAM hold exactly the pools of the local networks and the addresses of their
// endpoints. Networks recorded before the IPAM kept its own state get their pools here; after a crash, a pool
// or address whose network or endpoint was never recorded is released, and one recorded is taken again.
func (m *Manager) reconcileIPAM(ctx context.Context) error {
	pools, err := m.ipam.ListPools(ctx)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, p := range pools {
		have[p.ID] = true
	}
	used := map[string]bool{}
	for _, r := range m.sorted() {
		if r.IPAM == nil || !r.IPAM.Subnet.IsValid() || m.global(r) {
			continue // a cluster network's addresses are the cluster's
		}
		if r.IPAM.PoolID == "" || !have[r.IPAM.PoolID] {
			p, err := m.ipam.RequestPool(ctx, ipam.PoolRequest{Subnet: r.IPAM.Subnet, IPRange: r.IPAM.IPRange, Gateway: r.IPAM.Gateway})
			if err != nil {
				return fmt.Errorf("network %s: %w", r.Name, err)
			}
			r.IPAM.PoolID = p.ID
			if err := m.save(r); err != nil {
				return err
			}
		}
		used[r.IPAM.PoolID] = true
		allocated, err := m.ipam.Allocated(ctx, r.IPAM.PoolID)
		if err != nil {
			return fmt.Errorf("network %s: %w", r.Name, err)
		}
		want := map[netip.Addr]bool{}
		for _, ep := range r.Endpoints {
			want[ep.Addr.Addr()] = true
			if !slices.Contains(allocated, ep.Addr.Addr()) {
				if _, err := m.ipam.RequestAddress(ctx, r.IPAM.PoolID, ep.Addr.Addr()); err != nil {
					return fmt.Errorf("network %s: endpoint of %s: %w", r.Name, ep.ContainerID, err)
				}
			}
		}
		for _, a := range allocated {
			if !want[a] {
				if err := m.ipam.ReleaseAddress(ctx, r.IPAM.PoolID, a); err != nil {
					return err
				}
			}
		}
	}
	for _, p := range pools {
		if !used[p.ID] {
			slog.InfoContext(ctx, "releasing an address pool no network uses", "pool", p.ID)
			if err := m.ipam.ReleasePool(ctx, p.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// save records r. Creating a network is durable; opts are atomicfile.NoSync for the endpoint changes of every
// container start and stop, which a host crash makes stale anyway.
func (m *Manager) save(r *record, opts ...atomicfile.Option) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(m.cfg.Root, r.ID+".json"), b, 0o600, opts...)
}

func (m *Manager) add(r *record) error {
	if r.Endpoints == nil {
		r.Endpoints = map[string]*endpointRecord{}
	}
	if err := m.save(r); err != nil {
		return err
	}
	m.nets[r.ID] = r
	return nil
}

func (m *Manager) byName(name string) *record {
	for _, r := range m.nets {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// get finds a network by name, full ID or unique ID prefix; the caller holds m.mu.
func (m *Manager) get(ref string) (*record, error) {
	if r := m.byName(ref); r != nil {
		return r, nil
	}
	if r, ok := m.nets[ref]; ok {
		return r, nil
	}
	var found *record
	for id, r := range m.nets {
		if strings.HasPrefix(id, ref) && ref != "" {
			if found != nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("network %s is ambiguous (%d matches found on name)", ref, 2))
			}
			found = r
		}
	}
	if found == nil {
		return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", ref))
	}
	return found, nil
}

// describe is the Network of r; the caller holds m.mu.
func (m *Manager) describe(r *record) Network {
	d, ok := m.drivers[r.Driver]
	var c Capability
	if ok {
		c = d.Capability()
	}
	n := r.network(c, ok)
	if c.Scope == ScopeGlobal {
		n.Peers = slices.Clone(m.views[r.ID].Peers)
	}
	return n
}

// Get returns a network by name, ID or unique ID prefix.
func (m *Manager) Get(ref string) (Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.get(ref)
	if errdefs.IsNotFound(err) && m.cluster != nil {
		ctx, cancel := clusterContext()
		defer cancel()
		return m.lookupCluster(ctx, ref)
	}
	if err != nil {
		return Network{}, err
	}
	return m.describe(r), nil
}

// List returns every network matching docker's filters (dangling, driver, id, label, name, scope, type),
// ordered by name.
func (m *Manager) List(f filters.Args) ([]Network, error) {
	nf, err := newListFilter(f)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Network
	for _, r := range m.sorted() {
		n := m.describe(r)
		if nf.matches(n) {
			out = append(out, n)
		}
	}
	return m.clusterList(nf, out), nil
}

func (m *Manager) sorted() []*record {
	out := slices.Collect(maps.Values(m.nets))
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// driver returns the named driver, or docker's error for one that is not there.
func (m *Manager) driver(name string) (Driver, error) {
	d, ok := m.drivers[name]
	if !ok {
		return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("plugin %q not found", name))
	}
	return d, nil
}

// Create makes a user-defined network (docker network create).
func (m *Manager) Create(ctx context.Context, opts CreateOptions) (Network, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if predefined(opts.Name) {
		return Network{}, errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("%s is a pre-defined network and cannot be created", opts.Name))
	}
	if d, ok := m.drivers[opts.Driver]; ok && d.Capability().Scope == ScopeGlobal {
		return m.createCluster(ctx, opts)
	}
	r, err := m.create(ctx, opts)
	if err != nil {
		return Network{}, err
	}
	return m.describe(r), nil
}

// create checks opts, takes a pool from the IPAM, has the driver create the network and records it; on
// failure nothing is left of it. The caller holds m.mu.
func (m *Manager) create(ctx context.Context, opts CreateOptions) (*record, error) {
	if opts.Name == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage("network name must not be empty")
	}
	if m.byName(opts.Name) != nil {
		return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf("network with name %s already exists", opts.Name))
	}
	if opts.Driver == "" {
		opts.Driver = DriverBridge
	}
	d, err := m.driver(opts.Driver)
	if err != nil {
		return nil, err
	}
	c := d.Capability()
	if c.Singleton {
		return nil, errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("only one instance of %q network is allowed", opts.Driver))
	}
	if opts.Ingress {
		return nil, errdefs.ErrPermissionDenied.WithMessage("Ingress network can only be global scope network")
	}
	if c.Scope == ScopeGlobal {
		// Cluster networks come from the cluster's managers, not from one node.
		return nil, errdefs.ErrUnavailable.WithMessage(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)
	}
	if opts.EnableIPv6 {
		return nil, errdefs.ErrNotImplemented.WithMessage("IPv6 networks are not supported")
	}
	ipamDriver := opts.IPAM.Driver
	if ipamDriver == "" {
		ipamDriver = "default"
	}
	if ipamDriver != "default" {
		return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("plugin %q not found", ipamDriver))
	}
	req := ipam.PoolRequest{}
	for _, cfg := range opts.IPAM.Config {
		if cfg.Subnet.IsValid() {
			req.Subnet, req.IPRange, req.Gateway = cfg.Subnet, cfg.IPRange, cfg.Gateway
			break
		}
	}
	if !req.Subnet.IsValid() {
		if host, err := m.hostPrefixes(); err == nil {
			req.Avoid = host
		}
	}
	pool, err := m.ipam.RequestPool(ctx, req)
	if err != nil {
		return nil, err
	}
	r := &record{
		ID: newID(), Name: opts.Name, Driver: opts.Driver, Created: time.Now().UTC(), Internal: opts.Internal,
		Attachable: opts.Attachable, Labels: maps.Clone(opts.Labels), Options: maps.Clone(opts.Options),
		IPAM: &recordIPAM{Driver: ipamDriver, Options: maps.Clone(opts.IPAM.Options), PoolID: pool.ID,
			Subnet: pool.Subnet, IPRange: pool.IPRange, Gateway: pool.Gateway},
	}
	undo := context.WithoutCancel(ctx)
	if err := d.CreateNetwork(ctx, r.info()); err != nil {
		m.releasePool(undo, r)
		return nil, err
	}
	if err := m.add(r); err != nil {
		d.DeleteNetwork(undo, r.info())
		m.releasePool(undo, r)
		return nil, err
	}
	return r, nil
}

func (m *Manager) releasePool(ctx context.Context, r *record) {
	if r.IPAM == nil || r.IPAM.PoolID == "" {
		return
	}
	if err := m.ipam.ReleasePool(ctx, r.IPAM.PoolID); err != nil && !errdefs.IsNotFound(err) {
		slog.WarnContext(ctx, "releasing an address pool", "network", r.Name, "pool", r.IPAM.PoolID, "error", err)
	}
}

// Remove deletes a user-defined network without endpoints: its kernel side, its pool and its record.
func (m *Manager) Remove(ctx context.Context, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.get(ref)
	if errdefs.IsNotFound(err) && m.cluster != nil {
		return m.cluster.RemoveNetwork(ctx, ref)
	}
	if err != nil {
		return err
	}
	if m.global(r) && m.cluster != nil {
		return m.cluster.RemoveNetwork(ctx, r.ID)
	}
	return m.remove(ctx, r)
}

func (m *Manager) remove(ctx context.Context, r *record) error {
	if predefined(r.Name) {
		return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("%s is a pre-defined network and cannot be removed", r.Name))
	}
	if len(r.Endpoints) > 0 {
		var names []string
		for _, ep := range r.Endpoints {
			names = append(names, fmt.Sprintf("name:%q id:%q", ep.Name, ep.ContainerID[:min(12, len(ep.ContainerID))]))
		}
		sort.Strings(names)
		return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("error while removing network: network %s has active endpoints (%s)", r.Name, strings.Join(names, ", ")))
	}
	if d, ok := m.drivers[r.Driver]; ok {
		if err := d.DeleteNetwork(ctx, r.info()); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(m.cfg.Root, r.ID+".json")); err != nil && !os.IsNotExist(err) {
		return err
	}
	delete(m.nets, r.ID)
	m.releasePool(ctx, r)
	return nil
}

// Prune removes every user-defined network without endpoints that matches docker's prune filters (label,
// label!, until), and returns their names.
func (m *Manager) Prune(ctx context.Context, f filters.Args) ([]string, error) {
	nf, err := newPruneFilter(f, time.Now())
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var removed []string
	for _, r := range m.sorted() {
		if m.global(r) || r.Made || !nf.matches(m.describe(r)) {
			continue // (docker_gwbridge is the Manager's: as dockerd's, never pruned in a swarm)
		}
		if err := m.remove(ctx, r); err == nil {
			removed = append(removed, r.Name)
		}
	}
	return removed, nil
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

// SandboxPath is where the container's network namespace is bind-mounted.
func (m *Manager) SandboxPath(containerID string) string { return m.nsPath(containerID) }

// userDefined reports whether r gets the embedded DNS: a network with endpoints, other than the default bridge
// (docker0 has none either).
func (m *Manager) userDefined(r *record) bool {
	_, ok := m.drivers[r.Driver].(EndpointDriver)
	return ok && r.Name != Bridge && r.Name != GatewayNetwork
}

// Attach connects a container's sandbox to a network: an address from the IPAM, the driver's interface in the
// namespace, and the container's names in the embedded DNS.
func (m *Manager) Attach(ctx context.Context, sb Sandbox, ref string, opts EndpointOptions) (Endpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.get(ref)
	if errdefs.IsNotFound(err) && m.cluster != nil {
		n, cerr := m.cluster.Network(ctx, ref)
		if cerr != nil {
			return Endpoint{}, cerr
		}
		return m.attachCluster(ctx, sb, n, opts)
	}
	if err != nil {
		return Endpoint{}, err
	}
	if m.global(r) && m.cluster != nil {
		return m.attachCluster(ctx, sb, m.describe(r), opts)
	}
	return m.attachLocal(ctx, sb, r, opts)
}

// attachLocal joins a sandbox to a local network; the caller holds m.mu.
func (m *Manager) attachLocal(ctx context.Context, sb Sandbox, r *record, opts EndpointOptions) (Endpoint, error) {
	d, err := m.driver(r.Driver)
	if err != nil {
		return Endpoint{}, err
	}
	ed, ok := d.(EndpointDriver)
	if !ok || r.IPAM == nil || r.IPAM.PoolID == "" {
		return Endpoint{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("container cannot be connected to network %s", r.Name))
	}
	if _, ok := r.Endpoints[sb.ContainerID]; ok {
		return Endpoint{}, errdefs.ErrConflict.WithMessage(fmt.Sprintf("endpoint with name %s already exists in network %s", sb.Name, r.Name))
	}
	if r.Name == Bridge && opts.IPv4Address.IsValid() {
		return Endpoint{}, errdefs.ErrInvalidArgument.WithMessage("user specified IP address is supported on user defined networks only")
	}
	if r.Name == Bridge && len(opts.Aliases) > 0 {
		return Endpoint{}, errdefs.ErrInvalidArgument.WithMessage("network-scoped alias is supported only for containers in user defined networks")
	}
	gateway := !r.Internal && r.Name != GatewayNetwork && m.hasGatewayEndpoint(sb.ContainerID)
	if gateway {
		// This network gives the default route: the docker_gwbridge endpoint gives it up first, as libnetwork's.
		if err := m.leaveGateway(ctx, sb.ContainerID); err != nil {
			return Endpoint{}, err
		}
	}
	undoGateway := func() {
		if gateway {
			if err := m.syncGateway(context.WithoutCancel(ctx), sb.ContainerID, sb.NetNSPath); err != nil {
				slog.WarnContext(ctx, "docker_gwbridge endpoint", "container", sb.ContainerID, "error", err)
			}
		}
	}
	addr, err := m.ipam.RequestAddress(ctx, r.IPAM.PoolID, opts.IPv4Address)
	if err != nil {
		undoGateway()
		return Endpoint{}, err
	}
	mac := opts.MacAddress
	if len(mac) == 0 {
		mac = ipam.MAC(addr)
	}
	ep := &endpointRecord{
		ID: newID(), ContainerID: sb.ContainerID, Name: sb.Name, Addr: netip.PrefixFrom(addr, r.IPAM.Subnet.Bits()),
		Gateway: r.IPAM.Gateway, MAC: mac.String(), HostVeth: "veth" + newID()[:7], IfName: m.nextIfName(sb.ContainerID),
		Aliases: slices.Clone(opts.Aliases),
	}
	// One default route per container, as docker has: the first network with a way out gives it.
	defaultRoute := !r.Internal && !m.hasGateway(sb.ContainerID)
	if err := ed.Join(ctx, r.info(), ep.info(defaultRoute), sb); err != nil {
		m.releaseAddr(context.WithoutCancel(ctx), r, addr)
		undoGateway()
		return Endpoint{}, err
	}
	if m.userDefined(r) {
		m.reg.AddEndpoint(r.Name, dns.Endpoint{ContainerID: sb.ContainerID, Name: sb.Name, Aliases: ep.Aliases, Addr: addr})
	}
	r.Endpoints[sb.ContainerID] = ep
	if err := m.save(r, atomicfile.NoSync()); err != nil {
		slog.WarnContext(ctx, "saving network", "network", r.Name, "error", err)
	}
	return ep.endpoint(), nil
}

// nextIfName names a container's next interface: the lowest ethN its endpoints do not use. Endpoints recorded
// before interface names were count as taking the lowest ones. The caller holds m.mu.
func (m *Manager) nextIfName(containerID string) string {
	used := map[string]bool{}
	unnamed := 0
	for _, r := range m.nets {
		if ep, ok := r.Endpoints[containerID]; ok {
			if ep.IfName == "" {
				unnamed++
			}
			used[ep.IfName] = true
		}
	}
	for i := unnamed; ; i++ {
		if name := fmt.Sprintf("eth%d", i); !used[name] {
			return name
		}
	}
}

func (m *Manager) releaseAddr(ctx context.Context, r *record, addr netip.Addr) {
	if err := m.ipam.ReleaseAddress(ctx, r.IPAM.PoolID, addr); err != nil {
		slog.WarnContext(ctx, "releasing an address", "network", r.Name, "addr", addr, "error", err)
	}
}

// hasGateway reports whether the container already has an endpoint that gave it a default route (one on a local
// network that is not internal: cluster networks give none); the caller holds m.mu.
func (m *Manager) hasGateway(containerID string) bool {
	for _, r := range m.nets {
		if _, ok := r.Endpoints[containerID]; ok && !r.Internal && !m.global(r) {
			return true
		}
	}
	return false
}

// Detach disconnects a container from one network.
func (m *Manager) Detach(ctx context.Context, containerID, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.get(ref)
	if err != nil {
		return err
	}
	ep, ok := r.Endpoints[containerID]
	if !ok {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("container %s is not connected to network %s", containerID[:min(12, len(containerID))], r.Name))
	}
	if ed, ok := m.drivers[r.Driver].(EndpointDriver); ok {
		if err := ed.Leave(ctx, r.info(), ep.info(false)); err != nil {
			slog.WarnContext(ctx, "leaving a network", "network", r.Name, "container", containerID, "error", err)
		}
	}
	if err := m.forget(ctx, r, ep); err != nil {
		return err
	}
	if r.Name != GatewayNetwork {
		// Leaving a network may leave the container needing docker_gwbridge, or no longer needing it.
		if err := m.syncGateway(ctx, containerID, m.nsPath(containerID)); err != nil {
			slog.WarnContext(ctx, "docker_gwbridge endpoint", "container", containerID, "error", err)
		}
	}
	return nil
}

// forget releases an endpoint whose interface is gone: its address, its names and its record. The caller holds
// m.mu.
func (m *Manager) forget(ctx context.Context, r *record, ep *endpointRecord) error {
	if m.global(r) {
		m.forgetCluster(ctx, r, ep)
		return nil
	}
	m.releaseAddr(ctx, r, ep.Addr.Addr())
	m.reg.RemoveEndpoint(r.Name, ep.ContainerID)
	delete(r.Endpoints, ep.ContainerID)
	return m.save(r, atomicfile.NoSync())
}

// DetachAll disconnects a container from every network and stops its DNS server. The drivers' Leave runs
// without the manager's lock: deleting an interface waits for the kernel (an RCU grace period), and containers
// stopping together (compose down) then overlap those waits instead of queueing on the lock. The endpoints stay
// recorded until they are gone, so a network cannot be removed under them.
func (m *Manager) DetachAll(ctx context.Context, containerID string) {
	m.StopDNS(containerID)
	type leaving struct {
		d   EndpointDriver
		n   NetworkInfo
		ep  EndpointInfo
		net string
	}
	var leaves []leaving
	m.mu.Lock()
	for _, r := range m.nets {
		if ep, ok := r.Endpoints[containerID]; ok {
			if ed, ok := m.drivers[r.Driver].(EndpointDriver); ok {
				leaves = append(leaves, leaving{ed, r.info(), ep.info(false), r.Name})
			}
		}
	}
	m.mu.Unlock()
	left := map[string]bool{}
	for _, l := range leaves {
		if err := l.d.Leave(ctx, l.n, l.ep); err != nil {
			slog.WarnContext(ctx, "leaving a network", "network", l.net, "container", containerID, "error", err)
		}
		left[l.ep.ID] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.nets {
		if ep, ok := r.Endpoints[containerID]; ok && (left[ep.ID] || m.drivers[r.Driver] == nil) {
			if err := m.forget(ctx, r, ep); err != nil {
				slog.WarnContext(ctx, "saving network", "network", r.Name, "error", err)
			}
		}
	}
}

// Endpoints returns the container's endpoints by network name.
func (m *Manager) Endpoints(containerID string) map[string]Endpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Endpoint{}
	for _, r := range m.nets {
		if ep, ok := r.Endpoints[containerID]; ok {
			out[r.Name] = ep.endpoint()
		}
	}
	return out
}

// PublishPort forwards a host port to the container's endpoint on network ref, through the network's driver.
func (m *Manager) PublishPort(ctx context.Context, containerID, ref string, p Port) error {
	pd, n, ep, err := m.portTarget(containerID, ref)
	if err != nil {
		return err
	}
	return pd.PublishPort(ctx, n, ep, p)
}

// PublishedPorts are the ports published to the container's endpoint on network ref, as the kernel holds them.
func (m *Manager) PublishedPorts(ctx context.Context, containerID, ref string) ([]Port, error) {
	pd, n, ep, err := m.portTarget(containerID, ref)
	if err != nil {
		return nil, err
	}
	pl, ok := pd.(PortLister)
	if !ok {
		return nil, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("network %s cannot list its published ports", n.Name))
	}
	return pl.PublishedPorts(ctx, n, ep)
}

// UnpublishPort withdraws a port published with PublishPort.
func (m *Manager) UnpublishPort(ctx context.Context, containerID, ref string, p Port) error {
	pd, n, ep, err := m.portTarget(containerID, ref)
	if err != nil {
		return err
	}
	return pd.UnpublishPort(ctx, n, ep, p)
}

func (m *Manager) portTarget(containerID, ref string) (PortDriver, NetworkInfo, EndpointInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.get(ref)
	if err != nil {
		return nil, NetworkInfo{}, EndpointInfo{}, err
	}
	ep, ok := r.Endpoints[containerID]
	if !ok {
		return nil, NetworkInfo{}, EndpointInfo{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("container %s is not connected to network %s", containerID[:min(12, len(containerID))], r.Name))
	}
	pd, ok := m.drivers[r.Driver].(PortDriver)
	if !ok {
		return nil, NetworkInfo{}, EndpointInfo{}, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("network %s (driver %s) cannot publish ports", r.Name, r.Driver))
	}
	return pd, r.info(), ep.info(false), nil
}

// userNetworks lists the user-defined networks the container is on (the ones with embedded DNS).
func (m *Manager) userNetworks(containerID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.sorted() {
		if _, ok := r.Endpoints[containerID]; ok && m.userDefined(r) {
			out = append(out, r.Name)
		}
	}
	return out
}

// ServeDNS starts the embedded DNS server in the container's namespace if it is on a user-defined network and
// has none yet (one that runs already answers for every network the container joins: it asks on each query).
// upstream are the host's resolvers; internal-only containers get none.
func (m *Manager) ServeDNS(ctx context.Context, containerID, nsPath string, upstream []string) error {
	// One start at a time: a second server in the namespace would take port 53's redirect over, and the first
	// one's stop then leave the container without DNS.
	m.dnsMu.Lock()
	defer m.dnsMu.Unlock()
	m.mu.Lock()
	running := m.servers[containerID] != nil
	m.mu.Unlock()
	if running || len(m.userNetworks(containerID)) == 0 {
		return nil
	}
	stop, err := dns.Serve(ctx, nsPath, func() []string { return m.userNetworks(containerID) }, m.reg, upstream)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.servers[containerID] = stop
	m.mu.Unlock()
	return nil
}

// StopDNS stops the container's DNS server, if any.
func (m *Manager) StopDNS(containerID string) {
	m.dnsMu.Lock()
	m.mu.Lock()
	stop := m.servers[containerID]
	delete(m.servers, containerID)
	m.mu.Unlock()
	m.dnsMu.Unlock()
	if stop != nil {
		stop()
	}
}

// Rename updates the container's names in the embedded DNS.
func (m *Manager) Rename(containerID, newName string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.nets {
		ep, ok := r.Endpoints[containerID]
		if !ok {
			continue
		}
		ep.Name = newName
		if m.userDefined(r) {
			m.reg.AddEndpoint(r.Name, dns.Endpoint{ContainerID: containerID, Name: newName, Aliases: ep.Aliases, Addr: ep.Addr.Addr()})
		}
		m.save(r, atomicfile.NoSync())
	}
}

// Restore re-registers a running container's names (the registry lives in memory) after a daemon restart.
func (m *Manager) Restore(containerID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.nets {
		if ep, ok := r.Endpoints[containerID]; ok && m.userDefined(r) {
			m.reg.AddEndpoint(r.Name, dns.Endpoint{ContainerID: containerID, Name: ep.Name, Aliases: ep.Aliases, Addr: ep.Addr.Addr()})
		}
	}
}

// IsUserDefined reports whether ref names a user-defined network (one with embedded DNS).
func (m *Manager) IsUserDefined(ref string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.get(ref)
	return err == nil && m.userDefined(r)
}

// predefined reports whether name is one of the networks every daemon has.
func predefined(name string) bool { return name == Bridge || name == Host || name == None }

// Close releases what the manager holds on the host that nothing needs once the daemon stops: the bind mount of
// <exec-root>/netns when no container's namespace is left in it.
func (m *Manager) Close() error {
	return link.ReleaseNetNSDir(filepath.Join(m.cfg.ExecRoot, "netns"))
}

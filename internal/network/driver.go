package network

import (
	"context"
	"net"
	"net/netip"
)

// Driver makes a network real on this node. The Manager calls it; nothing else does.
//
// Lifecycle. CreateNetwork runs when a network is created, and again for every network each time the daemon
// starts (after a reboot the kernel objects are gone; after a daemon restart they are still there): it must be
// idempotent, and it must check its options, so that a bad -o fails `network create` and leaves nothing behind.
// DeleteNetwork runs when the network is removed, once no endpoint is left. Between the two, containers join
// and leave through the optional roles below:
//
//	d.CreateNetwork(ctx, n)                    // network create, and at every daemon start
//	d.(EndpointDriver).Join(ctx, n, ep, sb)    // a container starts or is connected
//	d.(PortDriver).PublishPort(ctx, n, ep, p)  // -p, once joined
//	d.(PortDriver).UnpublishPort(ctx, n, ep, p)
//	d.(EndpointDriver).Leave(ctx, n, ep)       // it stops or is disconnected
//	d.DeleteNetwork(ctx, n)                    // network rm
//
// A driver whose Capability says ScopeGlobal makes networks that span a cluster (overlay): the same network,
// subnet and addresses on every node, which the cluster hands to each node's Manager; such a driver declares
// what it needs of the cluster (its peers) as an interface of its own, which the daemon wires.
type Driver interface {
	Capability() Capability
	CreateNetwork(ctx context.Context, n NetworkInfo) error
	DeleteNetwork(ctx context.Context, n NetworkInfo) error
}

// EndpointDriver is a driver whose networks containers join with an endpoint of their own: an interface in the
// container's namespace, with the endpoint's address, and the routes through the network. Host and null are
// not: their containers run in the host's namespace or in one with only loopback.
type EndpointDriver interface {
	Driver
	// Join creates the endpoint's interface in sb's namespace as ep.IfName, with ep.Addr and ep.MAC, a default
	// route via ep.Gateway when ep.DefaultRoute, and whatever the host side needs. On failure nothing is left.
	Join(ctx context.Context, n NetworkInfo, ep EndpointInfo, sb Sandbox) error
	// Leave removes what Join made; the interface inside the namespace goes with it (or with the namespace).
	// Leaving an endpoint that is already gone is not an error.
	Leave(ctx context.Context, n NetworkInfo, ep EndpointInfo) error
}

// PortDriver is a driver that publishes container ports on the host (docker's external connectivity).
type PortDriver interface {
	PublishPort(ctx context.Context, n NetworkInfo, ep EndpointInfo, p Port) error
	UnpublishPort(ctx context.Context, n NetworkInfo, ep EndpointInfo, p Port) error
}

// PortLister is a PortDriver that can say which ports are published to an endpoint, as the kernel holds them
// (what a restarted daemon finds).
type PortLister interface {
	PublishedPorts(ctx context.Context, n NetworkInfo, ep EndpointInfo) ([]Port, error)
}

// Scopes of a driver's networks.
const (
	// ScopeLocal networks exist on one node.
	ScopeLocal = "local"
	// ScopeGlobal networks span a cluster; docker shows their scope as "swarm".
	ScopeGlobal = "global"
)

// Capability is what the Manager needs to know of a driver.
type Capability struct {
	// Scope is ScopeLocal or ScopeGlobal.
	Scope string
	// Singleton drivers have exactly one network, predefined (host, null): creating another is refused.
	Singleton bool
}

// NetworkInfo is what a driver is told of a network.
type NetworkInfo struct {
	ID       string
	Name     string
	Internal bool
	// Options are the network's driver options (-o).
	Options map[string]string
	// Subnet and Gateway come from the IPAM; zero for networks without addresses.
	Subnet  netip.Prefix
	Gateway netip.Addr
}

// EndpointInfo is what a driver is told of an endpoint.
type EndpointInfo struct {
	ID          string
	ContainerID string
	Addr        netip.Prefix // with the subnet's length
	Gateway     netip.Addr
	// DefaultRoute says this endpoint gives the container its default route: the first network with a way out
	// does, as in docker; internal networks never do.
	DefaultRoute bool
	MAC          net.HardwareAddr
	IfName       string // inside the container's namespace
	HostIfName   string // the host side, for drivers with one
}

// HostDriver is the driver of the predefined "host" network: its containers use the host's namespace, so there
// is nothing to create.
func HostDriver() Driver { return singleton{} }

// NullDriver is the driver of the predefined "none" network: its containers have a namespace with only loopback.
func NullDriver() Driver { return singleton{} }

type singleton struct{}

func (singleton) Capability() Capability { return Capability{Scope: ScopeLocal, Singleton: true} }

func (singleton) CreateNetwork(context.Context, NetworkInfo) error { return nil }

func (singleton) DeleteNetwork(context.Context, NetworkInfo) error { return nil }

// Package network owns Berth's networks on one node: their records, which driver makes each real, the
// addresses of their endpoints (through an IPAM), the containers' network namespaces and the embedded DNS. Its
// types (Network, Endpoint, CreateOptions, EndpointOptions) are Berth's own: the Docker API server converts them
// to docker's JSON at its edge.
//
// Terms. A driver makes a network real on this node (bridge: a Linux bridge and firewall rules; host and null:
// nothing) and joins containers to it; drivers are registered by name (WithDriver) and `network create -d NAME`
// picks one. A sandbox is a container's network namespace; an endpoint is a container's attachment to one
// network (an interface in the sandbox, an address from the IPAM, names in the embedded DNS).
//
// Lifecycle of a container on a bridge network:
//
//	ns, _ := m.NewSandbox(ctx, id)                       // a namespace bind-mounted under <exec-root>/netns
//	ep, _ := m.Attach(ctx, network.Sandbox{ContainerID: id, Name: "web", NetNSPath: ns}, "mynet", opts)
//	m.PublishPort(ctx, id, "mynet", network.Port{Proto: "tcp", HostPort: 8080, ContainerPort: 80})
//	m.ServeDNS(ctx, id, ns, upstream)                   // 127.0.0.11 inside, for user-defined networks
//	...                                                 // the OCI runtime joins ns
//	m.UnpublishPort(ctx, id, "mynet", port)             // at exit
//	m.DetachAll(ctx, id)                                // interfaces, addresses, names
//	m.DeleteSandbox(ctx, id)
package network

import (
	"net"
	"net/netip"
	"time"
)

// Predefined network names.
const (
	Bridge = "bridge"
	Host   = "host"
	None   = "none"
)

// Names of the built-in drivers. The "none" network's driver is "null", as docker's.
const (
	DriverBridge = "bridge"
	DriverHost   = "host"
	DriverNull   = "null"
)

// BridgeNameOption is docker's option naming a bridge network's Linux bridge.
const BridgeNameOption = "com.docker.network.bridge.name"

// Network describes a network.
type Network struct {
	ID      string
	Name    string
	Driver  string
	Scope   string // "local", or "swarm" for a network that spans a cluster
	Created time.Time
	// Internal networks have no route out; Attachable is docker's flag for cluster networks, recorded as given.
	Internal   bool
	Attachable bool
	// Ingress marks a swarm's ingress network (docker's "Ingress": true).
	Ingress bool
	// EnableIPv4 says the network's endpoints get IPv4 addresses (false for host and none).
	EnableIPv4 bool
	Labels     map[string]string
	// Options are the driver's options (-o), including what the driver chose (a bridge's name).
	Options map[string]string
	IPAM    IPAM
	// Endpoints are the containers on the network, by container ID (for a cluster network, those of this node).
	Endpoints map[string]Endpoint
	// Peers are, for a cluster network present on this node, the nodes with endpoints on it.
	Peers []Peer
}

// IPAM is a network's address management: the IPAM driver ("default"), its options, and the subnets.
type IPAM struct {
	Driver  string
	Options map[string]string
	Config  []IPAMConfig
}

// IPAMConfig is one subnet of a network.
type IPAMConfig struct {
	Subnet  netip.Prefix
	IPRange netip.Prefix // zero when addresses come from the whole subnet
	Gateway netip.Addr
}

// Endpoint is one container's attachment to a network.
type Endpoint struct {
	ID          string
	ContainerID string
	Name        string       // the container's name, without "/"
	Addr        netip.Prefix // the container's address, with the subnet's length
	Gateway     netip.Addr   // the network's gateway
	MAC         net.HardwareAddr
	Aliases     []string
	IfName      string // the interface in the container's namespace ("eth0")
	HostIfName  string // the host side of its link, if any ("veth1a2b3c4")
}

// CreateOptions are a new network's settings (docker network create).
type CreateOptions struct {
	Name string
	// Driver names a registered driver; "" is bridge.
	Driver     string
	Internal   bool
	Attachable bool
	// Ingress asks for the swarm's ingress network (`network create --ingress`): only a cluster driver's.
	Ingress    bool
	EnableIPv6 bool
	Labels     map[string]string
	Options    map[string]string
	// IPAM's Driver is "" or "default"; the first Config entry with a subnet is the network's (--subnet,
	// --ip-range, --gateway), none asks for a subnet from the default pools.
	IPAM IPAM
}

// EndpointOptions are what a container asks of its endpoint on a network (docker's EndpointSettings as given
// to run --network and network connect). The manager uses Aliases, IPv4Address and MacAddress; the rest is
// carried for the containers service, which records them as given.
type EndpointOptions struct {
	Aliases      []string
	IPv4Address  netip.Addr // --ip
	IPv6Address  netip.Addr
	LinkLocalIPs []netip.Addr
	MacAddress   net.HardwareAddr
	Links        []string
	DriverOpts   map[string]string
	GwPriority   int
}

// Sandbox is a container's network namespace, as an endpoint joins it.
type Sandbox struct {
	ContainerID string
	Name        string // the container's name, for the embedded DNS
	NetNSPath   string
}

// Port is a published port: HostIP:HostPort on the host forwarded to ContainerPort of a container's endpoint.
type Port struct {
	Proto         string     // "tcp" or "udp"
	HostIP        netip.Addr // zero: every address of the host
	HostPort      uint16
	ContainerPort uint16
}

package firewall

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// Network is a bridge network whose traffic Berth routes.
type Network struct {
	// Bridge is the name of the Linux bridge; it identifies the network.
	Bridge string
	// Subnet is the network's IPv4 subnet (host bits are ignored).
	Subnet netip.Prefix
	// Internal networks reach only their own bridge: no outbound NAT, no forwarding out, no published ports.
	Internal bool
	// ICC allows traffic between containers of the bridge. Docker's default (enable_icc) is true; the zero value
	// false isolates the containers of the bridge from each other.
	ICC bool
}

// Port is a published port: HostIP:HostPort on the host forwards to ContainerIP:ContainerPort.
type Port struct {
	// Proto is "tcp" or "udp".
	Proto string
	// HostIP restricts the port to one address of the host; the zero value (or 0.0.0.0) means all of them.
	HostIP netip.Addr
	// HostPort is the port on the host. Proto, HostIP and HostPort identify a Port.
	HostPort      uint16
	ContainerIP   netip.Addr
	ContainerPort uint16
	// Bridge is the network the container is reached through; it must have been added first.
	Bridge string
}

// key identifies a Port: two ports with the same key cannot both be installed.
type portKey struct {
	proto  string
	hostIP netip.Addr
	port   uint16
}

func (p Port) key() portKey { return portKey{proto: p.Proto, hostIP: p.HostIP, port: p.HostPort} }

// overlaps reports whether two ports would catch the same packets.
func (k portKey) overlaps(o portKey) bool {
	return k.proto == o.proto && k.port == o.port && (!k.hostIP.IsValid() || !o.hostIP.IsValid() || k.hostIP == o.hostIP)
}

// normalize checks n and returns its canonical form.
func (n Network) normalize() (Network, error) {
	if err := validBridge(n.Bridge); err != nil {
		return n, err
	}
	if !n.Subnet.IsValid() {
		return n, fmt.Errorf("network %q: subnet %q: %w", n.Bridge, n.Subnet, errdefs.ErrInvalidArgument)
	}
	if !n.Subnet.Addr().Is4() {
		return n, fmt.Errorf("network %q: subnet %s: only IPv4 is supported: %w", n.Bridge, n.Subnet, errdefs.ErrNotImplemented)
	}
	n.Subnet = n.Subnet.Masked()
	return n, nil
}

// normalize checks p and returns its canonical form.
func (p Port) normalize() (Port, error) {
	p.Proto = strings.ToLower(p.Proto)
	name := fmt.Sprintf("port %s/%d", p.Proto, p.HostPort)
	if p.Proto != "tcp" && p.Proto != "udp" {
		return p, fmt.Errorf("%s: protocol must be tcp or udp: %w", name, errdefs.ErrInvalidArgument)
	}
	if p.HostPort == 0 || p.ContainerPort == 0 {
		return p, fmt.Errorf("%s: ports must not be 0: %w", name, errdefs.ErrInvalidArgument)
	}
	if err := validBridge(p.Bridge); err != nil {
		return p, fmt.Errorf("%s: %w", name, err)
	}
	if !p.ContainerIP.IsValid() || p.ContainerIP.Is6() && !p.ContainerIP.Is4In6() {
		return p, fmt.Errorf("%s: container address %q: only IPv4 is supported: %w", name, p.ContainerIP, errdefs.ErrInvalidArgument)
	}
	p.ContainerIP = p.ContainerIP.Unmap()
	if p.HostIP.IsValid() {
		p.HostIP = p.HostIP.Unmap()
		if p.HostIP.IsUnspecified() {
			p.HostIP = netip.Addr{}
		} else if !p.HostIP.Is4() {
			return p, fmt.Errorf("%s: host address %s: only IPv4 is supported: %w", name, p.HostIP, errdefs.ErrNotImplemented)
		}
	}
	return p, nil
}

func validBridge(name string) error {
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/: \t\n\"") || name == "." || name == ".." {
		return fmt.Errorf("bridge name %q: %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// The comments stored with each rule spell out the object that owns the rule, so that Berth can rebuild what it
// owns from the kernel after a restart:
//
//	network bridge=br0 subnet=10.0.0.0/24 internal=false icc=true
//	port proto=tcp host=*:8080 container=10.0.0.2:80 bridge=br0
const (
	networkPrefix = "network "
	portPrefix    = "port "
)

func (n Network) comment() string {
	return fmt.Sprintf("%sbridge=%s subnet=%s internal=%t icc=%t", networkPrefix, n.Bridge, n.Subnet, n.Internal, n.ICC)
}

func (p Port) comment() string {
	host := "*"
	if p.HostIP.IsValid() {
		host = p.HostIP.String()
	}
	return fmt.Sprintf("%sproto=%s host=%s:%d container=%s bridge=%s", portPrefix, p.Proto, host, p.HostPort,
		netip.AddrPortFrom(p.ContainerIP, p.ContainerPort), p.Bridge)
}

// String describes n as Berth's rules label it.
func (n Network) String() string { return strings.TrimPrefix(n.comment(), networkPrefix) }

// String describes p as Berth's rules label it.
func (p Port) String() string { return strings.TrimPrefix(p.comment(), portPrefix) }

// fields splits "k=v k=v" into a map.
func fields(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func parseNetworkComment(c string) (Network, bool) {
	rest, ok := strings.CutPrefix(c, networkPrefix)
	if !ok {
		return Network{}, false
	}
	f := fields(rest)
	subnet, err1 := netip.ParsePrefix(f["subnet"])
	internal, err2 := strconv.ParseBool(f["internal"])
	icc, err3 := strconv.ParseBool(f["icc"])
	if err1 != nil || err2 != nil || err3 != nil || f["bridge"] == "" {
		return Network{}, false
	}
	return Network{Bridge: f["bridge"], Subnet: subnet, Internal: internal, ICC: icc}, true
}

func parsePortComment(c string) (Port, bool) {
	rest, ok := strings.CutPrefix(c, portPrefix)
	if !ok {
		return Port{}, false
	}
	f := fields(rest)
	host, hp, ok1 := strings.Cut(f["host"], ":")
	hostPort, err1 := strconv.ParseUint(hp, 10, 16)
	ctr, err2 := netip.ParseAddrPort(f["container"])
	p := Port{Proto: f["proto"], HostPort: uint16(hostPort), ContainerIP: ctr.Addr(), ContainerPort: ctr.Port(), Bridge: f["bridge"]}
	if host != "*" {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return Port{}, false
		}
		p.HostIP = ip
	}
	if !ok1 || err1 != nil || err2 != nil || p.Bridge == "" || p.Proto == "" {
		return Port{}, false
	}
	return p, true
}

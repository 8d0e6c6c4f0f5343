package bridge

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/link"
)

// docker's bridge driver options that Berth honours; the others are recorded and shown, and have no effect.
const (
	optName = network.BridgeNameOption
	optICC  = "com.docker.network.bridge.enable_icc"
	optMTU  = "com.docker.network.driver.mtu"
)

// maxIfName is the longest interface name the kernel takes (IFNAMSIZ less the terminating NUL).
const maxIfName = 15

// netPlan is what a bridge network is in the kernel.
type netPlan struct {
	bridge   string
	gateway  netip.Prefix // the gateway's address with the subnet's length, on the bridge
	mtu      int          // 0: the kernel's default
	firewall firewall.Network
}

// bridgeName is the network's bridge: the one its options name, else "br-" and the ID's first 12 digits.
func bridgeName(n network.NetworkInfo) string {
	if name := n.Options[optName]; name != "" {
		return name
	}
	return "br-" + n.ID[:min(12, len(n.ID))]
}

// planNetwork reads and checks the network's options; errors are docker's invalid parameters.
func planNetwork(n network.NetworkInfo) (netPlan, error) {
	p := netPlan{bridge: bridgeName(n)}
	if len(p.bridge) > maxIfName || strings.ContainsAny(p.bridge, "/: \t\n\"") || p.bridge == "." || p.bridge == ".." {
		return netPlan{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid bridge name %q: at most %d characters, without '/', ':' or spaces", p.bridge, maxIfName))
	}
	if !n.Subnet.IsValid() || !n.Gateway.IsValid() {
		return netPlan{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("bridge network %s needs a subnet and a gateway", n.Name))
	}
	icc := true
	if v, ok := n.Options[optICC]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return netPlan{}, parseErr(optICC, v, err)
		}
		icc = b
	}
	if v, ok := n.Options[optMTU]; ok {
		mtu, err := strconv.Atoi(v)
		if err != nil {
			return netPlan{}, parseErr(optMTU, v, err)
		}
		// 68 is IPv4's minimum MTU; 65535 the largest a bridge takes.
		if mtu < 68 || mtu > 65535 {
			return netPlan{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid MTU number: %d (between 68 and 65535)", mtu))
		}
		p.mtu = mtu
	}
	p.gateway = netip.PrefixFrom(n.Gateway, n.Subnet.Bits())
	p.firewall = firewall.Network{Bridge: p.bridge, Subnet: n.Subnet, Internal: n.Internal, ICC: icc}
	return p, nil
}

// parseErr is docker's error for an option value it cannot read.
func parseErr(label, value string, err error) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("failed to parse %s value: %s (%v)", label, value, err))
}

// planJoin is the veth pair joining an endpoint to its network's bridge.
func planJoin(n network.NetworkInfo, ep network.EndpointInfo, sb network.Sandbox) (link.VethConfig, error) {
	p, err := planNetwork(n)
	if err != nil {
		return link.VethConfig{}, err
	}
	cfg := link.VethConfig{
		Bridge: p.bridge, HostName: ep.HostIfName, NetNSPath: sb.NetNSPath, IfName: ep.IfName,
		Addr: ep.Addr, MAC: ep.MAC, MTU: p.mtu,
	}
	if ep.DefaultRoute && !n.Internal {
		cfg.Gateway = ep.Gateway
	}
	return cfg, nil
}

// planPort is the firewall's port for p on the endpoint.
func planPort(n network.NetworkInfo, ep network.EndpointInfo, p network.Port) firewall.Port {
	return firewall.Port{Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort, ContainerIP: ep.Addr.Addr(),
		ContainerPort: p.ContainerPort, Bridge: bridgeName(n)}
}

package api

import (
	"net/netip"
	"regexp"
	"strconv"

	"github.com/containerd/errdefs"
)

// The kinds of the cluster's networking objects.
const (
	// KindAttachment are endpoints on cluster networks: an address of a network given to a container or a task.
	KindAttachment Kind = "attachments"
	// KindNetworkNode are the nodes' data-path identities (their encryption keys and tunnel addresses).
	KindNetworkNode Kind = "networknodes"
)

// Names of the overlay driver and its options, as docker's.
const (
	DriverOverlay = "overlay"
	// OptVXLANIDs is where a network's VXLAN ID is shown (docker network inspect's Options).
	OptVXLANIDs = "com.docker.network.driver.overlay.vxlanid_list"
	// OptEncrypted asks for the network's traffic between nodes to be encrypted (--opt encrypted).
	OptEncrypted = "encrypted"
	// OptMTU is the MTU of the network's interfaces (-o com.docker.network.driver.mtu=N).
	OptMTU = "com.docker.network.driver.mtu"
)

// FirstVNI is the first VXLAN ID handed to an overlay network (libnetwork's vxlanIDStart); VNIs run to MaxVNI.
const (
	FirstVNI = 4096
	MaxVNI   = 1<<24 - 1
)

// Attachment is one endpoint on a cluster network: the address the cluster gave a container (an attachable
// network's `docker run --network`) or a task (a service's networks), on the node that runs it. Nodes learn
// their peers from the attachments: each remote endpoint's address and MAC address, behind its node.
type Attachment struct {
	ID string `json:"id"`
	Meta
	NetworkID string `json:"networkID"`
	// NodeID is the node the endpoint lives on ("" for a task not yet placed).
	NodeID string `json:"nodeID,omitempty"`
	// ContainerID is set for an attachable container, TaskID (and ServiceID) for a task.
	ContainerID string `json:"containerID,omitempty"`
	TaskID      string `json:"taskID,omitempty"`
	ServiceID   string `json:"serviceID,omitempty"`
	// Name and Aliases are what the embedded DNS answers the address for, on this network.
	Name    string   `json:"name,omitempty"`
	Aliases []string `json:"aliases,omitempty"`
	// Addr is the address with the subnet's length; MAC its Ethernet address.
	Addr netip.Prefix `json:"addr"`
	MAC  string       `json:"mac"`
}

// Kind is KindAttachment.
func (*Attachment) Kind() Kind { return KindAttachment }

// GetID is the attachment's ID.
func (a *Attachment) GetID() string { return a.ID }

// GetMeta is the attachment's Meta.
func (a *Attachment) GetMeta() *Meta { return &a.Meta }

// NetworkNode is a node's identity on the data path of encrypted networks: the public key of its tunnel and
// the tunnel's address. Its ID is the node's.
type NetworkNode struct {
	ID string `json:"id"`
	Meta
	// PublicKey is the node's WireGuard public key (base64); the private key never leaves the node.
	PublicKey string `json:"publicKey,omitempty"`
	// TunnelAddr is the node's address inside the encrypted tunnels, from the cluster's tunnel pool.
	TunnelAddr netip.Prefix `json:"tunnelAddr"`
}

// Kind is KindNetworkNode.
func (*NetworkNode) Kind() Kind { return KindNetworkNode }

// GetID is the node's ID.
func (n *NetworkNode) GetID() string { return n.ID }

// GetMeta is the node's Meta.
func (n *NetworkNode) GetMeta() *Meta { return &n.Meta }

// VNI is the network's VXLAN ID (0 before one is allocated).
func (n *Network) VNI() uint32 {
	v, err := strconv.ParseUint(n.DriverState[OptVXLANIDs], 10, 32)
	if err != nil {
		return 0
	}
	return uint32(v)
}

// Encrypted reports whether the network's traffic between nodes is encrypted.
func (n *Network) Encrypted() bool {
	if n.Spec.Driver == nil {
		return false
	}
	_, ok := n.Spec.Driver.Options[OptEncrypted]
	return ok
}

// DriverName is the network's driver, overlay when unset.
func (n *Network) DriverName() string {
	if n.Spec.Driver == nil || n.Spec.Driver.Name == "" {
		return DriverOverlay
	}
	return n.Spec.Driver.Name
}

// validNetworkName is docker's rule for network names.
var validNetworkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ValidateNetworkSpec checks a cluster network's spec as swarmkit's control API and docker's daemon do, with
// their words: a name, the overlay driver, IPv4 only, and subnets, ranges and gateways that fit together.
func ValidateNetworkSpec(s NetworkSpec) error {
	if s.Name == "" {
		return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "meta: name must be provided")
	}
	if !validNetworkName.MatchString(s.Name) {
		return errdefs.ErrInvalidArgument.WithMessage("invalid network name \"" + s.Name + "\": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
	}
	if s.Ingress && s.Driver != nil && s.Driver.Name != "" && s.Driver.Name != DriverOverlay {
		return RPCError(errdefs.ErrNotImplemented, "Unimplemented", "only overlay driver is currently supported for ingress network")
	}
	if s.Attachable && s.Ingress {
		return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "ingress network cannot be attachable")
	}
	if s.Driver != nil && s.Driver.Name != "" && s.Driver.Name != DriverOverlay {
		return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "network driver %q is not a cluster network driver", s.Driver.Name)
	}
	if s.IPv6 {
		return errdefs.ErrNotImplemented.WithMessage("IPv6 networks are not supported")
	}
	if s.Driver != nil {
		if v, ok := s.Driver.Options[OptMTU]; ok {
			mtu, err := strconv.Atoi(v)
			if err != nil || mtu < 68 || mtu > 65535 {
				return errdefs.ErrInvalidArgument.WithMessage("invalid MTU number: " + v + " (between 68 and 65535)")
			}
		}
	}
	if len(s.IPAM) > 1 {
		return errdefs.ErrNotImplemented.WithMessage("a cluster network takes one IPv4 subnet")
	}
	for _, c := range s.IPAM {
		if err := validateIPAMConfig(c); err != nil {
			return err
		}
	}
	return nil
}

// validateIPAMConfig checks that --subnet, --ip-range and --gateway parse (as IPv4); how they fit together is
// the IPAM's to check (internal/network/ipam), in docker's words too.
func validateIPAMConfig(c IPAMConfig) error {
	invalid := func(what, v, why string) error {
		return errdefs.ErrInvalidArgument.WithMessage("invalid network config:\ninvalid " + what + " " + v + ": " + why)
	}
	if c.Subnet == "" {
		if c.Range != "" || c.Gateway != "" {
			return errdefs.ErrInvalidArgument.WithMessage("invalid network config:\nip-range and gateway need a subnet")
		}
		return nil
	}
	if p, err := netip.ParsePrefix(c.Subnet); err != nil {
		return invalid("subnet", c.Subnet, "invalid CIDR block notation")
	} else if !p.Addr().Is4() {
		return errdefs.ErrNotImplemented.WithMessage("IPv6 networks are not supported")
	}
	if c.Range != "" {
		if _, err := netip.ParsePrefix(c.Range); err != nil {
			return invalid("ip-range", c.Range, "invalid CIDR block notation")
		}
	}
	if c.Gateway != "" {
		if _, err := netip.ParseAddr(c.Gateway); err != nil {
			return invalid("gateway", c.Gateway, "invalid address")
		}
	}
	return nil
}

var (
	_ Object = (*Attachment)(nil)
	_ Object = (*NetworkNode)(nil)
)

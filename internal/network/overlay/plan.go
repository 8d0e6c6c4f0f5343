package overlay

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/network"
)

// This file is the functional core: what the kernel should hold, as data. Nothing here talks to the kernel.

// Docker's options of overlay networks that the driver reads.
const (
	optVXLANIDs  = "com.docker.network.driver.overlay.vxlanid_list"
	optEncrypted = "encrypted"
	optMTU       = "com.docker.network.driver.mtu"
)

// Overheads of the encapsulations: VXLAN over IPv4 (outer IP 20, UDP 8, VXLAN 8, inner Ethernet 14), and
// WireGuard over IPv4 (IP 20, UDP 8, its header 16 and tag 16).
const (
	vxlanOverhead     = 50
	wireguardOverhead = 60
)

// Names inside a network's namespace, as docker's.
const (
	bridgeName = "br0"
	vxlanName  = "vxlan0"
)

// netPlan is what a cluster network is on this node.
type netPlan struct {
	id        string
	vni       uint32
	encrypted bool
	// ns is the network's namespace (<netns dir>/1-<id[:10]>, docker's layout); tmpVXLAN the VXLAN device's
	// name in the node's namespace, where it is made (its socket stays there) before it moves into ns.
	ns, tmpVXLAN string
	gateway      netip.Prefix // the gateway's address with the subnet's length, on br0
	mtu          int
}

// planNetwork reads a network's options: its VNI, whether it is encrypted, its MTU (the option, else the
// node's MTU less the encapsulations).
func planNetwork(netnsDir string, n network.NetworkInfo, hostMTU int) (netPlan, error) {
	p := netPlan{id: n.ID, ns: netnsDir + "/1-" + n.ID[:min(10, len(n.ID))]}
	v, err := strconv.ParseUint(n.Options[optVXLANIDs], 10, 32)
	if err != nil || v == 0 || v > 1<<24-1 {
		return netPlan{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("overlay network %s: invalid VXLAN ID %q", n.Name, n.Options[optVXLANIDs]))
	}
	p.vni = uint32(v)
	p.tmpVXLAN = fmt.Sprintf("vx-%06x-%s", p.vni, n.ID[:min(5, len(n.ID))])
	_, p.encrypted = n.Options[optEncrypted]
	if !n.Subnet.IsValid() || !n.Gateway.IsValid() {
		return netPlan{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("overlay network %s needs a subnet and a gateway", n.Name))
	}
	p.gateway = netip.PrefixFrom(n.Gateway, n.Subnet.Bits())
	if hostMTU <= 0 {
		hostMTU = 1500
	}
	p.mtu = hostMTU - vxlanOverhead
	if p.encrypted {
		p.mtu -= wireguardOverhead
	}
	if s, ok := n.Options[optMTU]; ok {
		mtu, err := strconv.Atoi(s)
		if err != nil || mtu < 68 || mtu > 65535 {
			return netPlan{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid MTU number: %s (between 68 and 65535)", s))
		}
		p.mtu = mtu
	}
	return p, nil
}

// State is the cluster as the driver needs it: every node's data-path identity and every endpoint of every
// cluster network. The driver takes from it what concerns the networks present on this node.
type State struct {
	// Self is this node's ID.
	Self string
	// Nodes are the cluster's nodes by ID.
	Nodes map[string]Node
	// Endpoints are the endpoints of the cluster's networks, on every node.
	Endpoints []Endpoint
	// PresharedKey is the cluster's WireGuard preshared key (32 bytes), nil before the cluster gave one.
	PresharedKey []byte
	// VXLANPort is the swarm's VXLAN UDP port (its data-path port); 0 keeps the driver's configured one.
	VXLANPort uint16
}

// Node is a node's data-path identity.
type Node struct {
	// Addr is the node's address on the underlay, where its VXLAN and tunnel traffic goes.
	Addr netip.Addr
	// PublicKey (base64) and TunnelAddr are its encryption tunnel's, when it registered one.
	PublicKey  string
	TunnelAddr netip.Prefix
}

// Endpoint is one endpoint of a cluster network.
type Endpoint struct {
	NetworkID, NodeID string
	Addr              netip.Addr
	MAC               net.HardwareAddr
}

// peer is a remote endpoint as one network's VXLAN device must know it: its MAC behind a VTEP (the node's
// underlay address, or its tunnel address on an encrypted network), and its address's neighbour entry.
type peer struct {
	IP   netip.Addr
	MAC  string
	VTEP netip.Addr
}

func comparePeers(a, b peer) int {
	return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.MAC, b.MAC), a.VTEP.Compare(b.VTEP))
}

// wantPeers is what a network's VXLAN device should know: every endpoint of the network on another node that
// can be reached. An encrypted network reaches only nodes with a tunnel (their key and address known): it never
// falls back to sending in the clear.
func wantPeers(st State, n netPlan) []peer {
	var out []peer
	for _, ep := range st.Endpoints {
		if ep.NetworkID != n.id || ep.NodeID == st.Self || ep.NodeID == "" || len(ep.MAC) != 6 || !ep.Addr.IsValid() {
			continue
		}
		node, ok := st.Nodes[ep.NodeID]
		if !ok {
			continue
		}
		vtep := node.Addr
		if n.encrypted {
			if node.PublicKey == "" || !node.TunnelAddr.IsValid() {
				continue
			}
			vtep = node.TunnelAddr.Addr()
		}
		if !vtep.IsValid() {
			continue
		}
		out = append(out, peer{IP: ep.Addr, MAC: ep.MAC.String(), VTEP: vtep})
	}
	slices.SortFunc(out, comparePeers)
	return slices.CompactFunc(out, func(a, b peer) bool { return comparePeers(a, b) == 0 })
}

// fdbEntry and neighEntry are what a VXLAN device holds for its peers: a forwarding entry (MAC → VTEP) and a
// neighbour entry (IP → MAC, which the device answers ARP with, as its proxy).
type fdbEntry struct {
	MAC  string
	VTEP netip.Addr
}

type neighEntry struct {
	IP  netip.Addr
	MAC string
}

// peerOps is the change that brings a device's entries to the wanted ones: stale entries go first, then the
// missing ones are added (an entry whose MAC moved to another VTEP, or whose IP now has another MAC, is
// replaced).
type peerOps struct {
	delFDB   []fdbEntry
	addFDB   []fdbEntry
	delNeigh []neighEntry
	addNeigh []neighEntry
}

func (o peerOps) empty() bool {
	return len(o.delFDB)+len(o.addFDB)+len(o.delNeigh)+len(o.addNeigh) == 0
}

// diffPeers compares the wanted peers with the entries the device has.
func diffPeers(want []peer, fdb []fdbEntry, neigh []neighEntry) peerOps {
	var ops peerOps
	wantFDB := map[fdbEntry]bool{}
	wantNeigh := map[neighEntry]bool{}
	for _, p := range want {
		wantFDB[fdbEntry{MAC: p.MAC, VTEP: p.VTEP}] = true
		wantNeigh[neighEntry{IP: p.IP, MAC: p.MAC}] = true
	}
	haveFDB := map[fdbEntry]bool{}
	for _, e := range fdb {
		haveFDB[e] = true
		if !wantFDB[e] {
			ops.delFDB = append(ops.delFDB, e)
		}
	}
	haveNeigh := map[neighEntry]bool{}
	for _, e := range neigh {
		haveNeigh[e] = true
		if !wantNeigh[e] {
			ops.delNeigh = append(ops.delNeigh, e)
		}
	}
	for _, p := range want {
		if e := (fdbEntry{MAC: p.MAC, VTEP: p.VTEP}); !haveFDB[e] {
			haveFDB[e] = true
			ops.addFDB = append(ops.addFDB, e)
		}
		if e := (neighEntry{IP: p.IP, MAC: p.MAC}); !haveNeigh[e] {
			haveNeigh[e] = true
			ops.addNeigh = append(ops.addNeigh, e)
		}
	}
	sortFDB := func(a, b fdbEntry) int { return cmp.Or(cmp.Compare(a.MAC, b.MAC), a.VTEP.Compare(b.VTEP)) }
	sortNeigh := func(a, b neighEntry) int { return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.MAC, b.MAC)) }
	slices.SortFunc(ops.delFDB, sortFDB)
	slices.SortFunc(ops.addFDB, sortFDB)
	slices.SortFunc(ops.delNeigh, sortNeigh)
	slices.SortFunc(ops.addNeigh, sortNeigh)
	return ops
}

// tunnelPeer is a node this node's encryption tunnel talks to.
type tunnelPeer struct {
	PublicKey string
	Endpoint  netip.AddrPort // the node's underlay address and tunnel port
	Allowed   netip.Prefix   // its tunnel address, alone
}

// wantTunnelPeers are the nodes with endpoints on the encrypted networks present here (nil when none is).
func wantTunnelPeers(st State, nets []netPlan, port uint16) []tunnelPeer {
	encrypted := map[string]bool{}
	for _, n := range nets {
		if n.encrypted {
			encrypted[n.id] = true
		}
	}
	seen := map[string]bool{}
	var out []tunnelPeer
	for _, ep := range st.Endpoints {
		if !encrypted[ep.NetworkID] || ep.NodeID == st.Self || seen[ep.NodeID] {
			continue
		}
		node, ok := st.Nodes[ep.NodeID]
		if !ok || node.PublicKey == "" || !node.TunnelAddr.IsValid() || !node.Addr.IsValid() {
			continue
		}
		seen[ep.NodeID] = true
		out = append(out, tunnelPeer{PublicKey: node.PublicKey, Endpoint: netip.AddrPortFrom(node.Addr, port),
			Allowed: netip.PrefixFrom(node.TunnelAddr.Addr(), node.TunnelAddr.Addr().BitLen())})
	}
	slices.SortFunc(out, func(a, b tunnelPeer) int { return cmp.Compare(a.PublicKey, b.PublicKey) })
	return out
}

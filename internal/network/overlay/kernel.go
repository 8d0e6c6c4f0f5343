package overlay

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/network/link"
)

// The shell: netlink calls that make a netPlan real and apply peerOps. Each function opens a handle in the
// namespace it works in (never switching the caller's thread), and leaves nothing half-made on failure.

// nsHandle opens a netlink handle in the namespace bind-mounted at path, with the namespace's handle (closed
// with closeNS).
func nsHandle(path string) (*netlink.Handle, netns.NsHandle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, 0, fmt.Errorf("netlink in %s: %w", path, err)
	}
	return h, ns, nil
}

// isNetNS reports whether path is a bind-mounted network namespace.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

func linkIn(h *netlink.Handle, name string) (netlink.Link, bool, error) {
	l, err := h.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("look up %s: %w", name, err)
	}
	return l, true, nil
}

// ensureNetwork makes p's namespace, bridge and VXLAN device exist and be up; an existing namespace (a daemon
// restart) is adopted as it is, and only what is missing is made — except, with fixPort, a VXLAN device on
// another UDP port than port, which is made again (the swarm's data-path port is known once the cluster's state
// came). On failure a namespace made by this call is removed again.
func ensureNetwork(ctx context.Context, p netPlan, port uint16, fixPort bool) (retErr error) {
	made := false
	if !isNetNS(p.ns) {
		os.Remove(p.ns) // a leftover file (after a reboot) that is no namespace
		if err := link.NewNetNS(ctx, p.ns); err != nil {
			return err
		}
		made = true
		defer func() {
			if retErr != nil {
				undo := context.WithoutCancel(ctx)
				deleteVXLANIn(p)
				link.DeleteNetNS(undo, p.ns)
			}
		}()
	}
	h, ns, err := nsHandle(p.ns)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Close()

	br, found, err := linkIn(h, bridgeName)
	if err != nil {
		return err
	}
	if !found {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = bridgeName, p.mtu
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return fmt.Errorf("create %s in %s: %w", bridgeName, p.ns, err)
		}
		if br, _, err = linkIn(h, bridgeName); err != nil || br == nil {
			return fmt.Errorf("%s vanished in %s: %v", bridgeName, p.ns, err)
		}
	}
	if err := ensureAddr(h, br, p.gateway); err != nil {
		return err
	}
	vx, found, err := linkIn(h, vxlanName)
	if err != nil {
		return err
	}
	if found {
		v, ok := vx.(*netlink.Vxlan)
		if !ok || uint32(v.VxlanId) != p.vni {
			return fmt.Errorf("%s in %s is not the VXLAN device of VNI %d", vxlanName, p.ns, p.vni)
		}
		if fixPort && v.Port != int(port) {
			slog.InfoContext(ctx, "overlay: VXLAN device on another port, made again", "netns", p.ns, "vni", p.vni, "port", v.Port, "want", port)
			if err := h.LinkDel(vx); err != nil {
				return fmt.Errorf("remove %s of VNI %d in %s: %w", vxlanName, p.vni, p.ns, err)
			}
			found = false
		}
	}
	if !found {
		if vx, err = makeVXLAN(h, ns, p, port); err != nil {
			return err
		}
	}
	if err := h.LinkSetMaster(vx, br); err != nil {
		return fmt.Errorf("attach %s to %s: %w", vxlanName, bridgeName, err)
	}
	for _, l := range []netlink.Link{br, vx} {
		if l.Attrs().MTU != p.mtu {
			if err := h.LinkSetMTU(l, p.mtu); err != nil {
				return fmt.Errorf("set MTU %d on %s: %w", p.mtu, l.Attrs().Name, err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("bring %s up: %w", l.Attrs().Name, err)
		}
	}
	slog.DebugContext(ctx, "overlay network ready", "netns", p.ns, "vni", p.vni, "mtu", p.mtu, "created", made)
	return nil
}

// makeVXLAN makes the VXLAN device in the node's namespace, where its UDP socket lives, without learning (its
// peers come from the cluster) and answering ARP from its neighbour entries, then moves it into the network's
// namespace as vxlan0.
func makeVXLAN(h *netlink.Handle, ns netns.NsHandle, p netPlan, port uint16) (netlink.Link, error) {
	deleteVXLANIn(p) // a leftover of a crash between making and moving
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = p.tmpVXLAN, p.mtu
	vx := &netlink.Vxlan{LinkAttrs: attrs, VxlanId: int(p.vni), Port: int(port), Learning: false, Proxy: true}
	if err := netlink.LinkAdd(vx); err != nil {
		return nil, fmt.Errorf("create VXLAN device of VNI %d: %w", p.vni, err)
	}
	l, err := netlink.LinkByName(p.tmpVXLAN)
	if err == nil {
		err = netlink.LinkSetNsFd(l, int(ns))
	}
	if err != nil {
		deleteVXLANIn(p)
		return nil, fmt.Errorf("move VXLAN device of VNI %d into %s: %w", p.vni, p.ns, err)
	}
	l, found, err := linkIn(h, p.tmpVXLAN)
	if err == nil && !found {
		err = fmt.Errorf("not found after the move")
	}
	if err == nil {
		err = h.LinkSetName(l, vxlanName)
	}
	if err != nil {
		if l != nil {
			h.LinkDel(l)
		}
		return nil, fmt.Errorf("VXLAN device of VNI %d in %s: %w", p.vni, p.ns, err)
	}
	return h.LinkByName(vxlanName)
}

// deleteVXLANIn removes a VXLAN device left in the node's namespace under its temporary name.
func deleteVXLANIn(p netPlan) {
	if l, err := netlink.LinkByName(p.tmpVXLAN); err == nil {
		netlink.LinkDel(l)
	}
}

func ensureAddr(h *netlink.Handle, l netlink.Link, addr netip.Prefix) error {
	addrs, err := h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok && p == addr {
			return nil
		}
	}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
		return fmt.Errorf("add %s to %s: %w", addr, l.Attrs().Name, err)
	}
	return nil
}

// deleteNetwork removes the network's devices and namespace. The VXLAN device goes first and explicitly, so
// that its VNI is free at once for a network made next (a namespace's devices go only when the last reference
// to it does). A network already gone is not an error.
func deleteNetwork(ctx context.Context, p netPlan) error {
	deleteVXLANIn(p)
	if !isNetNS(p.ns) {
		if _, err := os.Stat(p.ns); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return link.DeleteNetNS(ctx, p.ns)
	}
	h, ns, err := nsHandle(p.ns)
	if err == nil {
		for _, name := range []string{vxlanName, bridgeName} {
			if l, found, _ := linkIn(h, name); found {
				if err := h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
					slog.WarnContext(ctx, "deleting an overlay device", "device", name, "netns", p.ns, "error", err)
				}
			}
		}
		h.Close()
		ns.Close()
	}
	return link.DeleteNetNS(ctx, p.ns)
}

// joinEndpoint makes a veth pair: hostName in the network's namespace, a port of br0; ifName in the
// container's namespace with the endpoint's address and MAC. No default route: the overlay has no way out.
func joinEndpoint(ctx context.Context, p netPlan, hostName, ifName, sandbox string, addr netip.Prefix, mac net.HardwareAddr) (retErr error) {
	h, ns, err := nsHandle(p.ns)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Close()
	ch, cns, err := nsHandle(sandbox)
	if err != nil {
		return err
	}
	defer cns.Close()
	defer ch.Close()
	br, found, err := linkIn(h, bridgeName)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s not found in %s", bridgeName, p.ns)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = hostName, p.mtu
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: ifName, PeerHardwareAddr: mac, PeerNamespace: netlink.NsFd(int(cns))}
	if err := h.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth pair %s/%s: %w", hostName, ifName, err)
	}
	defer func() {
		if retErr != nil {
			if l, found, _ := linkIn(h, hostName); found {
				h.LinkDel(l)
			}
		}
	}()
	host, found, err := linkIn(h, hostName)
	if err != nil || !found {
		return fmt.Errorf("veth %s vanished: %v", hostName, err)
	}
	if err := h.LinkSetMaster(host, br); err != nil {
		return fmt.Errorf("attach %s to %s: %w", hostName, bridgeName, err)
	}
	if err := h.LinkSetUp(host); err != nil {
		return fmt.Errorf("bring %s up: %w", hostName, err)
	}
	in, found, err := linkIn(ch, ifName)
	if err != nil || !found {
		return fmt.Errorf("%s not found in %s after it was created: %v", ifName, sandbox, err)
	}
	if err := ch.LinkSetMTU(in, p.mtu); err != nil {
		return fmt.Errorf("set MTU of %s: %w", ifName, err)
	}
	if err := ch.AddrAdd(in, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
		return fmt.Errorf("add address %s to %s: %w", addr, ifName, err)
	}
	if err := ch.LinkSetUp(in); err != nil {
		return fmt.Errorf("bring %s up in %s: %w", ifName, sandbox, err)
	}
	return nil
}

// leaveEndpoint deletes the veth pair whose side in the network's namespace is hostName.
func leaveEndpoint(p netPlan, hostName string) error {
	if !isNetNS(p.ns) {
		return nil
	}
	h, ns, err := nsHandle(p.ns)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Close()
	l, found, err := linkIn(h, hostName)
	if err != nil || !found {
		return err
	}
	if err := h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete veth %s: %w", hostName, err)
	}
	return nil
}

// readPeers reads the forwarding and neighbour entries the network's VXLAN device holds for its peers (the
// permanent ones: what the driver wrote).
func readPeers(p netPlan) ([]fdbEntry, []neighEntry, error) {
	h, ns, err := nsHandle(p.ns)
	if err != nil {
		return nil, nil, err
	}
	defer ns.Close()
	defer h.Close()
	vx, found, err := linkIn(h, vxlanName)
	if err != nil || !found {
		return nil, nil, fmt.Errorf("%s in %s: found %t: %v", vxlanName, p.ns, found, err)
	}
	idx := vx.Attrs().Index
	var fdb []fdbEntry
	fl, err := h.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return nil, nil, fmt.Errorf("list forwarding entries of %s: %w", vxlanName, err)
	}
	for _, n := range fl {
		if n.Flags&netlink.NTF_SELF == 0 || n.State&netlink.NUD_PERMANENT == 0 || n.IP == nil || len(n.HardwareAddr) != 6 {
			continue
		}
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok || n.HardwareAddr.String() == "00:00:00:00:00:00" {
			continue
		}
		fdb = append(fdb, fdbEntry{MAC: n.HardwareAddr.String(), VTEP: a.Unmap()})
	}
	var neigh []neighEntry
	nl, err := h.NeighList(idx, unix.AF_INET)
	if err != nil {
		return nil, nil, fmt.Errorf("list neighbours of %s: %w", vxlanName, err)
	}
	for _, n := range nl {
		if n.State&netlink.NUD_PERMANENT == 0 || len(n.HardwareAddr) != 6 {
			continue
		}
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		neigh = append(neigh, neighEntry{IP: a.Unmap(), MAC: n.HardwareAddr.String()})
	}
	return fdb, neigh, nil
}

// applyPeers carries out ops on the network's VXLAN device.
func applyPeers(p netPlan, ops peerOps) error {
	h, ns, err := nsHandle(p.ns)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Close()
	vx, found, err := linkIn(h, vxlanName)
	if err != nil || !found {
		return fmt.Errorf("%s in %s: found %t: %v", vxlanName, p.ns, found, err)
	}
	idx := vx.Attrs().Index
	var errs []error
	fdb := func(e fdbEntry) *netlink.Neigh {
		mac, _ := net.ParseMAC(e.MAC)
		return &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_SELF,
			IP: e.VTEP.AsSlice(), HardwareAddr: mac}
	}
	neigh := func(e neighEntry) *netlink.Neigh {
		mac, _ := net.ParseMAC(e.MAC)
		return &netlink.Neigh{LinkIndex: idx, Family: unix.AF_INET, State: netlink.NUD_PERMANENT, IP: e.IP.AsSlice(), HardwareAddr: mac}
	}
	for _, e := range ops.delNeigh {
		if err := h.NeighDel(neigh(e)); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete neighbour %s: %w", e.IP, err))
		}
	}
	for _, e := range ops.delFDB {
		if err := h.NeighDel(fdb(e)); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete forwarding entry %s: %w", e.MAC, err))
		}
	}
	for _, e := range ops.addFDB {
		if err := h.NeighAppend(fdb(e)); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("add forwarding entry %s dst %s: %w", e.MAC, e.VTEP, err))
		}
	}
	for _, e := range ops.addNeigh {
		if err := h.NeighSet(neigh(e)); err != nil {
			errs = append(errs, fmt.Errorf("add neighbour %s: %w", e.IP, err))
		}
	}
	return errors.Join(errs...)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// hostMTU is the MTU of the node's way out (the interface of its default route), 1500 when there is none.
func hostMTU() int {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return 1500
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
			continue
		}
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().MTU > 0 {
			return l.Attrs().MTU
		}
	}
	return 1500
}

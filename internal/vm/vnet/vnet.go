// Package vnet connects a virtual machine to a network namespace the engine prepared as for a container: for
// each veth in the namespace, a tap device beside it, joined to it by tc mirred redirects both ways (as Kata
// Containers does). The guest takes the veth's MAC, address and default route, and the namespace passes frames
// between the veth and the tap untouched, so everything outside — the bridge, published ports, the firewall —
// works as for a container. The taps are not persistent: they go when the last descriptor (qemu's) closes.
//
//	nics, err := vnet.Attach(ctx, "/run/berth/netns/ID")
//	// pass nics[i].Tap to qemu as a descriptor; tell the guest nics[i].Guest
//	vnet.Close(nics) // the caller's copies, once qemu has its own
package vnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/network/link"
	"github.com/berth/berth/internal/vm/agent"
)

// NIC is one guest network device: its tap's descriptor and what the guest configures on it.
type NIC struct {
	Tap   *os.File
	Name  string
	Guest agent.Interface
}

// Close closes the caller's tap descriptors.
func Close(nics []NIC) {
	for _, n := range nics {
		n.Tap.Close()
	}
}

// Attach creates a tap for each veth with an IPv4 address in the namespace at nsPath and joins them. A namespace
// without any (`--network none`) gives no NIC and no error. On failure nothing is left in the namespace.
func Attach(ctx context.Context, nsPath string) (nics []NIC, retErr error) {
	ifaces, err := link.Interfaces(ctx, nsPath)
	if err != nil {
		return nil, err
	}
	var h *netlink.Handle
	if err := link.InNetNS(ctx, nsPath, func() (err error) { h, err = netlink.NewHandle(); return err }); err != nil {
		return nil, err
	}
	defer h.Close()
	defer func() {
		if retErr != nil {
			for _, n := range nics {
				unmirror(h, n.Name)
			}
			Close(nics)
		}
	}()
	for _, ifc := range ifaces {
		if ifc.Type != "veth" {
			continue
		}
		var addr netip.Prefix
		for _, a := range ifc.Addrs {
			if a.Addr().Is4() {
				addr = a
				break
			}
		}
		if !addr.IsValid() {
			continue
		}
		name := fmt.Sprintf("tap%d", len(nics))
		var tap *os.File
		if err := link.InNetNS(ctx, nsPath, func() (err error) { tap, err = openTap(name); return err }); err != nil {
			return nil, err
		}
		nic := NIC{Tap: tap, Name: ifc.Name, Guest: agent.Interface{MAC: ifc.MAC.String(), Addr: addr, MTU: ifc.MTU}}
		nics = append(nics, nic)
		veth, err := h.LinkByName(ifc.Name)
		if err != nil {
			return nil, err
		}
		if nics[len(nics)-1].Guest.Gateway, err = defaultGateway(h, veth); err != nil {
			return nil, err
		}
		t, err := h.LinkByName(name)
		if err != nil {
			return nil, err
		}
		if err := h.LinkSetMTU(t, ifc.MTU); err != nil {
			return nil, fmt.Errorf("%s: mtu: %w", name, err)
		}
		if err := h.LinkSetUp(t); err != nil {
			return nil, fmt.Errorf("%s: up: %w", name, err)
		}
		// A machine booted here before left its redirect to a tap that is gone: start afresh.
		unmirror(h, ifc.Name)
		if err := mirror(h, veth, t); err != nil {
			return nil, err
		}
		if err := mirror(h, t, veth); err != nil {
			return nil, err
		}
	}
	return nics, nil
}

// openTap creates the tap device name in the calling thread's namespace, as qemu would (no packet information
// header, with a virtio-net header for offloads).
func openTap(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var req struct {
		name  [unix.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(req.name[:], name)
	req.flags = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("create tap %s: %w", name, errno)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}

// mirror redirects everything arriving on from out of to: an ingress qdisc on from, and a match-all u32 filter
// whose mirred action steals the frame and sends it out of to.
func mirror(h *netlink.Handle, from, to netlink.Link) error {
	q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: from.Attrs().Index,
		Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}}
	if err := h.QdiscAdd(q); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s: ingress qdisc: %w", from.Attrs().Name, err)
	}
	f := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: from.Attrs().Index, Parent: netlink.MakeHandle(0xffff, 0),
			Priority: 1, Protocol: unix.ETH_P_ALL},
		Actions: []netlink.Action{&netlink.MirredAction{ActionAttrs: netlink.ActionAttrs{Action: netlink.TC_ACT_STOLEN},
			MirredAction: netlink.TCA_EGRESS_REDIR, Ifindex: to.Attrs().Index}},
	}
	if err := h.FilterAdd(f); err != nil {
		return fmt.Errorf("%s: redirect to %s: %w", from.Attrs().Name, to.Attrs().Name, err)
	}
	return nil
}

// unmirror removes the veth's ingress qdisc (and its filter with it).
func unmirror(h *netlink.Handle, veth string) {
	l, err := h.LinkByName(veth)
	if err != nil {
		return
	}
	h.QdiscDel(&netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index,
		Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_INGRESS}})
}

func defaultGateway(h *netlink.Handle, l netlink.Link) (netip.Addr, error) {
	routes, err := h.RouteList(l, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s: routes: %w", l.Attrs().Name, err)
	}
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.Equal(net.IPv4zero)) && r.Gw != nil {
			if a, ok := netip.AddrFromSlice(r.Gw.To4()); ok {
				return a, nil
			}
		}
	}
	return netip.Addr{}, nil
}

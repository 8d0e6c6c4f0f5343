package link

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// EnsureBridge makes the Linux bridge name exist with address gateway (e.g. 172.18.0.1/16) and be up. A missing
// bridge is created; an existing one is adopted when it already has that address or none of its family (the
// address is then added). An existing link that is not a bridge, or a bridge with another address of the
// gateway's family, is a conflict and is left alone. mtu 0 keeps the kernel's default (1500).
// On failure a bridge created by this call is deleted again.
func EnsureBridge(ctx context.Context, name string, gateway netip.Prefix, mtu int) (retErr error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkIfName("bridge", name); err != nil {
		return err
	}
	if !gateway.IsValid() {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("bridge %s: invalid gateway address", name))
	}
	if mtu < 0 {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("bridge %s: invalid MTU %d", name, mtu))
	}
	gateway = netip.PrefixFrom(gateway.Addr().Unmap(), gateway.Bits())

	l, found, err := linkByName(nil, name)
	if err != nil {
		return err
	}
	if found && l.Type() != "bridge" {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("device %s already exists and is not a bridge (%s)", name, l.Type()))
	}
	if !found {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		attrs.MTU = mtu
		// A MAC address of its own, as dockerd gives its bridges: see pinMAC.
		if attrs.HardwareAddr, err = randomMAC(); err != nil {
			return err
		}
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			if errors.Is(err, unix.EEXIST) {
				return errdefs.ErrConflict.WithMessage(fmt.Sprintf("device %s was created concurrently", name))
			}
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		defer func() {
			if retErr != nil {
				if err := deleteLinkByName(name); err != nil {
					slog.WarnContext(ctx, "removing half-created bridge", "bridge", name, "error", err)
				}
			}
		}()
		var ok bool
		if l, ok, err = linkByName(nil, name); err != nil {
			return err
		} else if !ok {
			return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("bridge %s vanished after it was created", name))
		}
		slog.DebugContext(ctx, "created bridge", "bridge", name)
	}

	addrs, err := dump(func() ([]netlink.Addr, error) { return netlink.AddrList(l, family(gateway.Addr())) })
	if err != nil {
		return fmt.Errorf("list addresses of bridge %s: %w", name, err)
	}
	has := false
	var others []netip.Prefix
	for _, a := range addrs {
		p, ok := prefixOf(a.IPNet)
		switch {
		case !ok || p.Addr().IsLinkLocalUnicast():
		case p == gateway:
			has = true
		default:
			others = append(others, p)
		}
	}
	if !has {
		if len(others) > 0 {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf("bridge %s already has address %s, not %s", name, others[0], gateway))
		}
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipNet(gateway)}); err != nil {
			return fmt.Errorf("add address %s to bridge %s: %w", gateway, name, err)
		}
	}
	if found {
		if err := pinMAC(l); err != nil {
			return fmt.Errorf("bridge %s: %w", name, err)
		}
	}
	if found && mtu > 0 && l.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("set MTU %d on bridge %s: %w", mtu, name, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring bridge %s up: %w", name, err)
	}
	slog.DebugContext(ctx, "bridge ready", "bridge", name, "address", gateway, "adopted", found)
	return nil
}

// A bridge whose MAC address was never set takes the lowest of its ports' and changes as containers come and go
// (their host-side veths have random ones). Its neighbours (every container on it, the ingress sandbox on
// docker_gwbridge) keep the old address in their ARP caches and send their replies to it: the bridge floods
// such frames to its ports instead of passing them up, and the host drops them until each neighbour finds out,
// seconds later — long enough for a connection whose SYN-ACK was lost to stall on its conntrack entry. Set
// once, by hand, the kernel keeps the address (addr_assign_type NET_ADDR_SET), as for dockerd's bridges, which
// get a random one when made.

// randomMAC is a random unicast, locally administered MAC address.
func randomMAC() (net.HardwareAddr, error) {
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, fmt.Errorf("random MAC address: %w", err)
	}
	mac[0] = mac[0]&0xfe | 0x02
	return mac, nil
}

// pinMAC sets an adopted bridge's MAC address to the one it has, which fixes it there (a bridge made before
// Berth set one, or by someone else); setting it again changes nothing. A bridge that never had one set and
// lost its last port has 00:00:00:00:00:00, which is no address to keep: it gets a random one.
func pinMAC(l netlink.Link) error {
	mac := l.Attrs().HardwareAddr
	if len(mac) != 6 || mac[0]&0x01 != 0 || slices.Equal(mac, make(net.HardwareAddr, 6)) {
		var err error
		if mac, err = randomMAC(); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetHardwareAddr(l, mac); err != nil {
		return fmt.Errorf("fix MAC address %s: %w", mac, err)
	}
	return nil
}

// DeleteBridge deletes the bridge name, which also detaches its ports. A missing bridge is not an error; a link of
// that name that is not a bridge is a conflict and is left alone.
func DeleteBridge(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkIfName("bridge", name); err != nil {
		return err
	}
	l, found, err := linkByName(nil, name)
	if err != nil || !found {
		return err
	}
	if l.Type() != "bridge" {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("device %s is not a bridge (%s)", name, l.Type()))
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	slog.DebugContext(ctx, "deleted bridge", "bridge", name)
	return nil
}

// deleteLinkByName deletes a link this package has just created.
func deleteLinkByName(name string) error {
	l, found, err := linkByName(nil, name)
	if err != nil || !found {
		return err
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return err
	}
	return nil
}

package link

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VethConfig describes how a container's namespace joins a bridge.
type VethConfig struct {
	Bridge    string           // the bridge the host side joins
	HostName  string           // the host side's name, e.g. "veth" + 7 hex digits
	NetNSPath string           // the container's network namespace, as bind-mounted by NewNetNS
	IfName    string           // the name inside the namespace, e.g. "eth0"
	Addr      netip.Prefix     // the container's address with the subnet's length, e.g. 172.18.0.2/16; zero for none
	Gateway   netip.Addr       // the default route's next hop; zero for no default route
	MAC       net.HardwareAddr // the container side's MAC address; nil for a random one
	MTU       int              // both sides' MTU; 0 for the kernel's default
}

// AttachVeth creates a veth pair whose host side HostName joins Bridge and is up, and whose other side is created
// directly inside the namespace at NetNSPath as IfName, with MAC, MTU, Addr, up, and a default route via Gateway.
// Either everything is in place or, on failure, the pair is deleted again.
func AttachVeth(ctx context.Context, cfg VethConfig) (retErr error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := cfg.check(); err != nil {
		return err
	}
	br, found, err := linkByName(nil, cfg.Bridge)
	if err != nil {
		return err
	}
	if !found {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("bridge %s not found", cfg.Bridge))
	}
	if br.Type() != "bridge" {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("device %s is not a bridge (%s)", cfg.Bridge, br.Type()))
	}
	if _, found, err := linkByName(nil, cfg.HostName); err != nil {
		return err
	} else if found {
		return errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("device %s already exists", cfg.HostName))
	}
	ns, err := openNetNS(cfg.NetNSPath)
	if err != nil {
		return err
	}
	defer ns.Close()

	// The peer is created in the container's namespace under its final name: nothing to move or rename, and no
	// temporary name to collide with on the host.
	attrs := netlink.NewLinkAttrs()
	attrs.Name = cfg.HostName
	attrs.MTU = cfg.MTU
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         cfg.IfName,
		PeerHardwareAddr: cfg.MAC,
		PeerNamespace:    netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return errdefs.ErrAlreadyExists.WithMessage(fmt.Sprintf("create veth pair %s/%s: device %s or %s in %s already exists",
				cfg.HostName, cfg.IfName, cfg.HostName, cfg.IfName, cfg.NetNSPath))
		}
		return fmt.Errorf("create veth pair %s/%s: %w", cfg.HostName, cfg.IfName, err)
	}
	defer func() {
		if retErr != nil {
			// Deleting one side deletes the pair, wherever the other side is.
			if err := deleteLinkByName(cfg.HostName); err != nil {
				slog.WarnContext(ctx, "removing half-attached veth", "veth", cfg.HostName, "error", err)
			}
		}
	}()

	host, found, err := linkByName(nil, cfg.HostName)
	if err != nil {
		return err
	}
	if !found {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("veth %s vanished after it was created", cfg.HostName))
	}
	if err := netlink.LinkSetMaster(host, br); err != nil {
		return fmt.Errorf("attach %s to bridge %s: %w", cfg.HostName, cfg.Bridge, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("bring %s up: %w", cfg.HostName, err)
	}
	if err := configurePeer(ctx, cfg); err != nil {
		return err
	}
	slog.DebugContext(ctx, "attached veth", "veth", cfg.HostName, "bridge", cfg.Bridge, "netns", cfg.NetNSPath,
		"ifname", cfg.IfName, "address", cfg.Addr)
	return nil
}

// configurePeer sets up the container side inside its namespace: address, up, default route. The address comes
// before the link is up and the route after, since the route's gateway must be reachable through the prefix route.
func configurePeer(ctx context.Context, cfg VethConfig) error {
	h, err := handleAt(ctx, cfg.NetNSPath)
	if err != nil {
		return err
	}
	defer h.Close()
	peer, found, err := linkByName(h, cfg.IfName)
	if err != nil {
		return err
	}
	if !found {
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("%s not found in %s after it was created", cfg.IfName, cfg.NetNSPath))
	}
	if cfg.Addr.IsValid() {
		if err := h.AddrAdd(peer, &netlink.Addr{IPNet: ipNet(cfg.Addr)}); err != nil {
			return fmt.Errorf("add address %s to %s: %w", cfg.Addr, cfg.IfName, err)
		}
	}
	if err := h.LinkSetUp(peer); err != nil {
		return fmt.Errorf("bring %s up in %s: %w", cfg.IfName, cfg.NetNSPath, err)
	}
	if cfg.Gateway.IsValid() {
		route := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: cfg.Gateway.AsSlice(), Family: family(cfg.Gateway)}
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("add default route via %s in %s: %w", cfg.Gateway, cfg.NetNSPath, err)
		}
	}
	return nil
}

func (cfg VethConfig) check() error {
	for _, n := range []struct{ what, name string }{{"bridge", cfg.Bridge}, {"veth", cfg.HostName}, {"interface", cfg.IfName}} {
		if err := checkIfName(n.what, n.name); err != nil {
			return err
		}
	}
	if cfg.NetNSPath == "" {
		return errdefs.ErrInvalidArgument.WithMessage("network namespace path is empty")
	}
	if cfg.MTU < 0 {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid MTU %d", cfg.MTU))
	}
	if cfg.MAC != nil && (len(cfg.MAC) != 6 || cfg.MAC[0]&1 == 1) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid MAC address %s: not a unicast Ethernet address", cfg.MAC))
	}
	if cfg.Gateway.IsValid() && cfg.Addr.IsValid() && cfg.Gateway.Is4() != cfg.Addr.Addr().Is4() {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("gateway %s and address %s are of different families", cfg.Gateway, cfg.Addr))
	}
	return nil
}

// DetachVeth deletes the veth pair whose host side is hostName; the container side goes with it. A missing link is
// not an error; a link of that name that is not a veth is a conflict and is left alone.
func DetachVeth(ctx context.Context, hostName string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkIfName("veth", hostName); err != nil {
		return err
	}
	l, found, err := linkByName(nil, hostName)
	if err != nil || !found {
		return err
	}
	if l.Type() != "veth" {
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("device %s is not a veth (%s)", hostName, l.Type()))
	}
	if err := netlink.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete veth %s: %w", hostName, err)
	}
	slog.DebugContext(ctx, "detached veth", "veth", hostName)
	return nil
}

package guest

import (
	"fmt"
	"net"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/berth/berth/internal/vm/agent"
)

// setupNetwork brings up lo and configures each interface of the configuration, found by its MAC address.
func setupNetwork(ifs []agent.Interface) error {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo)
	}
	if len(ifs) == 0 {
		return nil
	}
	links, err := netlink.LinkList()
	if err != nil {
		return err
	}
	for _, cfg := range ifs {
		var l netlink.Link
		for _, c := range links {
			if strings.EqualFold(c.Attrs().HardwareAddr.String(), cfg.MAC) {
				l = c
			}
		}
		if l == nil {
			return fmt.Errorf("no network interface with MAC %s", cfg.MAC)
		}
		if cfg.MTU > 0 {
			netlink.LinkSetMTU(l, cfg.MTU)
		}
		ip := net.IP(cfg.Addr.Addr().AsSlice())
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(cfg.Addr.Bits(), cfg.Addr.Addr().BitLen())}}
		if err := netlink.AddrAdd(l, addr); err != nil {
			return fmt.Errorf("%s: address %s: %w", l.Attrs().Name, cfg.Addr, err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return fmt.Errorf("%s: up: %w", l.Attrs().Name, err)
		}
		if cfg.Gateway.IsValid() {
			gw := net.IP(cfg.Gateway.AsSlice())
			if err := netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: gw}); err != nil {
				return fmt.Errorf("%s: default route via %s: %w", l.Attrs().Name, cfg.Gateway, err)
			}
		}
	}
	return nil
}

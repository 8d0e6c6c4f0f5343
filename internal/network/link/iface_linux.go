package link

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
)

// Interface is a network interface as Interfaces reports it.
type Interface struct {
	Name   string
	Index  int
	Type   string // "veth", "bridge", "device" (loopback, physical), ...
	MAC    net.HardwareAddr
	MTU    int
	Up     bool
	Master string         // the bridge it is a port of, if any
	Addrs  []netip.Prefix // IPv4 and IPv6 addresses with their prefix lengths
}

// Interfaces lists the interfaces of the network namespace at nsPath ("" for the calling thread's), in index order.
func Interfaces(ctx context.Context, nsPath string) ([]Interface, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h, err := handleAt(ctx, nsPath)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := dump(h.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	out := make([]Interface, 0, len(links))
	for _, l := range links {
		a := l.Attrs()
		ifc := Interface{
			Name:   a.Name,
			Index:  a.Index,
			Type:   l.Type(),
			MAC:    a.HardwareAddr,
			MTU:    a.MTU,
			Up:     a.Flags&net.FlagUp != 0,
			Master: names[a.MasterIndex],
		}
		addrs, err := dump(func() ([]netlink.Addr, error) { return h.AddrList(l, netlink.FAMILY_ALL) })
		if err != nil {
			return nil, fmt.Errorf("list addresses of %s: %w", a.Name, err)
		}
		for _, ad := range addrs {
			if p, ok := prefixOf(ad.IPNet); ok {
				ifc.Addrs = append(ifc.Addrs, p)
			}
		}
		out = append(out, ifc)
	}
	slices.SortFunc(out, func(a, b Interface) int { return a.Index - b.Index })
	return out, nil
}

package ipam

import (
	"net"
	"net/netip"
)

// MAC returns docker's MAC address for an IPv4 address: 02:42 followed by the address's four bytes
// (172.17.0.2 -> 02:42:ac:11:00:02), locally administered and unicast. It returns nil for an IPv6 address.
func MAC(addr netip.Addr) net.HardwareAddr {
	addr = addr.Unmap()
	if !addr.Is4() {
		return nil
	}
	b := addr.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

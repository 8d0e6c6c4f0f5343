package ipam

import (
	"fmt"
	"net/netip"

	"github.com/containerd/errdefs"
)

// maxSplit bounds how many subnets SplitPool produces (docker's own example, 10.0.0.0/8 in /24s, is exactly this).
const maxSplit = 1 << 16

// DefaultPools returns docker's default local address pools, already split into the subnets a network gets:
// 172.17.0.0/16 through 172.31.0.0/16, then 192.168.0.0/16 in /20s (31 networks in all).
func DefaultPools() []netip.Prefix {
	var pools []netip.Prefix
	for b := byte(17); b <= 31; b++ {
		pools = append(pools, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, b, 0, 0}), 16))
	}
	split, _ := SplitPool(netip.MustParsePrefix("192.168.0.0/16"), 20)
	return append(pools, split...)
}

// SplitPool splits base into consecutive subnets of prefix length size, in address order, as docker does with a
// --default-address-pool base=...,size=... entry.
func SplitPool(base netip.Prefix, size int) ([]netip.Prefix, error) {
	if !base.IsValid() {
		return nil, errdefs.ErrInvalidArgument.WithMessage("invalid address pool: invalid CIDR block notation")
	}
	if base != base.Masked() {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid address pool %s: it should be %s", base, base.Masked()))
	}
	if size < base.Bits() || size > base.Addr().BitLen() {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid address pool %s: size /%d must be between /%d and /%d", base, size, base.Bits(), base.Addr().BitLen()))
	}
	if size-base.Bits() > 16 {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid address pool %s: splitting it into /%d subnets gives more than %d networks", base, size, maxSplit))
	}
	n := 1 << (size - base.Bits())
	out := make([]netip.Prefix, 0, n)
	p := netip.PrefixFrom(base.Addr(), size)
	for range n {
		out = append(out, p)
		next := lastAddr(p).Next()
		if !next.IsValid() {
			break
		}
		p = netip.PrefixFrom(next, size)
	}
	return out, nil
}

// ChooseSubnet returns the first of pools that overlaps none of inUse (host routes, host addresses and the subnets of
// existing networks). Pools are tried in the order given; DefaultPools gives docker's order. Default routes (/0) and
// invalid prefixes in inUse are ignored: every pool would overlap a default route.
func ChooseSubnet(pools []netip.Prefix, inUse []netip.Prefix) (netip.Prefix, error) {
	for _, p := range pools {
		if !p.IsValid() {
			continue
		}
		p = p.Masked()
		if !overlapsAny(p, inUse) {
			return p, nil
		}
	}
	family := "IPv4"
	if len(pools) > 0 && pools[0].Addr().Is6() && !pools[0].Addr().Is4In6() {
		family = "IPv6"
	}
	return netip.Prefix{}, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf(
		"could not find an available, non-overlapping %s address pool among the defaults to assign to the network", family))
}

func overlapsAny(p netip.Prefix, inUse []netip.Prefix) bool {
	for _, u := range inUse {
		if !u.IsValid() || u.Bits() == 0 {
			continue
		}
		if u.Overlaps(p) {
			return true
		}
	}
	return false
}

// lastAddr is the highest address of p (the IPv4 broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

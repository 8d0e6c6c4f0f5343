package ipam

import (
	"fmt"
	"net/netip"

	"github.com/containerd/errdefs"
)

// AddressPool is one entry of docker's default address pools (daemon.json "default-address-pools", as
// {"base":"10.10.0.0/16","size":24}): networks get Base's subnets of prefix length Size.
type AddressPool struct {
	Base string
	Size int
}

// SplitPools checks pools and splits them, in order, into the subnets networks get (for WithDefaultPools).
// IPv6 entries are checked but give no subnets: Berth's networks are IPv4 only, and a docker daemon.json that
// lists IPv6 pools beside IPv4 ones still loads. Errors are errdefs.ErrInvalidArgument and name the entry.
func SplitPools(pools []AddressPool) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, p := range pools {
		base, err := netip.ParsePrefix(p.Base)
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("pool %d: invalid base pool %q: %v", i+1, p.Base, err))
		}
		if base.Addr().Is6() {
			if base != base.Masked() || p.Size < base.Bits() || p.Size > 128 {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("pool %d: invalid address pool %s with size /%d", i+1, p.Base, p.Size))
			}
			continue
		}
		subnets, err := SplitPool(base, p.Size)
		if err != nil {
			return nil, fmt.Errorf("pool %d: %w", i+1, err)
		}
		out = append(out, subnets...)
	}
	return out, nil
}

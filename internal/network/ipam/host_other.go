//go:build !linux

package ipam

import (
	"net/netip"

	"github.com/containerd/errdefs"
)

// HostPrefixes is only implemented on Linux.
func HostPrefixes() ([]netip.Prefix, error) {
	return nil, errdefs.ErrNotImplemented.WithMessage("host prefixes are only read on Linux")
}

package link

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
)

// ifNameSize is the kernel's IFNAMSIZ, which counts the terminating NUL.
const ifNameSize = 16

// checkIfName applies the kernel's dev_valid_name rules so a bad name fails early with a clear message.
func checkIfName(what, name string) error {
	switch {
	case name == "":
		return errdefs.ErrInvalidArgument.WithMessage(what + " name is empty")
	case len(name) >= ifNameSize:
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s name %q is longer than %d characters", what, name, ifNameSize-1))
	case name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n"):
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid %s name %q", what, name))
	}
	return nil
}

// linkByName looks a link up in the calling thread's namespace; found is false when there is none.
func linkByName(h *netlink.Handle, name string) (l netlink.Link, found bool, err error) {
	if h == nil {
		l, err = netlink.LinkByName(name)
	} else {
		l, err = h.LinkByName(name)
	}
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("look up link %s: %w", name, err)
	}
	return l, true, nil
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
	ones, bits := n.Mask.Size()
	if bits == 0 {
		return netip.Prefix{}, false
	}
	if a.Is4In6() && bits == 128 {
		ones -= 96
	}
	return netip.PrefixFrom(a.Unmap(), ones), true
}

func family(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// dump retries a netlink dump that the kernel interrupted because the table changed meanwhile.
func dump[T any](list func() ([]T, error)) ([]T, error) {
	var err error
	for range 5 {
		var out []T
		out, err = list()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}

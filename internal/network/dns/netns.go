package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/network/firewall"
)

// listen opens the server's sockets on addr inside the network namespace at nsPath, at the ports the namespace's
// table already sends addr:53 to when they are free, otherwise at ports the kernel picks (UDP and TCP each their
// own), after putting addr on that namespace's loopback, and points the namespace's NAT table
// (firewall.DNSTable) at them, so queries to addr:53 reach them and port 53 stays free for the container. A
// socket stays in the namespace it was created in, so the caller serves them from any goroutine.
func listen(ctx context.Context, nsPath string, addr netip.Addr) (net.PacketConn, net.Listener, error) {
	var (
		pc *net.UDPConn
		l  *net.TCPListener
	)
	// The ports the namespace's table already points at, when a server was here before: listening on them
	// again leaves the table as it is. A namespace that cannot be read fails below, where it is entered.
	prev, reuse, _ := firewall.InstalledDNSRedirect(ctx, nsPath, addr)
	err := inNetns(nsPath, func() error {
		if err := addLoopbackAddr(addr); err != nil {
			return err
		}
		if reuse {
			var uerr, terr error
			pc, uerr = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, prev.UDPPort)))
			l, terr = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, prev.TCPPort)))
			if uerr == nil && terr == nil {
				return nil
			}
			// Taken (another server still runs here, or the container bound them): new ports, a new table.
			if pc != nil {
				pc.Close()
				pc = nil
			}
			if l != nil {
				l.Close()
				l = nil
			}
			reuse = false
		}
		ap := netip.AddrPortFrom(addr, 0)
		var err error
		if pc, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap)); err != nil {
			return listenErr(err)
		}
		if l, err = net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(ap)); err != nil {
			return listenErr(err)
		}
		return nil
	})
	if err == nil && !reuse {
		err = firewall.InstallDNSRedirect(ctx, nsPath, firewall.DNSRedirect{Addr: addr,
			UDPPort: uint16(pc.LocalAddr().(*net.UDPAddr).Port), TCPPort: uint16(l.Addr().(*net.TCPAddr).Port)})
	}
	if err != nil {
		if pc != nil {
			pc.Close()
		}
		if l != nil {
			l.Close()
		}
		return nil, nil, err
	}
	return pc, l, nil
}

func listenErr(err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w: %w", errdefs.ErrAlreadyExists, err)
	}
	return err
}

// addLoopbackAddr brings lo up and adds addr/32 to it, so the sockets can bind addr and the DNAT's destination
// is local whatever else lo holds. Replacing it makes this idempotent.
func addLoopbackAddr(addr netip.Addr) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE) // its socket is created here, in the target namespace
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if lo.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
	}
	ipnet := &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(addr.BitLen(), addr.BitLen())}
	if err := h.AddrReplace(lo, &netlink.Addr{IPNet: ipnet, Scope: unix.RT_SCOPE_HOST}); err != nil {
		return fmt.Errorf("add %s to lo: %w", ipnet, err)
	}
	return nil
}

// inNetns runs fn on a locked OS thread switched into the network namespace at nsPath. The thread is switched
// back before it is released; if that fails, the goroutine exits still locked, so the runtime ends the thread
// instead of running other goroutines in the wrong namespace. fn must not start goroutines that create sockets.
func inNetns(nsPath string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := switchAndRun(nsPath, fn)
		if restored {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

func switchAndRun(nsPath string, fn func() error) (restored bool, err error) {
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return true, fmt.Errorf("current network namespace: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return true, fmt.Errorf("network namespace %s: %w", nsPath, errdefs.ErrNotFound)
		}
		return true, fmt.Errorf("network namespace: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return true, fmt.Errorf("%s is not a network namespace: %w", nsPath, errdefs.ErrInvalidArgument)
		}
		return true, fmt.Errorf("enter network namespace %s: %w", nsPath, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return false, errors.Join(fnErr, fmt.Errorf("restore network namespace: %w", err))
	}
	return true, fnErr
}

package firewall

// Test scaffolding for the end-to-end tests: network namespaces, bridges and veths made with iproute2, servers
// and clients in namespaces, and saving/restoring the bits of host state the tests change. Everything made here
// is named with the run's random prefix and removed in t.Cleanup.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// run runs a command and fails the test if it fails.
func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// cleanupRun runs a command at cleanup, logging a failure.
func cleanupRun(t *testing.T, args ...string) {
	t.Cleanup(func() {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Logf("cleanup: %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
}

// topo builds namespaces, bridges and veths for one test run.
type topo struct {
	t      *testing.T
	prefix string // random, e.g. "bt3fa1"
	nveth  int
}

func (tp *topo) netns(name string) string {
	ns := tp.prefix + "-" + name
	run(tp.t, "ip", "netns", "add", ns)
	cleanupRun(tp.t, "ip", "netns", "del", ns)
	run(tp.t, "ip", "-n", ns, "link", "set", "lo", "up")
	return ns
}

// bridge makes a bridge with gw as the host's address on it.
func (tp *topo) bridge(suffix string, gw netip.Prefix) string {
	br := tp.prefix + suffix
	run(tp.t, "ip", "link", "add", br, "type", "bridge")
	cleanupRun(tp.t, "ip", "link", "del", br)
	run(tp.t, "ip", "addr", "add", gw.String(), "dev", br)
	run(tp.t, "ip", "link", "set", br, "up")
	return br
}

// veth connects namespace ns (as eth0 with addr) to the host: to bridge br if set, else to a host-side interface
// with hostAddr. It returns the host side's name.
func (tp *topo) veth(ns, br string, addr, hostAddr netip.Prefix, gw netip.Addr) string {
	tp.nveth++
	host := fmt.Sprintf("%sv%d", tp.prefix, tp.nveth)
	run(tp.t, "ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
	cleanupRun(tp.t, "ip", "link", "del", host)
	if br != "" {
		run(tp.t, "ip", "link", "set", host, "master", br)
	} else {
		run(tp.t, "ip", "addr", "add", hostAddr.String(), "dev", host)
	}
	run(tp.t, "ip", "link", "set", host, "up")
	run(tp.t, "ip", "-n", ns, "addr", "add", addr.String(), "dev", "eth0")
	run(tp.t, "ip", "-n", ns, "link", "set", "eth0", "up")
	if gw.IsValid() {
		run(tp.t, "ip", "-n", ns, "route", "add", "default", "via", gw.String())
	}
	return host
}

// inNetns runs f with the calling thread in namespace ns ("" is the host's). Sockets made by f stay in ns.
func inNetns(ns string, f func() error) error {
	if ns == "" {
		return f()
	}
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	defer func() {
		// If the thread cannot go back it stays locked and dies with the goroutine.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return f()
}

// serveTCP answers every connection to addr in ns with "<name> <client address>".
func serveTCP(t *testing.T, ns, name string, addr netip.AddrPort) {
	t.Helper()
	var l net.Listener
	if err := inNetns(ns, func() (err error) { l, err = net.Listen("tcp", addr.String()); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ap := netip.MustParseAddrPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "%s %s", name, ap.Addr())
			c.Close()
		}
	}()
}

// serveUDP answers every datagram to addr in ns with "<name> <client address>".
func serveUDP(t *testing.T, ns, name string, addr netip.AddrPort) {
	t.Helper()
	var pc net.PacketConn
	if err := inNetns(ns, func() (err error) { pc, err = net.ListenPacket("udp", addr.String()); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			ap := netip.MustParseAddrPort(from.String())
			fmt.Fprintf(writerTo{pc, from}, "%s %s", name, ap.Addr())
		}
	}()
}

type writerTo struct {
	pc net.PacketConn
	to net.Addr
}

func (w writerTo) Write(b []byte) (int, error) { return w.pc.WriteTo(b, w.to) }

// dial connects from ns to addr and returns what the server said.
func dial(ns, proto string, addr netip.AddrPort, timeout time.Duration) (string, error) {
	var c net.Conn
	err := inNetns(ns, func() (err error) {
		c, err = net.DialTimeout(proto, addr.String(), timeout)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if proto == "udp" {
		if _, err := c.Write([]byte("hi")); err != nil {
			return "", err
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		return string(buf[:n]), err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// hostState saves what the tests change on the host and restores it in cleanup: the filter FORWARD policy (and the
// filter table, if the tests made iptables create it), net.ipv4.ip_forward and net.bridge.bridge-nf-call-iptables.
func saveHostState(t *testing.T) {
	t.Helper()
	for _, key := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/bridge/bridge-nf-call-iptables"} {
		old, err := os.ReadFile(key)
		if err != nil {
			continue
		}
		t.Cleanup(func() {
			if cur, _ := os.ReadFile(key); !bytes.Equal(cur, old) {
				if err := os.WriteFile(key, old, 0o644); err != nil {
					t.Logf("restore %s: %v", key, err)
				}
			}
		})
	}
	policy := forwardPolicy(t)
	nftBackend := strings.Contains(run(t, "iptables", "-V"), "nf_tables")
	filterExisted := exec.Command("nft", "list", "table", "ip", "filter").Run() == nil
	t.Cleanup(func() {
		if forwardPolicy(t) != policy {
			cleanupRunNow(t, "iptables", "-t", "filter", "-P", "FORWARD", policy)
		}
		// Setting the policy made iptables-nft create table ip filter; remove it if it is as iptables made it.
		if nftBackend && !filterExisted {
			out, err := exec.Command("iptables", "-t", "filter", "-S").Output()
			if err == nil && strings.TrimSpace(string(out)) == "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT" {
				cleanupRunNow(t, "nft", "delete", "table", "ip", "filter")
			}
		}
	})
}

func cleanupRunNow(t *testing.T, args ...string) {
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Logf("cleanup: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// forwardPolicy reads the policy of iptables' filter FORWARD chain.
func forwardPolicy(t *testing.T) string {
	out, err := exec.Command("iptables", "-t", "filter", "-S", "FORWARD").Output()
	if err != nil {
		t.Fatalf("iptables -S FORWARD: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if p, ok := strings.CutPrefix(l, "-P FORWARD "); ok {
			return strings.TrimSpace(p)
		}
	}
	return "ACCEPT"
}

// freeSubnet picks 10.x.0.0/16 with x random and unused by the host's addresses and routes.
func freeSubnet(t *testing.T) netip.Prefix {
	t.Helper()
	routes := run(t, "ip", "-4", "route", "show", "table", "all")
	addrs := run(t, "ip", "-4", "addr")
	for range 50 {
		b := make([]byte, 1)
		rand.Read(b)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 100 + b[0]%150, 0, 0}), 16)
		if !strings.Contains(routes+addrs, fmt.Sprintf(" 10.%d.", p.Addr().As4()[1])) &&
			!strings.Contains(routes+addrs, fmt.Sprintf("\n10.%d.", p.Addr().As4()[1])) &&
			!strings.HasPrefix(routes, fmt.Sprintf("10.%d.", p.Addr().As4()[1])) {
			return p
		}
	}
	t.Fatal("no free 10.x.0.0/16")
	return netip.Prefix{}
}

// sub returns 10.x.i.host within the run's /16.
func sub(base netip.Prefix, i, host byte) netip.Addr {
	a := base.Addr().As4()
	return netip.AddrFrom4([4]byte{a[0], a[1], i, host})
}

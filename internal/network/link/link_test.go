package link

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/network/ipam"
	"github.com/berth/berth/internal/testutil"
	"github.com/containerd/errdefs"
	"github.com/moby/sys/mountinfo"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// env is one test's sandbox: a unique name prefix for links and a directory for namespace files. Its cleanup
// checks that nothing the test created is left: no link with the prefix on the host, no mount under the directory.
type env struct {
	t      *testing.T
	prefix string // "bt" + 6 hex digits: names built from it stay within IFNAMSIZ
	dir    string // where namespace files go
}

func newEnv(t *testing.T) *env {
	t.Helper()
	testutil.RequiresRoot(t)
	b := make([]byte, 3)
	rand.Read(b)
	e := &env{t: t, prefix: "bt" + hex.EncodeToString(b), dir: filepath.Join(t.TempDir(), "netns")}
	// Cleanups run last-registered first: this one runs after every cleanup the test registers, and before
	// TempDir's removal.
	t.Cleanup(e.checkNothingLeft)
	return e
}

func (e *env) name(suffix string) string { return e.prefix + suffix }

func (e *env) ns(name string) string { return filepath.Join(e.dir, name) }

// netNS creates a namespace whose deletion is registered as a cleanup.
func (e *env) netNS(ctx context.Context, name string) string {
	e.t.Helper()
	path := e.ns(name)
	if err := NewNetNS(ctx, path); err != nil {
		e.t.Fatalf("NewNetNS(%s): %v", path, err)
	}
	e.t.Cleanup(func() {
		if err := DeleteNetNS(context.Background(), path); err != nil {
			e.t.Errorf("DeleteNetNS(%s): %v", path, err)
		}
	})
	return path
}

// bridge creates a bridge in the host namespace whose deletion is registered as a cleanup.
func (e *env) bridge(ctx context.Context, name string, gw netip.Prefix) {
	e.t.Helper()
	e.t.Cleanup(func() {
		if err := DeleteBridge(context.Background(), name); err != nil {
			e.t.Errorf("DeleteBridge(%s): %v", name, err)
		}
	})
	if err := EnsureBridge(ctx, name, gw, 0); err != nil {
		e.t.Fatalf("EnsureBridge(%s): %v", name, err)
	}
}

// bareBridge creates a bridge as someone other than EnsureBridge would (no address, no MAC set, down), deleted
// as a cleanup.
func (e *env) bareBridge(name string) {
	e.t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { DeleteBridge(context.Background(), name) })
}

// dummy creates a link that is not a bridge (a veth pair: the kernel here has no dummy module) to check that
// nothing deletes or reconfigures what it doesn't own.
func (e *env) dummy(name string) {
	e.t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: name + "p"}); err != nil {
		e.t.Fatalf("create veth %s: %v", name, err)
	}
	e.t.Cleanup(func() {
		if err := deleteLinkByName(name); err != nil {
			e.t.Errorf("delete dummy %s: %v", name, err)
		}
	})
}

func (e *env) checkNothingLeft() {
	t := e.t
	links, err := netlink.LinkList()
	if err != nil {
		t.Errorf("list links: %v", err)
	}
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, e.prefix) {
			t.Errorf("link %s (%s) left behind", l.Attrs().Name, l.Type())
		}
	}
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(e.dir))
	if err != nil {
		t.Errorf("read mountinfo: %v", err)
	}
	for _, m := range mounts {
		if m.Mountpoint != e.dir {
			t.Errorf("mount %s (%s) left behind", m.Mountpoint, m.FSType)
		}
	}
	// NewNetNS made the directory a mount point of its own (as iproute2 does with /run/netns); undo that.
	if err := unix.Unmount(e.dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		t.Errorf("unmount %s: %v", e.dir, err)
	}
	if mounts, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(filepath.Dir(e.dir))); len(mounts) > 0 {
		t.Errorf("mounts left behind: %+v", mounts)
	}
	entries, _ := os.ReadDir(e.dir)
	for _, ent := range entries {
		t.Errorf("namespace file %s left behind", ent.Name())
	}
}

func hasLink(t *testing.T, name string) bool {
	t.Helper()
	_, found, err := linkByName(nil, name)
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func ifaceByName(t *testing.T, ctx context.Context, nsPath, name string) (Interface, bool) {
	t.Helper()
	ifs, err := Interfaces(ctx, nsPath)
	if err != nil {
		t.Fatalf("Interfaces(%q): %v", nsPath, err)
	}
	for _, i := range ifs {
		if i.Name == name {
			return i, true
		}
	}
	return Interface{}, false
}

// freeSubnet picks a random /24 in 10.123.0.0/16 that no host route or address overlaps.
func freeSubnet(t *testing.T) netip.Prefix {
	t.Helper()
	pools, err := ipam.SplitPool(netip.MustParsePrefix("10.123.0.0/16"), 24)
	if err != nil {
		t.Fatal(err)
	}
	mrand.Shuffle(len(pools), func(i, j int) { pools[i], pools[j] = pools[j], pools[i] })
	inUse, err := ipam.HostPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	subnet, err := ipam.ChooseSubnet(pools, inUse)
	if err != nil {
		t.Skipf("no free /24 in 10.123.0.0/16: %v", err)
	}
	return subnet
}

// nth is the n-th address of p.
func nth(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for range n {
		a = a.Next()
	}
	return a
}

func TestNetNS(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	path := e.ns("a")
	if err := NewNetNS(ctx, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { DeleteNetNS(context.Background(), path) })

	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		t.Fatalf("%s is not a namespace mount: %v, type %#x", path, err, st.Type)
	}
	lo, ok := ifaceByName(t, ctx, path, "lo")
	if !ok || !lo.Up || !slices.Contains(lo.Addrs, netip.MustParsePrefix("127.0.0.1/8")) {
		t.Errorf("loopback in new namespace: %+v (found %v)", lo, ok)
	}
	if ifs, _ := Interfaces(ctx, path); len(ifs) != 1 {
		t.Errorf("new namespace has %d interfaces, want only lo: %+v", len(ifs), ifs)
	}
	if err := NewNetNS(ctx, path); !errdefs.IsAlreadyExists(err) {
		t.Errorf("NewNetNS on an existing path: %v, want already exists", err)
	}
	if err := NewNetNS(ctx, "relative/path"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("NewNetNS on a relative path: %v, want invalid argument", err)
	}
	mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(e.dir))
	if err != nil || len(mounts) != 1 || !strings.Contains(mounts[0].Optional, "shared:") {
		t.Errorf("namespace directory should be a shared mount point of its own: %+v, %v", mounts, err)
	}

	// InNetNS runs inside the namespace and leaves no thread there.
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	target, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	for range 20 {
		err := InNetNS(ctx, path, func() error {
			cur, err := netns.Get()
			if err != nil {
				return err
			}
			defer cur.Close()
			if !cur.Equal(target) {
				return errors.New("fn does not run in the target namespace")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sentinel := errors.New("sentinel")
	if err := InNetNS(ctx, path, func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("InNetNS error = %v, want fn's", err)
	}
	for range 50 { // every goroutine still starts in the host namespace
		done := make(chan bool)
		go func() {
			cur, err := netns.Get()
			done <- err == nil && cur.Equal(host)
			cur.Close()
		}()
		if !<-done {
			t.Fatal("a thread was left in another namespace")
		}
	}
	if err := InNetNS(ctx, e.ns("missing"), func() error { return nil }); !errdefs.IsNotFound(err) {
		t.Errorf("InNetNS on a missing path: %v, want not found", err)
	}

	if err := DeleteNetNS(ctx, path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace file still there: %v", err)
	}
	if mounted, err := mountinfo.Mounted(path); err == nil && mounted {
		t.Error("namespace still mounted")
	}
	if err := DeleteNetNS(ctx, path); err != nil {
		t.Errorf("second DeleteNetNS: %v", err)
	}
	// A plain file at the path (a crash between create and mount) is just removed.
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := DeleteNetNS(ctx, path); err != nil {
		t.Errorf("DeleteNetNS of a plain file: %v", err)
	}
}

// A bridge's MAC address must not follow its ports: its neighbours keep it in their ARP caches (bridge_linux.go,
// randomMAC). A port with a lower MAC than the bridge's joins and leaves; the bridge keeps its own, whether
// EnsureBridge made it or adopted it — while a bridge nobody fixed takes the port's (the kernel's behaviour
// that makes this test able to fail).
func TestBridgeMACStaysWhenPortsChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	low := net.HardwareAddr{0x00, 0x00, 0x00, 0x00, 0x00, 0x01} // lower than any bridge's
	macOf := func(name string) string {
		t.Helper()
		l, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		return l.Attrs().HardwareAddr.String()
	}
	// ownMAC is whether the bridge's MAC is one Berth gives (randomMAC): locally administered and unicast.
	ownMAC := func(name string) bool {
		mac, _ := net.ParseMAC(macOf(name))
		return len(mac) == 6 && mac[0]&0x01 == 0 && mac[0]&0x02 != 0
	}
	// port attaches a veth whose host end has MAC low to br, and returns a func detaching (deleting) it.
	port := func(br, name string) func() {
		t.Helper()
		b, err := netlink.LinkByName(br)
		if err != nil {
			t.Fatal(err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		attrs.HardwareAddr = low
		attrs.MasterIndex = b.Attrs().Index
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: name + "p"}); err != nil {
			t.Fatal(err)
		}
		l, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := deleteLinkByName(name); err != nil {
				t.Error(err)
			}
		}
	}
	// The control: a bridge nobody fixed takes its port's lower MAC, and all zeros once its last port left.
	loose := e.name("lo")
	e.bareBridge(loose)
	detach := port(loose, e.name("lp"))
	if got := macOf(loose); got != low.String() {
		t.Fatalf("a bare bridge kept %s with a port of %s: this kernel does not move a bridge's MAC, the test proves nothing", got, low)
	}
	detach()
	// Adopted in that state, it gets an address of its own rather than keeping none.
	if err := EnsureBridge(ctx, loose, netip.MustParsePrefix("10.124.0.9/30"), 0); err != nil {
		t.Fatal(err)
	}
	if !ownMAC(loose) {
		t.Errorf("bridge %s adopted without ports: MAC %q, want a locally administered unicast address", loose, macOf(loose))
	}

	subnet := freeSubnet(t)
	made := e.name("mk")
	e.bridge(ctx, made, netip.PrefixFrom(nth(subnet, 1), subnet.Bits()))
	adopted := e.name("ad")
	e.bareBridge(adopted)
	if err := EnsureBridge(ctx, adopted, netip.MustParsePrefix("10.124.0.5/30"), 0); err != nil {
		t.Fatal(err)
	}
	for _, br := range []string{made, adopted} {
		before := macOf(br)
		if br == made && !ownMAC(br) {
			t.Errorf("bridge %s: MAC %s is not a locally administered unicast address", br, before)
		}
		detach := port(br, br+"p")
		if got := macOf(br); got != before {
			t.Errorf("bridge %s: MAC %s became %s when a port with a lower one joined", br, before, got)
		}
		detach()
		if got := macOf(br); got != before {
			t.Errorf("bridge %s: MAC %s became %s when the port left", br, before, got)
		}
	}
}

func TestEnsureBridge(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	subnet := freeSubnet(t)
	gw := netip.PrefixFrom(nth(subnet, 1), subnet.Bits())
	other := netip.PrefixFrom(nth(subnet, 2), subnet.Bits())
	br := e.name("br")
	e.bridge(ctx, br, gw)

	// Idempotent: a second call adopts the bridge and changes nothing.
	if err := EnsureBridge(ctx, br, gw, 0); err != nil {
		t.Fatalf("second EnsureBridge: %v", err)
	}
	ifc, ok := ifaceByName(t, ctx, "", br)
	if !ok || ifc.Type != "bridge" || !ifc.Up {
		t.Fatalf("bridge: %+v (found %v)", ifc, ok)
	}
	var v4 []netip.Prefix
	for _, a := range ifc.Addrs {
		if a.Addr().Is4() {
			v4 = append(v4, a)
		}
	}
	if !slices.Equal(v4, []netip.Prefix{gw}) {
		t.Errorf("bridge addresses %v, want just %s", v4, gw)
	}

	// An existing bridge without an address is adopted and gets one, and its MTU.
	bare := e.name("bare")
	e.bareBridge(bare)
	bareGW := netip.MustParsePrefix("10.124.0.1/30")
	if err := EnsureBridge(ctx, bare, bareGW, 1400); err != nil {
		t.Fatalf("adopt bare bridge: %v", err)
	}
	if ifc, _ := ifaceByName(t, ctx, "", bare); !slices.Contains(ifc.Addrs, bareGW) || ifc.MTU != 1400 || !ifc.Up {
		t.Errorf("adopted bridge: %+v", ifc)
	}

	dummy := e.name("dm")
	e.dummy(dummy)

	tests := []struct {
		name    string
		bridge  string
		gateway netip.Prefix
		mtu     int
		wantErr func(error) bool
	}{
		{name: "another address", bridge: br, gateway: other, wantErr: errdefs.IsConflict},
		{name: "not a bridge", bridge: dummy, gateway: gw, wantErr: errdefs.IsConflict},
		{name: "name too long", bridge: e.name("0123456789"), gateway: gw, wantErr: errdefs.IsInvalidArgument},
		{name: "name with a slash", bridge: "bt/x", gateway: gw, wantErr: errdefs.IsInvalidArgument},
		{name: "no gateway", bridge: e.name("ng"), wantErr: errdefs.IsInvalidArgument},
		{name: "negative MTU", bridge: e.name("ng"), gateway: gw, mtu: -1, wantErr: errdefs.IsInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := EnsureBridge(ctx, tt.bridge, tt.gateway, tt.mtu)
			if !tt.wantErr(err) {
				t.Fatalf("EnsureBridge(%s, %s) = %v, wrong category", tt.bridge, tt.gateway, err)
			}
		})
	}
	if ifc, ok := ifaceByName(t, ctx, "", dummy); !ok || ifc.Type != "veth" || len(ifc.Addrs) != 0 {
		t.Errorf("the dummy was touched: %+v", ifc)
	}
	if ifc, _ := ifaceByName(t, ctx, "", br); slices.Contains(ifc.Addrs, other) {
		t.Errorf("a conflicting address was added: %v", ifc.Addrs)
	}

	// DeleteBridge refuses what isn't a bridge and ignores what isn't there.
	if err := DeleteBridge(ctx, dummy); !errdefs.IsConflict(err) || !hasLink(t, dummy) {
		t.Errorf("DeleteBridge on a dummy: %v", err)
	}
	if err := DeleteBridge(ctx, br); err != nil || hasLink(t, br) {
		t.Errorf("DeleteBridge: %v, still there: %v", err, hasLink(t, br))
	}
	if err := DeleteBridge(ctx, br); err != nil {
		t.Errorf("DeleteBridge of a missing bridge: %v", err)
	}

	if err := SetRouteLocalnet(bare); err != nil {
		t.Fatal(err)
	}
	if v, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + bare + "/route_localnet"); err != nil || strings.TrimSpace(string(v)) != "1" {
		t.Errorf("route_localnet = %q, %v", v, err)
	}
	if err := SetRouteLocalnet(e.name("nobr")); err == nil {
		t.Error("SetRouteLocalnet on a missing bridge succeeded")
	}
}

func TestAttachVeth(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	subnet := freeSubnet(t)
	gw := nth(subnet, 1)
	br := e.name("br")
	e.bridge(ctx, br, netip.PrefixFrom(gw, subnet.Bits()))
	nsPath := e.netNS(ctx, "c1")

	addr := nth(subnet, 2)
	cfg := VethConfig{
		Bridge: br, HostName: e.name("h1"), NetNSPath: nsPath, IfName: "eth0",
		Addr: netip.PrefixFrom(addr, subnet.Bits()), Gateway: gw, MAC: ipam.MAC(addr), MTU: 1450,
	}
	t.Cleanup(func() { DetachVeth(context.Background(), cfg.HostName) })
	if err := AttachVeth(ctx, cfg); err != nil {
		t.Fatal(err)
	}

	host, ok := ifaceByName(t, ctx, "", cfg.HostName)
	if !ok || host.Type != "veth" || host.Master != br || !host.Up || host.MTU != 1450 {
		t.Errorf("host side: %+v (found %v)", host, ok)
	}
	eth0, ok := ifaceByName(t, ctx, nsPath, "eth0")
	if !ok || !eth0.Up || eth0.MAC.String() != ipam.MAC(addr).String() || eth0.MTU != 1450 || !slices.Contains(eth0.Addrs, cfg.Addr) {
		t.Errorf("container side: %+v (found %v)", eth0, ok)
	}
	h, err := handleAt(ctx, nsPath)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	h.Close()
	if err != nil {
		t.Fatal(err)
	}
	var defaultVia netip.Addr
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			defaultVia, _ = netip.AddrFromSlice(r.Gw)
			defaultVia = defaultVia.Unmap()
		}
	}
	if defaultVia != gw {
		t.Errorf("default route via %s, want %s (routes %v)", defaultVia, gw, routes)
	}

	// Failures leave nothing half made.
	dummy := e.name("dm")
	e.dummy(dummy)
	tests := []struct {
		name    string
		mutate  func(*VethConfig)
		wantErr func(error) bool
	}{
		{name: "missing bridge", mutate: func(c *VethConfig) { c.Bridge = e.name("nobr") }, wantErr: errdefs.IsNotFound},
		{name: "bridge is not a bridge", mutate: func(c *VethConfig) { c.Bridge = dummy }, wantErr: errdefs.IsInvalidArgument},
		{name: "host name taken", mutate: func(c *VethConfig) { c.HostName = dummy }, wantErr: errdefs.IsAlreadyExists},
		{name: "interface name taken in the namespace", mutate: func(c *VethConfig) {}, wantErr: errdefs.IsAlreadyExists},
		{name: "missing namespace", mutate: func(c *VethConfig) { c.NetNSPath = e.ns("missing") }, wantErr: errdefs.IsNotFound},
		{name: "second default route", mutate: func(c *VethConfig) { c.IfName = "eth1" }, wantErr: func(err error) bool { return err != nil }},
		{name: "unreachable gateway", mutate: func(c *VethConfig) {
			c.IfName, c.Addr, c.Gateway = "eth1", netip.PrefixFrom(nth(subnet, 3), subnet.Bits()), netip.MustParseAddr("192.0.2.77")
		}, wantErr: func(err error) bool { return err != nil }},
		{name: "multicast MAC", mutate: func(c *VethConfig) { c.MAC = net.HardwareAddr{1, 0, 0, 0, 0, 1} }, wantErr: errdefs.IsInvalidArgument},
		{name: "interface name too long", mutate: func(c *VethConfig) { c.IfName = "eth0123456789012" }, wantErr: errdefs.IsInvalidArgument},
		{name: "no namespace", mutate: func(c *VethConfig) { c.NetNSPath = "" }, wantErr: errdefs.IsInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.HostName = e.name("h2")
			tt.mutate(&c)
			err := AttachVeth(ctx, c)
			if !tt.wantErr(err) {
				t.Fatalf("AttachVeth = %v, wrong category", err)
			}
			if c.HostName != dummy && hasLink(t, c.HostName) {
				t.Errorf("host side %s left behind", c.HostName)
			}
			if _, ok := ifaceByName(t, ctx, nsPath, "eth1"); ok {
				t.Error("eth1 left behind in the namespace")
			}
			if _, ok := ifaceByName(t, ctx, nsPath, "eth0"); !ok {
				t.Error("the working eth0 was removed")
			}
		})
	}

	if err := DetachVeth(ctx, br); !errdefs.IsConflict(err) || !hasLink(t, br) {
		t.Errorf("DetachVeth on a bridge: %v", err)
	}
	if err := DetachVeth(ctx, cfg.HostName); err != nil {
		t.Fatal(err)
	}
	if hasLink(t, cfg.HostName) {
		t.Error("host side still there after DetachVeth")
	}
	if _, ok := ifaceByName(t, ctx, nsPath, "eth0"); ok {
		t.Error("container side still there after DetachVeth")
	}
	if err := DetachVeth(ctx, cfg.HostName); err != nil {
		t.Errorf("second DetachVeth: %v", err)
	}
}

// TestTraffic builds a bridge network with two containers and pings across it. The topology lives in a namespace
// of its own standing in for the host, so that the host's firewall (br_netfilter passes bridged frames through
// iptables, where a dockerd may have set FORWARD to DROP) cannot interfere, and EnableForwarding can be tried
// without touching the host's sysctl.
func TestTraffic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	subnet := freeSubnet(t)
	gw := nth(subnet, 1)
	hostNS := e.netNS(ctx, "host")
	a, b := e.netNS(ctx, "a"), e.netNS(ctx, "b")
	addrA, addrB := nth(subnet, 2), nth(subnet, 3)
	br := e.name("br")

	// A new namespace copies the host's IPv4 sysctls (net.core.devconf_inherit_init_net=0), so start from 0 in both
	// the stand-in host and A; A's must stay 0, showing EnableForwarding acts on the calling thread's namespace only.
	const forwardPath = "/proc/sys/net/ipv4/ip_forward"
	for _, ns := range []string{hostNS, a} {
		if err := InNetNS(ctx, ns, func() error { return os.WriteFile(forwardPath, []byte("0\n"), 0o644) }); err != nil {
			t.Fatal(err)
		}
	}
	err := InNetNS(ctx, hostNS, func() error {
		if err := EnsureBridge(ctx, br, netip.PrefixFrom(gw, subnet.Bits()), 0); err != nil {
			return err
		}
		if err := EnsureBridge(ctx, br, netip.PrefixFrom(gw, subnet.Bits()), 0); err != nil {
			return fmt.Errorf("second EnsureBridge: %w", err)
		}
		for i, c := range []struct {
			ns   string
			addr netip.Addr
		}{{a, addrA}, {b, addrB}} {
			err := AttachVeth(ctx, VethConfig{
				Bridge: br, HostName: e.name(fmt.Sprintf("v%d", i)), NetNSPath: c.ns, IfName: "eth0",
				Addr: netip.PrefixFrom(c.addr, subnet.Bits()), Gateway: gw, MAC: ipam.MAC(c.addr),
			})
			if err != nil {
				return err
			}
		}
		was, err := EnableForwarding()
		if err != nil || was {
			return fmt.Errorf("EnableForwarding in a new namespace = %v, %v; want false, nil", was, err)
		}
		if was, err := EnableForwarding(); err != nil || !was {
			return fmt.Errorf("second EnableForwarding = %v, %v; want true, nil", was, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var forwardA []byte
	if err := InNetNS(ctx, a, func() (err error) { forwardA, err = os.ReadFile(forwardPath); return err }); err != nil || string(forwardA) != "0\n" {
		t.Errorf("ip_forward in another namespace = %q, %v; want 0", forwardA, err)
	}

	for _, p := range []struct {
		name string
		from string
		to   netip.Addr
	}{{"a to b", a, addrB}, {"b to a", b, addrA}, {"a to the gateway", a, gw}} {
		if err := ping(ctx, p.from, p.to, 3); err != nil {
			t.Errorf("ping %s (%s): %v", p.name, p.to, err)
		}
	}
	if err := ping(ctx, a, nth(subnet, 9), 1); err == nil {
		t.Error("ping to an address nobody has was answered")
	}

	// Detaching B removes the pair inside the stand-in host; A loses its peer.
	err = InNetNS(ctx, hostNS, func() error {
		if err := DetachVeth(ctx, e.name("v1")); err != nil {
			return err
		}
		if _, found, err := linkByName(nil, e.name("v1")); err != nil || found {
			return fmt.Errorf("v1 still there (%v)", err)
		}
		if err := DetachVeth(ctx, e.name("v0")); err != nil {
			return err
		}
		return DeleteBridge(ctx, br)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ifaceByName(t, ctx, b, "eth0"); ok {
		t.Error("b's eth0 survived DetachVeth")
	}
}

// ping sends up to tries ICMP echo requests, a second apart, from inside the namespace at nsPath over a raw socket
// and waits for a reply from dst.
func ping(ctx context.Context, nsPath string, dst netip.Addr, tries int) error {
	return InNetNS(ctx, nsPath, func() error {
		c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
		if err != nil {
			return err
		}
		defer c.Close()
		id := uint16(mrand.Uint32())
		buf := make([]byte, 1500)
		for seq := uint16(1); int(seq) <= tries; seq++ {
			msg := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq), 'b', 'e', 'r', 't', 'h'}
			cs := checksum(msg)
			msg[2], msg[3] = byte(cs>>8), byte(cs)
			if _, err := c.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
				return err
			}
			c.SetReadDeadline(time.Now().Add(time.Second))
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					break // timeout: try the next sequence number
				}
				ip, _ := netip.ParseAddr(from.String())
				if n >= 8 && buf[0] == 0 && buf[4] == byte(id>>8) && buf[5] == byte(id) && ip == dst {
					return nil
				}
			}
		}
		return fmt.Errorf("no echo reply from %s", dst)
	})
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

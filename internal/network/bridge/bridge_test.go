package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/ipam"
	"github.com/berth/berth/internal/network/link"
	"github.com/berth/berth/internal/testutil"
	"golang.org/x/sys/unix"
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// freeSubnet picks a random /24 in 10.124.0.0/16 that no host route or address overlaps.
func freeSubnet(t *testing.T) netip.Prefix {
	t.Helper()
	pools, _ := ipam.SplitPool(netip.MustParsePrefix("10.124.0.0/16"), 24)
	mrand.Shuffle(len(pools), func(i, j int) { pools[i], pools[j] = pools[j], pools[i] })
	inUse, err := ipam.HostPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	subnet, err := ipam.ChooseSubnet(pools, inUse)
	if err != nil {
		t.Fatalf("no free /24 in 10.124.0.0/16: %v", err)
	}
	return subnet
}

// netNS creates a namespace under a directory of the test, and removes both at cleanup (NewNetNS makes the
// directory a mount point of its own, as iproute2 does with /run/netns).
func netNS(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "netns")
	path := filepath.Join(dir, "ns")
	if err := link.NewNetNS(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := link.DeleteNetNS(context.Background(), path); err != nil {
			t.Error(err)
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Error(err)
		}
	})
	return path
}

// ipv4 keeps the IPv4 prefixes (the kernel adds an IPv6 link-local one).
func ipv4(ps []netip.Prefix) []netip.Prefix {
	return slices.DeleteFunc(slices.Clone(ps), func(p netip.Prefix) bool { return !p.Addr().Is4() })
}

func iface(t *testing.T, nsPath, name string) (link.Interface, bool) {
	t.Helper()
	ifs, err := link.Interfaces(context.Background(), nsPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Name == name {
			return i, true
		}
	}
	return link.Interface{}, false
}

// TestDriverOnTheKernel walks a network's life on real kernel objects: create (twice: it is what every daemon
// start does), a container joining with a published port, leaving, and delete; nothing is left behind.
func TestDriverOnTheKernel(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	suffix := randHex(3)
	table := "bt-" + suffix
	d, err := New(ctx, WithFirewall(firewall.WithTableName(table)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.fw.Reset(context.Background()) })

	subnet := freeSubnet(t)
	gw := subnet.Addr().Next()
	n := network.NetworkInfo{ID: randHex(32), Name: "front", Subnet: subnet, Gateway: gw,
		Options: map[string]string{optName: "bt" + suffix, optMTU: "1400"}}
	t.Cleanup(func() { link.DeleteBridge(context.Background(), "bt"+suffix) })
	for range 2 {
		if err := d.CreateNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	br, ok := iface(t, "", "bt"+suffix)
	if !ok || br.Type != "bridge" || br.MTU != 1400 || !slices.Contains(ipv4(br.Addrs), netip.PrefixFrom(gw, subnet.Bits())) {
		t.Fatalf("bridge = %+v (found %v), want a bridge with MTU 1400 and %s/%d", br, ok, gw, subnet.Bits())
	}
	if nets, _ := d.fw.Networks(ctx); len(nets) != 1 || nets[0].Bridge != "bt"+suffix || !nets[0].ICC {
		t.Fatalf("firewall networks = %+v", nets)
	}

	other := n
	other.ID = randHex(32)
	other.Name = "twin"
	if err := d.CreateNetwork(ctx, other); !errdefs.IsConflict(err) {
		t.Fatalf("a second network on the same bridge: err = %v, want a conflict", err)
	}

	nsPath := netNS(t)
	addr := netip.PrefixFrom(gw.Next(), subnet.Bits())
	ep := network.EndpointInfo{ID: "e1", ContainerID: "c1", Addr: addr, Gateway: gw, DefaultRoute: true,
		MAC: ipam.MAC(addr.Addr()), IfName: "eth0", HostIfName: "vt" + suffix}
	if err := d.Join(ctx, n, ep, network.Sandbox{ContainerID: "c1", Name: "web", NetNSPath: nsPath}); err != nil {
		t.Fatal(err)
	}
	eth0, ok := iface(t, nsPath, "eth0")
	if !ok || !eth0.Up || eth0.MTU != 1400 || eth0.MAC.String() != ep.MAC.String() || !slices.Equal(ipv4(eth0.Addrs), []netip.Prefix{addr}) {
		t.Fatalf("eth0 = %+v (found %v)", eth0, ok)
	}
	host, ok := iface(t, "", "vt"+suffix)
	if !ok || host.Master != "bt"+suffix {
		t.Fatalf("host side = %+v (found %v), want a port of bt%s", host, ok, suffix)
	}

	p := network.Port{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: uint16(20000 + mrand.IntN(10000)), ContainerPort: 80}
	if err := d.PublishPort(ctx, n, ep, p); err != nil {
		t.Fatal(err)
	}
	ports, _ := d.fw.Ports(ctx)
	if len(ports) != 1 || ports[0].ContainerIP != addr.Addr() || ports[0].HostPort != p.HostPort || ports[0].Bridge != "bt"+suffix {
		t.Fatalf("ports = %+v", ports)
	}
	// What a restarted daemon reads back: the ports to this endpoint, none to another.
	if got, err := d.PublishedPorts(ctx, n, ep); err != nil || !slices.Equal(got, []network.Port{p}) {
		t.Fatalf("published ports = %+v, %v; want [%+v]", got, err, p)
	}
	otherEP := ep
	otherEP.Addr = netip.PrefixFrom(addr.Addr().Next(), subnet.Bits())
	if got, err := d.PublishedPorts(ctx, n, otherEP); err != nil || len(got) != 0 {
		t.Fatalf("published ports to another endpoint = %+v, %v", got, err)
	}
	if err := d.UnpublishPort(ctx, n, ep, p); err != nil {
		t.Fatal(err)
	}
	if ports, _ := d.fw.Ports(ctx); len(ports) != 0 {
		t.Fatalf("ports after unpublish = %+v", ports)
	}

	if err := d.Leave(ctx, n, ep); err != nil {
		t.Fatal(err)
	}
	if _, ok := iface(t, "", "vt"+suffix); ok {
		t.Fatal("the host side is still there after Leave")
	}
	if _, ok := iface(t, nsPath, "eth0"); ok {
		t.Fatal("eth0 is still in the namespace after Leave")
	}

	if err := d.DeleteNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	if _, ok := iface(t, "", "bt"+suffix); ok {
		t.Fatal("the bridge is still there after DeleteNetwork")
	}
	if nets, _ := d.fw.Networks(ctx); len(nets) != 0 {
		t.Fatalf("firewall networks after delete = %+v", nets)
	}
	// The name is free again.
	if err := d.CreateNetwork(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteNetwork(ctx, other); err != nil {
		t.Fatal(err)
	}
}

// TestCreateNetworkFailureLeavesNothing: when the firewall refuses a network (its subnet overlaps another's),
// the bridge this call made is deleted again and the other network keeps its rules.
func TestCreateNetworkFailureLeavesNothing(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	suffix := randHex(3)
	d, err := New(ctx, WithFirewall(firewall.WithTableName("bt-"+suffix)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.fw.Reset(context.Background()) })
	subnet := freeSubnet(t)
	first := network.NetworkInfo{ID: randHex(32), Name: "first", Subnet: subnet, Gateway: subnet.Addr().Next(), Options: map[string]string{optName: "bf" + suffix}}
	t.Cleanup(func() { link.DeleteBridge(context.Background(), "bf"+suffix) })
	if err := d.CreateNetwork(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := network.NetworkInfo{ID: randHex(32), Name: "second", Subnet: subnet, Gateway: subnet.Addr().Next(), Options: map[string]string{optName: "bs" + suffix}}
	t.Cleanup(func() { link.DeleteBridge(context.Background(), "bs"+suffix) })
	if err := d.CreateNetwork(ctx, second); !errdefs.IsConflict(err) {
		t.Fatalf("err = %v, want a conflict", err)
	}
	if _, ok := iface(t, "", "bs"+suffix); ok {
		t.Fatal("the refused network's bridge is left behind")
	}
	nets, _ := d.fw.Networks(ctx)
	if len(nets) != 1 || nets[0].Bridge != "bf"+suffix {
		t.Fatalf("firewall networks = %+v, want only bf%s", nets, suffix)
	}
	if err := d.DeleteNetwork(ctx, first); err != nil {
		t.Fatal(err)
	}
}

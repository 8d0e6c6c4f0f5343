package overlay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/ipam"
	"github.com/berth/berth/internal/network/link"
	"github.com/berth/berth/internal/testutil"
)

// The driver on real kernel objects: two nodes, each a network namespace where its driver runs (the node's
// VXLAN socket lives there), joined by a veth pair as their underlay; a container namespace on each.

type testNode struct {
	name string
	ns   string // the node's namespace: its "host"
	ip   netip.Addr
	d    *Driver
	dir  string // its netns directory (the exec root's netns)
}

// in runs fn with the calling goroutine's thread in the node's namespace.
func (n *testNode) in(t *testing.T, fn func() error) {
	t.Helper()
	if err := link.InNetNS(context.Background(), n.ns, fn); err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nsrun runs a command in the namespace at ns.
func nsrun(t *testing.T, ns string, args ...string) string {
	t.Helper()
	return run(t, "nsenter", append([]string{"--net=" + ns}, args...)...)
}

// ping pings addr from the namespace at ns, and reports whether it answered.
func ping(ns string, addr netip.Addr) bool {
	return exec.Command("nsenter", "--net="+ns, "busybox", "ping", "-c", "1", "-W", "2", addr.String()).Run() == nil
}

// newNodes makes two nodes on a private underlay (192.168.99.1 and .2).
func newNodes(t *testing.T, encrypted bool) (*testNode, *testNode) {
	t.Helper()
	testutil.RequiresRoot(t)
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Fatal("busybox (busybox-static) is needed to ping")
	}
	ctx := context.Background()
	b := make([]byte, 3)
	rand.Read(b)
	tag := hex.EncodeToString(b)
	dir := filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() { link.ReleaseNetNSDir(dir) })
	var nodes [2]*testNode
	for i := range nodes {
		n := &testNode{name: fmt.Sprintf("node%d", i+1), ns: filepath.Join(dir, fmt.Sprintf("node%d", i+1)),
			ip: netip.MustParseAddr(fmt.Sprintf("192.168.99.%d", i+1)), dir: filepath.Join(t.TempDir(), "run")}
		t.Cleanup(func() { link.ReleaseNetNSDir(n.dir) })
		t.Cleanup(func() { link.DeleteNetNS(context.Background(), filepath.Join(n.dir, "1-ovltest012")) })
		if err := link.NewNetNS(ctx, n.ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { link.DeleteNetNS(context.Background(), n.ns) })
		nodes[i] = n
	}
	run(t, "ip", "link", "add", "ul"+tag, "netns", nodes[0].ns, "type", "veth", "peer", "name", "ul"+tag, "netns", nodes[1].ns)
	for _, n := range nodes {
		nsrun(t, n.ns, "ip", "addr", "add", n.ip.String()+"/24", "dev", "ul"+tag)
		nsrun(t, n.ns, "ip", "link", "set", "ul"+tag, "up")
		cfg := Config{NetNSDir: n.dir, HostMTU: 1500}
		if encrypted {
			var fw *firewall.Manager
			n.in(t, func() (err error) {
				fw, err = firewall.New(ctx, firewall.WithTableName("berth-test-overlay"), firewall.WithIPTables(false))
				return err
			})
			cfg.Encryption = &Encryption{Device: "bwg" + tag, KeyFile: filepath.Join(t.TempDir(), "wg.key"), Firewall: fw}
		}
		n.in(t, func() (err error) { n.d, err = New(ctx, cfg); return err })
		t.Cleanup(func() { n.in(t, func() error { n.d.Close(); return nil }) })
	}
	return nodes[0], nodes[1]
}

func testNetwork(encrypted bool) network.NetworkInfo {
	opts := map[string]string{optVXLANIDs: "4101"}
	if encrypted {
		opts[optEncrypted] = ""
	}
	return network.NetworkInfo{ID: "ovltest0123456789", Name: "ovl", Options: opts,
		Subnet: netip.MustParsePrefix("10.77.0.0/24"), Gateway: netip.MustParseAddr("10.77.0.1")}
}

// container makes a container namespace on a node, joined to the network with addr.
func container(t *testing.T, n *testNode, net network.NetworkInfo, addr string) (string, Endpoint, network.EndpointInfo) {
	t.Helper()
	ctx := context.Background()
	ns := filepath.Join(n.dir, "c-"+n.name)
	if err := link.NewNetNS(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.DeleteNetNS(context.Background(), ns) })
	a := netip.MustParseAddr(addr)
	ep := network.EndpointInfo{ID: "ep-" + n.name, ContainerID: "c-" + n.name, Addr: netip.PrefixFrom(a, 24), MAC: ipam.MAC(a),
		IfName: "eth0", HostIfName: "veth" + n.name}
	n.in(t, func() error {
		return n.d.Join(ctx, net, ep, network.Sandbox{ContainerID: ep.ContainerID, NetNSPath: ns})
	})
	return ns, Endpoint{NetworkID: net.ID, NodeID: n.name, Addr: a, MAC: ep.MAC}, ep
}

func TestTwoNodes(t *testing.T) {
	ctx := context.Background()
	n1, n2 := newNodes(t, false)
	net := testNetwork(false)
	for _, n := range []*testNode{n1, n2} {
		n.in(t, func() error { return n.d.CreateNetwork(ctx, net) })
	}
	c1, ep1, info1 := container(t, n1, net, "10.77.0.2")
	c2, ep2, _ := container(t, n2, net, "10.77.0.3")
	nodes := map[string]Node{n1.name: {Addr: n1.ip}, n2.name: {Addr: n2.ip}}
	if ping(c1, ep2.Addr) {
		t.Fatal("a ping went through before the cluster told the nodes of each other: something floods")
	}
	for _, n := range []*testNode{n1, n2} {
		n.in(t, func() error {
			return n.d.Sync(ctx, State{Self: n.name, Nodes: nodes, Endpoints: []Endpoint{ep1, ep2}})
		})
	}
	if !ping(c1, ep2.Addr) || !ping(c2, ep1.Addr) {
		t.Fatal("containers on two nodes do not reach each other")
	}
	ovns := filepath.Join(n1.dir, "1-ovltest012")
	fdb := nsrun(t, ovns, "bridge", "fdb", "show", "dev", "vxlan0")
	if !strings.Contains(fdb, ep2.MAC.String()+" dst 192.168.99.2") || strings.Contains(fdb, "00:00:00:00:00:00") {
		t.Fatalf("forwarding entries of vxlan0:\n%s", fdb)
	}
	if out := nsrun(t, ovns, "ip", "-d", "link", "show", "vxlan0"); !strings.Contains(out, "vxlan id 4101") || !strings.Contains(out, "mtu 1450") || !strings.Contains(out, "nolearning") || !strings.Contains(out, "proxy") {
		t.Fatalf("vxlan0:\n%s", out)
	}
	if out := nsrun(t, c1, "ip", "link", "show", "eth0"); !strings.Contains(out, "mtu 1450") {
		t.Fatalf("the container's interface:\n%s", out)
	}

	// A restarted daemon (a new driver) adopts the network as it is: no entry rewritten, nothing cut.
	n1.in(t, func() (err error) { n1.d, err = New(ctx, Config{NetNSDir: n1.dir, HostMTU: 1500}); return err })
	n1.in(t, func() error { return n1.d.CreateNetwork(ctx, net) })
	if !ping(c1, ep2.Addr) {
		t.Fatal("the restarted node's container lost its peer before any sync")
	}
	n1.in(t, func() error {
		return n1.d.Sync(ctx, State{Self: n1.name, Nodes: nodes, Endpoints: []Endpoint{ep1, ep2}})
	})
	if !ping(c1, ep2.Addr) {
		t.Fatal("lost after the restarted node's sync")
	}

	// The peer left: its entries go.
	n1.in(t, func() error { return n1.d.Sync(ctx, State{Self: n1.name, Nodes: nodes, Endpoints: []Endpoint{ep1}}) })
	if fdb := nsrun(t, ovns, "bridge", "fdb", "show", "dev", "vxlan0"); strings.Contains(fdb, "dst") {
		t.Fatalf("forwarding entries after the peer left:\n%s", fdb)
	}
	if neigh := nsrun(t, ovns, "ip", "neigh", "show", "dev", "vxlan0"); strings.TrimSpace(neigh) != "" {
		t.Fatalf("neighbours after the peer left:\n%s", neigh)
	}

	// Leave, then delete: nothing is left in the node's namespace or its netns directory.
	n1.in(t, func() error { return n1.d.Leave(ctx, net, info1) })
	n1.in(t, func() error { return n1.d.DeleteNetwork(ctx, net) })
	if _, err := os.Stat(ovns); !os.IsNotExist(err) {
		t.Fatalf("the network's namespace is still there: %v", err)
	}
	if out := nsrun(t, n1.ns, "ip", "-o", "link"); strings.Contains(out, "vx-") || strings.Contains(out, "vxlan") {
		t.Fatalf("links left on the node:\n%s", out)
	}
	// Deleting it again is not an error; neither is creating it again (its VNI is free at once).
	n1.in(t, func() error { return n1.d.DeleteNetwork(ctx, net) })
	n1.in(t, func() error { return n1.d.CreateNetwork(ctx, net) })
	n1.in(t, func() error { return n1.d.DeleteNetwork(ctx, net) })
	n2.in(t, func() error { return n2.d.DeleteNetwork(ctx, net) })
}

func TestTwoNodesEncrypted(t *testing.T) {
	ctx := context.Background()
	n1, n2 := newNodes(t, true)
	net := testNetwork(true)
	for _, n := range []*testNode{n1, n2} {
		n.in(t, func() error { return n.d.CreateNetwork(ctx, net) })
	}
	c1, ep1, _ := container(t, n1, net, "10.77.0.2")
	_, ep2, _ := container(t, n2, net, "10.77.0.3")
	psk := make([]byte, 32)
	rand.Read(psk)
	nodes := map[string]Node{
		n1.name: {Addr: n1.ip, PublicKey: n1.d.PublicKey(), TunnelAddr: netip.MustParsePrefix("10.254.0.2/16")},
		n2.name: {Addr: n2.ip, PublicKey: n2.d.PublicKey(), TunnelAddr: netip.MustParsePrefix("10.254.0.3/16")},
	}
	for _, n := range []*testNode{n1, n2} {
		n.in(t, func() error {
			return n.d.Sync(ctx, State{Self: n.name, Nodes: nodes, Endpoints: []Endpoint{ep1, ep2}, PresharedKey: psk})
		})
	}
	if !ping(c1, ep2.Addr) {
		t.Fatal("containers on an encrypted network do not reach each other")
	}
	ovns := filepath.Join(n1.dir, "1-ovltest012")
	if fdb := nsrun(t, ovns, "bridge", "fdb", "show", "dev", "vxlan0"); !strings.Contains(fdb, ep2.MAC.String()+" dst 10.254.0.3") {
		t.Fatalf("the encrypted network's peer is not behind its tunnel address:\n%s", fdb)
	}
	if out := nsrun(t, c1, "ip", "link", "show", "eth0"); !strings.Contains(out, "mtu 1390") {
		t.Fatalf("the container's interface on an encrypted network:\n%s", out)
	}
	rules := nsrun(t, n1.ns, "nft", "list", "table", "inet", "berth-test-overlay")
	if !strings.Contains(rules, `udp dport 4789 @th,96,24 0x1005 drop comment "tunnel vni=4101 port=4789 device=bwg`) {
		t.Fatalf("no rule drops the encrypted VNI in the clear:\n%s", rules)
	}
	// A peer whose key is wrong is not reached.
	bad := nodes[n2.name]
	bad.PublicKey = n1.d.PublicKey()
	nodes[n2.name] = bad
	n1.in(t, func() error {
		return n1.d.Sync(ctx, State{Self: n1.name, Nodes: nodes, Endpoints: []Endpoint{ep1, ep2}, PresharedKey: psk})
	})
	if ping(c1, ep2.Addr) {
		t.Fatal("reached a peer through a tunnel with the wrong key")
	}
	// The last encrypted network gone: the tunnel, its device and the firewall's table go.
	n1.in(t, func() error { return n1.d.DeleteNetwork(ctx, net) })
	n1.in(t, func() error {
		if _, err := netlink.LinkByName(n1.d.cfg.Encryption.Device); err == nil {
			return fmt.Errorf("the tunnel device is still there")
		}
		return nil
	})
	if out, err := exec.Command("nsenter", "--net="+n1.ns, "nft", "list", "table", "inet", "berth-test-overlay").CombinedOutput(); err == nil {
		t.Fatalf("the firewall table is still there:\n%s", out)
	}
	n2.in(t, func() error { return n2.d.DeleteNetwork(ctx, net) })
}

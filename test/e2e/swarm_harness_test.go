package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A swarm of Berth nodes on one machine: each node a daemon in its own network namespace, on a private bridge
// (its own subnet of 10.250.0.0/16), with its own data root, exec root and API socket. The docker CLI reaches
// each daemon through its socket from the host; the daemons reach one another over the bridge.

// swarmNet is the bridge the nodes share.
type swarmNet struct {
	t      *testing.T
	bridge string
	prefix string // "10.250.N."
	nodes  []*swarmNode
}

// swarmNode is one host of the swarm.
type swarmNode struct {
	*Daemon
	Name, NS, IP string
	veth         string
	// net is the bridge the node is on (to add nodes next to it).
	net *swarmNet
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newSwarmNet makes a bridge with the host's address .1 on a random /24 of 10.250.0.0/16; the test's end
// removes it (after its nodes).
func newSwarmNet(t *testing.T) *swarmNet {
	t.Helper()
	requireRoot(t)
	var b [2]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	n := &swarmNet{t: t, bridge: "bsw" + id, prefix: fmt.Sprintf("10.250.%d.", int(b[0])%250+1)}
	ipCmd(t, "link", "add", n.bridge, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", n.bridge).Run() })
	ipCmd(t, "addr", "add", n.prefix+"1/24", "dev", n.bridge)
	ipCmd(t, "link", "set", n.bridge, "up")
	// With br_netfilter, traffic between a bridge's ports goes through iptables' FORWARD chain, whose policy is
	// DROP on a host with docker: let the nodes' traffic through, for the test only.
	rule := []string{"FORWARD", "-i", n.bridge, "-o", n.bridge, "-m", "comment", "--comment", "berth-e2e-swarm", "-j", "ACCEPT"}
	if out, err := exec.Command("iptables", append([]string{"-I"}, rule...)...).CombinedOutput(); err != nil {
		t.Fatalf("iptables: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("iptables", append([]string{"-D"}, rule...)...).Run() })
	return n
}

// addNode makes a namespace joined to the bridge by a veth pair and starts a daemon in it (the node's address
// .10+i). The test's end stops the daemon and removes the namespace and the veth.
func (n *swarmNet) addNode(extraArgs ...string) *swarmNode {
	t := n.t
	t.Helper()
	i := len(n.nodes) + 1
	var b [2]byte
	rand.Read(b[:])
	sn := &swarmNode{net: n, Name: fmt.Sprintf("node%d", i), NS: fmt.Sprintf("bsw-%s-%d", hex.EncodeToString(b[:]), i),
		IP: fmt.Sprintf("%s%d", n.prefix, 10+i), veth: fmt.Sprintf("vsw%s%d", hex.EncodeToString(b[:]), i)}
	ipCmd(t, "netns", "add", sn.NS)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", sn.NS).Run()
		exec.Command("ip", "link", "del", sn.veth).Run()
	})
	ipCmd(t, "link", "add", sn.veth, "type", "veth", "peer", "name", "eth0", "netns", sn.NS)
	ipCmd(t, "link", "set", sn.veth, "master", n.bridge, "up")
	ipCmd(t, "-n", sn.NS, "addr", "add", sn.IP+"/24", "dev", "eth0")
	ipCmd(t, "-n", sn.NS, "link", "set", "eth0", "up")
	ipCmd(t, "-n", sn.NS, "link", "set", "lo", "up")
	ipCmd(t, "-n", sn.NS, "route", "add", "default", "via", n.prefix+"1")
	root, err := os.MkdirTemp("", "berth-e2e-swarm-")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{t: t, Root: root, DataRoot: filepath.Join(root, "data"), ExecRoot: filepath.Join(root, "exec"), Sock: filepath.Join(root, "berth.sock"), netns: sn.NS, hostname: sn.Name}
	d.Host = "unix://" + d.Sock
	d.extraArgs = append([]string{"--bridge", "none"}, extraArgs...)
	t.Cleanup(d.cleanup) // runs before the namespace's removal (cleanups run last-registered first)
	d.start()
	sn.Daemon = d
	n.nodes = append(n.nodes, sn)
	return sn
}

// restart starts a stopped (or killed) node's daemon again.
func (sn *swarmNode) restart() {
	sn.Daemon.start()
}

// nodeID is the node's swarm ID, from docker info.
func (sn *swarmNode) nodeID(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(sn.docker(t, "info", "--format", "{{.Swarm.NodeID}}"))
}

// swarmState is docker info's LocalNodeState.
func (sn *swarmNode) swarmState() string {
	r := sn.dockerR(nil, "info", "--format", "{{.Swarm.LocalNodeState}}")
	return strings.TrimSpace(r.Stdout)
}

// eventuallyDocker runs a docker command until check accepts its result.
func eventuallyDocker(t *testing.T, sn *swarmNode, timeout time.Duration, what string, check func(result) bool, args ...string) result {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var r result
	for time.Now().Before(deadline) {
		r = sn.dockerR(nil, args...)
		if check(r) {
			return r
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not after %v; last: docker %s: %s", what, timeout, strings.Join(args, " "), r)
	return r
}

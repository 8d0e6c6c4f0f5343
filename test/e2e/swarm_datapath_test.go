package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// swarm init --data-path-port: the swarm's VXLAN port, in docker info, on every node's VXLAN devices; out of
// IANA's registered range refused in dockerd's words; containers on two nodes talk over it. swarm join
// --data-path-addr: the other nodes send that node's overlay traffic to that address, not its advertise address.
func TestSwarmDataPathPort(t *testing.T) {
	sn := newSwarmNet(t)
	n1, n2 := sn.addNode(), sn.addNode()
	if r := n1.dockerR(nil, "swarm", "init", "--advertise-addr", n1.IP, "--data-path-port", "80"); r.Code == 0 ||
		!strings.Contains(r.Stderr, "Datapath port number is not in valid range (1024-49151) : 80") {
		t.Fatalf("init with data-path port 80: %s", r)
	}
	if got := n1.swarmState(); got != "inactive" {
		t.Fatalf("a refused init left the node %q", got)
	}
	n1.docker(t, "swarm", "init", "--advertise-addr", n1.IP, "--data-path-port", "7789")
	token := strings.TrimSpace(n1.docker(t, "swarm", "join-token", "-q", "worker"))
	if r := n2.dockerR(nil, "swarm", "join", "--token", token, "--data-path-addr", "0.0.0.0", n1.IP+":2377"); r.Code == 0 ||
		!strings.Contains(r.Stderr, "data path address must be a non-zero IP address or network interface (without a port number)") {
		t.Fatalf("join with data-path address 0.0.0.0: %s", r)
	}
	dataAddr := sn.prefix + "112" // a second address of n2's, for its data path only
	ipCmd(t, "-n", n2.NS, "addr", "add", dataAddr+"/24", "dev", "eth0")
	// Two addresses: which to advertise must be said, in dockerd's words.
	if r := n2.dockerR(nil, "swarm", "join", "--token", token, "--data-path-addr", dataAddr, n1.IP+":2377"); r.Code == 0 ||
		!strings.Contains(r.Stderr, "could not choose an IP address to advertise since this system has multiple addresses on interface eth0 ("+n2.IP+" and "+dataAddr+")") {
		t.Fatalf("join without --advertise-addr on a node with two addresses: %s", r)
	}
	n2.docker(t, "swarm", "join", "--token", token, "--advertise-addr", n2.IP, "--data-path-addr", dataAddr, n1.IP+":2377")
	for _, n := range []*swarmNode{n1, n2} {
		n.importBusybox(t)
	}
	if out := strings.TrimSpace(n1.docker(t, "info", "--format", "{{.Swarm.Cluster.DataPathPort}}")); out != "7789" {
		t.Fatalf("docker info's data path port: %q", out)
	}
	id := strings.TrimSpace(n1.docker(t, "network", "create", "-d", "overlay", "--attachable", "ovl"))
	n1.docker(t, "run", "-d", "--name", "one", "--network", "ovl", "busybox", "sleep", "3600")
	n2.docker(t, "run", "-d", "--name", "two", "--network", "ovl", "busybox", "sleep", "3600")
	for _, n := range []*swarmNode{n1, n2} {
		// (A network made before the node had the swarm's state gets its device again on the swarm's port.)
		waitFor(t, 15*time.Second, "the VXLAN device on port 7789 on "+n.Name, func() bool {
			out, _ := exec.Command("nsenter", "--net="+n.overlayNS(id), "ip", "-d", "link", "show", "vxlan0").CombinedOutput()
			return strings.Contains(string(out), " dstport 7789 ")
		})
	}
	reach(t, n1, "one", containerIP(t, n2, "two", "ovl"))
	reach(t, n2, "two", "one")
	// n1 sends to two through n2's data-path address; n2 to one through n1's advertise address.
	twoMAC := containerMAC(t, n2, "two", "ovl")
	if out := n1.inOverlay(t, id, "bridge", "fdb", "show", "dev", "vxlan0"); !strings.Contains(out, twoMAC+" dst "+dataAddr+" ") {
		t.Fatalf("n1's forwarding entries, want %s behind %s:\n%s", twoMAC, dataAddr, out)
	}
	oneMAC := containerMAC(t, n1, "one", "ovl")
	if out := n2.inOverlay(t, id, "bridge", "fdb", "show", "dev", "vxlan0"); !strings.Contains(out, oneMAC+" dst "+n1.IP+" ") {
		t.Fatalf("n2's forwarding entries, want %s behind %s:\n%s", oneMAC, n1.IP, out)
	}
	// A daemon killed and restarted adopts its VXLAN device as it is, on the swarm's port.
	n2.kill9()
	n2.restart()
	waitFor(t, 30*time.Second, n2.Name+" back in the swarm", func() bool { return n2.swarmState() == "active" })
	if out := n2.inOverlay(t, id, "ip", "-d", "link", "show", "vxlan0"); !strings.Contains(out, " dstport 7789 ") {
		t.Fatalf("vxlan0 on %s after a restart:\n%s", n2.Name, out)
	}
	reach(t, n2, "two", "one")
	// The nodes' VXLAN sockets are on UDP 7789, none on 4789.
	for _, n := range []*swarmNode{n1, n2} {
		if out := n.nsExec(t, "ss", "-uln"); !strings.Contains(out, ":7789 ") || strings.Contains(out, ":4789 ") {
			t.Fatalf("UDP sockets on %s:\n%s", n.Name, out)
		}
	}
}

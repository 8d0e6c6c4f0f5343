package e2e

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Overlay networks across nodes of the swarm harness, through the docker CLI: created on a manager and refused on
// a worker; attachable containers on two nodes reaching each other by address and by name; the data path made
// from the cluster's state (forwarding entries, no flooding) and taken down when the last container leaves, the
// network is removed or the node leaves the swarm; a restarted daemon (kill -9) keeps its containers connected.

// swarmOf makes a swarm of n nodes: the first a manager, the others workers.
func swarmOf(t *testing.T, n int) []*swarmNode {
	t.Helper()
	sn := newSwarmNet(t)
	var nodes []*swarmNode
	for range n {
		nodes = append(nodes, sn.addNode())
	}
	nodes[0].docker(t, "swarm", "init", "--advertise-addr", nodes[0].IP)
	token := strings.TrimSpace(nodes[0].docker(t, "swarm", "join-token", "-q", "worker"))
	for _, w := range nodes[1:] {
		w.docker(t, "swarm", "join", "--token", token, nodes[0].IP+":2377")
	}
	for _, nd := range nodes {
		nd.importBusybox(t)
	}
	return nodes
}

// nsExec runs a command in the node's network namespace (as the daemon sees the host).
func (sn *swarmNode) nsExec(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + sn.NS}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %s: %v: %s", sn.Name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// overlayNS is the path of a network's namespace on the node (docker's 1-<id> layout under the exec root).
func (sn *swarmNode) overlayNS(id string) string {
	return filepath.Join(sn.ExecRoot, "netns", "1-"+id[:10])
}

// inOverlay runs a command in a network's namespace on the node.
func (sn *swarmNode) inOverlay(t *testing.T, id string, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=" + sn.overlayNS(id)}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: in %s: %s: %v: %s", sn.Name, id, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// overlayLeftovers lists what of the data path is left on the node: overlay namespaces, VXLAN and tunnel devices,
// and nftables tables of the overlay.
func (sn *swarmNode) overlayLeftovers(t *testing.T) []string {
	t.Helper()
	var left []string
	entries, _ := os.ReadDir(filepath.Join(sn.ExecRoot, "netns"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "1-") {
			left = append(left, "namespace "+e.Name())
		}
	}
	for _, l := range strings.Split(sn.nsExec(t, "ip", "-o", "link", "show"), "\n") {
		if f := strings.Fields(l); len(f) > 1 && (strings.HasPrefix(f[1], "vx-") || strings.HasPrefix(f[1], "bwg") || strings.HasPrefix(f[1], "berthwg")) {
			left = append(left, "link "+f[1])
		}
	}
	if rules := sn.nsExec(t, "nft", "list", "ruleset"); strings.Contains(rules, "-overlay") || strings.Contains(rules, "tunnel vni=") {
		left = append(left, "nftables:\n"+rules)
	}
	return left
}

func containerIP(t *testing.T, sn *swarmNode, ctr, network string) string {
	t.Helper()
	return strings.TrimSpace(sn.docker(t, "inspect", "--format", "{{(index .NetworkSettings.Networks \""+network+"\").IPAddress}}", ctr))
}

func containerMAC(t *testing.T, sn *swarmNode, ctr, network string) string {
	t.Helper()
	return strings.TrimSpace(sn.docker(t, "inspect", "--format", "{{(index .NetworkSettings.Networks \""+network+"\").MacAddress}}", ctr))
}

// reach checks, from ctr on sn, that target answers ping (retrying while the peers' entries arrive).
func reach(t *testing.T, sn *swarmNode, ctr, target string) {
	t.Helper()
	eventuallyDocker(t, sn, 15*time.Second, fmt.Sprintf("%s on %s reaches %s", ctr, sn.Name, target),
		func(r result) bool { return r.Code == 0 && strings.Contains(r.Stdout, "1 packets received") },
		"exec", ctr, "ping", "-c", "1", "-W", "1", target)
}

func TestSwarmOverlayAttachable(t *testing.T) {
	nodes := swarmOf(t, 3)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	// Created on a manager; refused on a worker, in docker's words.
	r := n2.dockerR(nil, "network", "create", "-d", "overlay", "--attachable", "ovl")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Cannot create a multi-host network from a worker node. Please create the network from a manager node.") {
		t.Fatalf("create on a worker: %s", r)
	}
	id := strings.TrimSpace(n1.docker(t, "network", "create", "-d", "overlay", "--attachable", "ovl"))
	if !regexp.MustCompile(`^[0-9a-z]{25}$`).MatchString(id) {
		t.Fatalf("network ID %q", id)
	}
	if r := n1.dockerR(nil, "network", "create", "-d", "overlay", "ovl"); r.Code == 0 || !strings.Contains(r.Stderr, "network with name ovl already exists") {
		t.Fatalf("a second ovl: %s", r)
	}
	n1.docker(t, "network", "create", "-d", "overlay", "--subnet", "10.90.0.0/16", "--gateway", "10.90.0.254", "wide")
	if r := n1.dockerR(nil, "network", "create", "-d", "overlay", "--subnet", "10.90.7.0/24", "inside"); r.Code == 0 || !strings.Contains(r.Stderr, "Pool overlaps with other one on this address space") {
		t.Fatalf("an overlapping subnet: %s", r)
	}
	n1.docker(t, "network", "create", "-d", "overlay", "closed")
	if out := n1.docker(t, "network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"); out != "closed overlay swarm\ningress overlay swarm\novl overlay swarm\nwide overlay swarm\n" {
		t.Fatalf("network ls on the manager:\n%s", out)
	}
	var ins []struct {
		Scope, Driver string
		Attachable    bool
		IPAM          struct {
			Config []struct{ Subnet, Gateway string }
		}
		Options map[string]string
	}
	if err := json.Unmarshal([]byte(n1.docker(t, "network", "inspect", "wide")), &ins); err != nil || len(ins) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	if w := ins[0]; w.Scope != "swarm" || w.Driver != "overlay" || len(w.IPAM.Config) != 1 || w.IPAM.Config[0].Subnet != "10.90.0.0/16" ||
		w.IPAM.Config[0].Gateway != "10.90.0.254" || !regexp.MustCompile(`^40\d\d$`).MatchString(w.Options["com.docker.network.driver.overlay.vxlanid_list"]) {
		t.Fatalf("inspect wide: %+v", w)
	}
	// A worker lists the ingress network (as docker's, from its join) and no other swarm network until it uses
	// one, and does not know it.
	eventuallyDocker(t, n2, 20*time.Second, "network ls on a worker before use: ingress alone", func(r result) bool { return r.Stdout == "ingress\n" },
		"network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}}")
	if r := n2.dockerR(nil, "network", "inspect", "ovl"); r.Code == 0 || !strings.Contains(r.Stderr, "ovl") {
		t.Fatalf("inspect on a worker before use: %s", r)
	}
	if r := n2.dockerR(nil, "run", "-d", "--network", "closed", "busybox", "sleep", "60"); r.Code == 0 || !strings.Contains(r.Stderr, "network closed not manually attachable") {
		t.Fatalf("run on a network that is not attachable: %s", r)
	}
	if left := n2.overlayLeftovers(t); len(left) != 0 {
		t.Fatalf("a refused run left %v", left)
	}

	// Containers on two workers, by address and by name.
	n2.docker(t, "run", "-d", "--name", "web", "--network", "ovl", "busybox", "sleep", "3600")
	n3.docker(t, "run", "-d", "--name", "api", "--network-alias", "backend", "--network", "ovl", "busybox", "sleep", "3600")
	webIP, apiIP := containerIP(t, n2, "web", "ovl"), containerIP(t, n3, "api", "ovl")
	if !strings.HasPrefix(webIP, "10.0.") || !strings.HasPrefix(apiIP, "10.0.") || webIP == apiIP {
		t.Fatalf("addresses web %q, api %q", webIP, apiIP)
	}
	reach(t, n2, "web", apiIP)
	reach(t, n3, "api", webIP)
	reach(t, n2, "web", "api")
	reach(t, n2, "web", "backend")
	reach(t, n3, "api", "web")
	// A TCP stream across, by name.
	n3.docker(t, "exec", "-d", "api", "sh", "-c", "nc -l -p 5000 > /tmp/got")
	eventuallyDocker(t, n2, 10*time.Second, "a TCP stream web -> api", func(r result) bool { return r.Code == 0 },
		"exec", "web", "sh", "-c", "echo hello-across-nodes | nc -w 2 api 5000")
	eventuallyDocker(t, n3, 10*time.Second, "api received the stream", func(r result) bool { return strings.TrimSpace(r.Stdout) == "hello-across-nodes" },
		"exec", "api", "cat", "/tmp/got")

	// The worker lists and inspects the network now: its container, and the nodes it spans.
	if out := n2.docker(t, "network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}} {{.Scope}}"); out != "ingress swarm\novl swarm\n" {
		t.Fatalf("network ls on a worker using ovl:\n%s", out)
	}
	var wins []struct {
		Containers map[string]struct{ Name, IPv4Address string }
		Peers      []struct{ Name, IP string }
	}
	eventuallyDocker(t, n2, 10*time.Second, "ovl's peers on n2", func(r result) bool {
		if json.Unmarshal([]byte(r.Stdout), &wins) != nil || len(wins) != 1 {
			return false
		}
		ips := map[string]bool{}
		for _, p := range wins[0].Peers {
			ips[p.IP] = true
		}
		return len(wins[0].Peers) == 2 && ips[n2.IP] && ips[n3.IP]
	}, "network", "inspect", "ovl")
	if len(wins[0].Containers) != 1 {
		t.Fatalf("ovl's containers on n2: %+v", wins[0].Containers)
	}
	for _, c := range wins[0].Containers {
		if c.Name != "web" || c.IPv4Address != webIP+"/24" {
			t.Fatalf("ovl's containers on n2: %+v", wins[0].Containers)
		}
	}

	// The data path: n2's VXLAN device knows api's MAC behind n3, by a permanent entry; nothing is flooded.
	apiMAC := containerMAC(t, n3, "api", "ovl")
	fdb := n2.inOverlay(t, id, "bridge", "fdb", "show", "dev", "vxlan0")
	if !strings.Contains(fdb, apiMAC+" dst "+n3.IP+" ") || strings.Contains(fdb, "00:00:00:00:00:00") {
		t.Fatalf("n2's forwarding entries:\n%s", fdb)
	}
	if neigh := n2.inOverlay(t, id, "ip", "neigh", "show", "dev", "vxlan0"); !strings.Contains(neigh, apiIP+" lladdr "+apiMAC+" PERMANENT") {
		t.Fatalf("n2's neighbours:\n%s", neigh)
	}
	if out := n2.inOverlay(t, id, "ip", "-d", "link", "show", "vxlan0"); !strings.Contains(out, "mtu 1450") || !strings.Contains(out, "nolearning") || !strings.Contains(out, "dstport 4789") {
		t.Fatalf("n2's vxlan0:\n%s", out)
	}
	if out := n2.docker(t, "exec", "web", "ip", "link", "show", "eth0"); !strings.Contains(out, "mtu 1450") {
		t.Fatalf("web's eth0:\n%s", out)
	}

	// Removing a network in use is refused.
	if r := n1.dockerR(nil, "network", "rm", "ovl"); r.Code == 0 || !strings.Contains(r.Stderr, "is in use by task") {
		t.Fatalf("rm of a network in use: %s", r)
	}

	// The manager's own container, then kill -9 of n2's daemon: web keeps reaching api while it is down and after.
	n1.docker(t, "run", "-d", "--name", "mgr", "--network", "ovl", "busybox", "sleep", "3600")
	mgrIP := containerIP(t, n1, "mgr", "ovl")
	reach(t, n1, "mgr", "web")
	webNS := nsOfContainer(t, n2, "web")
	n2.kill9()
	if out, err := exec.Command("nsenter", "--net="+webNS, "busybox", "ping", "-c", "1", "-W", "2", apiIP).CombinedOutput(); err != nil {
		t.Fatalf("web lost api while its daemon was down: %v: %s", err, out)
	}
	n2.restart()
	reach(t, n2, "web", apiIP)
	reach(t, n2, "web", "mgr")
	reach(t, n2, "web", mgrIP)

	// api goes: n3 has nothing left of the overlay; n2 forgets api's entries.
	n3.docker(t, "rm", "-f", "api")
	waitFor(t, 10*time.Second, "n3's overlay to go", func() bool { return len(n3.overlayLeftovers(t)) == 0 })
	// (The bridge's own learned entry of the MAC, "master br0", ages out as any; the VXLAN device's goes now.)
	waitFor(t, 10*time.Second, "n2 to forget api", func() bool {
		return !strings.Contains(n2.inOverlay(t, id, "bridge", "fdb", "show", "dev", "vxlan0"), apiMAC+" dst") &&
			!strings.Contains(n2.inOverlay(t, id, "ip", "neigh", "show", "dev", "vxlan0"), apiIP+" ")
	})
	if out := n3.docker(t, "network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}}"); out != "ingress\n" {
		t.Fatalf("n3 lists another overlay network than ingress:\n%s", out)
	}

	// n2 leaves the swarm: web loses the overlay, n2 keeps nothing of it, the manager releases its endpoint.
	n2.docker(t, "swarm", "leave")
	waitFor(t, 15*time.Second, "n2's overlay to go after leaving", func() bool { return len(n2.overlayLeftovers(t)) == 0 })
	if out := n2.docker(t, "exec", "web", "ip", "-o", "addr"); strings.Contains(out, webIP) {
		t.Fatalf("web still has its overlay address after its node left:\n%s", out)
	}
	n1.docker(t, "rm", "-f", "mgr")
	eventuallyDocker(t, n1, 20*time.Second, "rm ovl once nothing uses it", func(r result) bool { return r.Code == 0 }, "network", "rm", "ovl")
	n1.docker(t, "network", "rm", "wide", "closed")
	if out := n1.docker(t, "network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}}"); out != "ingress\n" { // swarm init's stays
		t.Fatalf("overlay networks left:\n%s", out)
	}
	for _, nd := range nodes {
		if left := nd.overlayLeftovers(t); len(left) != 0 {
			t.Fatalf("%s: left %v", nd.Name, left)
		}
	}
}

// nsOfContainer is a container's network namespace, as its daemon bind-mounts it.
func nsOfContainer(t *testing.T, sn *swarmNode, ctr string) string {
	t.Helper()
	id := strings.TrimSpace(sn.docker(t, "inspect", "--format", "{{.Id}}", ctr))
	return filepath.Join(sn.ExecRoot, "netns", id)
}

// capture reads the frames that cross a host interface while during runs.
func capture(t *testing.T, ifname string, during func()) [][]byte {
	t.Helper()
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	proto := uint16(syscall.ETH_P_ALL<<8&0xff00 | syscall.ETH_P_ALL>>8)
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(proto))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: proto, Ifindex: ifc.Index}); err != nil {
		t.Fatal(err)
	}
	tv := syscall.Timeval{Usec: 200000}
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	var mu sync.Mutex
	var frames [][]byte
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, _, err := syscall.Recvfrom(fd, buf, 0)
			if err != nil || n <= 0 {
				continue
			}
			mu.Lock()
			frames = append(frames, append([]byte(nil), buf[:n]...))
			mu.Unlock()
		}
	}()
	during()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	return frames
}

// udpPorts counts the IPv4 UDP frames by destination port.
func udpPorts(frames [][]byte) map[uint16]int {
	out := map[uint16]int{}
	for _, f := range frames {
		if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:14]) != 0x0800 || f[14+9] != 17 {
			continue
		}
		ihl := int(f[14]&0x0f) * 4
		if len(f) < 14+ihl+4 {
			continue
		}
		out[binary.BigEndian.Uint16(f[14+ihl+2:])]++
	}
	return out
}

func containsAny(frames [][]byte, s string) bool {
	for _, f := range frames {
		if bytes.Contains(f, []byte(s)) {
			return true
		}
	}
	return false
}

// An encrypted overlay: containers on two nodes talk through it, and the underlay carries WireGuard, not VXLAN:
// a marker sent across is seen in the clear on a plain overlay (the capture's control) and never on the encrypted
// one. Plain VXLAN of the encrypted network's VNI sent to a node is dropped by its firewall.
func TestSwarmOverlayEncrypted(t *testing.T) {
	nodes := swarmOf(t, 2)
	n1, n2 := nodes[0], nodes[1]
	plainID := strings.TrimSpace(n1.docker(t, "network", "create", "-d", "overlay", "--attachable", "plain"))
	secID := strings.TrimSpace(n1.docker(t, "network", "create", "-d", "overlay", "--attachable", "--opt", "encrypted", "sec"))
	if out := n1.docker(t, "network", "inspect", "--format", "{{json .Options}}", "sec"); !strings.Contains(out, `"encrypted":""`) {
		t.Fatalf("sec's options: %s", out)
	}
	for _, nd := range nodes {
		nd.docker(t, "run", "-d", "--name", "p-"+nd.Name, "--network", "plain", "busybox", "sleep", "3600")
		nd.docker(t, "run", "-d", "--name", "s-"+nd.Name, "--network", "sec", "busybox", "sleep", "3600")
	}
	reach(t, n1, "p-node1", "p-node2")
	reach(t, n1, "s-node1", "s-node2")
	reach(t, n2, "s-node2", "s-node1")
	if out := n1.docker(t, "exec", "s-node1", "ip", "link", "show", "eth0"); !strings.Contains(out, "mtu 1390") {
		t.Fatalf("an encrypted network's MTU leaves room for the tunnel:\n%s", out)
	}
	if fdb := n1.inOverlay(t, secID, "bridge", "fdb", "show", "dev", "vxlan0"); !regexp.MustCompile(`dst 10\.\d+\.\d+\.\d+ (link-netnsid \d+ )?self permanent`).MatchString(fdb) || strings.Contains(fdb, "dst "+n2.IP) {
		t.Fatalf("sec's peers are not behind tunnel addresses:\n%s", fdb)
	}

	send := func(ctr, to, marker string) {
		n2.docker(t, "exec", "-d", to, "sh", "-c", "nc -l -p 6000 > /tmp/got")
		eventuallyDocker(t, n1, 10*time.Second, "send "+marker, func(r result) bool { return r.Code == 0 },
			"exec", ctr, "sh", "-c", "echo "+marker+" | nc -w 2 "+to+" 6000")
		eventuallyDocker(t, n2, 10*time.Second, to+" got "+marker, func(r result) bool { return strings.TrimSpace(r.Stdout) == marker },
			"exec", to, "cat", "/tmp/got")
	}
	plainFrames := capture(t, n2.veth, func() { send("p-node1", "p-node2", "BERTH-PLAIN-MARKER-5f3a") })
	if !containsAny(plainFrames, "BERTH-PLAIN-MARKER-5f3a") || udpPorts(plainFrames)[4789] == 0 {
		t.Fatalf("the capture's control failed: the plain overlay's marker was not seen in %d frames (UDP ports %v)", len(plainFrames), udpPorts(plainFrames))
	}
	secFrames := capture(t, n2.veth, func() { send("s-node1", "s-node2", "BERTH-SECRET-MARKER-9c1d") })
	ports := udpPorts(secFrames)
	if containsAny(secFrames, "BERTH-SECRET-MARKER-9c1d") {
		t.Fatal("the encrypted network's marker crossed the underlay in the clear")
	}
	if ports[51820] == 0 || ports[4789] != 0 {
		t.Fatalf("the encrypted network's traffic on the underlay: UDP ports %v, want WireGuard (51820) and no VXLAN", ports)
	}
	rules := n2.nsExec(t, "nft", "list", "ruleset")
	if !regexp.MustCompile(`iifname != "bwg[0-9a-f]+" udp dport 4789 @th,96,24 0x[0-9a-f]+ drop comment "tunnel vni=\d+ port=4789 device=bwg`).MatchString(rules) {
		t.Fatalf("no rule drops the encrypted VNI in the clear on n2:\n%s", rules)
	}

	for _, nd := range nodes {
		nd.docker(t, "rm", "-f", "p-"+nd.Name, "s-"+nd.Name)
	}
	for _, nd := range nodes {
		waitFor(t, 15*time.Second, nd.Name+"'s overlay to go", func() bool { return len(nd.overlayLeftovers(t)) == 0 })
	}
	eventuallyDocker(t, n1, 20*time.Second, "rm the networks", func(r result) bool { return r.Code == 0 }, "network", "rm", "plain", "sec")
	_ = plainID
}

package e2e

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"
)

// The routing mesh over UDP through the docker CLI: a service publishing 5353:7/udp (a UDP echo in each of its 2
// tasks on the workers, answering its hostname and the datagram) answers datagrams sent from outside the nodes
// to port 5353 of the manager, which runs no task, and of a worker; several tasks answer; the service's port is
// listed as udp; --publish-rm takes it away on every node. (A task's own server on port 53 beside the
// embedded DNS: TestNetworkingContainerDNSServer.)
func TestSwarmServiceMeshUDP(t *testing.T) {
	nodes := swarmWithImages(t, 1, 2)
	m := nodes[0]
	img := goProgramTar(t, "udpecho", udpEchoSrc)
	for _, n := range nodes {
		if r := n.berthR(bytes.NewReader(img), "import", "--change", `CMD ["/udpecho"]`, "-", "udpecho:latest"); r.Code != 0 {
			t.Fatalf("import on %s: %s", n.Name, r)
		}
	}
	m.docker(t, "service", "create", "--detach", "--name", "echo", "--replicas", "2", "--replicas-max-per-node", "1",
		"--constraint", "node.role==worker", "-p", "5353:7/udp", "--no-resolve-image", "udpecho:latest")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service ps echo:\n%s", m.dockerR(nil, "service", "ps", "--no-trunc", "echo"))
		}
	})
	waitRunning(t, m, "echo", 2, 90*time.Second)
	if got := len(containersOf(t, m, "echo")); got != 0 {
		t.Fatalf("the manager runs %d tasks, want none", got)
	}
	if out := strings.TrimSpace(m.docker(t, "service", "inspect", "--format",
		"{{range .Endpoint.Ports}}{{.Protocol}} {{.PublishedPort}}:{{.TargetPort}} {{.PublishMode}}{{end}}", "echo")); out != "udp 5353:7 ingress" {
		t.Fatalf("echo's port: %q", out)
	}

	answered := map[string]int{}
	for _, n := range []*swarmNode{m, nodes[1]} {
		addr := n.IP + ":5353"
		waitFor(t, 30*time.Second, "udp "+addr+" answering", func() bool {
			_, err := udpAsk(addr, "hello")
			return err == nil
		})
		// Each datagram from a new socket: a new conntrack entry, a new pick of the sandbox's balancer.
		for i := range 10 {
			msg := "ping-" + n.Name + "-" + string(rune('a'+i))
			got, err := udpAsk(addr, msg)
			if err != nil {
				t.Fatalf("udp %s: %v\n%s", addr, err, n.nsExec(t, "nft", "list", "ruleset"))
			}
			host, echoed, ok := strings.Cut(got, " ")
			if !ok || echoed != msg {
				t.Fatalf("udp %s answered %q to %q", addr, got, msg)
			}
			answered[host]++
		}
	}
	if len(answered) != 2 {
		t.Fatalf("20 datagrams to 2 nodes were answered by %v: want both tasks", answered)
	}
	t.Logf("20 datagrams through the mesh answered by %v", answered)

	m.docker(t, "service", "update", "--detach", "--publish-rm", "7/udp", "echo")
	for _, n := range nodes {
		waitFor(t, 60*time.Second, "no rule for 5353/udp on "+n.Name, func() bool {
			return !strings.Contains(n.nsExec(t, "nft", "list", "ruleset"), "5353")
		})
		if got, err := udpAsk(n.IP+":5353", "gone?"); err == nil {
			t.Fatalf("udp %s:5353 answered %q after --publish-rm", n.IP, got)
		}
	}
	m.docker(t, "service", "rm", "echo")
}

// udpAsk sends msg in one datagram from a new socket and returns the answer (2 s at most).
func udpAsk(addr, msg string) (string, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// udpEchoSrc answers each datagram on :7 with its hostname, a space and the datagram (busybox's nc has no UDP).
const udpEchoSrc = `package main

import (
	"net"
	"os"
)

func main() {
	host, _ := os.Hostname()
	c, err := net.ListenPacket("udp", ":7")
	if err != nil {
		panic(err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			panic(err)
		}
		c.WriteTo(append([]byte(host+" "), buf[:n]...), from)
	}
}
`

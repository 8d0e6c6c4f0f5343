package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The ingress routing mesh through the docker CLI: swarm init's ingress network is listed as docker lists it;
// a service publishing 8080:80 in ingress mode with its 2 tasks on the workers answers on port 8080 of every
// node — the manager, which runs no task, too — from outside the nodes (the test's namespace, over the nodes'
// bridge), several tasks answering; --publish-add adds a port, --publish-rm takes them away: nothing answers
// and no node keeps a rule, a sandbox or a bridge of the mesh.
func TestSwarmServiceMesh(t *testing.T) {
	start := time.Now()
	nodes := swarmWithImages(t, 1, 2)
	m := nodes[0]
	if out := m.docker(t, "network", "ls", "--filter", "name=ingress", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"); strings.TrimSpace(out) != "ingress overlay swarm" {
		t.Fatalf("network ls: %q, want docker's ingress network", out)
	}
	ingressID := strings.TrimSpace(m.docker(t, "network", "inspect", "--format", "{{.Id}}", "ingress"))
	if out := strings.TrimSpace(m.docker(t, "network", "inspect", "--format", "{{.Ingress}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", "ingress")); out != "true 10.0.0.0/24" {
		t.Fatalf("ingress network: %q", out)
	}

	m.docker(t, "service", "create", "--name", "mesh", "--replicas", "2", "-p", "8080:80", "--replicas-max-per-node", "1",
		"--constraint", "node.role==worker", "busybox", "sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www")
	waitRunning(t, m, "mesh", 2, 90*time.Second)
	if got := len(containersOf(t, m, "mesh")); got != 0 {
		t.Fatalf("the manager runs %d tasks, want none", got)
	}

	// service inspect: the port in docker's shape, a VIP on ingress.
	var ep struct {
		Ports []struct {
			Protocol                  string
			TargetPort, PublishedPort int
			PublishMode               string
		}
		VirtualIPs []struct{ NetworkID, Addr string }
	}
	if err := json.Unmarshal([]byte(m.docker(t, "service", "inspect", "--format", "{{json .Endpoint}}", "mesh")), &ep); err != nil {
		t.Fatal(err)
	}
	if len(ep.Ports) != 1 || ep.Ports[0].Protocol != "tcp" || ep.Ports[0].TargetPort != 80 || ep.Ports[0].PublishedPort != 8080 ||
		ep.Ports[0].PublishMode != "ingress" || len(ep.VirtualIPs) != 1 || ep.VirtualIPs[0].NetworkID != ingressID ||
		!strings.HasPrefix(ep.VirtualIPs[0].Addr, "10.0.0.") {
		t.Fatalf("mesh's endpoint: %+v", ep)
	}

	// From outside, to every node's address: each answers, and together several tasks do.
	hosts := map[string]int{}
	for _, n := range nodes {
		url := "http://" + n.IP + ":8080/"
		var body string
		waitFor(t, 30*time.Second, "port 8080 answering on "+n.Name, func() bool {
			b, err := meshGet(url)
			body = b
			return err == nil
		})
		hosts[body]++
		for range 9 {
			b, err := meshGet(url)
			if err != nil {
				t.Fatalf("%s: %v\n%s", url, err, n.nsExec(t, "nft", "list", "ruleset"))
			}
			hosts[b]++
		}
	}
	if len(hosts) < 2 {
		t.Fatalf("30 requests over 3 nodes reached %v: want both tasks", hosts)
	}
	// The sandbox's way in and out is docker_gwbridge, as docker's: the mesh's port is published to its
	// gateway_ingress_sbox endpoint there, which iptables' FORWARD accepts (for a DROP policy, dockerd's) as any
	// of Berth's bridges.
	gwBridge := strings.TrimSpace(m.docker(t, "network", "inspect", "--format", `{{index .Options "com.docker.network.bridge.name"}}`, "docker_gwbridge"))
	if out := m.docker(t, "network", "inspect", "--format", `{{range .Containers}}{{.Name}} {{end}}`, "docker_gwbridge"); !strings.Contains(out, "gateway_ingress_sbox") {
		t.Fatalf("docker_gwbridge's endpoints on %s: %q", m.Name, out)
	}
	if out := m.nsExec(t, "iptables", "-S", "FORWARD"); !strings.Contains(out, "-o "+gwBridge+" ") {
		t.Fatalf("no FORWARD accept for %s on %s:\n%s", gwBridge, m.Name, out)
	}
	if out := m.nsExec(t, "nft", "list", "ruleset"); !strings.Contains(out, "host=*:8080 ") || !strings.Contains(out, "bridge="+gwBridge) {
		t.Fatalf("no published port 8080 to docker_gwbridge on %s:\n%s", m.Name, out)
	}
	// On a node, its loopback address reaches the mesh too.
	if out := strings.TrimSpace(m.nsExec(t, "sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 3 127.0.0.1 8080 | tail -n 1`)); hosts[out] == 0 {
		t.Fatalf("127.0.0.1:8080 on %s answered %q, want one of the tasks %v", m.Name, out, hosts)
	}
	t.Logf("30 requests to :8080 on 3 nodes reached %v", hosts)

	// A worker's daemon killed: its node answers on (the data path is in the kernel); restarted, it answers again
	// (the sandbox is made again from the cluster's state).
	w1 := nodes[1]
	sbox := filepath.Join(w1.ExecRoot, "netns", "ingress_sbox")
	nsBefore := nsInode(t, sbox)
	w1.kill9()
	if _, err := meshGet("http://" + w1.IP + ":8080/"); err != nil {
		t.Fatalf("port 8080 on %s while its daemon is down: %v", w1.Name, err)
	}
	w1.restart()
	waitFor(t, 60*time.Second, "port 8080 answering on "+w1.Name+" after its restart", func() bool {
		_, err := meshGet("http://" + w1.IP + ":8080/")
		return err == nil
	})

	// --publish-add: a second port, on the node without a task and on the restarted one too.
	m.docker(t, "service", "update", "--detach", "--publish-add", "9090:80", "mesh")
	for _, n := range []*swarmNode{m, w1} {
		waitFor(t, 90*time.Second, "port 9090 answering on "+n.Name, func() bool {
			_, err := meshGet("http://" + n.IP + ":9090/")
			return err == nil
		})
	}
	if got := nsInode(t, sbox); got != nsBefore {
		t.Fatalf("the restarted daemon made a new ingress sandbox (namespace %d, was %d): want the kernel's adopted", got, nsBefore)
	}

	if _, err := meshGet("http://" + m.IP + ":8080/"); err != nil {
		t.Fatalf("port 8080 after --publish-add: %v", err)
	}

	// A node leaving the swarm takes its part of the mesh with it.
	w2 := nodes[2]
	w2.docker(t, "swarm", "leave")
	waitMeshGone(t, w2)

	// --publish-rm (by target port, as docker's CLI removes them): nothing answers, nothing is left on any node.
	m.docker(t, "service", "update", "--detach", "--publish-rm", "80", "mesh")
	if out := strings.TrimSpace(m.docker(t, "service", "inspect", "--format", "{{len .Endpoint.Ports}} {{len .Endpoint.VirtualIPs}}", "mesh")); out != "0 0" {
		t.Fatalf("ports and VIPs after --publish-rm: %q", out)
	}
	for _, n := range nodes {
		for _, port := range []string{"8080", "9090"} {
			waitFor(t, 90*time.Second, "port "+port+" closed on "+n.Name, func() bool {
				_, err := meshGet("http://" + n.IP + ":" + port + "/")
				return err != nil
			})
		}
		waitMeshGone(t, n)
	}
	m.docker(t, "service", "rm", "mesh")
	t.Logf("TestSwarmServiceMesh took %s", time.Since(start).Round(time.Second))
}

// meshGet fetches url on a new connection and returns the body, trimmed.
func meshGet(url string) (string, error) {
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}}
	res, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return strings.TrimSpace(string(b)), err
}

// waitMeshGone waits until nothing of the mesh is left on n: no nftables rule naming ingress, no bridge or veth
// of the sandbox, no ingress_sbox namespace; it fails the test with what is left.
func waitMeshGone(t *testing.T, n *swarmNode) {
	t.Helper()
	left := func() string {
		var out []string
		// (No container publishes a port on these nodes: any published port left is the mesh's.)
		if rules := n.nsExec(t, "nft", "list", "ruleset"); strings.Contains(rules, "ingress") || strings.Contains(rules, "port proto=") {
			out = append(out, rules)
		}
		if links := n.nsExec(t, "ip", "-o", "link"); strings.Contains(links, "_ingress") || strings.Contains(links, "bing") {
			out = append(out, links)
		}
		if _, err := os.Stat(filepath.Join(n.ExecRoot, "netns", "ingress_sbox")); !os.IsNotExist(err) {
			out = append(out, "netns ingress_sbox")
		}
		return strings.Join(out, "\n")
	}
	deadline := time.Now().Add(30 * time.Second)
	for left() != "" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if l := left(); l != "" {
		t.Fatalf("the mesh left on %s:\n%s", n.Name, l)
	}
}

// nsInode is the inode of the network namespace bind-mounted at path (it changes when the namespace is made anew).
func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

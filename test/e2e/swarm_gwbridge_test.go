package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// docker_gwbridge: every node of a swarm has it (`network ls`: docker_gwbridge bridge local, no ICC,
// masqueraded); a service task and an attachable container whose only network is an overlay get an endpoint
// gateway_<id> on it, which is their default route, and reach a listener on the host (the harness bridge's .1
// address, outside the nodes); a node leaving the swarm removes the network, its Linux bridge and its rules.

// hostListener serves HTTP on the harness bridge's host address and records the paths asked for.
type hostListener struct {
	addr string
	mu   sync.Mutex
	seen map[string]int
}

func newHostListener(t *testing.T, ip string) *hostListener {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostListener{addr: l.Addr().String(), seen: map[string]int{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.seen[r.URL.Path]++
		h.mu.Unlock()
		fmt.Fprintf(w, "host-answers %s\n", r.URL.Path)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return h
}

func (h *hostListener) count(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[path]
}

type gwbridgeInspect struct {
	Name, Driver, Scope string
	IPAM                struct {
		Config []struct{ Subnet, Gateway string }
	}
	Options    map[string]string
	Containers map[string]struct{ Name, IPv4Address string }
}

func inspectGWBridge(t *testing.T, sn *swarmNode) gwbridgeInspect {
	t.Helper()
	var ins []gwbridgeInspect
	if err := json.Unmarshal([]byte(sn.docker(t, "network", "inspect", "docker_gwbridge")), &ins); err != nil || len(ins) != 1 {
		t.Fatalf("%s: network inspect docker_gwbridge: %v", sn.Name, err)
	}
	return ins[0]
}

func TestSwarmGatewayBridge(t *testing.T) {
	nodes := swarmWithImages(t, 1, 1)
	m, w := nodes[0], nodes[1]
	host := newHostListener(t, m.net.prefix+"1")

	// Every node of the swarm has docker_gwbridge, as docker's.
	for _, n := range nodes {
		eventuallyDocker(t, n, 30*time.Second, "docker_gwbridge listed on "+n.Name, func(r result) bool {
			return strings.TrimSpace(r.Stdout) == "docker_gwbridge bridge local"
		}, "network", "ls", "--filter", "name=docker_gwbridge", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
	}
	// A worker lists the ingress network too, as docker's, though nothing of it is used there.
	eventuallyDocker(t, w, 30*time.Second, "ingress listed on "+w.Name, func(r result) bool { return r.Stdout == "ingress overlay swarm\n" },
		"network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
	gw := inspectGWBridge(t, w)
	if gw.Options["com.docker.network.bridge.enable_icc"] != "false" || gw.Options["com.docker.network.bridge.enable_ip_masquerade"] != "true" ||
		len(gw.IPAM.Config) != 1 || !strings.HasSuffix(gw.IPAM.Config[0].Subnet, "/16") || len(gw.Containers) != 0 {
		t.Fatalf("docker_gwbridge on %s: %+v", w.Name, gw)
	}
	bridge := gw.Options["com.docker.network.bridge.name"]
	gwAddr := gw.IPAM.Config[0].Gateway
	if out := w.nsExec(t, "ip", "-o", "addr", "show", "dev", bridge); !strings.Contains(out, " "+gwAddr+"/16 ") {
		t.Fatalf("%s's bridge %s: %s", w.Name, bridge, out)
	}

	m.docker(t, "network", "create", "-d", "overlay", "--attachable", "ovl")
	// A service task whose only network is the overlay reaches the host.
	m.docker(t, "service", "create", "--name", "out", "--network", "ovl", "--constraint", "node.role==worker",
		"busybox", "sh", "-c", "while :; do wget -q -O- http://"+host.addr+"/task; sleep 1; done")
	waitRunning(t, m, "out", 1, 60*time.Second)
	waitFor(t, 30*time.Second, "the task's request at the host", func() bool { return host.count("/task") > 0 })
	ctrs := containersOf(t, w, "out")
	if len(ctrs) != 1 {
		t.Fatalf("%s runs %v", w.Name, ctrs)
	}
	id := strings.TrimSpace(w.docker(t, "inspect", "--format", "{{.Id}}", ctrs[0]))
	// Its default route is docker_gwbridge's; its networks, as docker shows them, are the overlay alone.
	if out := w.docker(t, "exec", ctrs[0], "ip", "route"); !strings.Contains(out, "default via "+gwAddr+" ") {
		t.Fatalf("the task's routes:\n%s", out)
	}
	if nets := strings.TrimSpace(w.docker(t, "inspect", "--format", `{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}`, id)); nets != "ovl" {
		t.Fatalf("the task's networks: %q", nets)
	}
	gw = inspectGWBridge(t, w)
	if ep, ok := gw.Containers[id]; !ok || ep.Name != "gateway_"+id[:12] || !strings.HasPrefix(ep.IPv4Address, strings.TrimSuffix(gwAddr, "1")) {
		t.Fatalf("docker_gwbridge's containers on %s: %+v", w.Name, gw.Containers)
	}

	// An attachable container on the overlay alone, on either node, does too.
	for _, n := range nodes {
		if out := n.docker(t, "run", "--rm", "--network", "ovl", "busybox", "wget", "-q", "-O-", "http://"+host.addr+"/run-"+n.Name); out != "host-answers /run-"+n.Name+"\n" {
			t.Fatalf("run on %s: %q", n.Name, out)
		}
	}
	// One with a network of its own with a way out keeps that one's route, and has no gateway endpoint.
	w.docker(t, "network", "create", "local")
	w.docker(t, "run", "-d", "--name", "both", "--network", "local", "busybox", "sleep", "3600")
	w.docker(t, "network", "connect", "ovl", "both")
	localGW := strings.TrimSpace(w.docker(t, "network", "inspect", "--format", "{{(index .IPAM.Config 0).Gateway}}", "local"))
	if out := w.docker(t, "exec", "both", "ip", "route"); !strings.Contains(out, "default via "+localGW+" ") {
		t.Fatalf("a container on local and ovl: routes\n%s", out)
	}
	// Leaving its own network, it gets one; joining it again, it gives it up.
	w.docker(t, "network", "disconnect", "local", "both")
	if out := w.docker(t, "exec", "both", "ip", "route"); !strings.Contains(out, "default via "+gwAddr+" ") {
		t.Fatalf("a container on ovl alone after disconnect: routes\n%s", out)
	}
	if out := w.docker(t, "exec", "both", "wget", "-q", "-O-", "http://"+host.addr+"/both"); out != "host-answers /both\n" {
		t.Fatalf("after disconnect: %q", out)
	}
	w.docker(t, "network", "connect", "local", "both")
	if out := w.docker(t, "exec", "both", "ip", "route"); !strings.Contains(out, "default via "+localGW+" ") || strings.Contains(out, gwAddr) {
		t.Fatalf("a container on ovl and local again: routes\n%s", out)
	}
	w.docker(t, "rm", "-f", "both")

	// Leaving the swarm: the task goes, and docker_gwbridge with its bridge and rules.
	m.docker(t, "service", "rm", "out")
	waitFor(t, 30*time.Second, "the task gone from "+w.Name, func() bool { return len(containersOf(t, w, "out")) == 0 })
	// (A stopped container's endpoints go in the background, as its other networks'.)
	waitFor(t, 10*time.Second, "docker_gwbridge without containers on "+w.Name, func() bool { return len(inspectGWBridge(t, w).Containers) == 0 })
	w.docker(t, "swarm", "leave")
	eventuallyDocker(t, w, 30*time.Second, "docker_gwbridge gone from "+w.Name, func(r result) bool { return r.Code == 0 && strings.TrimSpace(r.Stdout) == "" },
		"network", "ls", "--filter", "name=docker_gwbridge", "-q")
	if out := w.docker(t, "network", "ls", "--filter", "driver=overlay", "-q"); out != "" {
		t.Fatalf("%s lists swarm networks after leaving: %q", w.Name, out)
	}
	if err := exec.Command("ip", "-n", w.NS, "link", "show", bridge).Run(); err == nil {
		t.Fatalf("%s's bridge %s is still there after leaving", w.Name, bridge)
	}
	if rules := w.nsExec(t, "nft", "list", "ruleset"); strings.Contains(rules, "bridge="+bridge+" ") {
		t.Fatalf("rules of %s left on %s:\n%s", bridge, w.Name, rules)
	}
	// The manager keeps its own while in the swarm.
	if out := m.docker(t, "network", "ls", "--filter", "name=docker_gwbridge", "-q"); strings.TrimSpace(out) == "" {
		t.Fatal("docker_gwbridge gone from the manager")
	}
}

package e2e

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Service discovery and VIPs across nodes through the docker CLI: a service in vip mode (3 replicas over the
// workers) and one in dnsrr mode on an overlay network; from an attachable container on the manager, the
// embedded DNS answers the service's name and alias with its VIP and tasks.NAME with its tasks' addresses,
// connections to the VIP reach several tasks (each answers its hostname), the names and the balancer follow a
// scale-down, and removing the service leaves no nftables table in the containers' namespaces.
func TestSwarmServiceVIP(t *testing.T) {
	nodes := swarmWithImages(t, 1, 2)
	m, w1, w2 := nodes[0], nodes[1], nodes[2]
	m.docker(t, "network", "create", "-d", "overlay", "--attachable", "--subnet", "10.78.0.0/24", "vipnet")
	netID := strings.TrimSpace(m.docker(t, "network", "inspect", "--format", "{{.Id}}", "vipnet"))
	// Each task serves its hostname (its container's short ID) over HTTP, on every node but the manager.
	m.docker(t, "service", "create", "--name", "web", "--replicas", "3", "--network", "name=vipnet,alias=www",
		"--constraint", "node.role==worker", "busybox", "sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www")
	m.docker(t, "service", "create", "--name", "rr", "--replicas", "2", "--endpoint-mode", "dnsrr", "--network", "vipnet",
		"--constraint", "node.role==worker", "busybox", "sleep", "3600")
	waitRunning(t, m, "web", 3, 90*time.Second)
	waitRunning(t, m, "rr", 2, 90*time.Second)

	// service inspect: the VIP on vipnet, in docker's shape; dnsrr has none.
	var ep struct {
		Spec       struct{ Mode string }
		VirtualIPs []struct{ NetworkID, Addr string }
	}
	if err := json.Unmarshal([]byte(m.docker(t, "service", "inspect", "--format", "{{json .Endpoint}}", "web")), &ep); err != nil {
		t.Fatal(err)
	}
	if ep.Spec.Mode != "vip" || len(ep.VirtualIPs) != 1 || ep.VirtualIPs[0].NetworkID != netID || !strings.HasPrefix(ep.VirtualIPs[0].Addr, "10.78.0.") ||
		!strings.HasSuffix(ep.VirtualIPs[0].Addr, "/24") {
		t.Fatalf("web's endpoint: %+v", ep)
	}
	vip := strings.TrimSuffix(ep.VirtualIPs[0].Addr, "/24")
	if out := strings.TrimSpace(m.docker(t, "service", "inspect", "--format", "{{.Endpoint.Spec.Mode}} {{len .Endpoint.VirtualIPs}}", "rr")); out != "dnsrr 0" {
		t.Fatalf("rr's endpoint: %q", out)
	}

	m.docker(t, "run", "-d", "--name", "client", "--network", "vipnet", "busybox", "sleep", "3600")
	lookup := func(name string, want []string) {
		t.Helper()
		sort.Strings(want)
		var last []string
		waitFor(t, 20*time.Second, "nslookup "+name+" = "+strings.Join(want, ","), func() bool {
			last = resolved(m.dockerR(nil, "exec", "client", "nslookup", name).Stdout)
			return slices.Equal(last, want)
		})
	}
	webTasks := taskAddrs(t, m, "web")
	lookup("web", []string{vip})
	lookup("www", []string{vip})
	lookup("tasks.web", webTasks)
	lookup("rr", taskAddrs(t, m, "rr"))
	lookup("tasks.rr", taskAddrs(t, m, "rr"))

	// Through the VIP, any port the tasks listen on (none is published): several tasks answer.
	hosts := fetchHosts(t, m, "client", "web", 20)
	if len(hosts) < 2 {
		t.Fatalf("20 requests through the VIP reached %v; the client's rules:\n%s", hosts,
			m.nsExec(t, "nsenter", "--net="+nsOfContainer(t, m, "client"), "nft", "list", "ruleset"))
	}
	t.Logf("20 requests through web's VIP reached: %v", hosts)
	// The VIP is balanced where the connection starts: the tasks' namespaces hold the table too.
	for _, w := range []*swarmNode{w1, w2} {
		for _, c := range containersOf(t, w, "rr") {
			ns := nsOfContainer(t, w, c)
			waitFor(t, 10*time.Second, "web's VIP balanced over 3 tasks in "+c, func() bool {
				rules := w.nsExec(t, "nsenter", "--net="+ns, "nft", "list", "ruleset")
				return strings.Contains(rules, "ip daddr "+vip+" dnat") && strings.Contains(rules, `comment "vip service=web network=vipnet addr=`+vip+" backends=3")
			})
		}
	}

	// A scale-down: the names and the balancer follow.
	m.docker(t, "service", "scale", "--detach", "web=1")
	waitRunning(t, m, "web", 1, 60*time.Second)
	left := taskAddrs(t, m, "web")
	lookup("tasks.web", left)
	waitFor(t, 20*time.Second, "one task answering through the VIP", func() bool { return len(fetchHosts(t, m, "client", "web", 8)) == 1 })

	// Removing the services leaves no table in the namespaces of the containers still on the network.
	m.docker(t, "service", "rm", "web")
	clientNS := nsOfContainer(t, m, "client")
	waitFor(t, 20*time.Second, "no VIP table in the client's namespace", func() bool {
		return !strings.Contains(m.nsExec(t, "nsenter", "--net="+clientNS, "nft", "list", "ruleset"), "berth-vip")
	})
	for _, w := range []*swarmNode{w1, w2} {
		for _, c := range containersOf(t, w, "rr") {
			ns := nsOfContainer(t, w, c)
			waitFor(t, 20*time.Second, "no VIP table in "+c, func() bool {
				return !strings.Contains(w.nsExec(t, "nsenter", "--net="+ns, "nft", "list", "ruleset"), "berth-vip")
			})
		}
	}
	r := m.dockerR(nil, "exec", "client", "nslookup", "web")
	if got := resolved(r.Stdout); len(got) != 0 {
		t.Fatalf("web still resolves after service rm: %v", got)
	}
	m.docker(t, "service", "rm", "rr")
	m.docker(t, "rm", "-f", "client")
}

// nslookupAddr is an answer line of busybox's nslookup ("Address: 10.0.0.2"; the server's line has a port).
var nslookupAddr = regexp.MustCompile(`(?m)^Address:\s+(\d+\.\d+\.\d+\.\d+)\s*$`)

// resolved lists the addresses in nslookup's answer, sorted.
func resolved(out string) []string {
	var got []string
	for _, m := range nslookupAddr.FindAllStringSubmatch(out, -1) {
		got = append(got, m[1])
	}
	sort.Strings(got)
	return got
}

// taskAddrs are the addresses of a service's running tasks, from task inspect, sorted.
func taskAddrs(t *testing.T, m *swarmNode, svc string) []string {
	t.Helper()
	var out []string
	for _, id := range strings.Fields(m.docker(t, "service", "ps", "-q", "--filter", "desired-state=running", svc)) {
		a := strings.TrimSpace(m.docker(t, "inspect", "--format", `{{range .NetworksAttachments}}{{range .Addresses}}{{.}}{{end}}{{end}}`, id))
		out = append(out, strings.TrimSuffix(a, "/24"))
	}
	sort.Strings(out)
	return out
}

// fetchHosts makes n HTTP requests to host:80 from ctr, each on a new connection, and counts the answers by
// body. nc is the client: the static busybox's wget crashes on this host (SIGSEGV, even for an address).
func fetchHosts(t *testing.T, sn *swarmNode, ctr, host string, n int) map[string]int {
	t.Helper()
	r := sn.dockerR(nil, "exec", ctr, "sh", "-c", "for i in $(seq "+strconv.Itoa(n)+"); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 "+host+" 80 | tail -n 1; done")
	hosts := map[string]int{}
	for _, l := range strings.Fields(r.Stdout) {
		hosts[l]++
	}
	return hosts
}

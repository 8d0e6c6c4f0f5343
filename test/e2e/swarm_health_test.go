package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// A running task that turns unhealthy leaves its service's balancers on every node before it is stopped, through
// the docker CLI: a service with a health check (`test -f /tmp/ok`) on an overlay network, publishing 8080:80
// in the routing mesh, one task on each worker. The test removes /tmp/ok in the task on the first worker
// (docker exec there); then, while that container still runs (its shell, PID 1, ignores SIGTERM, so its stop
// takes the whole 60 s grace period), the VIP's table in a client container on the manager and the manager's
// ingress sandbox list only the healthy task, tasks.NAME answers only its address, and requests through the VIP
// and through the mesh all reach the healthy task. The unhealthy task then ends FAILED with docker's cause.
func TestSwarmServiceUnhealthyLeavesBalancers(t *testing.T) {
	nodes := swarmWithImages(t, 1, 2)
	m, w1 := nodes[0], nodes[1]
	m.docker(t, "network", "create", "-d", "overlay", "--attachable", "--subnet", "10.79.0.0/24", "hnet")
	m.docker(t, "service", "create", "--name", "hc", "--replicas", "2", "--replicas-max-per-node", "1",
		"--constraint", "node.role==worker", "--network", "hnet", "-p", "8080:80",
		"--health-cmd", "test -f /tmp/ok", "--health-interval", "1s", "--health-retries", "1", "--health-timeout", "2s",
		"--stop-grace-period", "60s",
		"busybox", "sh", "-c", "touch /tmp/ok && mkdir -p /www && hostname > /www/index.html && httpd -p 80 -h /www && exec sleep 36000")
	waitRunning(t, m, "hc", 2, 90*time.Second)
	m.docker(t, "run", "-d", "--name", "client", "--network", "hnet", "busybox", "sleep", "3600")
	clientNS := nsOfContainer(t, m, "client")
	sbox := m.ExecRoot + "/netns/ingress_sbox"

	// The task on the first worker: its container (its hostname is what it serves) and its addresses on hnet
	// and on ingress.
	ctrs := containersOf(t, w1, "hc")
	if len(ctrs) != 1 {
		t.Fatalf("%s runs %v, want one task of hc", w1.Name, ctrs)
	}
	sick := ctrs[0]
	sickHost := strings.TrimSpace(w1.docker(t, "exec", sick, "hostname"))
	sickAddrs := strings.Fields(w1.docker(t, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", sick))
	if len(sickAddrs) != 2 {
		t.Fatalf("%s's addresses: %v, want one on hnet and one on ingress", sick, sickAddrs)
	}
	lists := func(rules string) []string {
		var out []string
		for _, a := range sickAddrs {
			if regexp.MustCompile(`\b` + regexp.QuoteMeta(a) + `\b`).MatchString(rules) {
				out = append(out, a)
			}
		}
		return out
	}
	vipRules := func() string { return m.nsExec(t, "nsenter", "--net="+clientNS, "nft", "list", "ruleset") }
	meshRules := func() string { return m.nsExec(t, "nsenter", "--net="+sbox, "nft", "list", "ruleset") }
	// Both tasks are backends, in both tables, and both answer.
	waitFor(t, 30*time.Second, "both tasks in the VIP's table and the mesh's", func() bool {
		v, s := vipRules(), meshRules()
		return strings.Contains(v, "vip service=hc network=hnet") && strings.Contains(v, "backends=2") && len(lists(v)) == 1 &&
			strings.Contains(s, "ingress service=hc port=8080/tcp target=80 backends=2") && len(lists(s)) == 1
	})
	waitFor(t, 30*time.Second, "both tasks answering through the VIP", func() bool { return len(fetchHosts(t, m, "client", "hc", 10)) == 2 })

	// The health check fails from now on.
	w1.docker(t, "exec", sick, "rm", "/tmp/ok")
	waitFor(t, 20*time.Second, "the task out of the VIP's table and the mesh's on "+m.Name, func() bool {
		v, s := vipRules(), meshRules()
		return strings.Contains(v, "vip service=hc network=hnet") && strings.Contains(v, "backends=1") && len(lists(v)) == 0 &&
			strings.Contains(s, "ingress service=hc port=8080/tcp target=80 backends=1") && len(lists(s)) == 0
	})
	var names []string
	waitFor(t, 20*time.Second, "tasks.hc without the unhealthy task", func() bool {
		names = resolved(m.dockerR(nil, "exec", "client", "nslookup", "tasks.hc").Stdout)
		return len(names) == 1 && lists(strings.Join(names, " ")) == nil
	})
	hosts := fetchHosts(t, m, "client", "hc", 20)
	for range 20 {
		b, err := meshGet("http://" + m.IP + ":8080/")
		if err != nil {
			t.Fatalf("through the mesh after the task turned unhealthy: %v", err)
		}
		hosts[b]++
	}
	if len(hosts) != 1 || hosts[sickHost] != 0 {
		t.Fatalf("40 requests through the VIP and the mesh reached %v; the unhealthy task is %s", hosts, sickHost)
	}
	// All of this while the unhealthy container still ran: it left the balancers before its stop, not by it.
	if st := strings.TrimSpace(w1.docker(t, "inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", sick)); st != "running unhealthy" {
		t.Fatalf("the unhealthy task's container is %q, want still running (its stop takes 60 s)", st)
	}
	t.Logf("the unhealthy task %s left the balancers while running; 40 requests reached %v", sickHost, hosts)

	// It ends FAILED with docker's cause, as moby's executor reports it; the service gets a healthy task back.
	eventuallyDocker(t, m, 90*time.Second, "the unhealthy task failed", func(r result) bool {
		return strings.Contains(r.Stdout, "Failed") && strings.Contains(r.Stdout, "dockerexec: unhealthy container")
	}, "service", "ps", "--no-trunc", "--format", "{{.CurrentState}} {{.Error}}", "hc")
	waitRunning(t, m, "hc", 2, 90*time.Second)
	m.docker(t, "rm", "-f", "client")
}

// A task scaled away stays reachable while it stops: it leaves the balancers at once, but its address, and every
// node's route to it, stay until its container has stopped, so the connections it still serves (kept-alive
// ones, answered until its server closes them) are not cut. The tasks' PID 1 ignores SIGTERM, so their stop
// takes the whole 60 s grace period; meanwhile the scaled-away task is out of the VIP's table on the manager,
// yet answers a request to its own address from there, and its task is still listed.
func TestSwarmServiceScaleDownKeepsRoutesWhileStopping(t *testing.T) {
	nodes := swarmWithImages(t, 1, 2)
	m := nodes[0]
	m.docker(t, "network", "create", "-d", "overlay", "--attachable", "--subnet", "10.80.0.0/24", "snet")
	m.docker(t, "service", "create", "--name", "sd", "--replicas", "2", "--replicas-max-per-node", "1",
		"--constraint", "node.role==worker", "--network", "snet", "--stop-grace-period", "60s",
		"busybox", "sh", "-c", "mkdir -p /www && hostname > /www/index.html && httpd -p 80 -h /www && exec sleep 36000")
	waitRunning(t, m, "sd", 2, 90*time.Second)
	m.docker(t, "run", "-d", "--name", "client", "--network", "snet", "busybox", "sleep", "3600")
	clientNS := nsOfContainer(t, m, "client")
	before := taskAddrs(t, m, "sd")
	waitFor(t, 30*time.Second, "both tasks answering through the VIP", func() bool { return len(fetchHosts(t, m, "client", "sd", 10)) == 2 })

	m.docker(t, "service", "scale", "--detach", "sd=1")
	var gone string
	waitFor(t, 20*time.Second, "one task left in the VIP's table", func() bool {
		rules := m.nsExec(t, "nsenter", "--net="+clientNS, "nft", "list", "ruleset")
		if !strings.Contains(rules, "vip service=sd network=snet") || !strings.Contains(rules, "backends=1") {
			return false
		}
		for _, a := range before {
			if !regexp.MustCompile(`\b` + regexp.QuoteMeta(a) + `\b`).MatchString(rules) {
				gone = a
			}
		}
		return gone != ""
	})
	// Its container still runs (a 60 s stop), and its address still answers from another node.
	host := fetchHosts(t, m, "client", gone, 3)
	if len(host) != 1 {
		r := m.nsExec(t, "nsenter", "--net="+clientNS, "ip", "neigh")
		t.Fatalf("the stopping task %s answered %v from the manager's client, want its hostname 3 times; neighbours:\n%s", gone, host, r)
	}
	if out := m.docker(t, "service", "ps", "--format", "{{.DesiredState}} {{.CurrentState}}", "sd"); !strings.Contains(out, "Remove Running") {
		t.Fatalf("service ps sd while the scaled-away task stops:\n%s", out)
	}
	m.docker(t, "rm", "-f", "client")
}

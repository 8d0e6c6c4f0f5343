package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Services across nodes through the docker CLI: the leader's orchestrator and scheduler, the dispatcher's
// sessions and the agents running tasks as containers named svc.SLOT.TASKID with docker's labels.

// swarmWithImages starts n nodes, imports busybox in each, makes the first a manager (heartbeat 1s) and joins
// the others with role's token (managers: the first `managers` nodes).
func swarmWithImages(t *testing.T, managers, workers int) []*swarmNode {
	t.Helper()
	net := newSwarmNet(t)
	var nodes []*swarmNode
	for i := 0; i < managers+workers; i++ {
		n := net.addNode()
		n.importBusybox(t)
		nodes = append(nodes, n)
	}
	t.Cleanup(func() { dumpSwarm(t, nodes) })
	m := nodes[0]
	m.docker(t, "swarm", "init", "--advertise-addr", m.IP, "--dispatcher-heartbeat", "1s")
	mt := strings.TrimSpace(m.docker(t, "swarm", "join-token", "-q", "manager"))
	wt := strings.TrimSpace(m.docker(t, "swarm", "join-token", "-q", "worker"))
	for i, n := range nodes[1:] {
		token := wt
		if i+1 < managers {
			token = mt
		}
		n.docker(t, "swarm", "join", "--token", token, m.IP+":2377")
	}
	eventuallyDocker(t, m, 60*time.Second, "every node ready", func(r result) bool {
		return r.Code == 0 && strings.Count(r.Stdout, " Ready ") == len(nodes)
	}, "node", "ls")
	return nodes
}

// dumpSwarm logs, when the test failed, what each node's daemon said of the swarm (its log without the API
// requests) and its containers.
func dumpSwarm(t *testing.T, nodes []*swarmNode) {
	if !t.Failed() {
		return
	}
	for _, n := range nodes {
		var keep []string
		for _, l := range strings.Split(n.log(), "\n") {
			if !strings.Contains(l, "api request") && !strings.Contains(l, "etcd") {
				keep = append(keep, l)
			}
		}
		t.Logf("%s (%s) log:\n%s", n.Name, n.IP, tail(strings.Join(keep, "\n"), 12000))
		if r := n.dockerR(nil, "ps", "-a"); r.Code == 0 {
			t.Logf("%s containers:\n%s", n.Name, r.Stdout)
		}
	}
}

// runningTasks counts a service's tasks that run, from service ps.
func runningTasks(t *testing.T, m *swarmNode, svc string) int {
	r := m.dockerR(nil, "service", "ps", "--filter", "desired-state=running", "--format", "{{.CurrentState}}", svc)
	if r.Code != 0 {
		return -1
	}
	return strings.Count(r.Stdout, "Running")
}

// waitRunning waits for n running tasks of a service.
func waitRunning(t *testing.T, m *swarmNode, svc string, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%d running tasks of %s", n, svc), func() bool { return runningTasks(t, m, svc) == n })
}

// containersOf lists the task containers on a node: name and labels.
func containersOf(t *testing.T, n *swarmNode, svc string) []string {
	t.Helper()
	out := n.docker(t, "ps", "--filter", "label=com.docker.swarm.service.name="+svc, "--format", "{{.Names}}")
	return strings.Fields(out)
}

// A replicated service end to end: create (converging, with docker's progress), ls's REPLICAS, ps's names, the
// containers on the nodes with docker's names and labels, inspect, scale, rm.
func TestSwarmServiceBasics(t *testing.T) {
	nodes := swarmWithImages(t, 1, 2)
	m := nodes[0]

	out := m.docker(t, "service", "create", "--name", "web", "--replicas", "3", "busybox", "sleep", "3600")
	if !strings.Contains(out, "overall progress: 3 out of 3 tasks") || !strings.Contains(out, "verify: Service") || !strings.Contains(out, "converged") {
		t.Fatalf("service create progress:\n%s", out)
	}
	id := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	if !regexp.MustCompile(`^[0-9a-z]{25}$`).MatchString(id) {
		t.Fatalf("service create printed %q first", id)
	}
	ls := m.docker(t, "service", "ls")
	if !regexp.MustCompile(`(?m)^` + id[:12] + `\s+web\s+replicated\s+3/3\s+busybox:latest\s*$`).MatchString(ls) {
		t.Fatalf("service ls:\n%s", ls)
	}
	ps := m.docker(t, "service", "ps", "web")
	for i := 1; i <= 3; i++ {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^\S+\s+web\.%d\s+busybox:latest\s+node\d\s+Running\s+Running `, i)).MatchString(ps) {
			t.Fatalf("service ps lacks web.%d running:\n%s", i, ps)
		}
	}
	// The containers, spread on the three nodes, named and labelled as docker's.
	total := 0
	for _, n := range nodes {
		for _, name := range containersOf(t, n, "web") {
			total++
			if !regexp.MustCompile(`^web\.[123]\.[0-9a-z]{25}$`).MatchString(name) {
				t.Fatalf("task container %q on %s", name, n.Name)
			}
			labels := n.docker(t, "inspect", "--format", `{{index .Config.Labels "com.docker.swarm.service.id"}} {{index .Config.Labels "com.docker.swarm.service.name"}} {{index .Config.Labels "com.docker.swarm.node.id"}} {{index .Config.Labels "com.docker.swarm.task.name"}}`, name)
			if f := strings.Fields(labels); len(f) != 4 || f[0] != id || f[1] != "web" || f[2] != n.nodeID(t) || f[3] != name {
				t.Fatalf("labels of %s on %s: %q", name, n.Name, labels)
			}
		}
		if len(containersOf(t, n, "web")) != 1 {
			t.Fatalf("%s runs %d tasks of 3 on 3 nodes", n.Name, len(containersOf(t, n, "web")))
		}
	}
	if total != 3 {
		t.Fatalf("%d task containers", total)
	}

	insp := m.docker(t, "service", "inspect", "--format", "{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}} {{.Spec.TaskTemplate.ContainerSpec.Image}} {{.Spec.UpdateConfig.Parallelism}}", "web")
	if strings.TrimSpace(insp) != "web 3 busybox:latest 1" {
		t.Fatalf("service inspect: %q", insp)
	}

	m.docker(t, "service", "scale", "-d", "web=5")
	waitRunning(t, m, "web", 5, 60*time.Second)
	m.docker(t, "service", "scale", "-d", "web=2")
	waitRunning(t, m, "web", 2, 60*time.Second)

	m.docker(t, "service", "rm", "web")
	waitFor(t, 60*time.Second, "the task containers gone", func() bool {
		for _, n := range nodes {
			if len(strings.Fields(n.docker(t, "ps", "-a", "--filter", "label=com.docker.swarm.service.name=web", "-q"))) > 0 {
				return false
			}
		}
		return true
	})
	if r := m.dockerR(nil, "service", "inspect", "web"); r.Code == 0 || !strings.Contains(r.Stderr, "Error: no such service: web") {
		t.Fatalf("inspect of a removed service: %s", r)
	}
}

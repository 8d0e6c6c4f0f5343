package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Disaster recovery through the docker CLI: three managers and a worker, a replicated service using a secret;
// two managers killed with -9 (quorum lost, writes refused with docker's words); `swarm init
// --force-new-cluster` on the survivor makes a one-manager swarm that kept the service and the secret, takes
// writes, shows the dead managers Down and Unreachable, removes one, takes the other back as a worker when it
// restarts, while the worker's tasks ran on; the recovered manager survives a kill -9 and restart; a new
// manager joins afterwards.
func TestSwarmForceNewCluster(t *testing.T) {
	nodes := swarmWithImages(t, 3, 1)
	m1, m2, m3, w := nodes[0], nodes[1], nodes[2], nodes[3]
	m1id, m2id, m3id, wid := m1.nodeID(t), m2.nodeID(t), m3.nodeID(t), w.nodeID(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node ls:\n%s\nservice ps web:\n%s", m1.dockerR(nil, "node", "ls"), m1.dockerR(nil, "service", "ps", "--no-trunc", "web"))
		}
	})

	m1.dockerR(strings.NewReader("kept-secret-value"), "secret", "create", "pw", "-")
	m1.docker(t, "service", "create", "-d", "--name", "web", "--replicas", "2", "--constraint", "node.role==worker",
		"--secret", "pw", "busybox", "sleep", "3600")
	waitRunning(t, m1, "web", 2, 90*time.Second)
	before := w.docker(t, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name=web")
	if len(strings.Fields(before)) != 2 {
		t.Fatalf("the worker runs %q", before)
	}

	// docker's words for init on a node already in a swarm, and for --force-new-cluster on a worker.
	if r := m1.dockerR(nil, "swarm", "init"); r.Code == 0 || !strings.Contains(r.Stderr, `This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.`) {
		t.Fatalf("swarm init in a swarm: %s", r)
	}
	if r := w.dockerR(nil, "swarm", "init", "--force-new-cluster"); r.Code == 0 || !strings.Contains(r.Stderr, "This node is not a swarm manager.") {
		t.Fatalf("swarm init --force-new-cluster on a worker: %s", r)
	}

	m2.kill9()
	m3.kill9()
	eventuallyDocker(t, m1, 60*time.Second, "writes refused without quorum", func(r result) bool {
		return r.Code != 0 && strings.Contains(r.Stderr, "The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.")
	}, "service", "scale", "-d", "web=3")

	other := m1.net.prefix + "99"
	if r := m1.dockerR(nil, "swarm", "init", "--force-new-cluster", "--advertise-addr", other); r.Code == 0 ||
		!strings.Contains(r.Stderr, "moving the node to "+other+" is not supported") {
		t.Fatalf("swarm init --force-new-cluster --advertise-addr %s: %s", other, r)
	}
	start := time.Now()
	r := m1.dockerR(nil, "swarm", "init", "--force-new-cluster", "--advertise-addr", m1.IP, "--task-history-limit", "2")
	took := time.Since(start)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Swarm initialized: current node ("+m1id+") is now a manager.") {
		t.Fatalf("swarm init --force-new-cluster: %s", r)
	}
	t.Logf("swarm init --force-new-cluster:\n%s", r.Stdout)
	// The command returns once the store leads and took its record: a write then succeeds at once.
	m1.docker(t, "node", "update", "--label-add", "recovered=yes", wid)
	writable := time.Since(start)

	eventuallyDocker(t, m1, 60*time.Second, "the survivor leads, the dead managers down and unreachable, the worker ready", func(r result) bool {
		if r.Code != 0 {
			return false
		}
		lines := fieldLines(r.Stdout)
		return slices.Contains(lines, m1id+" Ready Leader") && slices.Contains(lines, m2id+" Down Unreachable") &&
			slices.Contains(lines, m3id+" Down Unreachable") && slices.Contains(lines, wid+" Ready")
	}, "node", "ls", "--format", "{{.ID}} {{.Status}} {{.ManagerStatus}}")
	t.Logf("--force-new-cluster returned after %v, the first write succeeded %v after its start, node ls settled %v after it",
		took.Round(10*time.Millisecond), writable.Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
	if got := strings.TrimSpace(m1.docker(t, "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit}}")); got != "active true 2" {
		t.Fatalf("docker info after --force-new-cluster: %q", got)
	}

	// Nothing lost: the service with its secret, the secret, the worker's tasks (the same containers).
	if got := strings.TrimSpace(m1.docker(t, "secret", "ls", "--format", "{{.Name}}")); got != "pw" {
		t.Fatalf("secret ls: %q", got)
	}
	if got := strings.TrimSpace(m1.docker(t, "service", "inspect", "--format", "{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}} {{(index .Spec.TaskTemplate.ContainerSpec.Secrets 0).SecretName}}", "web")); got != "web 2 pw" {
		t.Fatalf("service inspect: %q", got)
	}
	if after := w.docker(t, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name=web"); after != before {
		t.Fatalf("the worker's tasks changed: %q, then %q", before, after)
	}

	// Writes work again.
	m1.docker(t, "service", "scale", "-d", "web=3")
	waitRunning(t, m1, "web", 3, 90*time.Second)
	ls := m1.docker(t, "service", "ls", "--format", "{{.Name}} {{.Replicas}}")
	if !regexp.MustCompile(`(?m)^web 3/3$`).MatchString(ls) {
		t.Fatalf("service ls:\n%s", ls)
	}

	// A dead manager is removed; the manager itself is not.
	m1.docker(t, "node", "rm", "--force", m2id)
	if r := m1.dockerR(nil, "node", "rm", "--force", m1id); r.Code == 0 || !strings.Contains(r.Stderr, "is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal") {
		t.Fatalf("node rm of the manager itself: %s", r)
	}
	if ls := m1.docker(t, "node", "ls", "--format", "{{.ID}}"); strings.Contains(ls, m2id) {
		t.Fatalf("node ls after node rm:\n%s", ls)
	}
	// The other dead manager comes back: its store member is gone for good, so it carries on as a worker.
	m3.restart()
	eventuallyDocker(t, m1, 60*time.Second, "the dropped manager back as a worker", func(r result) bool {
		return r.Code == 0 && slices.Contains(fieldLines(r.Stdout), m3id+" Ready")
	}, "node", "ls", "--format", "{{.ID}} {{.Status}} {{.ManagerStatus}}")
	waitFor(t, 30*time.Second, "the dropped manager's own view: an active worker", func() bool {
		r := m3.dockerR(nil, "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
		return r.Code == 0 && strings.TrimSpace(r.Stdout) == "active false"
	})

	// The recovered manager's daemon, killed and restarted, comes back as the one-member store it now is.
	m1.kill9()
	m1.restart()
	eventuallyDocker(t, m1, 60*time.Second, "the recovered manager back, leading", func(r result) bool {
		return r.Code == 0 && slices.Contains(fieldLines(r.Stdout), m1id+" Ready Leader")
	}, "node", "ls", "--format", "{{.ID}} {{.Status}} {{.ManagerStatus}}")
	eventuallyDocker(t, m1, 30*time.Second, "writable after the restart", func(r result) bool { return r.Code == 0 },
		"node", "update", "--label-add", "restarted=yes", wid)

	// A new manager joins the one-manager swarm.
	n5 := m1.net.addNode()
	token := strings.TrimSpace(m1.docker(t, "swarm", "join-token", "-q", "manager"))
	n5.docker(t, "swarm", "join", "--token", token, m1.IP+":2377")
	n5id := n5.nodeID(t)
	eventuallyDocker(t, n5, 60*time.Second, "two managers, both reachable", func(r result) bool {
		if r.Code != 0 {
			return false
		}
		lines := fieldLines(r.Stdout)
		return slices.Contains(lines, m1id+" Ready Leader") && slices.Contains(lines, n5id+" Ready Reachable") && len(lines) == 4
	}, "node", "ls", "--format", "{{.ID}} {{.Status}} {{.ManagerStatus}}")
	if got := strings.TrimSpace(n5.docker(t, "info", "--format", "{{.Swarm.Managers}} {{.Swarm.Nodes}}")); got != "2 4" {
		t.Fatalf("docker info on the new manager: %q", got)
	}
	n5.docker(t, "service", "scale", "-d", "web=2")
	waitRunning(t, n5, "web", 2, 60*time.Second)
}

// fieldLines are out's lines with their fields joined by one space (an empty column leaves no trailing space).
func fieldLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return lines
}

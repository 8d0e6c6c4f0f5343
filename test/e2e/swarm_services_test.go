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
	t.Cleanup(func() { dumpSwarm(t, net.nodes) })
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

// taskContainer is the ID of a running container of a service on a node ("" if none).
func taskContainer(t *testing.T, n *swarmNode, svc string) string {
	t.Helper()
	ids := strings.Fields(n.docker(t, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name="+svc))
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// containerTimes are a container's start and finish times as docker inspect shows them.
func containerTimes(t *testing.T, n *swarmNode, id string) (started, finished time.Time) {
	t.Helper()
	out := strings.Fields(n.docker(t, "inspect", "--format", "{{.State.StartedAt}} {{.State.FinishedAt}}", id))
	started, _ = time.Parse(time.RFC3339Nano, out[0])
	finished, _ = time.Parse(time.RFC3339Nano, out[1])
	return started, finished
}

// Rolling updates through the docker CLI: stop-first and start-first (told apart by the containers' start and
// finish times), --force, --image, a failing update paused and one rolled back automatically, a manual
// rollback, each with docker's progress and update status.
func TestSwarmServiceUpdates(t *testing.T) {
	nodes := swarmWithImages(t, 1, 1)
	m, w := nodes[0], nodes[1]
	for _, n := range nodes {
		n.docker(t, "tag", "busybox:latest", "busybox:v2")
	}
	// One replica on the worker (the manager drained), so that old and new containers are on one node.
	m.docker(t, "node", "update", "--availability", "drain", "node1")
	m.docker(t, "service", "create", "-d", "--name", "app", "--stop-signal", "KILL", "--update-order", "stop-first", "busybox", "sleep", "3600")
	waitRunning(t, m, "app", 1, 60*time.Second)
	old := taskContainer(t, w, "app")

	out := m.docker(t, "service", "update", "--image", "busybox:v2", "app")
	if !strings.Contains(out, "overall progress: 1 out of 1 tasks") || !strings.Contains(out, "Service app converged") {
		t.Fatalf("update progress:\n%s", out)
	}
	cur := taskContainer(t, w, "app")
	_, oldEnd := containerTimes(t, w, old)
	curStart, _ := containerTimes(t, w, cur)
	if cur == old || !oldEnd.Before(curStart) {
		t.Fatalf("stop-first: old container ended %v, new started %v", oldEnd, curStart)
	}
	if img := strings.TrimSpace(m.docker(t, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}} {{.PreviousSpec.TaskTemplate.ContainerSpec.Image}} {{.UpdateStatus.State}}", "app")); img != "busybox:v2 busybox:latest completed" {
		t.Fatalf("after update --image: %q", img)
	}
	if got := strings.TrimSpace(w.docker(t, "inspect", "--format", "{{.Config.Image}}", cur)); got != "busybox:v2" {
		t.Fatalf("the new container runs %q", got)
	}

	old = cur
	m.docker(t, "service", "update", "--update-order", "start-first", "--env-add", "ORDER=start-first", "app")
	cur = taskContainer(t, w, "app")
	_, oldEnd = containerTimes(t, w, old)
	curStart, _ = containerTimes(t, w, cur)
	if cur == old || !curStart.Before(oldEnd) {
		t.Fatalf("start-first: new container started %v, old ended %v", curStart, oldEnd)
	}

	old = cur
	m.docker(t, "service", "update", "--force", "app")
	if cur = taskContainer(t, w, "app"); cur == old {
		t.Fatal("update --force kept the container")
	}

	// A manual rollback: back to the spec before the last change.
	m.docker(t, "service", "update", "-d", "--env-add", "STEP=two", "app")
	// UpdateStatus is unset between the update's write and its updater's first step (swarmkit resets it as
	// Berth does): the template must not dereference it then.
	waitFor(t, 60*time.Second, "the update completed", func() bool {
		return strings.TrimSpace(m.docker(t, "service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", "app")) == "completed"
	})
	out = m.docker(t, "service", "rollback", "app")
	if !strings.Contains(out, "rollback: manually requested rollback") || !strings.Contains(out, "Service app converged") {
		t.Fatalf("rollback printed:\n%s", out)
	}
	if env := m.docker(t, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Env}} {{.UpdateStatus.State}}", "app"); strings.Contains(env, "STEP=two") || !strings.Contains(env, "rollback_completed") {
		t.Fatalf("after rollback: %q", env)
	}

	// A failing update pauses (docker's default failure action), with docker's words.
	r := m.dockerR(nil, "service", "update", "--update-monitor", "3s", "--args", "sh -c 'exit 3'", "app")
	if r.Code == 0 || !regexp.MustCompile(`service update paused: update paused due to failure or early termination of task [0-9a-z]{25}`).MatchString(r.Stderr) {
		t.Fatalf("a failing update: %s", r)
	}
	if st := strings.TrimSpace(m.docker(t, "service", "inspect", "--format", "{{.UpdateStatus.State}}", "app")); st != "paused" {
		t.Fatalf("update state %q", st)
	}
	// Rolled back automatically with --update-failure-action rollback.
	m.docker(t, "service", "rollback", "-d", "app")
	waitRunning(t, m, "app", 1, 60*time.Second)
	r = m.dockerR(nil, "service", "update", "--update-failure-action", "rollback", "--update-monitor", "3s", "--args", "sh -c 'exit 4'", "app")
	// The CLI shows the rollback's reason if it polls while the rollback runs; the old task still running
	// (start-first), the rollback has no slot to change and completes at once, as swarmkit's updater does, and
	// the CLI may see only its end.
	if !regexp.MustCompile(`rollback: (update rolled back due to failure or early termination of task [0-9a-z]{25}|rollback completed)`).MatchString(r.Stdout + r.Stderr) {
		t.Fatalf("a failing update with failure action rollback: %s", r)
	}
	waitFor(t, 60*time.Second, "the automatic rollback completed", func() bool {
		return strings.TrimSpace(m.docker(t, "service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", "app")) == "rollback_completed"
	})
	waitRunning(t, m, "app", 1, 60*time.Second)
	if args := m.docker(t, "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Args}}", "app"); strings.Contains(args, "exit 4") {
		t.Fatalf("after the automatic rollback the spec is %q", args)
	}
	ps := m.docker(t, "service", "ps", "--no-trunc", "--format", "{{.Name}} {{.DesiredState}} {{.CurrentState}} {{.Error}}", "app")
	if !strings.Contains(ps, `task: non-zero exit (4)`) {
		t.Fatalf("service ps lacks the failed task:\n%s", ps)
	}
}

// nodeOf is the swarm node of a name.
func nodeNamed(nodes []*swarmNode, name string) *swarmNode {
	for _, n := range nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// tasksOn counts a service's running containers on each node.
func tasksOn(t *testing.T, nodes []*swarmNode, svc string) map[string]int {
	out := map[string]int{}
	for _, n := range nodes {
		r := n.dockerR(nil, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+svc)
		if r.Code == 0 {
			out[n.Name] = len(strings.Fields(r.Stdout))
		}
	}
	return out
}

// Self-healing across three managers and two workers, through the docker CLI: a global service runs on a node
// that joins later; drain moves tasks off a node; a task whose container is killed is replaced; a worker whose
// daemon is killed -9 has its tasks rescheduled after the heartbeat period and, back, its stale tasks shut
// down; a manager's daemon restarted keeps its tasks running; the leader killed, services keep converging.
func TestSwarmServiceSelfHealing(t *testing.T) {
	nodes := swarmWithImages(t, 3, 1)
	m1 := nodes[0]
	m1.docker(t, "service", "create", "-d", "--name", "glob", "--mode", "global", "--stop-signal", "KILL", "busybox", "sleep", "3600")
	m1.docker(t, "service", "create", "-d", "--name", "rep", "--replicas", "6", "--restart-delay", "0s", "--stop-signal", "KILL", "busybox", "sleep", "3600")
	waitRunning(t, m1, "glob", 4, 90*time.Second)
	waitRunning(t, m1, "rep", 6, 90*time.Second)

	// A node joining later gets the global service's task.
	late := swarmJoinLate(t, nodes)
	nodes = append(nodes, late)
	waitRunning(t, m1, "glob", 5, 90*time.Second)
	waitFor(t, 60*time.Second, "the global task on the new node", func() bool { return tasksOn(t, []*swarmNode{late}, "glob")[late.Name] == 1 })

	// Drain moves the replicated tasks off node4 (and its global task goes).
	w := nodeNamed(nodes, "node4")
	m1.docker(t, "node", "update", "--availability", "drain", "node4")
	waitFor(t, 60*time.Second, "node4 drained", func() bool {
		on := tasksOn(t, []*swarmNode{w}, "rep")
		return on["node4"] == 0 && tasksOn(t, []*swarmNode{w}, "glob")["node4"] == 0
	})
	waitRunning(t, m1, "rep", 6, 60*time.Second)
	m1.docker(t, "node", "update", "--availability", "active", "node4")

	// A task's container killed: replaced per the restart policy.
	victim := taskContainer(t, nodes[1], "rep")
	if victim == "" {
		victim = taskContainer(t, nodes[2], "rep")
	}
	for _, n := range nodes[1:3] {
		n.dockerR(nil, "kill", victim)
	}
	waitFor(t, 60*time.Second, "the killed task replaced", func() bool {
		ps := m1.docker(t, "service", "ps", "--format", "{{.DesiredState}} {{.CurrentState}} {{.Error}}", "rep")
		return strings.Contains(ps, "task: non-zero exit (137)") && runningTasks(t, m1, "rep") == 6
	})

	// A worker's daemon killed -9: its tasks run elsewhere after the heartbeat period.
	if r := late.dockerR(nil, "service", "ls"); r.Code == 0 || !strings.Contains(r.Stderr, "This node is not a swarm manager.") {
		t.Fatalf("service ls on a worker: %s", r)
	}
	before := tasksOn(t, []*swarmNode{late}, "rep")[late.Name]
	late.kill9()
	killed := time.Now()
	waitFor(t, 60*time.Second, "node5 down", func() bool {
		return strings.Contains(m1.docker(t, "node", "ls", "--filter", "name=node5"), "Down")
	})
	waitFor(t, 60*time.Second, "rep back to 6 running elsewhere", func() bool {
		on := tasksOn(t, nodes[:4], "rep")
		return on["node1"]+on["node2"]+on["node3"]+on["node4"] == 6
	})
	t.Logf("worker killed with %d tasks: rescheduled %v later", before, time.Since(killed).Round(100*time.Millisecond))
	// Back: its stale tasks are shut down, the global one runs again.
	late.restart()
	waitFor(t, 60*time.Second, "node5's stale tasks shut down", func() bool {
		return tasksOn(t, []*swarmNode{late}, "rep")[late.Name] == 0 && tasksOn(t, []*swarmNode{late}, "glob")[late.Name] == 1
	})

	// A manager's daemon restarted keeps its tasks running: the same containers, not restarted.
	m3 := nodes[2]
	keep := strings.Fields(m3.docker(t, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.task"))
	m3.kill9()
	m3.restart()
	waitFor(t, 60*time.Second, "node3 ready again", func() bool {
		return strings.Contains(m1.docker(t, "node", "ls", "--filter", "name=node3"), "Ready")
	})
	time.Sleep(3 * time.Second)
	after := strings.Fields(m3.docker(t, "ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.task"))
	if strings.Join(after, " ") != strings.Join(keep, " ") {
		t.Fatalf("node3's task containers before the restart %v, after %v", keep, after)
	}
	for _, id := range after {
		if st := strings.TrimSpace(m3.docker(t, "inspect", "--format", "{{.RestartCount}} {{.State.Status}}", id)); st != "0 running" {
			t.Fatalf("container %s after the daemon's restart: %s", id, st)
		}
	}

	// The leader killed: another leads and services keep converging.
	leaderID := leaderOf(m1)
	var leader *swarmNode
	var others []*swarmNode
	for _, n := range nodes[:3] {
		if n.nodeID(t) == leaderID {
			leader = n
		} else {
			others = append(others, n)
		}
	}
	leader.kill9()
	eventuallyDocker(t, others[0], 60*time.Second, "a scale through a surviving manager", func(r result) bool { return r.Code == 0 },
		"service", "scale", "-d", "rep=9")
	waitRunning(t, others[0], "rep", 9, 90*time.Second)
	leader.restart()
	waitRunning(t, others[1], "rep", 9, 60*time.Second)
}

// swarmJoinLate adds a node to a running swarm as a worker.
func swarmJoinLate(t *testing.T, nodes []*swarmNode) *swarmNode {
	t.Helper()
	m := nodes[0]
	n := nodes[0].net.addNode()
	n.importBusybox(t)
	token := strings.TrimSpace(m.docker(t, "swarm", "join-token", "-q", "worker"))
	n.docker(t, "swarm", "join", "--token", token, m.IP+":2377")
	return n
}

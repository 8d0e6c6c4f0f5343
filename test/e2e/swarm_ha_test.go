package e2e

import (
	"strings"
	"testing"
	"time"
)

// initSwarm makes n[0] the first manager (heartbeat period 1s) and joins the others with role's token.
func initSwarm(t *testing.T, role string, nodes ...*swarmNode) {
	t.Helper()
	m := nodes[0]
	m.docker(t, "swarm", "init", "--advertise-addr", m.IP, "--dispatcher-heartbeat", "1s")
	token := strings.TrimSpace(m.docker(t, "swarm", "join-token", "-q", role))
	for _, n := range nodes[1:] {
		n.docker(t, "swarm", "join", "--token", token, m.IP+":2377")
	}
}

// leaderOf is the ID of the leader as node's node ls shows it ("" if none or on error).
func leaderOf(n *swarmNode) string {
	r := n.dockerR(nil, "node", "ls", "--format", "{{.ID}} {{.ManagerStatus}}")
	if r.Code != 0 {
		return ""
	}
	for _, l := range strings.Split(r.Stdout, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] == "Leader" {
			return f[0]
		}
	}
	return ""
}

// Three managers: losing the leader (kill -9) elects another and the cluster stays writable; losing quorum
// makes writes fail with docker's words while the nodes keep running; restarted managers come back as
// themselves and the cluster heals.
func TestSwarmThreeManagersLeaderLossAndQuorum(t *testing.T) {
	net := newSwarmNet(t)
	n1, n2, n3 := net.addNode(), net.addNode(), net.addNode()
	initSwarm(t, "manager", n1, n2, n3)
	byID := map[string]*swarmNode{n1.nodeID(t): n1, n2.nodeID(t): n2, n3.nodeID(t): n3}
	eventuallyDocker(t, n1, 30*time.Second, "three reachable managers", func(r result) bool {
		return r.Code == 0 && strings.Count(r.Stdout, "Reachable")+strings.Count(r.Stdout, "Leader") == 3 && strings.Count(r.Stdout, "Ready") == 3
	}, "node", "ls")
	leaderID := leaderOf(n1)
	leader := byID[leaderID]
	if leader == nil {
		t.Fatalf("no leader in node ls")
	}
	var rest []*swarmNode
	for id, n := range byID {
		if id != leaderID {
			rest = append(rest, n)
		}
	}

	leader.kill9()
	killed := time.Now()
	var newLeader string
	waitFor(t, 30*time.Second, "a new leader", func() bool {
		newLeader = leaderOf(rest[0])
		return newLeader != "" && newLeader != leaderID
	})
	elected := time.Since(killed)
	// Writable: a node update through the other survivor.
	eventuallyDocker(t, rest[1], 30*time.Second, "a write after the leader's loss", func(r result) bool { return r.Code == 0 },
		"node", "update", "--label-add", "after=leader-loss", newLeader)
	t.Logf("leader killed: %s elected %v later, writable %v later", newLeader, elected.Round(10*time.Millisecond), time.Since(killed).Round(10*time.Millisecond))
	eventuallyDocker(t, rest[0], 30*time.Second, "the killed leader down and unreachable", func(r result) bool {
		return r.Code == 0 && strings.Contains(r.Stdout, "Down") && strings.Contains(r.Stdout, "Unreachable")
	}, "node", "ls")

	// Quorum lost: one manager of three. Writes and reads fail with docker's words; the node itself runs on.
	rest[1].kill9()
	r := eventuallyDocker(t, rest[0], 60*time.Second, "writes refused without quorum", func(r result) bool {
		return r.Code != 0 && strings.Contains(r.Stderr, "The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online.")
	}, "node", "update", "--label-add", "quorum=lost", newLeader)
	t.Logf("without quorum: %s", strings.TrimSpace(r.Stderr))
	if out := rest[0].docker(t, "version", "--format", "{{.Server.Version}}"); strings.TrimSpace(out) == "" {
		t.Fatal("the engine stopped answering without quorum")
	}

	// Restart both killed managers: quorum returns, each is itself, nothing was lost.
	leader.restart()
	rest[1].restart()
	for id, n := range byID {
		waitFor(t, 60*time.Second, "node back with its identity", func() bool {
			return n.swarmState() == "active" && strings.TrimSpace(n.dockerR(nil, "info", "--format", "{{.Swarm.NodeID}}").Stdout) == id
		})
	}
	eventuallyDocker(t, n1, 60*time.Second, "three ready managers again", func(r result) bool {
		return r.Code == 0 && strings.Count(r.Stdout, "Ready") == 3 && strings.Count(r.Stdout, "Reachable")+strings.Count(r.Stdout, "Leader") == 3
	}, "node", "ls")
	if out := n2.docker(t, "node", "inspect", "--format", "{{index .Spec.Labels \"after\"}}", newLeader); strings.TrimSpace(out) != "leader-loss" {
		t.Fatalf("the write made after the leader's loss: %q", out)
	}
	eventuallyDocker(t, n3, 30*time.Second, "writable again", func(r result) bool { return r.Code == 0 },
		"node", "update", "--label-add", "quorum=back", newLeader)
}

// A worker and a manager killed with -9 come back as themselves; autolock seals the manager's keys, a restarted
// manager is locked until unlocked (docker's words for each refusal); the unlock key rotates; the root CA
// rotates and every node moves to the new root.
func TestSwarmRestartAutolockAndCARotation(t *testing.T) {
	net := newSwarmNet(t)
	m, w := net.addNode(), net.addNode()
	initSwarm(t, "worker", m, w)
	mid, wid := m.nodeID(t), w.nodeID(t)
	eventuallyDocker(t, m, 30*time.Second, "two ready nodes", func(r result) bool {
		return r.Code == 0 && strings.Count(r.Stdout, "Ready") == 2
	}, "node", "ls")

	w.kill9()
	m.kill9()
	m.restart()
	w.restart()
	eventuallyDocker(t, m, 60*time.Second, "both back and ready", func(r result) bool {
		return r.Code == 0 && strings.Count(r.Stdout, "Ready") == 2 && strings.Contains(r.Stdout, mid) && strings.Contains(r.Stdout, wid)
	}, "node", "ls")
	if got := w.nodeID(t); got != wid {
		t.Fatalf("the worker came back as %s, not %s", got, wid)
	}

	out := m.docker(t, "swarm", "update", "--autolock=true")
	key := ""
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "SWMKEY-1-") {
			key = f
		}
	}
	if key == "" || !strings.Contains(out, "docker swarm unlock") {
		t.Fatalf("swarm update --autolock printed:\n%s", out)
	}
	if got := strings.TrimSpace(m.docker(t, "swarm", "unlock-key", "-q")); got != key {
		t.Fatalf("unlock-key -q: %q, want %q", got, key)
	}
	if r := m.dockerR(strings.NewReader(key+"\n"), "swarm", "unlock"); r.Code == 0 || !strings.Contains(r.Stderr, "swarm is not locked") {
		t.Fatalf("unlock of an unlocked swarm: %s", r)
	}
	// The keys are sealed once the manager heard of autolock (its next heartbeat).
	time.Sleep(2 * time.Second)
	m.stopDaemon()
	m.restart()
	if got := m.swarmState(); got != "locked" {
		t.Fatalf("state after a restart with autolock: %q", got)
	}
	if info := m.docker(t, "info"); !strings.Contains(info, "Swarm: locked") {
		t.Fatalf("docker info of a locked node:\n%s", info)
	}
	if r := m.dockerR(nil, "node", "ls"); r.Code == 0 || !strings.Contains(r.Stderr, `Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock" to unlock it.`) {
		t.Fatalf("node ls on a locked manager: %s", r)
	}
	if r := m.dockerR(strings.NewReader("SWMKEY-1-"+strings.Repeat("A", 43)+"\n"), "swarm", "unlock"); r.Code == 0 || !strings.Contains(r.Stderr, "swarm could not be unlocked: invalid key provided") {
		t.Fatalf("unlock with a wrong key: %s", r)
	}
	m.dockerR(strings.NewReader(key+"\n"), "swarm", "unlock")
	eventuallyDocker(t, m, 30*time.Second, "the unlocked manager serving", func(r result) bool { return r.Code == 0 && strings.Count(r.Stdout, "Ready") == 2 }, "node", "ls")

	out = m.docker(t, "swarm", "unlock-key", "--rotate")
	if !strings.Contains(out, "Successfully rotated manager unlock key.") || strings.Contains(out, key) {
		t.Fatalf("unlock-key --rotate:\n%s", out)
	}

	// Root CA rotation: the CLI waits until every node has a certificate of the new root, then prints it.
	before := m.docker(t, "info", "--format", "{{.Swarm.Cluster.TLSInfo.TrustRoot}}")
	out = m.docker(t, "swarm", "ca", "--rotate")
	if !strings.Contains(out, "-----BEGIN CERTIFICATE-----") || strings.Contains(out, strings.TrimSpace(before)) {
		t.Fatalf("swarm ca --rotate printed:\n%s", out)
	}
	after := m.docker(t, "info", "--format", "{{.Swarm.Cluster.TLSInfo.TrustRoot}} {{.Swarm.Cluster.RootRotationInProgress}}")
	if strings.Contains(after, strings.TrimSpace(before)) || !strings.HasSuffix(strings.TrimSpace(after), "false") {
		t.Fatalf("after the rotation: %s", after)
	}
	// The new join token pins the new root; the worker still talks to the manager with its new certificate.
	newToken := strings.TrimSpace(m.docker(t, "swarm", "join-token", "-q", "worker"))
	if newToken == "" {
		t.Fatal("no token")
	}
	w.kill9()
	w.restart()
	eventuallyDocker(t, m, 30*time.Second, "the worker back after the rotation", func(r result) bool {
		return r.Code == 0 && strings.Count(r.Stdout, "Ready") == 2
	}, "node", "ls")
}

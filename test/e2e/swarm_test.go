package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Swarm mode across nodes, through the docker CLI: init, join-token, join (refused with a wrong token), node
// ls/inspect/update/promote/demote/rm, a worker refused manager commands and the managers' API, nodes going
// down when their daemon stops, leave.
func TestSwarmInitJoinNodes(t *testing.T) {
	net := newSwarmNet(t)
	n1, n2, n3 := net.addNode(), net.addNode(), net.addNode()

	if got := n1.swarmState(); got != "inactive" {
		t.Fatalf("swarm state before init: %q", got)
	}
	if r := n1.dockerR(nil, "node", "ls"); r.Code == 0 || !strings.Contains(r.Stderr, "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.") && !strings.Contains(r.Stderr, "This node is not part of a swarm") {
		t.Fatalf("node ls outside a swarm: %s", r)
	}
	out := n1.docker(t, "swarm", "init", "--advertise-addr", n1.IP)
	id1 := n1.nodeID(t)
	want := fmt.Sprintf("Swarm initialized: current node (%s) is now a manager.", id1)
	if !strings.Contains(out, want) || !regexp.MustCompile(`docker swarm join --token SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25} `+regexp.QuoteMeta(n1.IP)+`:2377`).MatchString(out) ||
		!strings.Contains(out, "To add a manager to this swarm, run 'docker swarm join-token manager' and follow the instructions.") {
		t.Fatalf("swarm init printed:\n%s", out)
	}
	if r := n1.dockerR(nil, "swarm", "init", "--advertise-addr", n1.IP); r.Code == 0 || !strings.Contains(r.Stderr, "This node is already part of a swarm.") {
		t.Fatalf("a second init: %s", r)
	}
	workerToken := strings.TrimSpace(n1.docker(t, "swarm", "join-token", "-q", "worker"))
	managerToken := strings.TrimSpace(n1.docker(t, "swarm", "join-token", "-q", "manager"))
	if out := n1.docker(t, "swarm", "join-token", "manager"); !strings.Contains(out, "To add a manager to this swarm, run the following command:\n\n    docker swarm join --token "+managerToken+" "+n1.IP+":2377") {
		t.Fatalf("join-token manager:\n%s", out)
	}
	// Rotation: a new worker token, the old one refused.
	out = n1.docker(t, "swarm", "join-token", "--rotate", "worker")
	if !strings.Contains(out, "Successfully rotated worker join token.") {
		t.Fatalf("join-token --rotate:\n%s", out)
	}
	oldWorker := workerToken
	workerToken = strings.TrimSpace(n1.docker(t, "swarm", "join-token", "-q", "worker"))
	if workerToken == oldWorker {
		t.Fatal("the worker token did not change")
	}
	r := n2.dockerR(nil, "swarm", "join", "--token", oldWorker, n1.IP+":2377")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Error response from daemon: rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster") {
		t.Fatalf("join with a rotated-out token: %s", r)
	}
	if got := n2.swarmState(); got != "inactive" {
		t.Fatalf("after a refused join: %q", got)
	}
	if r := n2.dockerR(nil, "swarm", "join", "--token", "SWMTKN-1-nonsense", n1.IP+":2377"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid join token") {
		t.Fatalf("join with a malformed token: %s", r)
	}

	if out := n2.docker(t, "swarm", "join", "--token", workerToken, n1.IP+":2377"); !strings.Contains(out, "This node joined a swarm as a worker.") {
		t.Fatalf("worker join: %s", out)
	}
	if out := n3.docker(t, "swarm", "join", "--token", managerToken, n1.IP+":2377"); !strings.Contains(out, "This node joined a swarm as a manager.") {
		t.Fatalf("manager join: %s", out)
	}
	id2, id3 := n2.nodeID(t), n3.nodeID(t)

	// A worker answers manager commands with docker's words.
	r = n2.dockerR(nil, "node", "ls")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Error response from daemon: This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.") {
		t.Fatalf("node ls on a worker: %s", r)
	}
	// Its certificate cannot call the managers' API either, where a manager's can.
	if code := controlCall(t, n2, n1); code != http.StatusForbidden {
		t.Fatalf("a worker's certificate on the control API: %d", code)
	}
	if code := controlCall(t, n3, n1); code != http.StatusOK {
		t.Fatalf("a manager's certificate on the control API: %d", code)
	}

	n1.docker(t, "swarm", "update", "--dispatcher-heartbeat", "1s", "--task-history-limit", "7", "--cert-expiry", "48h")
	ls := eventuallyDocker(t, n1, 30*time.Second, "three ready nodes", func(r result) bool {
		return r.Code == 0 && strings.Count(r.Stdout, " Ready ") == 3
	}, "node", "ls")
	lines := strings.Split(strings.TrimSpace(ls.Stdout), "\n")
	if !regexp.MustCompile(`^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION$`).MatchString(lines[0]) {
		t.Fatalf("node ls header: %q", lines[0])
	}
	rows := map[string]string{}
	for _, l := range lines[1:] {
		rows[strings.Fields(strings.TrimPrefix(l, " "))[0]] = l
	}
	if !regexp.MustCompile(`^`+id1+` \*\s+node1\s+Ready\s+Active\s+Leader\s+\S+`).MatchString(rows[id1]) ||
		!regexp.MustCompile(`^`+id2+`\s+node2\s+Ready\s+Active\s+\S+$`).MatchString(rows[id2]) ||
		!regexp.MustCompile(`^`+id3+`\s+node3\s+Ready\s+Active\s+Reachable\s+\S+`).MatchString(rows[id3]) {
		t.Fatalf("node ls:\n%s", ls.Stdout)
	}
	info := n1.docker(t, "info")
	for _, w := range []string{"Swarm: active", "NodeID: " + id1, "Is Manager: true", "Managers: 2", "Nodes: 3",
		"Task History Retention Limit: 7", "Raft:", "Snapshot Interval: 10000", "Heartbeat Tick: 1", "Election Tick: 10",
		"Heartbeat Period: 1 second", "Expiry Duration: 2 days", "Autolock Managers: false", "Node Address: " + n1.IP, "Manager Addresses:"} {
		if !strings.Contains(info, w) {
			t.Fatalf("docker info lacks %q:\n%s", w, info)
		}
	}
	if r := n1.dockerR(nil, "swarm", "update", "--cert-expiry", "15m"); r.Code == 0 || !strings.Contains(r.Stderr, "minimum certificate expiry time is: 1h0m0s") {
		t.Fatalf("a too short cert expiry: %s", r)
	}

	// node inspect, update, promote, demote.
	if out := n1.docker(t, "node", "inspect", "--pretty", "self"); !strings.Contains(out, "ID:\t\t\t"+id1) && !regexp.MustCompile(`ID:\s+`+id1).MatchString(out) {
		t.Fatalf("node inspect --pretty self:\n%s", out)
	}
	if out := n1.docker(t, "node", "ps", "self"); !regexp.MustCompile(`^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS\n$`).MatchString(out) {
		t.Fatalf("node ps of a node without tasks:\n%q", out)
	}
	if r := n1.dockerR(nil, "node", "inspect", "nope"); r.Code == 0 || !strings.Contains(r.Stderr, "node nope not found") {
		t.Fatalf("inspect of an unknown node: %s", r)
	}
	n1.docker(t, "node", "update", "--availability", "drain", "--label-add", "zone=a", "--label-add", "disk=ssd", id2)
	n1.docker(t, "node", "update", "--label-rm", "disk", id2)
	var nodes []struct {
		Spec struct {
			Availability string
			Role         string
			Labels       map[string]string
		}
	}
	if err := json.Unmarshal([]byte(n1.docker(t, "node", "inspect", id2)), &nodes); err != nil || len(nodes) != 1 {
		t.Fatal(err)
	}
	if s := nodes[0].Spec; s.Availability != "drain" || len(s.Labels) != 1 || s.Labels["zone"] != "a" {
		t.Fatalf("after node update: %+v", s)
	}
	if r := n1.dockerR(nil, "node", "update", "--availability", "asleep", id2); r.Code == 0 {
		t.Fatalf("a bad availability: %s", r)
	}
	if out := n1.docker(t, "node", "promote", id2); !strings.Contains(out, "Node "+id2+" promoted to a manager in the swarm.") {
		t.Fatalf("promote: %s", out)
	}
	eventuallyDocker(t, n2, 60*time.Second, "node2 a manager", func(r result) bool { return r.Code == 0 }, "node", "ls")
	if out := n1.docker(t, "node", "demote", id3); !strings.Contains(out, "Manager "+id3+" demoted in the swarm.") {
		t.Fatalf("demote: %s", out)
	}
	eventuallyDocker(t, n3, 60*time.Second, "node3 a worker", func(r result) bool {
		return r.Code != 0 && strings.Contains(r.Stderr, "This node is not a swarm manager.")
	}, "node", "ls")
	eventuallyDocker(t, n1, 30*time.Second, "two managers", func(r result) bool {
		return r.Code == 0 && strings.TrimSpace(r.Stdout) == "2"
	}, "info", "--format", "{{.Swarm.Managers}}")

	// A node whose daemon stops goes down after the heartbeat period; only a down node is removed without force.
	r = n1.dockerR(nil, "node", "rm", id3)
	if r.Code == 0 || !strings.Contains(r.Stderr, "is not down and can't be removed") {
		t.Fatalf("rm of a ready node: %s", r)
	}
	if r := n1.dockerR(nil, "node", "rm", id2); r.Code == 0 || !strings.Contains(r.Stderr, "must be demoted to worker before removal") {
		t.Fatalf("rm of a manager: %s", r)
	}
	n3.kill9()
	start := time.Now()
	eventuallyDocker(t, n1, 30*time.Second, "node3 down", func(r result) bool {
		return r.Code == 0 && strings.TrimSpace(r.Stdout) == "down"
	}, "node", "inspect", "--format", "{{.Status.State}}", id3)
	t.Logf("node3 down %v after its daemon was killed (heartbeat period 1s)", time.Since(start).Round(100*time.Millisecond))
	if out := n1.docker(t, "node", "rm", id3); strings.TrimSpace(out) != id3 {
		t.Fatalf("node rm printed %q", out)
	}
	if r := n1.dockerR(nil, "node", "inspect", id3); r.Code == 0 || !strings.Contains(r.Stderr, "node "+id3+" not found") {
		t.Fatalf("inspect of a removed node: %s", r)
	}

	// Leave: a manager is refused without --force; the managers' quorum is spelled out.
	r = n2.dockerR(nil, "swarm", "leave")
	if r.Code == 0 || !strings.Contains(r.Stderr, "You are attempting to leave the swarm on a node that is participating as a manager.") {
		t.Fatalf("a manager leaving: %s", r)
	}
	n2.docker(t, "node", "demote", id2)
	eventuallyDocker(t, n2, 60*time.Second, "node2 a worker again", func(r result) bool {
		return r.Code != 0 && strings.Contains(r.Stderr, "This node is not a swarm manager.")
	}, "node", "ls")
	if out := n2.docker(t, "swarm", "leave"); !strings.Contains(out, "Node left the swarm.") {
		t.Fatalf("worker leave: %s", out)
	}
	if got := n2.swarmState(); got != "inactive" {
		t.Fatalf("after leave: %q", got)
	}
	eventuallyDocker(t, n1, 10*time.Second, "node2 down after it left", func(r result) bool {
		return r.Code == 0 && strings.TrimSpace(r.Stdout) == "down"
	}, "node", "inspect", "--format", "{{.Status.State}}", id2)
	r = n1.dockerR(nil, "swarm", "leave")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.") {
		t.Fatalf("the last manager leaving: %s", r)
	}
	n1.docker(t, "swarm", "leave", "--force")
	if got := n1.swarmState(); got != "inactive" {
		t.Fatalf("after leave --force: %q", got)
	}
}

// controlCall calls the managers' control API of mgr with node's certificate and key from its data root, and
// returns the status.
func controlCall(t *testing.T, node, mgr *swarmNode) int {
	t.Helper()
	dir := filepath.Join(node.DataRoot, "swarm")
	certPEM, err := os.ReadFile(filepath.Join(dir, "node.crt"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	var kf struct {
		Sealed bool
		Blob   []byte
	}
	b, _ := os.ReadFile(filepath.Join(dir, "keys.json"))
	if err := json.Unmarshal(b, &kf); err != nil || kf.Sealed {
		t.Fatalf("keys.json: %v (sealed %v)", err, kf.Sealed)
	}
	var km struct{ NodeKey []byte }
	json.Unmarshal(kf.Blob, &km)
	kp, err := tls.X509KeyPair(certPEM, km.NodeKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{kp}, RootCAs: pool, ServerName: "swarm-manager"}}}
	resp, err := c.Post("https://"+mgr.IP+":2377/berth/v1/control/nodes", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

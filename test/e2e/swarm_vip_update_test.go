package e2e

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A rolling update costs no request through the VIP: while `service update --force` replaces the 3 tasks of a
// service one at a time, a client on the overlay network keeps making requests to the service's name, each on
// a new connection, and none fails. The tasks' server stops serving the moment it gets SIGTERM (its shell
// exits, taking the pid namespace's httpd with it), so a request sent to a task its balancer still listed
// when the stop signal came would fail: each task must leave every node's balancers first.
func TestSwarmServiceVIPUpdate(t *testing.T) {
	nodes := swarmWithImages(t, 1, 2)
	m := nodes[0]
	m.docker(t, "network", "create", "-d", "overlay", "--attachable", "--subnet", "10.79.0.0/24", "updnet")
	m.docker(t, "service", "create", "--detach", "--name", "upd", "--replicas", "3", "--network", "updnet",
		"--update-parallelism", "1", "--update-delay", "0s", "--constraint", "node.role==worker", "busybox", "sh", "-c",
		"mkdir -p /www && hostname > /www/index.html && httpd -p 80 -h /www && trap 'exit 0' TERM && while :; do sleep 1 & wait $!; done")
	waitRunning(t, m, "upd", 3, 90*time.Second)
	m.docker(t, "run", "-d", "--name", "updclient", "--network", "updnet", "busybox", "sleep", "3600")
	waitFor(t, 20*time.Second, "the service answering through its VIP", func() bool { return len(fetchHosts(t, m, "updclient", "upd", 3)) > 0 })

	// Requests one after another until /stop appears; each answer's status line is counted.
	done := make(chan string, 1)
	go func() {
		done <- m.dockerR(nil, "exec", "updclient", "sh", "-c", `ok=0; fail=0
while [ ! -e /stop ]; do
	if printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 upd 80 | grep -q '^HTTP/1.[01] 200'; then ok=$((ok+1)); else fail=$((fail+1)); fi
done
echo "ok=$ok fail=$fail"`).Stdout
	}()
	time.Sleep(time.Second)
	before := strings.Fields(m.docker(t, "service", "ps", "-q", "--filter", "desired-state=running", "upd"))
	// The order itself, which the request count alone rarely catches (the balancers change within
	// milliseconds of the stop either way): the client's table drops each old task's address before the
	// task's container gets its stop signal (its kill event on its node). The table is read by polling, so a
	// change is seen only by the next read: the first read that no longer lists the address is timed by its
	// start, which is at most one read (nsenter and nft, ~10-30 ms) before the change. A balancer that still
	// listed the task longer than that after its stop fails the check; the node acknowledges its tables to the
	// leader before the stop, so the true gap is the acknowledgement's round trip, a few milliseconds, which no
	// polling can resolve (the cluster package's tests check the acknowledgement itself).
	addrOf := map[string]*regexp.Regexp{}
	for _, id := range before {
		a := strings.TrimSpace(m.docker(t, "inspect", "--format", `{{range .NetworksAttachments}}{{range .Addresses}}{{.}}{{end}}{{end}}`, id))
		addrOf[id] = regexp.MustCompile(`\b` + regexp.QuoteMeta(strings.TrimSuffix(a, "/24")) + `\b`)
	}
	clientNS := nsOfContainer(t, m, "updclient")
	stopPoll := make(chan struct{})
	polled := make(chan map[string]time.Time, 1)
	go func() {
		gone := map[string]time.Time{}
		for {
			began := time.Now()
			out, err := exec.Command("nsenter", "--net="+clientNS, "nft", "list", "table", "ip", "berth-vip").Output()
			for id, re := range addrOf {
				if _, seen := gone[id]; !seen && err == nil && !re.Match(out) {
					gone[id] = began
				}
			}
			select {
			case <-stopPoll:
				polled <- gone
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	m.docker(t, "service", "update", "--detach", "--force", "upd")
	waitFor(t, 60*time.Second, "3 new running tasks of upd", func() bool {
		now := strings.Fields(m.docker(t, "service", "ps", "-q", "--filter", "desired-state=running", "upd"))
		for _, id := range now {
			for _, old := range before {
				if id == old {
					return false
				}
			}
		}
		return len(now) == 3 && runningTasks(t, m, "upd") == 3
	})
	t.Logf("the update took %v", time.Since(start).Round(time.Millisecond))
	close(stopPoll)
	gone := <-polled
	killed := map[string]time.Time{}
	for _, n := range nodes {
		out := n.docker(t, "events", "--since", strconv.FormatInt(start.Add(-time.Second).Unix(), 10), "--until", strconv.FormatInt(time.Now().Unix()+1, 10),
			"--filter", "event=kill", "--filter", "label=com.docker.swarm.service.name=upd",
			"--format", `{{.TimeNano}} {{index .Actor.Attributes "com.docker.swarm.task.id"}}`)
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(l)
			if len(f) != 2 {
				continue
			}
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			if at, ok := killed[f[1]]; !ok || time.Unix(0, ns).Before(at) {
				killed[f[1]] = time.Unix(0, ns)
			}
		}
	}
	for _, id := range before {
		k, ok := killed[id]
		g, left := gone[id]
		switch {
		case !ok:
			t.Errorf("task %s: no kill event on any node", id)
		case !left:
			t.Errorf("task %s: its address never left the client's balancer", id)
		case !g.Before(k):
			t.Errorf("task %s: the first read of the client's balancer without it began %v after its stop signal", id, g.Sub(k))
		default:
			t.Logf("task %s: the first read of the client's balancer without it began %v before its stop signal", id, k.Sub(g).Round(time.Millisecond))
		}
	}
	time.Sleep(time.Second)
	m.docker(t, "exec", "updclient", "touch", "/stop")
	out := <-done
	res := regexp.MustCompile(`ok=(\d+) fail=(\d+)`).FindStringSubmatch(out)
	if res == nil {
		t.Fatalf("the client's loop said %q", out)
	}
	ok, _ := strconv.Atoi(res[1])
	fail, _ := strconv.Atoi(res[2])
	t.Logf("requests through the VIP during the update: %d answered, %d failed", ok, fail)
	if fail != 0 || ok < 10 {
		t.Fatalf("requests through the VIP during the rolling update: %d answered, %d failed (want none failed, at least 10 answered)", ok, fail)
	}
	m.docker(t, "service", "rm", "upd")
	m.docker(t, "rm", "-f", "updclient")
}

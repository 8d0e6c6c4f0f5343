package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A service on an overlay network (not attachable: only tasks join it): each task gets its address from the
// cluster when it is made (docker inspect's NetworksAttachments), its container on a worker claims that address,
// the replicas on two workers reach each other by address, and removing the service leaves nothing of the
// network's data path on the workers.
func TestSwarmServiceOverlay(t *testing.T) {
	nodes := swarmWithImages(t, 1, 2)
	m, w1, w2 := nodes[0], nodes[1], nodes[2]
	m.docker(t, "network", "create", "-d", "overlay", "--subnet", "10.77.0.0/24", "appnet")
	m.docker(t, "service", "create", "--name", "app", "--replicas", "2", "--network", "appnet", "--constraint", "node.role==worker",
		"busybox", "sleep", "3600")
	waitRunning(t, m, "app", 2, 60*time.Second)

	// The tasks' addresses, as the manager tells them.
	taskAddr := map[string]string{} // container name -> address
	for _, id := range strings.Fields(m.docker(t, "service", "ps", "-q", "--filter", "desired-state=running", "app")) {
		out := strings.TrimSpace(m.docker(t, "inspect", "--format",
			`{{.Slot}} {{range .NetworksAttachments}}{{range .Addresses}}{{.}}{{end}}{{end}}`, id))
		f := strings.Fields(out)
		if len(f) != 2 || !strings.HasPrefix(f[1], "10.77.0.") || !strings.HasSuffix(f[1], "/24") {
			t.Fatalf("task %s: slot and addresses %q", id, out)
		}
		taskAddr[fmt.Sprintf("app.%s.%s", f[0], id)] = strings.TrimSuffix(f[1], "/24")
	}
	if len(taskAddr) != 2 {
		t.Fatalf("tasks: %v", taskAddr)
	}
	// One replica on each worker, on appnet with the task's address.
	var ctrs [2]string
	for i, w := range []*swarmNode{w1, w2} {
		names := containersOf(t, w, "app")
		if len(names) != 1 {
			t.Fatalf("%s runs %v", w.Name, names)
		}
		ctrs[i] = names[0]
		nets := strings.TrimSpace(w.docker(t, "inspect", "--format", `{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}`, names[0]))
		if want := "appnet=" + taskAddr[names[0]]; nets != want {
			t.Fatalf("%s on %s: networks %q, want %q", names[0], w.Name, nets, want)
		}
	}
	reach(t, w1, ctrs[0], taskAddr[ctrs[1]])
	reach(t, w2, ctrs[1], taskAddr[ctrs[0]])
	// A TCP stream across.
	w2.docker(t, "exec", "-d", ctrs[1], "sh", "-c", "nc -l -p 5000 > /tmp/got")
	eventuallyDocker(t, w1, 10*time.Second, "a TCP stream between the replicas", func(r result) bool { return r.Code == 0 },
		"exec", ctrs[0], "sh", "-c", "echo hello-replica | nc -w 2 "+taskAddr[ctrs[1]]+" 5000")
	eventuallyDocker(t, w2, 10*time.Second, "the replica received the stream", func(r result) bool { return strings.TrimSpace(r.Stdout) == "hello-replica" },
		"exec", ctrs[1], "cat", "/tmp/got")

	// The network is in use while the service is; removing the service frees it and the workers' data path.
	if r := m.dockerR(nil, "network", "rm", "appnet"); r.Code == 0 {
		t.Fatalf("network rm while the service uses it: %s", r)
	}
	m.docker(t, "service", "rm", "app")
	for _, w := range []*swarmNode{w1, w2} {
		waitFor(t, 30*time.Second, "the replica gone from "+w.Name, func() bool { return len(containersOf(t, w, "app")) == 0 })
		waitFor(t, 30*time.Second, "no overlay left on "+w.Name, func() bool { return len(w.overlayLeftovers(t)) == 0 })
	}
	eventuallyDocker(t, m, 30*time.Second, "network rm after the service", func(r result) bool { return r.Code == 0 }, "network", "rm", "appnet")
	if out := m.docker(t, "network", "ls", "--filter", "name=appnet", "-q"); regexp.MustCompile(`\S`).MatchString(out) {
		t.Fatalf("appnet still listed: %q", out)
	}
}

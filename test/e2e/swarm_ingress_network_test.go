package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// docker's way to change the ingress subnet, through the docker CLI: one ingress network per swarm (a second
// refused in swarmkit's words, as are an attachable one and one on a local driver); `network rm ingress`, then
// `network create --driver overlay --ingress --subnet 10.11.0.0/16 my-ingress`; a service published through the
// mesh afterwards gets its VIP and its tasks' addresses there, and answers on every node.
func TestSwarmIngressNetworkCreate(t *testing.T) {
	nodes := swarmWithImages(t, 1, 1)
	m := nodes[0]
	ingressID := strings.TrimSpace(m.docker(t, "network", "inspect", "--format", "{{.Id}}", "ingress"))

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "a second ingress network", args: []string{"-d", "overlay", "--ingress", "my-ingress"},
			want: "rpc error: code = AlreadyExists desc = ingress network (" + ingressID + ") is already present"},
		{name: "an attachable one", args: []string{"-d", "overlay", "--ingress", "--attachable", "my-ingress"},
			want: "ingress network cannot be attachable"},
		{name: "on the bridge driver", args: []string{"--ingress", "my-ingress"},
			want: "Ingress network can only be global scope network"},
	} {
		r := m.dockerR(nil, append([]string{"network", "create"}, tc.args...)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
			t.Fatalf("%s: %s, want %q", tc.name, r, tc.want)
		}
	}
	if out := m.docker(t, "network", "ls", "--filter", "name=my-ingress", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("a refused create left %q", out)
	}

	// docker's CLI asks before removing the routing mesh's network.
	if r := m.dockerR(strings.NewReader("y\n"), "network", "rm", "ingress"); r.Code != 0 {
		t.Fatalf("network rm ingress: %s", r)
	}
	if out := m.docker(t, "network", "ls", "--filter", "name=ingress", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("ingress still listed after network rm: %q", out)
	}
	if r := m.dockerR(nil, "service", "create", "--name", "early", "-p", "8081:80", "busybox", "sleep", "60"); r.Code == 0 ||
		!strings.Contains(r.Stderr, "service needs ingress network, but no ingress network is present") {
		t.Fatalf("a published service without an ingress network: %s", r)
	}
	id := strings.TrimSpace(m.docker(t, "network", "create", "--driver", "overlay", "--ingress", "--subnet", "10.11.0.0/16", "my-ingress"))
	if out := strings.TrimSpace(m.docker(t, "network", "inspect", "--format",
		`{{.Ingress}} {{.Attachable}} {{.Scope}} {{range .IPAM.Config}}{{.Subnet}}{{end}} {{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}`, "my-ingress")); out != "true false swarm 10.11.0.0/16 4096" {
		t.Fatalf("my-ingress: %q", out)
	}

	m.docker(t, "service", "create", "--name", "mesh", "--replicas", "1", "-p", "8080:80", "--constraint", "node.role==worker",
		"busybox", "sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www")
	waitRunning(t, m, "mesh", 1, 90*time.Second)
	var ep struct {
		VirtualIPs []struct{ NetworkID, Addr string }
	}
	if err := json.Unmarshal([]byte(m.docker(t, "service", "inspect", "--format", "{{json .Endpoint}}", "mesh")), &ep); err != nil {
		t.Fatal(err)
	}
	if len(ep.VirtualIPs) != 1 || ep.VirtualIPs[0].NetworkID != id || !strings.HasPrefix(ep.VirtualIPs[0].Addr, "10.11.") {
		t.Fatalf("mesh's VIPs: %+v, want one on my-ingress (%s)", ep.VirtualIPs, id)
	}
	task := strings.Fields(m.docker(t, "service", "ps", "-q", "--filter", "desired-state=running", "mesh"))
	if len(task) != 1 {
		t.Fatalf("tasks: %v", task)
	}
	if addrs := strings.TrimSpace(m.docker(t, "inspect", "--format", `{{range .NetworksAttachments}}{{.Network.ID}}={{range .Addresses}}{{.}}{{end}} {{end}}`, task[0])); !strings.HasPrefix(addrs, id+"=10.11.") {
		t.Fatalf("the task's attachments: %q", addrs)
	}
	for _, n := range nodes {
		url := "http://" + n.IP + ":8080/"
		waitFor(t, 30*time.Second, "port 8080 answering on "+n.Name+" through my-ingress", func() bool {
			_, err := meshGet(url)
			return err == nil
		})
	}
	// In use, it stays; the service gone, it goes.
	if r := m.dockerR(strings.NewReader("y\n"), "network", "rm", "my-ingress"); r.Code == 0 {
		t.Fatalf("network rm my-ingress while a service publishes through it: %s", r)
	}
	m.docker(t, "service", "rm", "mesh")
	waitFor(t, 30*time.Second, "network rm my-ingress after the service", func() bool {
		return m.dockerR(strings.NewReader("y\n"), "network", "rm", "my-ingress").Code == 0
	})
	if out := m.docker(t, "network", "ls", "--filter", "name=ingress", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("an ingress network is still listed: %q", out)
	}
}

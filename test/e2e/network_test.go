package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNetworking: user networks with DNS, isolation, internal networks, published ports, disconnect, and
// nothing left on the host afterwards.
func TestNetworking(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)

	d.docker(t, "network", "create", "front")
	d.berth(t, "network", "create", "--subnet", "10.231.7.0/24", "back")
	d.berth(t, "network", "create", "--internal", "sealed")
	if out := d.docker(t, "network", "ls", "--format", "{{.Name}} {{.Driver}}"); !strings.Contains(out, "front bridge") || !strings.Contains(out, "bridge bridge") {
		t.Fatalf("network ls: %q", out)
	}
	d.berth(t, "run", "-d", "--name", "web", "--network", "front", "--network-alias", "www", "busybox", "sh", "-c",
		"echo hello-web > /tmp/index.html; httpd -f -p 80 -h /tmp")
	d.berth(t, "run", "-d", "--name", "db", "--network", "back", "--ip", "10.231.7.50", "busybox", "sleep", "1000")

	get := func(network, target string) (string, int) {
		r := d.berthR(nil, "run", "--rm", "--network", network, "busybox", "sh", "-c",
			"printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 "+target+" 80 | tail -1")
		return strings.TrimSpace(r.Stdout), r.Code
	}
	t.Run("same network by name and alias", func(t *testing.T) {
		for _, name := range []string{"web", "www"} {
			if out, _ := get("front", name); out != "hello-web" {
				t.Fatalf("GET http://%s from front: %q", name, out)
			}
		}
		out := d.berth(t, "run", "--rm", "--network", "back", "busybox", "sh", "-c", "ping -c1 -W2 db >/dev/null && echo ok")
		if out != "ok\n" {
			t.Fatalf("ping db by name: %q", out)
		}
		if ip := strings.TrimSpace(d.docker(t, "inspect", "-f", "{{.NetworkSettings.Networks.back.IPAddress}}", "db")); ip != "10.231.7.50" {
			t.Fatalf("--ip: %q", ip)
		}
	})

	t.Run("another network cannot resolve or reach", func(t *testing.T) {
		r := d.berthR(nil, "run", "--rm", "--network", "back", "busybox", "nslookup", "web", "127.0.0.11")
		if r.Code == 0 && strings.Contains(r.Stdout, "Address") && !strings.Contains(r.Stdout, "NXDOMAIN") && strings.Count(r.Stdout, "Address") > 1 {
			t.Fatalf("web resolved from network back: %s", r)
		}
		webIP := strings.TrimSpace(d.berth(t, "inspect", "-f", "{{.NetworkSettings.Networks.front.IPAddress}}", "web"))
		if out, _ := get("back", webIP); out == "hello-web" {
			t.Fatalf("network back reached web at %s", webIP)
		}
	})

	t.Run("published port", func(t *testing.T) {
		d.berth(t, "run", "-d", "--name", "pub", "-p", "127.0.0.1:18089:80", "busybox", "sh", "-c",
			"echo hello-pub > /tmp/index.html; httpd -f -p 80 -h /tmp")
		var body string
		waitFor(t, 10*time.Second, "the published port to answer", func() bool {
			resp, err := http.Get("http://127.0.0.1:18089/index.html")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
			return resp.StatusCode == 200
		})
		if body != "hello-pub\n" {
			t.Fatalf("body %q", body)
		}
		if ps := d.docker(t, "ps", "--filter", "name=pub", "--format", "{{.Ports}}"); !strings.Contains(ps, "127.0.0.1:18089->80/tcp") {
			t.Fatalf("ps PORTS: %q", ps)
		}
		if out := d.docker(t, "port", "pub"); !strings.Contains(out, "80/tcp -> 127.0.0.1:18089") {
			t.Fatalf("docker port: %q", out)
		}
		r := d.berthR(nil, "run", "-d", "--name", "clash", "-p", "127.0.0.1:18089:80", "busybox", "sleep", "100")
		if r.Code != 125 || !strings.Contains(r.Stderr, "port is already allocated") {
			t.Fatalf("taken port: %s", r)
		}
		d.berth(t, "rm", "-f", "pub", "clash")
	})

	t.Run("internal network cannot reach out", func(t *testing.T) {
		d.berth(t, "run", "-d", "--name", "out", "-p", "18090:80", "busybox", "sh", "-c",
			"echo hello-out > /tmp/index.html; httpd -f -p 80 -h /tmp")
		gw := strings.TrimSpace(d.berth(t, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge"))
		probe := func(network string) string {
			r := d.berthR(nil, "run", "--rm", "--network", network, "busybox", "sh", "-c",
				"printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 "+gw+" 18090 | tail -1")
			return strings.TrimSpace(r.Stdout)
		}
		waitFor(t, 10*time.Second, "the port to answer from a normal network", func() bool { return probe("front") == "hello-out" })
		if out := probe("sealed"); out == "hello-out" {
			t.Fatalf("an --internal network reached the host")
		}
		d.berth(t, "rm", "-f", "out")
	})

	t.Run("disconnect cuts off", func(t *testing.T) {
		d.berth(t, "run", "-d", "--name", "client", "--network", "front", "busybox", "sleep", "1000")
		if out := d.berth(t, "exec", "client", "sh", "-c", "ping -c1 -W2 web >/dev/null && echo ok"); out != "ok\n" {
			t.Fatalf("before disconnect: %q", out)
		}
		d.docker(t, "network", "disconnect", "front", "client")
		r := d.berthR(nil, "exec", "client", "sh", "-c", "ping -c1 -W2 web")
		if r.Code == 0 {
			t.Fatalf("still reaches web after disconnect: %s", r)
		}
		d.docker(t, "network", "connect", "front", "client")
		if out := d.berth(t, "exec", "client", "sh", "-c", "ping -c1 -W2 web >/dev/null && echo ok"); out != "ok\n" {
			t.Fatalf("after reconnect: %q", out)
		}
	})

	t.Run("rm leaves nothing", func(t *testing.T) {
		bridges := map[string]string{}
		for _, n := range []string{"front", "back", "sealed"} {
			bridges[n] = "br-" + strings.TrimSpace(d.berth(t, "network", "inspect", "-f", `{{.ID}}`, n))[:12]
		}
		r := d.berthR(nil, "network", "rm", "front")
		if r.Code == 0 || !strings.Contains(r.Stderr, "has active endpoints") {
			t.Fatalf("rm of a network in use: %s", r)
		}
		for _, c := range strings.Fields(d.berth(t, "ps", "-aq")) {
			d.berth(t, "rm", "-f", c)
		}
		d.berth(t, "network", "rm", "front", "back", "sealed")
		for n, br := range bridges {
			if _, err := os.Stat(filepath.Join("/sys/class/net", br)); err == nil {
				t.Fatalf("bridge %s of %s left behind", br, n)
			}
			if out, _ := exec.Command("iptables", "-S", "FORWARD").Output(); strings.Contains(string(out), br) {
				t.Fatalf("iptables rules for %s left: %s", br, out)
			}
		}
		out, _ := exec.Command("nft", "list", "ruleset").Output()
		for _, br := range bridges {
			if strings.Contains(string(out), br) {
				t.Fatalf("nftables rules for %s left", br)
			}
		}
		if entries, _ := os.ReadDir(filepath.Join(d.ExecRoot, "netns")); len(entries) != 0 {
			t.Fatalf("network namespaces left: %v", entries)
		}
		if out, _ := exec.Command("ip", "-o", "link", "show", "type", "veth").Output(); strings.Contains(string(out), "master "+d.bridge()) {
			t.Fatalf("veths left: %s", out)
		}
	})
}

// TestNetworkingSurvivesRestart: a published port and a user network's names keep working after kill -9 of
// the daemon; renaming a container renames it in DNS; --network container: shares a namespace.
func TestNetworkingSurvivesRestart(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	d.berth(t, "network", "create", "app")
	d.berth(t, "run", "-d", "--name", "api", "--network", "app", "-p", "127.0.0.1:18091:80", "busybox", "sh", "-c",
		"echo hello-api > /tmp/index.html; httpd -f -p 80 -h /tmp")
	d.berth(t, "run", "-d", "--name", "sidecar", "--network", "container:api", "busybox", "sleep", "1000")
	fetch := func() string {
		resp, err := http.Get("http://127.0.0.1:18091/index.html")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	waitFor(t, 10*time.Second, "the published port", func() bool { return fetch() == "hello-api\n" })
	// The sidecar sees api's server on its own loopback: one network namespace.
	if out := d.berth(t, "exec", "sidecar", "sh", "-c", "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 127.0.0.1 80 | tail -1"); strings.TrimSpace(out) != "hello-api" {
		t.Fatalf("--network container: %q", out)
	}
	d.kill9()
	d.start()
	if got := fetch(); got != "hello-api\n" {
		t.Fatalf("published port after daemon restart: %q", got)
	}
	lookup := func(name string) bool {
		r := d.berthR(nil, "run", "--rm", "--network", "app", "busybox", "sh", "-c", "ping -c1 -W2 "+name+" >/dev/null && echo ok")
		return r.Stdout == "ok\n"
	}
	if !lookup("api") {
		t.Fatal("DNS name lost after daemon restart")
	}
	d.berth(t, "rename", "api", "backend")
	if !lookup("backend") || lookup("api") {
		t.Fatal("rename did not update DNS")
	}
	short := strings.TrimSpace(d.berth(t, "ps", "-q", "--filter", "name=backend"))
	if !lookup(short) {
		t.Fatalf("short ID %s does not resolve", short)
	}
}

// TestPublishAllAndRandomPorts: -P publishes the image's EXPOSE list and -p CONTAINER picks a free host port.
func TestPublishAllAndRandomPorts(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	d.berth(t, "run", "--name", "mk", "busybox", "true")
	d.berth(t, "commit", "-c", "EXPOSE 80", "-c", "EXPOSE 53/udp", "mk", "exposed")
	d.berth(t, "run", "-d", "--name", "all", "-P", "exposed", "sleep", "1000")
	out := d.docker(t, "port", "all")
	if !strings.Contains(out, "80/tcp -> 0.0.0.0:") || !strings.Contains(out, "53/udp -> 0.0.0.0:") {
		t.Fatalf("-P: %q", out)
	}
	d.berth(t, "run", "-d", "--name", "rnd", "-p", "8080", "busybox", "sh", "-c", "echo hi > /tmp/index.html; httpd -f -p 8080 -h /tmp")
	hostPort := strings.TrimSpace(d.berth(t, "inspect", "-f", `{{(index (index .NetworkSettings.Ports "8080/tcp") 0).HostPort}}`, "rnd"))
	var got string
	waitFor(t, 10*time.Second, "the random port to answer", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + hostPort + "/index.html")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got = string(b)
		return true
	})
	if got != "hi\n" {
		t.Fatalf("random host port %s served %q", hostPort, got)
	}
}

// TestCoexistWithDockerd: with a real dockerd on its default bridge (it sets the FORWARD policy to DROP),
// Berth's containers still reach each other and its published ports, and docker's containers keep working.
// The host's iptables and nftables state is restored afterwards and docker0 removed.
func TestCoexistWithDockerd(t *testing.T) {
	requireRoot(t)
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		t.Fatal("dockerd is not installed (scripts/test.sh installs docker.io)")
	}
	saved, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatal(err)
	}
	tablesBefore, _ := exec.Command("nft", "list", "tables").Output()
	_, docker0Before := os.Stat("/sys/class/net/docker0")
	d := startDaemon(t)
	d.importBusybox(t)

	t.Cleanup(func() {
		restore := exec.Command("iptables-restore")
		restore.Stdin = bytes.NewReader(saved)
		restore.Run()
		after, _ := exec.Command("nft", "list", "tables").Output()
		for _, line := range strings.Split(strings.TrimSpace(string(after)), "\n") {
			if f := strings.Fields(line); len(f) == 3 && !strings.Contains(string(tablesBefore), line) {
				exec.Command("nft", "delete", "table", f[1], f[2]).Run()
			}
		}
		if docker0Before != nil {
			exec.Command("ip", "link", "del", "docker0").Run()
		}
	})
	dockerCmd := startDockerd(t, d, dockerd)
	real := func(args ...string) result { return dockerCmd(nil, args...) }
	// dockerd sets the FORWARD policy to DROP only when it turns ip_forward on itself; on a host where it was on
	// already (Berth's networks turn it on), set the policy dockerd would have set. Cleanup restores it.
	if out, _ := exec.Command("iptables", "-S", "FORWARD").Output(); !strings.Contains(string(out), "-P FORWARD DROP") {
		if err := exec.Command("iptables", "-P", "FORWARD", "DROP").Run(); err != nil {
			t.Fatal(err)
		}
	}
	d.berth(t, "network", "create", "coexist")
	d.berth(t, "run", "-d", "--name", "svc", "--network", "coexist", "-p", "127.0.0.1:18095:80", "busybox", "sh", "-c",
		"echo hello-svc > /tmp/index.html; httpd -f -p 80 -h /tmp")
	r := d.berthR(nil, "run", "--rm", "--network", "coexist", "busybox", "sh", "-c",
		"printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 svc 80 | tail -1")
	if strings.TrimSpace(r.Stdout) != "hello-svc" {
		t.Fatalf("berth containers cannot talk under dockerd's FORWARD DROP: %s", r)
	}
	var body string
	waitFor(t, 10*time.Second, "berth's published port", func() bool {
		resp, err := http.Get("http://127.0.0.1:18095/index.html")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return true
	})
	if body != "hello-svc\n" {
		t.Fatalf("published port under dockerd: %q", body)
	}
	if r := real("run", "--rm", "--network", "none", "busybox", "true"); r.Code != 0 && !strings.Contains(r.Stderr, "Unable to find image") {
		t.Logf("docker run: %s", r)
	}
	d.berth(t, "rm", "-f", "svc")
	d.berth(t, "network", "rm", "coexist")
}

// TestDNSOptions: --dns on the default bridge is written to resolv.conf; on a user network the container asks
// 127.0.0.11, which forwards to its --dns servers.
func TestDNSOptions(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	out := d.berth(t, "run", "--rm", "--dns", "192.0.2.53", "--dns-search", "example.test", "busybox", "cat", "/etc/resolv.conf")
	if !strings.Contains(out, "nameserver 192.0.2.53") || !strings.Contains(out, "search example.test") {
		t.Fatalf("default bridge --dns: %q", out)
	}
	d.berth(t, "network", "create", "dnsnet")
	out = d.berth(t, "run", "--rm", "--network", "dnsnet", "--dns", "192.0.2.53", "busybox", "cat", "/etc/resolv.conf")
	if !strings.Contains(out, "nameserver 127.0.0.11") || strings.Contains(out, "192.0.2.53") {
		t.Fatalf("user network resolv.conf: %q", out)
	}
	out = d.berth(t, "run", "--rm", "--add-host", "db.local:10.1.2.3", "-h", "box", "busybox", "sh", "-c", "cat /etc/hosts; hostname")
	if !strings.Contains(out, "10.1.2.3\tdb.local") || !strings.HasSuffix(out, "box\n") || !strings.Contains(out, "\tbox\n") {
		t.Fatalf("/etc/hosts and hostname: %q", out)
	}
	d.berth(t, "network", "rm", "dnsnet")
}

// TestNetworkDriversAndPools: drivers by name as docker has them (an unknown one is a missing plugin, host and
// null are one of a kind, ls shows DRIVER and SCOPE), daemon.json's default-address-pools, and the bridge
// driver's MTU option reaching the container's interface.
func TestNetworkDriversAndPools(t *testing.T) {
	d := startDaemonWith(t, `{"default-address-pools":[{"base":"10.213.0.0/16","size":24}]}`)
	d.importBusybox(t)

	r := d.dockerR(nil, "network", "create", "-d", "macvlan", "lan")
	if r.Code == 0 || !strings.Contains(r.Stderr, `Error response from daemon: plugin "macvlan" not found`) {
		t.Fatalf("create -d macvlan: %s", r)
	}
	r = d.dockerR(nil, "network", "create", "-d", "host", "host2")
	if r.Code == 0 || !strings.Contains(r.Stderr, `only one instance of "host" network is allowed`) {
		t.Fatalf("create -d host: %s", r)
	}
	if out := d.docker(t, "network", "ls", "-q", "--filter", "name=lan"); out != "" {
		t.Fatalf("a refused network is listed: %q", out)
	}

	d.docker(t, "network", "create", "pooled")
	d.docker(t, "network", "create", "-o", "com.docker.network.driver.mtu=1400", "small")
	out := d.docker(t, "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
	for _, want := range []string{"bridge bridge local", "host host local", "none null local", "pooled bridge local", "small bridge local"} {
		if !strings.Contains(out, want+"\n") {
			t.Fatalf("network ls lacks %q:\n%s", want, out)
		}
	}
	// The default bridge took the pools' first subnet, the next networks the following ones.
	for name, want := range map[string]string{"bridge": "10.213.0.0/24", "pooled": "10.213.1.0/24", "small": "10.213.2.0/24"} {
		if got := strings.TrimSpace(d.docker(t, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", name)); got != want {
			t.Errorf("%s's subnet = %s, want %s", name, got, want)
		}
	}
	if out := d.berth(t, "run", "--rm", "--network", "small", "busybox", "cat", "/sys/class/net/eth0/mtu"); out != "1400\n" {
		t.Errorf("eth0's MTU on small = %q, want 1400", out)
	}
	r = d.dockerR(nil, "network", "create", "-o", "com.docker.network.driver.mtu=big", "bad")
	if r.Code == 0 || !strings.Contains(r.Stderr, "failed to parse com.docker.network.driver.mtu value: big") {
		t.Fatalf("create with a bad MTU: %s", r)
	}
	d.docker(t, "network", "rm", "pooled", "small")
	// A freed subnet is handed out again.
	d.docker(t, "network", "create", "again")
	if got := strings.TrimSpace(d.docker(t, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "again")); got != "10.213.1.0/24" {
		t.Errorf("again's subnet = %s, want the freed 10.213.1.0/24", got)
	}
	d.docker(t, "network", "rm", "again")
}

// TestMalformedAddressPoolsRefused: the daemon does not start on a default-address-pools it cannot use, and says
// which.
func TestMalformedAddressPoolsRefused(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	cfg := filepath.Join(root, "daemon.json")
	os.WriteFile(cfg, []byte(`{"default-address-pools":[{"base":"10.123.0.0","size":24}]}`), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := run(ctx, nil, nil, filepath.Join(binDir, "berth"), "daemon", "--data-root", filepath.Join(root, "data"), "--exec-root", filepath.Join(root, "exec"),
		"-H", "unix://"+filepath.Join(root, "berth.sock"), "--pidfile", filepath.Join(root, "berth.pid"), "--config-file", cfg)
	unmountUnder(root)
	if r.Code == 0 || !strings.Contains(r.Stderr, `invalid default-address-pools: pool 1: invalid base pool "10.123.0.0"`) {
		t.Fatalf("daemon with a malformed pool: %s", r)
	}
}

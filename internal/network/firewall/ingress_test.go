package firewall

import (
	"context"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/testutil"
)

func TestIngressRules(t *testing.T) {
	web := IngressPort{Service: "web", Published: 8080, Target: 80, Backends: addrs("10.0.0.7", "10.0.0.5", "10.0.0.5")}
	idle := IngressPort{Service: "idle", Proto: "udp", Published: 53, Target: 5353}
	subnet := netip.MustParsePrefix("10.0.0.0/24")
	comments := func(rs []ingressRule) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.chain+": "+r.comment)
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		ports       []IngressPort
		host, sbox  []string
		wantErrText string
	}{
		{name: "none", ports: nil},
		{name: "a port with backends, one without", ports: []IngressPort{web, idle, web},
			host: []string{
				"nat-prerouting: ingress service=idle port=53/udp sandbox=169.254.9.2",
				"nat-prerouting: ingress service=web port=8080/tcp sandbox=169.254.9.2",
				"nat-output: ingress service=idle port=53/udp sandbox=169.254.9.2",
				"nat-output: ingress service=web port=8080/tcp sandbox=169.254.9.2",
				"nat-postrouting: ingress loopback sandbox=169.254.9.2",
			},
			sbox: []string{
				"filter-input: ingress service=idle port=53/udp target=5353 backends=0",
				"nat-prerouting: ingress service=web port=8080/tcp target=80 backends=2 sum=962afc3a",
				"nat-postrouting: ingress snat subnet=10.0.0.0/24",
			}},
		{name: "bad protocol", ports: []IngressPort{{Service: "x", Proto: "sctp", Published: 1, Target: 1}}, wantErrText: "protocol"},
		{name: "no target", ports: []IngressPort{{Service: "x", Published: 1}}, wantErrText: "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			norm, err := normalizePorts(tc.ports)
			if tc.wantErrText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrText) {
					t.Fatalf("error %v, want %q", err, tc.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := comments(ingressHostRules(netip.MustParseAddr("169.254.9.2"), norm)); !slices.Equal(got, tc.host) {
				t.Fatalf("host rules:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.host, "\n"))
			}
			if got := comments(ingressSandboxRules(subnet, norm)); !slices.Equal(got, tc.sbox) {
				t.Fatalf("sandbox rules:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.sbox, "\n"))
			}
		})
	}
}

// TestIngressInNamespaces builds the mesh's data path from real namespaces — a client, a node, its ingress
// sandbox (a leg on the node's bridge, a leg on the "ingress" subnet) and tasks on that subnet — and checks
// that a connection to the node's published port reaches several tasks on their target port, that a task
// sees the sandbox's address (the mesh's SNAT), that a port without backends is refused, and that nothing is
// left. Needs root.
func TestIngressInNamespaces(t *testing.T) {
	testutil.RequiresRoot(t)
	for _, cmd := range []string{"ip", "nft", "nsenter"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("needs %s", cmd)
		}
	}
	tp := &topo{t: t, prefix: "bi" + randHex(t, 2)}
	client, node, sbox, tasks := tp.netns("client"), tp.netns("node"), tp.netns("sbox"), tp.netns("tasks")
	pair := func(a, aIf, aAddr, b, bIf, bAddr string) {
		run(t, "ip", "-n", a, "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b)
		for _, x := range [][3]string{{a, aIf, aAddr}, {b, bIf, bAddr}} {
			run(t, "ip", "-n", x[0], "addr", "add", x[2], "dev", x[1])
			run(t, "ip", "-n", x[0], "link", "set", x[1], "up")
		}
	}
	pair(client, "eth0", "10.95.1.2/24", node, "eth0", "10.95.1.1/24")
	pair(node, "ving", "169.254.9.1/30", sbox, "eth1", "169.254.9.2/30")
	pair(sbox, "eth0", "10.95.0.2/24", tasks, "eth0", "10.95.0.254/24")
	run(t, "ip", "-n", client, "route", "add", "default", "via", "10.95.1.1")
	run(t, "ip", "-n", sbox, "route", "add", "default", "via", "169.254.9.1")
	for _, ns := range []string{node, sbox} {
		run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	backends := addrs("10.95.0.5", "10.95.0.6", "10.95.0.7")
	for i, b := range backends {
		run(t, "ip", "-n", tasks, "addr", "add", b.String()+"/32", "dev", "lo")
		serveTCP(t, tasks, "task"+string(rune('1'+i)), netip.AddrPortFrom(b, 80))
	}
	ctx := context.Background()
	nodePath, sboxPath := "/run/netns/"+node, "/run/netns/"+sbox
	subnet := netip.MustParsePrefix("10.95.0.0/24")
	sync := func(ports ...IngressPort) {
		t.Helper()
		if err := SyncIngressSandbox(ctx, sboxPath, subnet, ports); err != nil {
			t.Fatal(err)
		}
		if err := SyncIngressHost(ctx, nodePath, "berth-ingress", netip.MustParseAddr("169.254.9.2"), ports); err != nil {
			t.Fatal(err)
		}
	}
	published := netip.AddrPortFrom(netip.MustParseAddr("10.95.1.1"), 8080)

	sync(IngressPort{Service: "web", Published: 8080, Target: 80, Backends: backends})
	seen := map[string]int{}
	for range 30 {
		got, err := dial(client, "tcp", published, 2*time.Second)
		if err != nil {
			t.Fatalf("dial the published port: %v\n%s", err, run(t, "nsenter", "--net="+sboxPath, "nft", "list", "ruleset"))
		}
		f := strings.Fields(got)
		if len(f) != 2 || f[1] != "10.95.0.2" {
			t.Fatalf("a task answered %q: want its name and the sandbox's address as the client's", got)
		}
		seen[f[0]]++
	}
	if len(seen) < 2 {
		t.Fatalf("30 connections reached %v: not balanced", seen)
	}
	// From the node itself, to its loopback address too (route_localnet on the sandbox's leg, as the daemon sets
	// it on the sandbox's bridge).
	run(t, "ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.conf.ving.route_localnet=1")
	if got, err := dial(node, "tcp", netip.MustParseAddrPort("127.0.0.1:8080"), 2*time.Second); err != nil || !strings.HasPrefix(got, "task") {
		t.Fatalf("the node's 127.0.0.1:8080: %q, %v", got, err)
	}
	// Again: idempotent; then no backend: refused.
	sync(IngressPort{Service: "web", Published: 8080, Target: 80, Backends: backends})
	if got, err := ListIngress(ctx, sboxPath, IngressSandboxTable); err != nil || len(got) != 2 {
		t.Fatalf("sandbox rules after a second sync: %v, %v", got, err)
	}
	sync(IngressPort{Service: "web", Published: 8080, Target: 80})
	if _, err := dial(client, "tcp", published, 2*time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("a port without backends: %v, want connection refused", err)
	}
	sync()
	for _, ns := range []string{nodePath, sboxPath} {
		if out := run(t, "nsenter", "--net="+ns, "nft", "list", "ruleset"); strings.TrimSpace(out) != "" {
			t.Fatalf("left behind in %s:\n%s", ns, out)
		}
	}
}

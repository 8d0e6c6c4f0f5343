package network

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/filters"
)

// gatewayCalls keeps the calls that concern docker_gwbridge, mynet or ovl, without the MAC and namespace noise.
func gatewayCalls(calls []string) []string {
	var out []string
	for _, c := range calls {
		if i := strings.Index(c, " mac "); i > 0 {
			j := strings.Index(c, " route=")
			c = c[:i] + c[j:]
		}
		if i := strings.Index(c, " ns "); i > 0 {
			c = c[:i]
		}
		out = append(out, c)
	}
	return out
}

func TestGatewayBridge(t *testing.T) {
	ctx := context.Background()
	ov := &fakeDriver{scope: ScopeGlobal}
	internal := clusterNet("intid", "int", "10.0.3.0/24", true)
	internal.Internal = true
	cl := newFakeCluster(clusterNet("ovlid", "ovl", "10.0.1.0/24", true), internal)
	e := newEnv(t, WithDriver("overlay", ov), WithCluster(cl), WithGatewayBridge("gwbr0"))
	m := e.open(t)
	if _, err := m.Create(ctx, CreateOptions{Name: "mynet"}); err != nil {
		t.Fatal(err)
	}
	e.bridge.take()

	// Joining a swarm makes docker_gwbridge, as dockerd's: a local bridge network without ICC, masqueraded.
	if err := m.EnsureGatewayNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureGatewayNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	if calls := e.bridge.take(); !slices.Equal(calls, []string{"create docker_gwbridge 172.20.0.0/16 gw 172.20.0.1 opts " +
		"map[com.docker.network.bridge.enable_icc:false com.docker.network.bridge.enable_ip_masquerade:true com.docker.network.bridge.name:gwbr0] internal=false"}) {
		t.Fatalf("bridge driver calls: %q", calls)
	}
	list, err := m.List(filters.NewArgs(filters.Arg("name", "docker_gwbridge")))
	if err != nil || len(list) != 1 || list[0].Driver != "bridge" || list[0].Scope != "local" {
		t.Fatalf("network ls: %+v, %v", list, err)
	}

	// A container whose only network is an overlay gets gateway_<id> on it, with the default route.
	sb := Sandbox{ContainerID: "c1aaaaaaaaaaaaaaaa", Name: "web", NetNSPath: "/ns/c1"}
	if _, err := m.Attach(ctx, sb, "ovl", EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	if calls := gatewayCalls(ov.take()); !slices.Equal(calls, []string{
		"create ovl 10.0.1.0/24 gw 10.0.1.1 opts map[com.docker.network.driver.overlay.vxlanid_list:4097] internal=false",
		"join ovl c1aaaaaaaaaaaaaaaa eth0 10.0.1.2/24 route=false",
	}) {
		t.Fatalf("overlay driver calls: %q", calls)
	}
	if calls := gatewayCalls(e.bridge.take()); !slices.Equal(calls, []string{"join docker_gwbridge c1aaaaaaaaaaaaaaaa eth1 172.20.0.2/16 route=true"}) {
		t.Fatalf("bridge driver calls: %q", calls)
	}
	gw, _ := m.Get("docker_gwbridge")
	if ep := gw.Endpoints["c1aaaaaaaaaaaaaaaa"]; ep.Name != "gateway_c1aaaaaaaaaa" {
		t.Fatalf("the gateway endpoint: %+v", gw.Endpoints)
	}
	if m.IsUserDefined("docker_gwbridge") || len(m.reg.Lookup([]string{"docker_gwbridge"}, "gateway_c1aaaaaaaaaa")) != 0 {
		t.Fatal("docker_gwbridge has names in the embedded DNS")
	}
	// A second overlay changes nothing; an internal one alone would give none.
	if _, err := m.Attach(ctx, Sandbox{ContainerID: "c2", Name: "db", NetNSPath: "/ns/c2"}, "int", EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	if calls := e.bridge.take(); len(calls) != 0 {
		t.Fatalf("a container on an internal overlay: bridge driver calls %q", calls)
	}

	// A local network with a way out takes the default route over: the gateway endpoint goes first, and comes
	// back when that network goes.
	if _, err := m.Attach(ctx, sb, "mynet", EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	if calls := gatewayCalls(e.bridge.take()); !slices.Equal(calls, []string{
		"leave docker_gwbridge c1aaaaaaaaaaaaaaaa eth1",
		"join mynet c1aaaaaaaaaaaaaaaa eth1 172.19.0.2/16 route=true",
	}) {
		t.Fatalf("bridge driver calls: %q", calls)
	}
	if err := m.Detach(ctx, sb.ContainerID, "mynet"); err != nil {
		t.Fatal(err)
	}
	if calls := gatewayCalls(e.bridge.take()); !slices.Equal(calls, []string{
		"leave mynet c1aaaaaaaaaaaaaaaa eth1",
		"join docker_gwbridge c1aaaaaaaaaaaaaaaa eth1 172.20.0.2/16 route=true",
	}) {
		t.Fatalf("bridge driver calls: %q", calls)
	}
	// Leaving its overlay leaves it nothing to need a gateway for.
	if err := m.Detach(ctx, sb.ContainerID, "ovl"); err != nil {
		t.Fatal(err)
	}
	if calls := gatewayCalls(e.bridge.take()); !slices.Equal(calls, []string{"leave docker_gwbridge c1aaaaaaaaaaaaaaaa eth1"}) {
		t.Fatalf("bridge driver calls: %q", calls)
	}

	// A gateway that cannot join fails the attach, and the cluster's endpoint goes back.
	cl.take()
	e.bridge.failJoin = errdefs.ErrUnavailable.WithMessage("no veth today")
	if _, err := m.Attach(ctx, Sandbox{ContainerID: "c3", Name: "api", NetNSPath: "/ns/c3"}, "ovl", EndpointOptions{}); !errdefs.IsUnavailable(err) {
		t.Fatalf("a failing gateway join: %v", err)
	}
	e.bridge.failJoin = nil
	if calls := cl.take(); len(calls) != 2 || !strings.HasPrefix(calls[0], "attach ovl c3") || !strings.HasPrefix(calls[1], "detach ") {
		t.Fatalf("cluster calls: %q", calls)
	}
	if eps := m.Endpoints("c3"); len(eps) != 0 {
		t.Fatalf("endpoints left by a failed attach: %v", eps)
	}

	// Leaving the swarm: the gateway endpoints and then docker_gwbridge go.
	if _, err := m.Attach(ctx, sb, "ovl", EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	e.bridge.take()
	m.DropCluster(ctx)
	if calls := gatewayCalls(e.bridge.take()); !slices.Equal(calls, []string{"leave docker_gwbridge c1aaaaaaaaaaaaaaaa eth1", "delete docker_gwbridge"}) {
		t.Fatalf("bridge driver calls: %q", calls)
	}
	if _, err := m.Get("docker_gwbridge"); !errdefs.IsNotFound(err) {
		t.Fatalf("docker_gwbridge after leaving: %v", err)
	}
}

// Without WithGatewayBridge a container on an overlay alone gets nothing more (no way out).
func TestGatewayBridgeOff(t *testing.T) {
	ov := &fakeDriver{scope: ScopeGlobal}
	e := newEnv(t, WithDriver("overlay", ov), WithCluster(newFakeCluster(clusterNet("ovlid", "ovl", "10.0.1.0/24", true))))
	m := e.open(t)
	e.bridge.take()
	if _, err := m.Attach(context.Background(), Sandbox{ContainerID: "c1", Name: "web", NetNSPath: "/ns/c1"}, "ovl", EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	if calls := e.bridge.take(); len(calls) != 0 {
		t.Fatalf("bridge driver calls: %q", calls)
	}
}

// A docker_gwbridge the user made (docker's way to choose its subnet) is used as it is and outlives the swarm.
func TestGatewayBridgeUsers(t *testing.T) {
	ctx := context.Background()
	ov := &fakeDriver{scope: ScopeGlobal}
	e := newEnv(t, WithDriver("overlay", ov), WithCluster(newFakeCluster(clusterNet("ovlid", "ovl", "10.0.1.0/24", true))), WithGatewayBridge("gwbr0"))
	m := e.open(t)
	if _, err := m.Create(ctx, CreateOptions{Name: GatewayNetwork, IPAM: IPAM{Config: []IPAMConfig{{Subnet: netip.MustParsePrefix("10.11.0.0/16")}}},
		Options: map[string]string{BridgeNameOption: "gwbr0"}}); err != nil {
		t.Fatal(err)
	}
	e.bridge.take()
	if err := m.EnsureGatewayNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Attach(ctx, Sandbox{ContainerID: "c1", Name: "web", NetNSPath: "/ns/c1"}, "ovl", EndpointOptions{}); err != nil {
		t.Fatal(err)
	}
	m.DropCluster(ctx)
	if calls := gatewayCalls(e.bridge.take()); !slices.Equal(calls, []string{"join docker_gwbridge c1 eth1 10.11.0.2/16 route=true", "leave docker_gwbridge c1 eth1"}) {
		t.Fatalf("bridge driver calls: %q", calls)
	}
	if _, err := m.Get(GatewayNetwork); err != nil {
		t.Fatalf("the user's docker_gwbridge after leaving: %v", err)
	}
}

// network prune leaves the docker_gwbridge the Manager made, as dockerd's (whose ingress sandbox is always on it).
func TestGatewayBridgeNotPruned(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, WithDriver("overlay", &fakeDriver{scope: ScopeGlobal}), WithCluster(newFakeCluster()), WithGatewayBridge("gwbr0"))
	m := e.open(t)
	if _, err := m.Create(ctx, CreateOptions{Name: "spare"}); err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureGatewayNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	pruned, err := m.Prune(ctx, filters.NewArgs())
	if err != nil || !slices.Equal(pruned, []string{"spare"}) {
		t.Fatalf("pruned %v, %v; want [spare]", pruned, err)
	}
	if _, err := m.Get(GatewayNetwork); err != nil {
		t.Fatalf("docker_gwbridge after prune: %v", err)
	}
}

package bridge

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/link"
)

const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func info(opts map[string]string, internal bool) network.NetworkInfo {
	return network.NetworkInfo{ID: id, Name: "front", Internal: internal, Options: opts,
		Subnet: netip.MustParsePrefix("172.18.0.0/16"), Gateway: netip.MustParseAddr("172.18.0.1")}
}

func TestPlanNetwork(t *testing.T) {
	tests := []struct {
		name    string
		n       network.NetworkInfo
		want    netPlan
		wantErr string
	}{
		{
			name: "defaults: br- and the ID, ICC on, the kernel's MTU",
			n:    info(nil, false),
			want: netPlan{bridge: "br-0123456789ab", gateway: netip.MustParsePrefix("172.18.0.1/16"),
				firewall: firewall.Network{Bridge: "br-0123456789ab", Subnet: netip.MustParsePrefix("172.18.0.0/16"), ICC: true}},
		},
		{
			name: "named bridge, MTU, ICC off, internal",
			n:    info(map[string]string{optName: "berth0", optMTU: "1400", optICC: "false"}, true),
			want: netPlan{bridge: "berth0", gateway: netip.MustParsePrefix("172.18.0.1/16"), mtu: 1400,
				firewall: firewall.Network{Bridge: "berth0", Subnet: netip.MustParsePrefix("172.18.0.0/16"), Internal: true}},
		},
		{
			name: "options Berth does not honour are accepted",
			n:    info(map[string]string{"com.docker.network.bridge.enable_ip_masquerade": "true", "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0"}, false),
			want: netPlan{bridge: "br-0123456789ab", gateway: netip.MustParsePrefix("172.18.0.1/16"),
				firewall: firewall.Network{Bridge: "br-0123456789ab", Subnet: netip.MustParsePrefix("172.18.0.0/16"), ICC: true}},
		},
		{name: "MTU not a number", n: info(map[string]string{optMTU: "big"}, false), wantErr: `failed to parse com.docker.network.driver.mtu value: big (strconv.Atoi: parsing "big": invalid syntax)`},
		{name: "MTU too small", n: info(map[string]string{optMTU: "40"}, false), wantErr: "invalid MTU number: 40"},
		{name: "ICC not a boolean", n: info(map[string]string{optICC: "maybe"}, false), wantErr: "failed to parse com.docker.network.bridge.enable_icc value: maybe"},
		{name: "bridge name too long", n: info(map[string]string{optName: "a-very-long-bridge"}, false), wantErr: `invalid bridge name "a-very-long-bridge"`},
		{name: "bridge name with a slash", n: info(map[string]string{optName: "br/0"}, false), wantErr: `invalid bridge name "br/0"`},
		{name: "no subnet", n: network.NetworkInfo{ID: id, Name: "front"}, wantErr: "bridge network front needs a subnet and a gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := planNetwork(tt.n)
			if tt.wantErr != "" {
				if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want an invalid argument with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("plan = %+v\nwant   %+v", got, tt.want)
			}
		})
	}
}

func TestPlanJoin(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0x42, 0xac, 0x12, 0x00, 0x02}
	ep := network.EndpointInfo{ID: "e1", Addr: netip.MustParsePrefix("172.18.0.2/16"), Gateway: netip.MustParseAddr("172.18.0.1"),
		MAC: mac, IfName: "eth1", HostIfName: "veth1234567"}
	sb := network.Sandbox{ContainerID: "c1", Name: "web", NetNSPath: "/run/berth/netns/c1"}
	base := link.VethConfig{Bridge: "br-0123456789ab", HostName: "veth1234567", NetNSPath: "/run/berth/netns/c1", IfName: "eth1",
		Addr: netip.MustParsePrefix("172.18.0.2/16"), MAC: mac}
	with := func(f func(*link.VethConfig)) link.VethConfig {
		c := base
		f(&c)
		return c
	}
	tests := []struct {
		name         string
		n            network.NetworkInfo
		defaultRoute bool
		want         link.VethConfig
		wantErr      bool
	}{
		{name: "first network: default route via the gateway", n: info(nil, false), defaultRoute: true,
			want: with(func(c *link.VethConfig) { c.Gateway = netip.MustParseAddr("172.18.0.1") })},
		{name: "another network gave the route", n: info(nil, false), want: base},
		{name: "internal networks never route out", n: info(nil, true), defaultRoute: true, want: base},
		{name: "the network's MTU on the veth", n: info(map[string]string{optMTU: "1400"}, false),
			want: with(func(c *link.VethConfig) { c.MTU = 1400 })},
		{name: "named bridge", n: info(map[string]string{optName: "berth0"}, false),
			want: with(func(c *link.VethConfig) { c.Bridge = "berth0" })},
		{name: "bad options", n: info(map[string]string{optMTU: "x"}, false), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ep
			e.DefaultRoute = tt.defaultRoute
			got, err := planJoin(tt.n, e, sb)
			if tt.wantErr {
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want an invalid argument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("veth = %+v\nwant   %+v", got, tt.want)
			}
		})
	}
}

func TestPlanPort(t *testing.T) {
	ep := network.EndpointInfo{Addr: netip.MustParsePrefix("172.18.0.2/16")}
	got := planPort(info(nil, false), ep, network.Port{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, ContainerPort: 80})
	want := firewall.Port{Proto: "tcp", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080,
		ContainerIP: netip.MustParseAddr("172.18.0.2"), ContainerPort: 80, Bridge: "br-0123456789ab"}
	if got != want {
		t.Fatalf("port = %+v\nwant   %+v", got, want)
	}
}

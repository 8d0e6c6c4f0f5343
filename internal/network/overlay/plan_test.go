package overlay

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/network"
)

// TestPeers runs the scripts in testdata/: each describes the cluster's state, the networks present on this
// node and what their VXLAN devices hold now, and prints the change the driver makes to each device and the
// peers of the encryption tunnel. A command's input is one item a line, as words; values hold no spaces:
//
//	sync self=ID          a sync of this node
//	  node ID ADDR [key=K] [tunnel=PREFIX]        a node of the cluster (its underlay address)
//	  endpoint NET NODE ADDR MAC                   an endpoint of network NET on node NODE
//	  local NET [encrypted]                        a network present on this node
//	  fdb NET MAC VTEP                             a forwarding entry the device of NET holds
//	  neigh NET ADDR MAC                           a neighbour entry it holds
func TestPeers(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := runSync(t, d)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			return out
		})
	})
}

func runSync(t *testing.T, d *datadriven.TestData) (string, error) {
	if d.Cmd != "sync" {
		return "", fmt.Errorf("unknown command %q", d.Cmd)
	}
	st := State{Nodes: map[string]Node{}}
	d.ScanArgs(t, "self", &st.Self)
	var nets []netPlan
	have := map[string]struct {
		fdb   []fdbEntry
		neigh []neighEntry
	}{}
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		kv := map[string]string{}
		for _, w := range f[1:] {
			if k, v, ok := strings.Cut(w, "="); ok {
				kv[k] = v
			}
		}
		switch f[0] {
		case "node":
			n := Node{Addr: netip.MustParseAddr(f[2]), PublicKey: kv["key"]}
			if p := kv["tunnel"]; p != "" {
				n.TunnelAddr = netip.MustParsePrefix(p)
			}
			st.Nodes[f[1]] = n
		case "endpoint":
			mac, err := net.ParseMAC(f[4])
			if err != nil {
				return "", err
			}
			st.Endpoints = append(st.Endpoints, Endpoint{NetworkID: f[1], NodeID: f[2], Addr: netip.MustParseAddr(f[3]), MAC: mac})
		case "local":
			nets = append(nets, netPlan{id: f[1], encrypted: len(f) > 2 && f[2] == "encrypted"})
		case "fdb":
			h := have[f[1]]
			h.fdb = append(h.fdb, fdbEntry{MAC: f[2], VTEP: netip.MustParseAddr(f[3])})
			have[f[1]] = h
		case "neigh":
			h := have[f[1]]
			h.neigh = append(h.neigh, neighEntry{IP: netip.MustParseAddr(f[2]), MAC: f[3]})
			have[f[1]] = h
		default:
			return "", fmt.Errorf("unknown line %q", line)
		}
	}
	var b strings.Builder
	for _, n := range nets {
		ops := diffPeers(wantPeers(st, n), have[n.id].fdb, have[n.id].neigh)
		fmt.Fprintf(&b, "network %s:\n", n.id)
		if ops.empty() {
			b.WriteString("  no change\n")
		}
		for _, e := range ops.delFDB {
			fmt.Fprintf(&b, "  del fdb %s dst %s\n", e.MAC, e.VTEP)
		}
		for _, e := range ops.delNeigh {
			fmt.Fprintf(&b, "  del neigh %s lladdr %s\n", e.IP, e.MAC)
		}
		for _, e := range ops.addFDB {
			fmt.Fprintf(&b, "  add fdb %s dst %s\n", e.MAC, e.VTEP)
		}
		for _, e := range ops.addNeigh {
			fmt.Fprintf(&b, "  add neigh %s lladdr %s\n", e.IP, e.MAC)
		}
	}
	peers := wantTunnelPeers(st, nets, DefaultTunnelPort)
	if len(peers) > 0 {
		b.WriteString("tunnel peers:\n")
	}
	for _, p := range peers {
		fmt.Fprintf(&b, "  %s endpoint %s allowed %s\n", p.PublicKey, p.Endpoint, p.Allowed)
	}
	return b.String(), nil
}

func TestPlanNetwork(t *testing.T) {
	info := func(opts map[string]string) network.NetworkInfo {
		return network.NetworkInfo{ID: "0123456789abcdef", Name: "ovl", Options: opts,
			Subnet: netip.MustParsePrefix("10.0.1.0/24"), Gateway: netip.MustParseAddr("10.0.1.1")}
	}
	tests := []struct {
		name    string
		n       network.NetworkInfo
		hostMTU int
		want    netPlan
		err     string
	}{
		{name: "plain", n: info(map[string]string{optVXLANIDs: "4097"}), hostMTU: 1500,
			want: netPlan{id: "0123456789abcdef", vni: 4097, ns: "/run/ns/1-0123456789", tmpVXLAN: "vx-001001-01234", gateway: netip.MustParsePrefix("10.0.1.1/24"), mtu: 1450}},
		{name: "encrypted leaves room for the tunnel", n: info(map[string]string{optVXLANIDs: "4098", optEncrypted: ""}), hostMTU: 1500,
			want: netPlan{id: "0123456789abcdef", vni: 4098, encrypted: true, ns: "/run/ns/1-0123456789", tmpVXLAN: "vx-001002-01234", gateway: netip.MustParsePrefix("10.0.1.1/24"), mtu: 1390}},
		{name: "jumbo underlay", n: info(map[string]string{optVXLANIDs: "4097"}), hostMTU: 9000,
			want: netPlan{id: "0123456789abcdef", vni: 4097, ns: "/run/ns/1-0123456789", tmpVXLAN: "vx-001001-01234", gateway: netip.MustParsePrefix("10.0.1.1/24"), mtu: 8950}},
		{name: "mtu option", n: info(map[string]string{optVXLANIDs: "4097", optMTU: "1200"}), hostMTU: 1500,
			want: netPlan{id: "0123456789abcdef", vni: 4097, ns: "/run/ns/1-0123456789", tmpVXLAN: "vx-001001-01234", gateway: netip.MustParsePrefix("10.0.1.1/24"), mtu: 1200}},
		{name: "bad mtu", n: info(map[string]string{optVXLANIDs: "4097", optMTU: "x"}), err: "invalid MTU number: x (between 68 and 65535)"},
		{name: "no vni", n: info(nil), err: `overlay network ovl: invalid VXLAN ID ""`},
		{name: "vni out of range", n: info(map[string]string{optVXLANIDs: "16777216"}), err: `invalid VXLAN ID "16777216"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planNetwork("/run/ns", tc.n, tc.hostMTU)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("plan %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

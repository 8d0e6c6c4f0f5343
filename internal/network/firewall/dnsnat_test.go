package firewall

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/testutil"
)

var resolver = netip.MustParseAddr("127.0.0.11")

func TestDNSRedirectRules(t *testing.T) {
	tests := []struct {
		name string
		r    DNSRedirect
		want []string
	}{
		{
			name: "udp and tcp on their own ports",
			r:    DNSRedirect{Addr: resolver, UDPPort: 40001, TCPPort: 40002},
			want: []string{
				`nat-output: ip daddr 127.0.0.11 udp dport 53 dnat ip to 127.0.0.11:40001 comment "dns udp 127.0.0.11:53 to port 40001"`,
				`nat-output: ip daddr 127.0.0.11 tcp dport 53 dnat ip to 127.0.0.11:40002 comment "dns tcp 127.0.0.11:53 to port 40002"`,
				`nat-postrouting: ip saddr 127.0.0.11 udp sport 40001 snat ip to 127.0.0.11:53 comment "dns udp replies from port 40001"`,
				`nat-postrouting: ip saddr 127.0.0.11 tcp sport 40002 snat ip to 127.0.0.11:53 comment "dns tcp replies from port 40002"`,
			},
		},
		{
			name: "the same port number for both",
			r:    DNSRedirect{Addr: resolver, UDPPort: 35000, TCPPort: 35000},
			want: []string{
				`nat-output: ip daddr 127.0.0.11 udp dport 53 dnat ip to 127.0.0.11:35000 comment "dns udp 127.0.0.11:53 to port 35000"`,
				`nat-output: ip daddr 127.0.0.11 tcp dport 53 dnat ip to 127.0.0.11:35000 comment "dns tcp 127.0.0.11:53 to port 35000"`,
				`nat-postrouting: ip saddr 127.0.0.11 udp sport 35000 snat ip to 127.0.0.11:53 comment "dns udp replies from port 35000"`,
				`nat-postrouting: ip saddr 127.0.0.11 tcp sport 35000 snat ip to 127.0.0.11:53 comment "dns tcp replies from port 35000"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strs(tt.r.rules()); !slices.Equal(got, tt.want) {
				t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// The rules compile to the bytecode internal/network/dns wrote before the table moved here, expression for
// expression, so a daemon of either version finds the other's table as its own.
func TestDNSRedirectExprs(t *testing.T) {
	lo := resolver.AsSlice()
	port := binaryutil.BigEndian.PutUint16
	// earlier is dns.natRule.exprs as it was: match the address and the port, rewrite both.
	earlier := func(proto uint8, dst bool, match, to uint16) []expr.Any {
		addrOff, portOff, typ := uint32(12), uint32(0), expr.NATTypeSourceNAT
		if dst {
			addrOff, portOff, typ = 16, 2, expr.NATTypeDestNAT
		}
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: addrOff, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: lo},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: portOff, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port(match)},
			&expr.Immediate{Register: 1, Data: lo},
			&expr.Immediate{Register: 2, Data: port(to)},
			&expr.NAT{Type: typ, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		}
	}
	want := [][]expr.Any{
		earlier(unix.IPPROTO_UDP, true, 53, 40001),
		earlier(unix.IPPROTO_TCP, true, 53, 40002),
		earlier(unix.IPPROTO_UDP, false, 40001, 53),
		earlier(unix.IPPROTO_TCP, false, 40002, 53),
	}
	rules := DNSRedirect{Addr: resolver, UDPPort: 40001, TCPPort: 40002}.rules()
	if len(rules) != len(want) {
		t.Fatalf("%d rules, want %d", len(rules), len(want))
	}
	for i, r := range rules {
		if got := r.ipExprs(); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("rule %d (%s): expressions differ from the earlier table's:\ngot  %s\nwant %s", i, r, dump(got), dump(want[i]))
		}
	}
}

func dump(es []expr.Any) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%T%+v ", e, e)
	}
	return b.String()
}

func TestDNSRedirectValidate(t *testing.T) {
	tests := []struct {
		name string
		r    DNSRedirect
		ok   bool
	}{
		{name: "ok", r: DNSRedirect{Addr: resolver, UDPPort: 1, TCPPort: 65535}, ok: true},
		{name: "IPv4-mapped IPv6 is IPv4", r: DNSRedirect{Addr: netip.MustParseAddr("::ffff:127.0.0.11"), UDPPort: 1, TCPPort: 2}, ok: true},
		{name: "no address", r: DNSRedirect{UDPPort: 1, TCPPort: 2}},
		{name: "IPv6", r: DNSRedirect{Addr: netip.MustParseAddr("::1"), UDPPort: 1, TCPPort: 2}},
		{name: "no udp port", r: DNSRedirect{Addr: resolver, TCPPort: 2}},
		{name: "no tcp port", r: DNSRedirect{Addr: resolver, UDPPort: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.r.validate()
			if tt.ok != (err == nil) || err != nil && !errdefs.IsInvalidArgument(err) {
				t.Fatalf("validate: %v", err)
			}
			// Installing bad input fails before touching any namespace.
			if !tt.ok {
				if err := InstallDNSRedirect(context.Background(), "/nonexistent", tt.r); !errdefs.IsInvalidArgument(err) {
					t.Errorf("InstallDNSRedirect: %v, want invalid argument", err)
				}
			}
		})
	}
}

func TestDNSRedirectOf(t *testing.T) {
	r := DNSRedirect{Addr: resolver, UDPPort: 40001, TCPPort: 40002}
	table := func(rs ...rule) observation {
		obs := observation{exists: true}
		for i, r := range rs {
			obs.rules = append(obs.rules, installed{chain: r.chain, handle: uint64(i + 1), comment: r.comment})
		}
		return obs
	}
	full := r.rules()
	moved := full[2]
	moved.chain = dnsOutputChain
	other := DNSRedirect{Addr: netip.MustParseAddr("127.0.0.12"), UDPPort: 40001, TCPPort: 40002}.rules()
	tests := []struct {
		name string
		obs  observation
		want DNSRedirect
		ok   bool
	}{
		{name: "the table Install writes", obs: table(full...), want: r, ok: true},
		{name: "no table", obs: observation{}},
		{name: "an empty table", obs: observation{exists: true}},
		{name: "no replies' SNAT (half written)", obs: table(full[:2]...)},
		{name: "no tcp", obs: table(full[0], full[2])},
		{name: "a rule more", obs: table(append(slices.Clone(full), full[3])...)},
		{name: "a rule in another chain", obs: table(full[0], full[1], moved, full[3])},
		{name: "out of order", obs: table(full[1], full[0], full[2], full[3])},
		{name: "another resolver address", obs: table(other...)},
		{name: "a comment edited by hand", obs: table(full[0], rule{chain: dnsOutputChain, comment: "dns tcp 127.0.0.11:53 to port 040002"}, full[2], full[3])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := dnsRedirectOf(tt.obs, resolver)
			if got != tt.want || ok != tt.ok {
				t.Errorf("dnsRedirectOf = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// earlierDNSTable is `nft list table ip berth-dns` (nft 1.0.6) of the table internal/network/dns wrote for the
// UDP and TCP ports before the table moved here.
func earlierDNSTable(udp, tcp uint16) string {
	return fmt.Sprintf(`table ip berth-dns {
	chain nat-output {
		type nat hook output priority -100; policy accept;
		ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:%[1]d comment "dns udp 127.0.0.11:53 to port %[1]d"
		ip daddr 127.0.0.11 tcp dport 53 dnat to 127.0.0.11:%[2]d comment "dns tcp 127.0.0.11:53 to port %[2]d"
	}

	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 127.0.0.11 udp sport %[1]d snat to 127.0.0.11:53 comment "dns udp replies from port %[1]d"
		ip saddr 127.0.0.11 tcp sport %[2]d snat to 127.0.0.11:53 comment "dns tcp replies from port %[2]d"
	}
}
`, udp, tcp)
}

// TestDNSRedirectInNamespace writes and reads the table in real namespaces: nft shows what the earlier version
// wrote, a second install replaces the rules, and a table written by nft from that text (as an earlier daemon
// left it) reads back as the same redirect. Needs root.
func TestDNSRedirectInNamespace(t *testing.T) {
	testutil.RequiresRoot(t)
	for _, cmd := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("needs %s", cmd)
		}
	}
	ctx := context.Background()
	tp := &topo{t: t, prefix: "bd" + randHex(t, 2)}
	nsPath := "/run/netns/" + tp.netns("c")
	list := func(nsPath string) string {
		t.Helper()
		return run(t, "nsenter", "--net="+nsPath, "nft", "list", "table", "ip", DNSTable)
	}
	installed := func(nsPath string, want DNSRedirect, wantOK bool) {
		t.Helper()
		got, ok, err := InstalledDNSRedirect(ctx, nsPath, resolver)
		if err != nil || ok != wantOK || got != want {
			t.Fatalf("InstalledDNSRedirect = %+v, %v, %v; want %+v, %v", got, ok, err, want, wantOK)
		}
	}

	installed(nsPath, DNSRedirect{}, false) // no table yet

	// The second install is a server started again on other ports: the rules are replaced, not added to.
	for _, r := range []DNSRedirect{{Addr: resolver, UDPPort: 40001, TCPPort: 40002}, {Addr: resolver, UDPPort: 40003, TCPPort: 40004}} {
		if err := InstallDNSRedirect(ctx, nsPath, r); err != nil {
			t.Fatal(err)
		}
		if got, want := list(nsPath), earlierDNSTable(r.UDPPort, r.TCPPort); got != want {
			t.Fatalf("nft list table after installing %+v:\n%s\nwant (as the earlier version wrote it):\n%s", r, got, want)
		}
		installed(nsPath, r, true)
	}

	// A rule of someone else's in the table: no longer the redirect's own, so it is not reused.
	run(t, "nsenter", "--net="+nsPath, "nft", "add", "rule", "ip", DNSTable, dnsOutputChain, "udp", "dport", "5353", "accept")
	installed(nsPath, DNSRedirect{}, false)

	// A table an earlier daemon left, written from its text by nft.
	old := "/run/netns/" + tp.netns("old")
	file := filepath.Join(t.TempDir(), "berth-dns.nft")
	if err := os.WriteFile(file, []byte(earlierDNSTable(35000, 35001)), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "nsenter", "--net="+old, "nft", "-f", file)
	installed(old, DNSRedirect{Addr: resolver, UDPPort: 35000, TCPPort: 35001}, true)

	if _, _, err := InstalledDNSRedirect(ctx, filepath.Join(t.TempDir(), "missing"), resolver); err == nil {
		t.Error("InstalledDNSRedirect of a missing namespace: no error")
	}
}

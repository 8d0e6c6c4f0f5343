package firewall

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// The embedded DNS's port 53 is the container's: the server (internal/network/dns) listens on 127.0.0.11 at
// ports the kernel picks, and a table of Berth's in the container's namespace sends what is addressed to
// 127.0.0.11:53 there, as docker's DOCKER_OUTPUT and DOCKER_POSTROUTING chains do. A dnsmasq, CoreDNS or
// Pi-hole in the container binds 0.0.0.0:53 freely, and still resolves other containers through 127.0.0.11.
//
//	table ip berth-dns
//	  chain nat-output (nat, hook output, priority -100)
//	    ip daddr 127.0.0.11 udp dport 53 dnat ip to 127.0.0.11:U      comment "dns udp 127.0.0.11:53 to port U"
//	    ip daddr 127.0.0.11 tcp dport 53 dnat ip to 127.0.0.11:T      comment "dns tcp 127.0.0.11:53 to port T"
//	  chain nat-postrouting (nat, hook postrouting, priority 100)
//	    ip saddr 127.0.0.11 udp sport U snat ip to 127.0.0.11:53      comment "dns udp replies from port U"
//	    ip saddr 127.0.0.11 tcp sport T snat ip to 127.0.0.11:53      comment "dns tcp replies from port T"
//
// A reply needs no rule while conntrack knows its query: it is the reply direction of the connection the DNAT
// started, and conntrack rewrites its source back to :53 (a nat chain sees only a connection's first packet).
// The SNAT is for a reply whose query conntrack no longer knows (the entry flushed or expired while the query
// was forwarded upstream): such a reply starts a connection of its own, and without the SNAT it would leave
// from port U, which the client's socket, connected to :53, drops.
//
// Only queries made inside the namespace are redirected (the output hook): 127.0.0.11 is a loopback address,
// which no packet from outside may carry. InstallDNSRedirect replaces the table's rules in one transaction, so
// a server started again in the same namespace (a daemon restart re-serving a running container) points it at
// its own ports and nothing is duplicated; InstalledDNSRedirect reads back the ports an earlier server's table
// names, so that a restarted daemon listening on them again need not touch the table. Nothing removes the
// table: a stopped server leaves it (a query to it is refused rather than reaching another server), and the
// namespace going takes it with it.

// DNSTable is the table (family ip) InstallDNSRedirect owns in a container's namespace.
const DNSTable = "berth-dns"

// DNSRedirect sends the queries a namespace addresses to Addr:53 to the embedded DNS server's own UDP and TCP
// ports on Addr, and its replies back from :53.
type DNSRedirect struct {
	Addr             netip.Addr
	UDPPort, TCPPort uint16
}

// dnsPort is where clients send their queries.
const dnsPort = 53

const (
	dnsOutputChain      = "nat-output"
	dnsPostroutingChain = "nat-postrouting"
)

// validate checks r and returns it with its address unmapped.
func (r DNSRedirect) validate() (DNSRedirect, error) {
	r.Addr = r.Addr.Unmap()
	if !r.Addr.Is4() {
		return r, fmt.Errorf("dns redirect: address %q: only IPv4 is supported: %w", r.Addr, errdefs.ErrInvalidArgument)
	}
	if r.UDPPort == 0 || r.TCPPort == 0 {
		return r, fmt.Errorf("dns redirect to %s: udp port %d, tcp port %d: %w", r.Addr, r.UDPPort, r.TCPPort, errdefs.ErrInvalidArgument)
	}
	return r, nil
}

// rules are the table's rules for r: the DNATs of its queries (UDP, then TCP), then the SNATs of its replies.
func (r DNSRedirect) rules() []rule {
	resolver := netip.AddrPortFrom(r.Addr, dnsPort)
	only := netip.PrefixFrom(r.Addr, r.Addr.BitLen())
	var dnats, snats []rule
	for _, p := range []struct {
		proto string
		port  uint16
	}{{"udp", r.UDPPort}, {"tcp", r.TCPPort}} {
		dnats = append(dnats, rule{chain: dnsOutputChain,
			match:   []match{addr{dst: true, prefix: only}, dport{proto: p.proto, port: dnsPort}},
			verdict: dnat{to: netip.AddrPortFrom(r.Addr, p.port)},
			comment: fmt.Sprintf("dns %s %s to port %d", p.proto, resolver, p.port)})
		snats = append(snats, rule{chain: dnsPostroutingChain,
			match:   []match{addr{prefix: only}, sport{proto: p.proto, port: p.port}},
			verdict: snat{to: resolver},
			comment: fmt.Sprintf("dns %s replies from port %d", p.proto, p.port)})
	}
	return append(dnats, snats...)
}

// dnsRedirectOf is the redirect to addr that obs (the table as read) holds, when it holds exactly the rules
// DNSRedirect.rules makes for it, in their order.
func dnsRedirectOf(obs observation, addr netip.Addr) (DNSRedirect, bool) {
	r := DNSRedirect{Addr: addr.Unmap()}
	resolver := netip.AddrPortFrom(r.Addr, dnsPort).String()
	// The ports are read from the DNATs' comments; every other rule must then be the one they imply.
	queryPort := func(comment, proto string) uint16 {
		s, ok := strings.CutPrefix(comment, "dns "+proto+" "+resolver+" to port ")
		p, err := strconv.ParseUint(s, 10, 16)
		if !ok || err != nil {
			return 0
		}
		return uint16(p)
	}
	for _, in := range obs.rules {
		if p := queryPort(in.comment, "udp"); p != 0 {
			r.UDPPort = p
		} else if p := queryPort(in.comment, "tcp"); p != 0 {
			r.TCPPort = p
		}
	}
	r, err := r.validate()
	if err != nil {
		return DNSRedirect{}, false
	}
	want := r.rules()
	same := slices.EqualFunc(obs.rules, want, func(in installed, w rule) bool {
		return in.chain == w.chain && in.comment == w.comment
	})
	if !same {
		return DNSRedirect{}, false
	}
	return r, true
}

// dnsChains are the table's two base chains: nat on output (before routing) and on postrouting.
func dnsChains(tb *nftables.Table) (output, postrouting *nftables.Chain) {
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{Name: dnsOutputChain, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput,
			Priority: nftables.ChainPriorityNATDest, Policy: &accept},
		&nftables.Chain{Name: dnsPostroutingChain, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting,
			Priority: nftables.ChainPriorityNATSource, Policy: &accept}
}

// InstallDNSRedirect makes the table DNSTable in the network namespace at nsPath hold exactly r's rules, in one
// netlink transaction: the table and chains are created if missing (adding an existing one is a no-op), their
// rules flushed and r's added. Not nft's delete-and-add idiom for an atomic reload: deleting a table costs
// ~12 ms of RCU grace periods even in a new namespace, where this costs ~0.5 ms (the flush deletes rules only on
// a restart, ~10 ms then).
func InstallDNSRedirect(ctx context.Context, nsPath string, r DNSRedirect) error {
	r, err := r.validate()
	if err != nil {
		return err
	}
	conn, closeNS, err := nsConn(nsPath)
	if err != nil {
		return err
	}
	defer closeNS()
	tb := &nftables.Table{Name: DNSTable, Family: nftables.TableFamilyIPv4}
	output, postrouting := dnsChains(tb)
	chains := map[string]*nftables.Chain{dnsOutputChain: output, dnsPostroutingChain: postrouting}
	conn.AddTable(tb)
	conn.AddChain(output)
	conn.AddChain(postrouting)
	conn.FlushTable(tb)
	for _, rl := range r.rules() {
		conn.AddRule(&nftables.Rule{Table: tb, Chain: chains[rl.chain], Exprs: rl.ipExprs(),
			UserData: userdata.AppendString(nil, userdata.TypeComment, rl.comment)})
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: table ip %s in %s: %w", DNSTable, nsPath, err)
	}
	return nil
}

// InstalledDNSRedirect returns the redirect to addr that the table DNSTable in the namespace at nsPath holds,
// when it holds exactly the rules InstallDNSRedirect makes for one: a server served this namespace before (a
// daemon restarting while the container runs). ok is false when there is no such table or it says anything
// else; err is for a namespace or table that cannot be read.
func InstalledDNSRedirect(ctx context.Context, nsPath string, addr netip.Addr) (r DNSRedirect, ok bool, err error) {
	conn, closeNS, err := nsConn(nsPath)
	if err != nil {
		return DNSRedirect{}, false, err
	}
	defer closeNS()
	// The two chains by name, not observeTable's listing of tables and chains first: this runs for every
	// running container when the daemon restarts, and the listing doubles its cost (~0.2 ms).
	tb := &nftables.Table{Name: DNSTable, Family: nftables.TableFamilyIPv4}
	var obs observation
	for _, chain := range []string{dnsOutputChain, dnsPostroutingChain} {
		if err := observeChain(conn, tb, chain, &obs); errors.Is(err, unix.ENOENT) {
			return DNSRedirect{}, false, nil // no table (or not ours): nothing to reuse
		} else if err != nil {
			return DNSRedirect{}, false, err
		}
	}
	r, ok = dnsRedirectOf(obs, addr)
	return r, ok, nil
}

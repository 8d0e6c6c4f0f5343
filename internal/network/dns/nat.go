package dns

import (
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Port 53 is the container's: the server listens on 127.0.0.11 at ports the kernel picks, and a table of
// Berth's in the container's namespace sends what is addressed to 127.0.0.11:53 there, as docker's DOCKER_OUTPUT
// and DOCKER_POSTROUTING chains do. A dnsmasq, CoreDNS or Pi-hole in the container binds 0.0.0.0:53 freely, and
// still resolves other containers through 127.0.0.11.
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
// which no packet from outside may carry. The table's rules are replaced in one transaction, so a server
// started again in the same namespace (a daemon restart re-serving a running container) points it at its own
// ports and nothing is duplicated; the namespace going takes it with it.

// NATTable is the nftables table (family ip) the server installs in a container's namespace.
const NATTable = "berth-dns"

// dnsPort is where clients send their queries.
const dnsPort = 53

const (
	natOutputChain      = "nat-output"
	natPostroutingChain = "nat-postrouting"
)

// natRule is one rule of the table: a match on the resolver's address and a port, rewritten to the resolver's
// address and another port.
type natRule struct {
	chain   string
	proto   uint8 // unix.IPPROTO_UDP or IPPROTO_TCP
	dnat    bool  // match the destination and DNAT (output); otherwise match the source and SNAT (postrouting)
	addr    netip.Addr
	match   uint16 // the destination port (dnat) or source port (snat) matched
	to      uint16 // the port rewritten to
	comment string
}

func protoName(p uint8) string {
	if p == unix.IPPROTO_TCP {
		return "tcp"
	}
	return "udp"
}

// String renders r as `nft list table` prints it.
func (r natRule) String() string {
	if r.dnat {
		return fmt.Sprintf("%s: ip daddr %s %s dport %d dnat ip to %s comment %q",
			r.chain, r.addr, protoName(r.proto), r.match, netip.AddrPortFrom(r.addr, r.to), r.comment)
	}
	return fmt.Sprintf("%s: ip saddr %s %s sport %d snat ip to %s comment %q",
		r.chain, r.addr, protoName(r.proto), r.match, netip.AddrPortFrom(r.addr, r.to), r.comment)
}

// natRules are the rules sending queries to addr:53 to the server's UDP and TCP ports, and its replies back
// from :53.
func natRules(addr netip.Addr, udpPort, tcpPort uint16) []natRule {
	ports := []struct {
		proto uint8
		port  uint16
	}{{unix.IPPROTO_UDP, udpPort}, {unix.IPPROTO_TCP, tcpPort}}
	var dnat, snat []natRule
	for _, p := range ports {
		name := protoName(p.proto)
		dnat = append(dnat, natRule{chain: natOutputChain, proto: p.proto, dnat: true, addr: addr, match: dnsPort, to: p.port,
			comment: fmt.Sprintf("dns %s %s to port %d", name, netip.AddrPortFrom(addr, dnsPort), p.port)})
		snat = append(snat, natRule{chain: natPostroutingChain, proto: p.proto, addr: addr, match: p.port, to: dnsPort,
			comment: fmt.Sprintf("dns %s replies from port %d", name, p.port)})
	}
	return append(dnat, snat...)
}

// exprs is r in nftables' bytecode.
func (r natRule) exprs() []expr.Any {
	addrOff, portOff := uint32(12), uint32(0) // ip saddr, th sport
	natType := expr.NATTypeSourceNAT
	if r.dnat {
		addrOff, portOff = 16, 2 // ip daddr, th dport
		natType = expr.NATTypeDestNAT
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: addrOff, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: r.addr.AsSlice()},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{r.proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: portOff, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.match)},
		&expr.Immediate{Register: 1, Data: r.addr.AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.to)},
		&expr.NAT{Type: natType, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

// installNAT makes the table in the namespace at nsPath hold exactly rules, in one netlink transaction: the
// table and chains are created if missing (adding an existing one is a no-op), their rules flushed and rules
// added. Not nft's delete-and-add idiom for an atomic reload: deleting a table costs ~12 ms of RCU grace periods
// even in a new namespace, where this costs ~0.5 ms (the flush deletes rules only on a restart, ~10 ms then).
func installNAT(nsPath string, rules []natRule) error {
	conn, done, err := nftConn(nsPath)
	if err != nil {
		return err
	}
	defer done()
	tb := &nftables.Table{Name: NATTable, Family: nftables.TableFamilyIPv4}
	accept := nftables.ChainPolicyAccept
	chains := map[string]*nftables.Chain{
		natOutputChain: {Name: natOutputChain, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput,
			Priority: nftables.ChainPriorityNATDest, Policy: &accept},
		natPostroutingChain: {Name: natPostroutingChain, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting,
			Priority: nftables.ChainPriorityNATSource, Policy: &accept},
	}
	conn.AddTable(tb)
	conn.AddChain(chains[natOutputChain])
	conn.AddChain(chains[natPostroutingChain])
	conn.FlushTable(tb)
	for _, r := range rules {
		conn.AddRule(&nftables.Rule{Table: tb, Chain: chains[r.chain], Exprs: r.exprs(),
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment)})
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: table ip %s in %s: %w", NATTable, nsPath, err)
	}
	return nil
}

// nftConn is a netlink connection to nftables in the namespace at nsPath; done releases it.
func nftConn(nsPath string) (conn *nftables.Conn, done func(), err error) {
	fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("network namespace %s: %w", nsPath, err)
	}
	conn, err = nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("nftables in %s: %w", nsPath, err)
	}
	return conn, func() { unix.Close(fd) }, nil
}

// installedNAT returns the UDP and TCP ports the table in the namespace at nsPath sends addr:53 to, when it
// holds exactly the rules natRules makes for them: a server served this namespace before (a daemon restarting
// while the container runs). A server that can listen on those ports again needs no change to the table, which
// costs a restart ~12 ms a container (the flush's deletion of rules waits for RCU).
func installedNAT(nsPath string, addr netip.Addr) (udpPort, tcpPort uint16, ok bool) {
	conn, done, err := nftConn(nsPath)
	if err != nil {
		return 0, 0, false
	}
	defer done()
	tb := &nftables.Table{Name: NATTable, Family: nftables.TableFamilyIPv4}
	var comments []string
	for _, name := range []string{natOutputChain, natPostroutingChain} {
		rules, err := conn.GetRules(tb, &nftables.Chain{Name: name, Table: tb})
		if err != nil {
			return 0, 0, false
		}
		for _, r := range rules {
			c, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			comments = append(comments, c)
		}
	}
	resolver := netip.AddrPortFrom(addr, dnsPort).String()
	for _, c := range comments {
		var p uint16
		if _, err := fmt.Sscanf(c, "dns udp "+resolver+" to port %d", &p); err == nil {
			udpPort = p
		} else if _, err := fmt.Sscanf(c, "dns tcp "+resolver+" to port %d", &p); err == nil {
			tcpPort = p
		}
	}
	if udpPort == 0 || tcpPort == 0 {
		return 0, 0, false
	}
	want := natRules(addr, udpPort, tcpPort)
	if len(want) != len(comments) {
		return 0, 0, false
	}
	for i, r := range want {
		if r.comment != comments[i] {
			return 0, 0, false
		}
	}
	return udpPort, tcpPort, true
}

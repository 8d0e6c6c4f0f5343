package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// This file is the functional core: what Berth installs, as data. Nothing here talks to the kernel; nft.go and
// iptables.go apply it.

// Chains of Berth's "inet" table. The base chains hold only static rules (jumps), so the order in which objects
// are added never matters: each object's rules go to regular chains where every rule names its own bridge or port.
const (
	chainPrerouting     = "prerouting"       // nat, hook prerouting: local destination -> ports
	chainOutput         = "output"           // nat, hook output: local destination -> ports
	chainPorts          = "ports"            // one DNAT rule per published port
	chainPostrouting    = "postrouting"      // nat, hook postrouting: masquerade per network
	chainForward        = "forward"          // filter, hook forward: established, then the three chains below
	chainForwardInt     = "forward-internal" // internal networks: nothing leaves the bridge
	chainForwardPorts   = "forward-ports"    // published ports: DNATed traffic to the container port
	chainForwardBridges = "forward-bridges"  // per bridge: ICC, then nothing else enters
	chainInput          = "input"            // filter, hook input: no 127.0.0.0/8 from bridges (route_localnet)
)

// staticComment marks the table's skeleton rules (the jumps out of the base chains).
const staticComment = "static"

// chainSpec is one chain of the table; hook is nil for regular chains.
type chainSpec struct {
	name     string
	hook     *nftables.ChainHook
	priority *nftables.ChainPriority
	typ      nftables.ChainType
}

// chainSpecs lists the chains of the table, regular chains first so that jumps to them resolve in the same batch.
func chainSpecs() []chainSpec {
	return []chainSpec{
		{name: chainPorts},
		{name: chainForwardInt},
		{name: chainForwardPorts},
		{name: chainForwardBridges},
		{name: chainPrerouting, hook: nftables.ChainHookPrerouting, priority: nftables.ChainPriorityNATDest, typ: nftables.ChainTypeNAT},
		{name: chainOutput, hook: nftables.ChainHookOutput, priority: nftables.ChainPriorityNATDest, typ: nftables.ChainTypeNAT},
		{name: chainPostrouting, hook: nftables.ChainHookPostrouting, priority: nftables.ChainPriorityNATSource, typ: nftables.ChainTypeNAT},
		{name: chainForward, hook: nftables.ChainHookForward, priority: nftables.ChainPriorityFilter, typ: nftables.ChainTypeFilter},
		{name: chainInput, hook: nftables.ChainHookInput, priority: nftables.ChainPriorityFilter, typ: nftables.ChainTypeFilter},
	}
}

// rule is one nftables rule as data: conditions in order, then a verdict. comment says which object owns it and is
// stored in the kernel with the rule, so the kernel alone tells what Berth owns.
type rule struct {
	chain   string
	match   []match
	verdict verdict
	comment string
}

// String renders r the way `nft list ruleset` prints it.
func (r rule) String() string {
	parts := make([]string, 0, len(r.match)+3)
	if r.verdict.ipv4() && !slices.ContainsFunc(r.match, match.ipv4) {
		parts = append(parts, "meta nfproto ipv4") // nft shows it only when no "ip ..." match implies it
	}
	for _, m := range r.match {
		parts = append(parts, m.String())
	}
	parts = append(parts, r.verdict.String())
	if r.comment != "" {
		parts = append(parts, fmt.Sprintf("comment %q", r.comment))
	}
	return strings.Join(parts, " ")
}

// exprs compiles r to nftables expressions; an IPv4 header match is preceded by `meta nfproto ipv4`, as nft does
// in an inet table.
func (r rule) exprs() []expr.Any {
	var out []expr.Any
	v4 := r.verdict.ipv4()
	for _, m := range r.match {
		v4 = v4 || m.ipv4()
	}
	if v4 {
		out = append(out, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}})
	}
	return append(out, r.ipExprs()...)
}

// ipExprs compiles r for a table of family ip, where every packet is IPv4 and nft checks no nfproto.
func (r rule) ipExprs() []expr.Any {
	var out []expr.Any
	for _, m := range r.match {
		out = append(out, m.exprs()...)
	}
	return append(out, r.verdict.exprs()...)
}

// match is one condition of a rule.
type match interface {
	fmt.Stringer
	exprs() []expr.Any
	ipv4() bool // needs an IPv4 header
}

// ifname matches the input (or output) interface name.
type ifname struct {
	out  bool
	not  bool
	name string
}

func (m ifname) String() string {
	return fmt.Sprintf("%s %s%q", map[bool]string{false: "iifname", true: "oifname"}[m.out], neg(m.not), m.name)
}

func (m ifname) exprs() []expr.Any {
	key := expr.MetaKeyIIFNAME
	if m.out {
		key = expr.MetaKeyOIFNAME
	}
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: cmpOp(m.not), Register: 1, Data: ifnameBytes(m.name)}}
}

func (ifname) ipv4() bool { return false }

// addr matches the IPv4 source (or destination) address against a prefix.
type addr struct {
	dst    bool
	not    bool
	prefix netip.Prefix
}

func (m addr) String() string {
	p := m.prefix.String()
	if m.prefix.IsSingleIP() {
		p = m.prefix.Addr().String()
	}
	return fmt.Sprintf("ip %s %s%s", map[bool]string{false: "saddr", true: "daddr"}[m.dst], neg(m.not), p)
}

func (m addr) exprs() []expr.Any {
	off := uint32(12)
	if m.dst {
		off = 16
	}
	out := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}}
	if !m.prefix.IsSingleIP() {
		mask := netipMask(m.prefix.Bits())
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
	}
	return append(out, &expr.Cmp{Op: cmpOp(m.not), Register: 1, Data: m.prefix.Masked().Addr().AsSlice()})
}

func (addr) ipv4() bool { return true }

// dport matches the layer 4 protocol and destination port.
type dport struct {
	proto string
	port  uint16
}

func (m dport) String() string    { return fmt.Sprintf("%s dport %d", m.proto, m.port) }
func (m dport) exprs() []expr.Any { return l4PortExprs(m.proto, 2, m.port) }
func (dport) ipv4() bool          { return false }

// sport matches the layer 4 protocol and source port.
type sport struct {
	proto string
	port  uint16
}

func (m sport) String() string    { return fmt.Sprintf("%s sport %d", m.proto, m.port) }
func (m sport) exprs() []expr.Any { return l4PortExprs(m.proto, 0, m.port) }
func (sport) ipv4() bool          { return false }

// l4PortExprs match the layer 4 protocol and the port at offset off of its header (0: source, 2: destination).
func l4PortExprs(proto string, off uint32, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNumber(proto)}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

// fibLocal matches packets whose destination is an address of this host.
type fibLocal struct{}

func (fibLocal) String() string { return "fib daddr type local" }

func (fibLocal) exprs() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

func (fibLocal) ipv4() bool { return false }

// ctEstablished matches packets of known connections (established or related), or with not, any other.
type ctEstablished struct{ not bool }

func (m ctEstablished) String() string {
	if m.not {
		return "ct state ! established,related"
	}
	return "ct state established,related"
}

func (m ctEstablished) exprs() []expr.Any {
	op := expr.CmpOpNeq // some bit set
	if m.not {
		op = expr.CmpOpEq
	}
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
		&expr.Cmp{Op: op, Register: 1, Data: make([]byte, 4)},
	}
}

func (ctEstablished) ipv4() bool { return false }

// ctDNAT matches connections whose destination was translated (a published port).
type ctDNAT struct{}

func (ctDNAT) String() string { return "ct status dnat" }

func (ctDNAT) exprs() []expr.Any {
	const ipsDstNAT = 1 << 5 // IPS_DST_NAT, include/uapi/linux/netfilter/nf_conntrack_common.h
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func (ctDNAT) ipv4() bool { return false }

// verdict ends a rule.
type verdict interface {
	fmt.Stringer
	exprs() []expr.Any
	ipv4() bool
}

type accept struct{}

func (accept) String() string    { return "accept" }
func (accept) exprs() []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}} }
func (accept) ipv4() bool        { return false }

type drop struct{}

func (drop) String() string    { return "drop" }
func (drop) exprs() []expr.Any { return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}} }
func (drop) ipv4() bool        { return false }

type jump struct{ chain string }

func (v jump) String() string { return "jump " + v.chain }
func (v jump) exprs() []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: v.chain}}
}
func (jump) ipv4() bool { return false }

type masquerade struct{}

func (masquerade) String() string    { return "masquerade" }
func (masquerade) exprs() []expr.Any { return []expr.Any{&expr.Masq{}} }
func (masquerade) ipv4() bool        { return false }

// dnat rewrites the destination to an IPv4 address and port.
type dnat struct{ to netip.AddrPort }

func (v dnat) String() string    { return "dnat ip to " + v.to.String() }
func (v dnat) exprs() []expr.Any { return natExprs(expr.NATTypeDestNAT, v.to) }
func (dnat) ipv4() bool          { return true }

// snat rewrites the source to an IPv4 address and port.
type snat struct{ to netip.AddrPort }

func (v snat) String() string    { return "snat ip to " + v.to.String() }
func (v snat) exprs() []expr.Any { return natExprs(expr.NATTypeSourceNAT, v.to) }
func (snat) ipv4() bool          { return true }

// natExprs rewrite the source or destination (typ) to the IPv4 address and port to.
func natExprs(typ expr.NATType, to netip.AddrPort) []expr.Any {
	return []expr.Any{
		&expr.Immediate{Register: 1, Data: to.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(to.Port())},
		&expr.NAT{Type: typ, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

// loopback is 127.0.0.0/8: the sources of connections the host makes to a port published on 127.0.0.1.
var loopback = netip.MustParsePrefix("127.0.0.0/8")

// staticRules is the skeleton of the table: the base chains only jump to the regular chains, in this order.
func staticRules() []rule {
	c := staticComment
	return []rule{
		{chain: chainPrerouting, match: []match{fibLocal{}}, verdict: jump{chainPorts}, comment: c},
		{chain: chainOutput, match: []match{fibLocal{}}, verdict: jump{chainPorts}, comment: c},
		{chain: chainForward, match: []match{ctEstablished{}}, verdict: accept{}, comment: c},
		{chain: chainForward, verdict: jump{chainForwardInt}, comment: c},
		{chain: chainForward, verdict: jump{chainForwardPorts}, comment: c},
		{chain: chainForward, verdict: jump{chainForwardBridges}, comment: c},
	}
}

// networkRules is what one bridge network installs. Accepts only end Berth's own evaluation (another table may
// still drop); the drops are what make the policy.
func networkRules(n Network) []rule {
	c := n.comment()
	br := n.Bridge
	var rs []rule
	if n.Internal {
		// Nothing leaves an internal bridge, not even to a published port of another network.
		rs = append(rs, rule{chain: chainForwardInt, match: []match{ifname{name: br}, ifname{out: true, not: true, name: br}}, verdict: drop{}, comment: c})
	} else {
		rs = append(rs,
			// Outbound NAT: leaving through any other interface.
			rule{chain: chainPostrouting, match: []match{addr{prefix: n.Subnet}, ifname{out: true, not: true, name: br}}, verdict: masquerade{}, comment: c},
			// Hairpin: a container reaching a published port (its own or a neighbour's) through a host address
			// comes back out of the same bridge; without the masquerade the reply would skip the host's conntrack.
			rule{chain: chainPostrouting, match: []match{ifname{out: true, name: br}, addr{prefix: n.Subnet}, ctDNAT{}}, verdict: masquerade{}, comment: c},
			// The host connecting to a port published on 127.0.0.1 (needs route_localnet on the bridge).
			rule{chain: chainPostrouting, match: []match{ifname{out: true, name: br}, addr{prefix: loopback}}, verdict: masquerade{}, comment: c},
			// route_localnet also lets a container send to 127.0.0.0/8 on the host; refuse that (CVE-2020-8558).
			rule{chain: chainInput, match: []match{ifname{name: br}, addr{dst: true, prefix: loopback}, ctEstablished{not: true}}, verdict: drop{}, comment: c},
		)
	}
	icc := verdict(accept{})
	if !n.ICC {
		icc = drop{}
	}
	rs = append(rs,
		rule{chain: chainForwardBridges, match: []match{ifname{name: br}, ifname{out: true, name: br}}, verdict: icc, comment: c},
		// Isolation: nothing else enters the bridge (other Berth bridges, the outside) unless established or a
		// published port, both accepted earlier in the forward chain.
		rule{chain: chainForwardBridges, match: []match{ifname{out: true, name: br}}, verdict: drop{}, comment: c},
	)
	return rs
}

// portRules is what one published port installs.
func portRules(p Port) []rule {
	c := p.comment()
	m := []match{}
	if p.HostIP.IsValid() {
		m = append(m, addr{dst: true, prefix: netip.PrefixFrom(p.HostIP, p.HostIP.BitLen())})
	}
	m = append(m, dport{proto: p.Proto, port: p.HostPort})
	return []rule{
		{chain: chainPorts, match: m, verdict: dnat{to: netip.AddrPortFrom(p.ContainerIP, p.ContainerPort)}, comment: c},
		{chain: chainForwardPorts, match: []match{
			ifname{out: true, name: p.Bridge},
			addr{dst: true, prefix: netip.PrefixFrom(p.ContainerIP, 32)},
			dport{proto: p.Proto, port: p.ContainerPort},
			ctDNAT{},
		}, verdict: accept{}, comment: c},
	}
}

func neg(not bool) string {
	if not {
		return "!= "
	}
	return ""
}

func cmpOp(not bool) expr.CmpOp {
	if not {
		return expr.CmpOpNeq
	}
	return expr.CmpOpEq
}

// ifnameBytes pads an interface name to IFNAMSIZ, as nft does, so the comparison is exact.
func ifnameBytes(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func netipMask(bits int) []byte {
	m := make([]byte, 4)
	for i := range bits {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

func protoNumber(proto string) byte {
	if proto == "udp" {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

package firewall

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/coreos/go-iptables/iptables"
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// The ingress routing mesh: a port a swarm service publishes in ingress mode answers on every node, whether a
// task runs there or not. As docker lays it out, in two tables of Berth's, without IPVS:
//
//	node's namespace:  table ip <table>-ingress        (SyncIngressHost)
//	  chain nat-prerouting (nat, prerouting, -100), chain nat-output (nat, output, -100):
//	    fib daddr type local tcp dport P dnat ip to SANDBOX:P        comment "ingress service=S port=P/tcp sandbox=SANDBOX"
//	  chain nat-postrouting (nat, postrouting, 100):
//	    ip saddr 127.0.0.0/8 ip daddr SANDBOX masquerade             comment "ingress loopback sandbox=SANDBOX"
//	ingress sandbox:   table ip berth-ingress           (SyncIngressSandbox)
//	  chain nat-prerouting (nat, prerouting, -100):
//	    tcp dport P dnat ip to numgen random mod N map { 0 : B0, ... } : T   comment "ingress service=S port=P/tcp target=T backends=N sum=…"
//	  chain nat-postrouting (nat, postrouting, 100):
//	    ip daddr INGRESS-SUBNET masquerade                            comment "ingress snat subnet=INGRESS-SUBNET"
//	  chain filter-input (filter, input, 0):
//	    tcp dport P reject                                            comment "ingress service=S port=P/tcp backends=0"
//
// A connection to any local address of the node on port P goes to the node's ingress sandbox (a namespace with
// one leg on a host bridge and one on the ingress overlay network), which picks one of the service's running
// tasks at random and forwards to its ingress address on target port T, on whichever node it runs, over the
// overlay. The sandbox masquerades as its own ingress address so that the task's reply comes back through it
// (the reverse NAT lives there): the task sees the sandbox's address, not the client's — docker's mesh loses
// the client's address the same way (moby/moby#25526); host-mode publishing keeps it. Both tables are made to
// say exactly what they are given, diffing by comment; given nothing, each table goes.
//
// The daemon now reaches the sandbox through docker_gwbridge, as docker does, and publishes the mesh's ports to
// it as a bridge network's published ports (AddPort); it calls SyncIngressHost and IngressForward only with
// nothing, to remove what a daemon before that left (the node's table and its bridge's FORWARD accepts).

// IngressSandboxTable is the table SyncIngressSandbox owns in the ingress sandbox's namespace.
const IngressSandboxTable = "berth-ingress"

// IngressPort is one port a service publishes through the mesh.
type IngressPort struct {
	// Service names the service in the rules' comments.
	Service string
	// Proto is tcp or udp; Published is the port on every node, Target the tasks' port.
	Proto             string
	Published, Target uint16
	// Backends are the ingress addresses of the service's running tasks.
	Backends []netip.Addr
}

const (
	ingressPrerouting  = "nat-prerouting"
	ingressOutput      = "nat-output"
	ingressPostrouting = "nat-postrouting"
	ingressInput       = "filter-input"
	ingressPrefix      = "ingress "
)

// ingressRule is one rule of a mesh table, named by its chain and comment.
type ingressRule struct {
	chain   string
	exprs   []expr.Any
	comment string
	// set is the anonymous map of a balancing rule's backends (nil for none), target the port it DNATs to.
	set    []nftables.SetElement
	target uint16
}

// normalize checks p and returns it with its backends sorted and unique.
func (p IngressPort) normalize() (IngressPort, error) {
	if p.Proto == "" {
		p.Proto = "tcp"
	}
	if p.Proto != "tcp" && p.Proto != "udp" {
		return p, fmt.Errorf("ingress port %d of service %s: protocol %q: %w", p.Published, p.Service, p.Proto, errdefs.ErrInvalidArgument)
	}
	if p.Published == 0 || p.Target == 0 || p.Service == "" || strings.ContainsAny(p.Service, " \"") {
		return p, fmt.Errorf("ingress port %d:%d of service %q: %w", p.Published, p.Target, p.Service, errdefs.ErrInvalidArgument)
	}
	var bs []netip.Addr
	for _, b := range p.Backends {
		b = b.Unmap()
		if !b.Is4() {
			return p, fmt.Errorf("ingress port %d: backend %q: only IPv4 is supported: %w", p.Published, b, errdefs.ErrInvalidArgument)
		}
		if !slices.Contains(bs, b) {
			bs = append(bs, b)
		}
	}
	slices.SortFunc(bs, netip.Addr.Compare)
	p.Backends = bs
	return p, nil
}

func normalizePorts(ports []IngressPort) ([]IngressPort, error) {
	out := make([]IngressPort, 0, len(ports))
	seen := map[string]bool{}
	for _, p := range ports {
		n, err := p.normalize()
		if err != nil {
			return nil, err
		}
		k := fmt.Sprintf("%d/%s", n.Published, n.Proto)
		if seen[k] {
			continue // the first given wins a port published twice
		}
		seen[k] = true
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b IngressPort) int {
		if a.Published != b.Published {
			return int(a.Published) - int(b.Published)
		}
		return strings.Compare(a.Proto, b.Proto)
	})
	return out, nil
}

// ingressHostRules are the node's DNATs of its published ports to the sandbox's address.
func ingressHostRules(sandbox netip.Addr, ports []IngressPort) []ingressRule {
	var out []ingressRule
	for _, chain := range []string{ingressPrerouting, ingressOutput} {
		for _, p := range ports {
			m := dport{proto: p.Proto, port: p.Published}
			exprs := slices.Concat(fibLocal{}.exprs(), m.exprs(), []expr.Any{
				&expr.Immediate{Register: 1, Data: sandbox.AsSlice()},
				&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(p.Published)},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
			})
			out = append(out, ingressRule{chain: chain, exprs: exprs,
				comment: fmt.Sprintf("%sservice=%s port=%d/%s sandbox=%s", ingressPrefix, p.Service, p.Published, p.Proto, sandbox)})
		}
	}
	if len(out) > 0 {
		// Connections to the node's 127.0.0.1 leave for the sandbox's bridge (route_localnet on it) with the
		// bridge's address instead.
		out = append(out, ingressRule{chain: ingressPostrouting,
			exprs: slices.Concat(addr{prefix: loopback}.exprs(), addr{dst: true, prefix: netip.PrefixFrom(sandbox, 32)}.exprs(),
				masquerade{}.exprs()),
			comment: fmt.Sprintf("%sloopback sandbox=%s", ingressPrefix, sandbox)})
	}
	return out
}

// IngressForward makes iptables' filter FORWARD chain accept the traffic of the ingress sandbox's bridge (accept)
// or not any more (!accept), as Berth's bridges have it (a FORWARD policy of DROP, dockerd's, would drop the
// mesh's traffic into the sandbox); the rules' comments are `TABLE:BRIDGE`. Without iptables, nothing to do.
func IngressForward(table, bridge string, accept bool) error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil
	}
	ipt, err := iptables.NewWithProtocol(iptables.ProtocolIPv4)
	if err != nil {
		return fmt.Errorf("iptables: %w", err)
	}
	f := forwardChain{ipt: ipt, table: table}
	if !accept {
		return f.remove(bridge)
	}
	return f.ensure(Network{Bridge: bridge})
}

// ingressSandboxRules are the sandbox's balancing of each port over its backends, the masquerade towards the
// ingress network, and a reject for a port without backends.
func ingressSandboxRules(subnet netip.Prefix, ports []IngressPort) []ingressRule {
	var out []ingressRule
	for _, p := range ports {
		m := dport{proto: p.Proto, port: p.Published}
		comment := fmt.Sprintf("%sservice=%s port=%d/%s target=%d backends=%d", ingressPrefix, p.Service, p.Published, p.Proto, p.Target, len(p.Backends))
		if len(p.Backends) == 0 {
			out = append(out, ingressRule{chain: ingressInput, comment: comment, exprs: slices.Concat(m.exprs(), []expr.Any{
				&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreachable}})})
			continue
		}
		h := sha256.New()
		set := make([]nftables.SetElement, len(p.Backends))
		for i, b := range p.Backends {
			h.Write(b.AsSlice())
			set[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)), Val: b.AsSlice()}
		}
		out = append(out, ingressRule{chain: ingressPrerouting, set: set, target: p.Target, exprs: m.exprs(),
			comment: comment + " sum=" + hex.EncodeToString(h.Sum(nil))[:8]})
	}
	if len(out) > 0 {
		out = append(out, ingressRule{chain: ingressPostrouting,
			exprs:   slices.Concat(addr{dst: true, prefix: subnet.Masked()}.exprs(), masquerade{}.exprs()),
			comment: fmt.Sprintf("%ssnat subnet=%s", ingressPrefix, subnet.Masked())})
	}
	return out
}

// SyncIngressHost makes the table `ip TABLE` in the node's namespace (at nsPath; "" for the current one) DNAT
// exactly ports to the ingress sandbox's address on the host side (none: no table).
func SyncIngressHost(ctx context.Context, nsPath, table string, sandbox netip.Addr, ports []IngressPort) error {
	norm, err := normalizePorts(ports)
	if err != nil {
		return err
	}
	if len(norm) > 0 && !sandbox.Is4() {
		return fmt.Errorf("ingress sandbox address %q: %w", sandbox, errdefs.ErrInvalidArgument)
	}
	conn, closeNS, err := ingressConn(nsPath)
	if err != nil {
		return err
	}
	defer closeNS()
	return syncIngressTable(conn, table, ingressHostRules(sandbox, norm))
}

// SyncIngressSandbox makes the table IngressSandboxTable in the namespace at nsPath balance exactly ports over
// their backends on the ingress network subnet (none: no table).
func SyncIngressSandbox(ctx context.Context, nsPath string, subnet netip.Prefix, ports []IngressPort) error {
	norm, err := normalizePorts(ports)
	if err != nil {
		return err
	}
	if len(norm) > 0 && !subnet.Addr().Is4() {
		return fmt.Errorf("ingress subnet %q: %w", subnet, errdefs.ErrInvalidArgument)
	}
	conn, closeNS, err := nsConn(nsPath)
	if err != nil {
		return err
	}
	defer closeNS()
	return syncIngressTable(conn, IngressSandboxTable, ingressSandboxRules(subnet, norm))
}

// ListIngress reads the comments of the rules of table `ip TABLE` in the namespace at nsPath ("" for the
// current one), in chain then handle order; none when there is no table.
func ListIngress(ctx context.Context, nsPath, table string) ([]string, error) {
	conn, closeNS, err := ingressConn(nsPath)
	if err != nil {
		return nil, err
	}
	defer closeNS()
	obs, err := observeTable(conn, table)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range obs.rules {
		out = append(out, r.comment)
	}
	return out, nil
}

// ingressConn is a netlink connection to nftables in the namespace at nsPath, or in the current one for "".
func ingressConn(nsPath string) (*nftables.Conn, func(), error) {
	if nsPath != "" {
		return nsConn(nsPath)
	}
	conn, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, nil, fmt.Errorf("nftables: %w", err)
	}
	return conn, func() { conn.CloseLasting() }, nil
}

func ingressChains(tb *nftables.Table) map[string]*nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return map[string]*nftables.Chain{
		ingressPrerouting: {Name: ingressPrerouting, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting,
			Priority: nftables.ChainPriorityNATDest, Policy: &accept},
		ingressOutput: {Name: ingressOutput, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput,
			Priority: nftables.ChainPriorityNATDest, Policy: &accept},
		ingressPostrouting: {Name: ingressPostrouting, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPostrouting,
			Priority: nftables.ChainPriorityNATSource, Policy: &accept},
		ingressInput: {Name: ingressInput, Table: tb, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput,
			Priority: nftables.ChainPriorityFilter, Policy: &accept},
	}
}

// observeTable reads the rules of table `ip name` (their chains, handles and comments).
func observeTable(conn *nftables.Conn, name string) (observation, error) {
	var obs observation
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return obs, fmt.Errorf("nftables: list tables: %w", err)
	}
	for _, tb := range tables {
		obs.exists = obs.exists || tb.Name == name
	}
	if !obs.exists {
		return obs, nil
	}
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return obs, fmt.Errorf("nftables: list chains: %w", err)
	}
	slices.SortFunc(chains, func(a, b *nftables.Chain) int { return strings.Compare(a.Name, b.Name) })
	tb := &nftables.Table{Name: name, Family: nftables.TableFamilyIPv4}
	for _, ch := range chains {
		if ch.Table.Name != name {
			continue
		}
		if err := observeChain(conn, tb, ch.Name, &obs); err != nil {
			return obs, err
		}
	}
	return obs, nil
}

// observeChain appends the rules of chain `chain` of table tb (their handles and comments) to obs. A missing
// table or chain is an error wrapping ENOENT.
func observeChain(conn *nftables.Conn, tb *nftables.Table, chain string, obs *observation) error {
	rules, err := conn.GetRules(tb, &nftables.Chain{Name: chain, Table: tb})
	if err != nil {
		return fmt.Errorf("nftables: list rules of %s: %w", chain, err)
	}
	for _, r := range rules {
		c, _ := userdata.GetString(r.UserData, userdata.TypeComment)
		obs.rules = append(obs.rules, installed{chain: chain, handle: r.Handle, comment: c})
	}
	return nil
}

// planIngress diffs the observed table with the rules wanted (as planVIPs does): rules whose chain and comment
// are not wanted go, wanted rules not there come; nothing wanted removes the table.
func planIngress(obs observation, want []ingressRule) (del []installed, add []ingressRule, ensure, drop bool) {
	if len(want) == 0 {
		return nil, nil, false, obs.exists
	}
	have := map[string]bool{}
	for _, r := range obs.rules {
		k := r.chain + "\x00" + r.comment
		wanted := slices.ContainsFunc(want, func(w ingressRule) bool { return w.chain == r.chain && w.comment == r.comment })
		if !wanted || have[k] {
			del = append(del, r)
			continue
		}
		have[k] = true
	}
	for _, w := range want {
		if !have[w.chain+"\x00"+w.comment] {
			add = append(add, w)
		}
	}
	return del, add, true, false
}

// syncIngressTable makes table `ip name` hold exactly want, in one transaction.
func syncIngressTable(conn *nftables.Conn, name string, want []ingressRule) error {
	obs, err := observeTable(conn, name)
	if err != nil {
		return err
	}
	del, add, ensure, drop := planIngress(obs, want)
	if !ensure && !drop || ensure && obs.exists && len(del) == 0 && len(add) == 0 {
		return nil
	}
	tb := &nftables.Table{Name: name, Family: nftables.TableFamilyIPv4}
	chains := ingressChains(tb)
	if ensure {
		conn.AddTable(tb)
		for _, n := range []string{ingressPrerouting, ingressOutput, ingressPostrouting, ingressInput} {
			conn.AddChain(chains[n])
		}
	}
	for _, r := range del {
		ch := chains[r.chain]
		if ch == nil {
			ch = &nftables.Chain{Name: r.chain, Table: tb}
		}
		if err := conn.DelRule(&nftables.Rule{Table: tb, Chain: ch, Handle: r.handle}); err != nil {
			return fmt.Errorf("nftables: %w", err)
		}
	}
	for _, r := range add {
		exprs := slices.Clone(r.exprs)
		if r.set != nil {
			// dnat ip to numgen random mod N map { i : Bi } : TARGET
			m := &nftables.Set{Table: tb, Anonymous: true, Constant: true, IsMap: true,
				KeyType: nftables.TypeInteger, DataType: nftables.TypeIPAddr}
			if err := conn.AddSet(m, r.set); err != nil {
				return fmt.Errorf("nftables: backends of %q: %w", r.comment, err)
			}
			exprs = append(exprs,
				&expr.Numgen{Register: 1, Modulus: uint32(len(r.set)), Type: unix.NFT_NG_RANDOM},
				&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: m.Name, SetID: m.ID},
				&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.target)},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
			)
		}
		conn.AddRule(&nftables.Rule{Table: tb, Chain: chains[r.chain], Exprs: exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment)})
	}
	if drop {
		conn.DelTable(tb)
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: table ip %s: %w", name, err)
	}
	return nil
}

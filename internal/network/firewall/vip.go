package firewall

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Service VIPs: load balancing where connections start. A swarm service's virtual IP is no address any
// interface holds; in the network namespace of each container on the service's network, a table of Berth's
// rewrites a connection to the VIP, at its first packet, to one of the service's running tasks picked at random
// (kube-proxy's nftables mode, without IPVS, which this kernel lacks). Every port is forwarded, as docker's
// VIPs forward every port the tasks listen on; conntrack keeps a connection on the task it started with, so
// a backend leaving the set cuts no established connection. A VIP with no backend rejects (the client sees
// "connection refused" at once rather than a timeout).
//
//	table ip berth-vip
//	  chain nat-output   (nat, hook output, priority -100)
//	    ip daddr VIP dnat ip to numgen random mod N map { 0 : B0, 1 : B1, ... }  comment "vip service=S network=N addr=VIP backends=N sum=…"
//	  chain filter-output (filter, hook output, priority 0)
//	    ip daddr VIP reject                                                       comment "vip service=S network=N addr=VIP backends=0"
//
// Beside the embedded DNS's table (ip berth-dns, dnsnat.go) the table is the only thing of Berth's
// in a container's namespace: SyncVIPs makes it say exactly what it is given (diffing by comment, which names
// the backends through a digest), and with nothing to say removes it.
// The namespace going (the container's end) takes the table with it.

// VIP is one service address balanced over its backends.
type VIP struct {
	Addr netip.Addr
	// Service and Network name it in the rules' comments.
	Service, Network string
	// Backends are the addresses of the service's running tasks on that network.
	Backends []netip.Addr
}

// VIPTable is the table SyncVIPs owns in a container's namespace.
const VIPTable = "berth-vip"

// icmpPortUnreachable is ICMP's code for "port unreachable", which a TCP client takes as connection refused.
const icmpPortUnreachable = 3

const (
	vipNATChain    = "nat-output"
	vipFilterChain = "filter-output"
	vipPrefix      = "vip "
)

// vipRule is one rule of the table: a DNAT over the backends, or a reject when there are none.
type vipRule struct {
	chain    string
	addr     netip.Addr
	backends []netip.Addr
	comment  string
}

// String renders r as `nft list table` prints it.
func (r vipRule) String() string {
	if len(r.backends) == 0 {
		return fmt.Sprintf("%s: ip daddr %s reject comment %q", r.chain, r.addr, r.comment)
	}
	elems := make([]string, len(r.backends))
	for i, b := range r.backends {
		elems[i] = fmt.Sprintf("%d : %s", i, b)
	}
	return fmt.Sprintf("%s: ip daddr %s dnat ip to numgen random mod %d map { %s } comment %q",
		r.chain, r.addr, len(r.backends), strings.Join(elems, ", "), r.comment)
}

// normalize checks v and returns it with its backends sorted and unique.
func (v VIP) normalize() (VIP, error) {
	if !v.Addr.Is4() && !v.Addr.Is4In6() {
		return v, fmt.Errorf("vip %q of service %s: only IPv4 is supported: %w", v.Addr, v.Service, errdefs.ErrInvalidArgument)
	}
	if v.Service == "" || strings.ContainsAny(v.Service+v.Network, " \"") {
		return v, fmt.Errorf("vip %s: service %q network %q: %w", v.Addr, v.Service, v.Network, errdefs.ErrInvalidArgument)
	}
	v.Addr = v.Addr.Unmap()
	var bs []netip.Addr
	for _, b := range v.Backends {
		b = b.Unmap()
		if !b.Is4() {
			return v, fmt.Errorf("vip %s: backend %q: only IPv4 is supported: %w", v.Addr, b, errdefs.ErrInvalidArgument)
		}
		if !slices.Contains(bs, b) {
			bs = append(bs, b)
		}
	}
	slices.SortFunc(bs, netip.Addr.Compare)
	v.Backends = bs
	return v, nil
}

// vipRules are the rules that balance vips (normalized), in VIP order; one rule per VIP address (the first
// given wins a duplicate).
func vipRules(vips []VIP) []vipRule {
	vips = slices.Clone(vips)
	slices.SortStableFunc(vips, func(a, b VIP) int { return a.Addr.Compare(b.Addr) })
	var out []vipRule
	for i, v := range vips {
		if i > 0 && vips[i-1].Addr == v.Addr {
			continue
		}
		comment := fmt.Sprintf("%sservice=%s network=%s addr=%s backends=%d", vipPrefix, v.Service, v.Network, v.Addr, len(v.Backends))
		r := vipRule{chain: vipFilterChain, addr: v.Addr, comment: comment}
		if len(v.Backends) > 0 {
			// The comment stays short (nft keeps 128 bytes) and still changes with any backend.
			h := sha256.New()
			for _, b := range v.Backends {
				h.Write(b.AsSlice())
			}
			r.chain, r.backends = vipNATChain, v.Backends
			r.comment += " sum=" + hex.EncodeToString(h.Sum(nil))[:8]
		}
		out = append(out, r)
	}
	return out
}

// vipChange is what SyncVIPs does to a namespace's table.
type vipChange struct {
	ensureTable, deleteTable bool
	del                      []installed
	add                      []vipRule
}

// planVIPs diffs the observed table with the rules wanted: rules whose comment is not wanted go, wanted rules
// not there come; nothing wanted removes the table (and whatever else is in it).
func planVIPs(obs observation, want []vipRule) vipChange {
	if len(want) == 0 {
		return vipChange{deleteTable: obs.exists}
	}
	c := vipChange{ensureTable: true}
	have := map[string]bool{}
	for _, r := range obs.rules {
		wanted := slices.ContainsFunc(want, func(w vipRule) bool { return w.chain == r.chain && w.comment == r.comment })
		if !wanted || have[r.chain+"\x00"+r.comment] {
			c.del = append(c.del, r) // unwanted, or a duplicate
			continue
		}
		have[r.chain+"\x00"+r.comment] = true
	}
	for _, w := range want {
		if !have[w.chain+"\x00"+w.comment] {
			c.add = append(c.add, w)
		}
	}
	return c
}

// SyncVIPs makes the VIP table in the network namespace at nsPath balance exactly vips (none: no table).
func SyncVIPs(ctx context.Context, nsPath string, vips []VIP) error {
	norm := make([]VIP, 0, len(vips))
	for _, v := range vips {
		n, err := v.normalize()
		if err != nil {
			return err
		}
		norm = append(norm, n)
	}
	conn, closeNS, err := nsConn(nsPath)
	if err != nil {
		return err
	}
	defer closeNS()
	obs, err := observeTable(conn, VIPTable)
	if err != nil {
		return err
	}
	return applyVIPs(conn, planVIPs(obs, vipRules(norm)))
}

// ListVIPs reads the comments of the VIP table's rules in the namespace at nsPath (ListIngress of VIPTable:
// none when there is no table), in chain then handle order.
func ListVIPs(ctx context.Context, nsPath string) ([]string, error) {
	return ListIngress(ctx, nsPath, VIPTable)
}

// nsConn is a netlink connection to nftables inside the namespace at nsPath.
func nsConn(nsPath string) (*nftables.Conn, func(), error) {
	fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("network namespace %s: %w", nsPath, err)
	}
	conn, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("nftables in %s: %w", nsPath, err)
	}
	return conn, func() { conn.CloseLasting(); unix.Close(fd) }, nil
}

func vipTable() *nftables.Table {
	return &nftables.Table{Name: VIPTable, Family: nftables.TableFamilyIPv4}
}

func vipChains(tb *nftables.Table) map[string]*nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return map[string]*nftables.Chain{
		vipNATChain: {Name: vipNATChain, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput,
			Priority: nftables.ChainPriorityNATDest, Policy: &accept},
		vipFilterChain: {Name: vipFilterChain, Table: tb, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookOutput,
			Priority: nftables.ChainPriorityFilter, Policy: &accept},
	}
}

// applyVIPs runs c as one transaction.
func applyVIPs(conn *nftables.Conn, c vipChange) error {
	if !c.ensureTable && !c.deleteTable && len(c.del) == 0 && len(c.add) == 0 {
		return nil
	}
	tb := vipTable()
	chains := vipChains(tb)
	if c.ensureTable {
		conn.AddTable(tb)
		conn.AddChain(chains[vipNATChain])
		conn.AddChain(chains[vipFilterChain])
	}
	for _, r := range c.del {
		ch := chains[r.chain]
		if ch == nil {
			ch = &nftables.Chain{Name: r.chain, Table: tb}
		}
		if err := conn.DelRule(&nftables.Rule{Table: tb, Chain: ch, Handle: r.handle}); err != nil {
			return fmt.Errorf("nftables: %w", err)
		}
	}
	for _, r := range c.add {
		exprs := []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: r.addr.AsSlice()},
		}
		if len(r.backends) == 0 {
			exprs = append(exprs, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreachable})
		} else {
			m := &nftables.Set{Table: tb, Anonymous: true, Constant: true, IsMap: true,
				KeyType: nftables.TypeInteger, DataType: nftables.TypeIPAddr}
			elems := make([]nftables.SetElement, len(r.backends))
			for i, b := range r.backends {
				elems[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)), Val: b.AsSlice()}
			}
			if err := conn.AddSet(m, elems); err != nil {
				return fmt.Errorf("nftables: backends of %s: %w", r.addr, err)
			}
			exprs = append(exprs,
				&expr.Numgen{Register: 1, Modulus: uint32(len(r.backends)), Type: unix.NFT_NG_RANDOM},
				&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: m.Name, SetID: m.ID},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
			)
		}
		conn.AddRule(&nftables.Rule{Table: tb, Chain: chains[r.chain], Exprs: exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment)})
	}
	if c.deleteTable {
		conn.DelTable(tb)
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: table ip %s: %w", VIPTable, err)
	}
	return nil
}

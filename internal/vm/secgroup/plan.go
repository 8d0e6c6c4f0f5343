package secgroup

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Chains of the table. forward and output are base chains holding the established/related accept and one jump
// per instance; each instance has a chain of its own holding its groups' rules, then a drop.
const (
	ChainForward = "forward"
	ChainOutput  = "output"
)

// NFRule is one nftables rule as data.
type NFRule struct {
	Chain string
	// Match conditions, all of which must hold.
	DAddr    netip.Addr   // ip daddr
	SAddr    netip.Prefix // ip saddr (a /32 for a group member)
	Protocol string       // tcp, udp, icmp; "" for any
	// Ports (tcp, udp): FromPort..ToPort; ICMP: type FromPort and code ToPort when not -1.
	FromPort, ToPort int
	Established      bool // ct state established,related
	// Verdict: "accept", "drop", or "jump <chain>".
	Verdict string
	Comment string
}

// String renders the rule as `nft list ruleset` prints it (without the chain).
func (r NFRule) String() string {
	var p []string
	if r.Established {
		p = append(p, "ct state established,related")
	}
	if r.DAddr.IsValid() {
		p = append(p, "ip daddr "+r.DAddr.String())
	}
	if r.SAddr.IsValid() {
		s := r.SAddr.String()
		if r.SAddr.Bits() == 32 {
			s = r.SAddr.Addr().String()
		}
		p = append(p, "ip saddr "+s)
	}
	switch r.Protocol {
	case TCP, UDP:
		if r.FromPort == 0 && r.ToPort == 65535 {
			p = append(p, "meta l4proto "+r.Protocol)
		} else {
			p = append(p, r.Protocol+" dport "+portRange(r.FromPort, r.ToPort))
		}
	case ICMP:
		switch {
		case r.FromPort < 0:
			p = append(p, "meta l4proto icmp")
		default:
			p = append(p, fmt.Sprintf("icmp type %d", r.FromPort))
			if r.ToPort >= 0 {
				p = append(p, fmt.Sprintf("icmp code %d", r.ToPort))
			}
		}
	}
	p = append(p, r.Verdict)
	if r.Comment != "" {
		p = append(p, fmt.Sprintf("comment %q", r.Comment))
	}
	return strings.Join(p, " ")
}

// InstanceChain is the name of an instance's chain.
func InstanceChain(id string) string { return "instance-" + id }

// Plan computes the table for targets in groups (by ID). Targets without an address are skipped; an unknown
// group allows nothing. A group source allows the current addresses of the group's members. The result is
// sorted: the same state always gives the same rules.
func Plan(targets []Target, groups map[string]Group) []NFRule {
	var out []NFRule
	ts := append([]Target(nil), targets...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
	members := map[string][]netip.Addr{}
	for _, t := range ts {
		if !t.Addr.IsValid() {
			continue
		}
		for _, g := range t.Groups {
			members[g] = append(members[g], t.Addr)
		}
	}
	if len(ts) == 0 {
		return nil
	}
	for _, chain := range []string{ChainForward, ChainOutput} {
		out = append(out, NFRule{Chain: chain, Established: true, Verdict: "accept", Comment: "replies"})
		for _, t := range ts {
			if t.Addr.IsValid() {
				out = append(out, NFRule{Chain: chain, DAddr: t.Addr, Verdict: "jump " + InstanceChain(t.ID), Comment: "instance " + t.ID})
			}
		}
	}
	for _, t := range ts {
		if !t.Addr.IsValid() {
			continue
		}
		chain := InstanceChain(t.ID)
		gids := append([]string(nil), t.Groups...)
		sort.Strings(gids)
		for _, gid := range gids {
			g, ok := groups[gid]
			if !ok {
				continue
			}
			for _, r := range Split(g.Rules) {
				var srcs []netip.Prefix
				srcs = append(srcs, r.CIDRs...)
				for _, sg := range r.Groups {
					for _, a := range members[sg] {
						srcs = append(srcs, netip.PrefixFrom(a, 32))
					}
				}
				for _, src := range srcs {
					nr := NFRule{Chain: chain, SAddr: src, Verdict: "accept", Comment: "group " + gid + ": " + r.String()}
					if src.Bits() == 0 {
						nr.SAddr = netip.Prefix{} // 0.0.0.0/0: any source
					}
					if r.Protocol != All {
						nr.Protocol, nr.FromPort, nr.ToPort = r.Protocol, r.FromPort, r.ToPort
					}
					out = append(out, nr)
				}
			}
		}
		out = append(out, NFRule{Chain: chain, Verdict: "drop", Comment: "instance " + t.ID + ": inbound not allowed by its security groups"})
	}
	return out
}

// Chains lists the regular chains rules use (the instance chains), in order.
func Chains(rules []NFRule) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rules {
		if r.Chain != ChainForward && r.Chain != ChainOutput && !seen[r.Chain] {
			seen[r.Chain] = true
			out = append(out, r.Chain)
		}
	}
	return out
}

// Package secgroup enforces security groups, EC2's instance firewall, on Berth's virtual machine instances: a
// group is a set of inbound rules (a protocol, a port range or ICMP type, and sources: CIDR blocks or other
// groups), an instance is in one or more groups, and everything inbound that no rule of its groups allows is
// dropped. Like EC2's, the filter is stateful: replies to the instance's own connections come back, and outbound
// traffic is not filtered.
//
// It computes the rules as data (Plan: pure) and installs them as one nftables table (Apply), replaced whole in
// one transaction at every change, so the kernel never holds a half-updated filter. The table is Berth's alone
// ("inet <name>"); every rule carries a comment naming the instance or group it comes from.
//
//	rules := secgroup.Plan(instances, groups)       // what the kernel should hold
//	err := secgroup.Apply(ctx, "berth-vm", rules)   // replace the table (an empty plan removes it)
//
// The filter hooks forward (traffic routed or, through br_netfilter, bridged to the instance) and output (traffic
// from the host itself), matching the instance by its address: the instance's tap lives in a network namespace
// of its own, joined to the bridge by a veth (internal/vm/vnet), so on the host its traffic is its address's.
package secgroup

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Protocols a rule may name; "-1" is every protocol, as in EC2.
const (
	TCP  = "tcp"
	UDP  = "udp"
	ICMP = "icmp"
	All  = "-1"
)

// Group is a security group.
type Group struct {
	ID    string
	Name  string
	Rules []Rule
}

// Rule allows inbound traffic: Protocol from any of the CIDRs or from members of any of the Groups, to ports
// FromPort..ToPort (tcp, udp), or of ICMP type FromPort and code ToPort (-1: any), or anything (All).
type Rule struct {
	Protocol         string
	FromPort, ToPort int
	CIDRs            []netip.Prefix
	Groups           []string
	Description      string
}

// Target is an instance the filter applies to.
type Target struct {
	ID     string
	Addr   netip.Addr
	Groups []string
}

// ErrInvalidRule is wrapped by Validate's errors; the message is EC2's words for the problem.
var ErrInvalidRule = errors.New("invalid security group rule")

// NormalizeProtocol maps EC2's spellings of a protocol (names in any case, numbers) to this package's.
func NormalizeProtocol(p string) (string, error) {
	switch strings.ToLower(p) {
	case "tcp", "6":
		return TCP, nil
	case "udp", "17":
		return UDP, nil
	case "icmp", "1":
		return ICMP, nil
	case "-1", "all":
		return All, nil
	}
	return "", fmt.Errorf("%w: Invalid value '%s' for IP protocol. Unknown protocol.", ErrInvalidRule, p)
}

// Validate checks a rule as EC2 does, and normalizes its protocol.
func (r *Rule) Validate() error {
	p, err := NormalizeProtocol(r.Protocol)
	if err != nil {
		return err
	}
	r.Protocol = p
	switch p {
	case TCP, UDP:
		if r.FromPort < 0 || r.FromPort > 65535 || r.ToPort < 0 || r.ToPort > 65535 {
			return fmt.Errorf("%w: Invalid value for portRange. Must be in range 0-65535.", ErrInvalidRule)
		}
		if r.FromPort > r.ToPort {
			return fmt.Errorf("%w: Invalid value for portRange. Must specify both from and to ports with TCP/UDP and from port must not exceed to port.", ErrInvalidRule)
		}
	case ICMP:
		if r.FromPort < -1 || r.FromPort > 255 || r.ToPort < -1 || r.ToPort > 255 {
			return fmt.Errorf("%w: Invalid value for ICMP type or code. Must be in range -1-255.", ErrInvalidRule)
		}
	case All:
		r.FromPort, r.ToPort = -1, -1
	}
	if len(r.CIDRs) == 0 && len(r.Groups) == 0 {
		return fmt.Errorf("%w: The request must contain the parameter ipPermissions.ipRanges or ipPermissions.groups", ErrInvalidRule)
	}
	for i, c := range r.CIDRs {
		if !c.IsValid() || !c.Addr().Is4() {
			return fmt.Errorf("%w: CIDR block %s is malformed", ErrInvalidRule, c)
		}
		r.CIDRs[i] = c.Masked()
	}
	return nil
}

// Same reports whether two rules allow the same thing (EC2's duplicate and revoke matching: protocol, ports and
// one source).
func (r Rule) Same(o Rule) bool {
	return r.Protocol == o.Protocol && r.FromPort == o.FromPort && r.ToPort == o.ToPort &&
		equalSet(r.CIDRs, o.CIDRs) && equalSet(r.Groups, o.Groups)
}

func equalSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[T]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// Split breaks rules into one rule per source, the unit EC2 authorizes and revokes.
func Split(rules []Rule) []Rule {
	var out []Rule
	for _, r := range rules {
		for _, c := range r.CIDRs {
			x := r
			x.CIDRs, x.Groups = []netip.Prefix{c}, nil
			out = append(out, x)
		}
		for _, g := range r.Groups {
			x := r
			x.CIDRs, x.Groups = nil, []string{g}
			out = append(out, x)
		}
	}
	return out
}

// String is the rule as a user reads it: "tcp 22 from 0.0.0.0/0".
func (r Rule) String() string {
	var b strings.Builder
	switch r.Protocol {
	case All:
		b.WriteString("all")
	case ICMP:
		b.WriteString("icmp")
		if r.FromPort >= 0 {
			b.WriteString(" type " + strconv.Itoa(r.FromPort))
			if r.ToPort >= 0 {
				b.WriteString(" code " + strconv.Itoa(r.ToPort))
			}
		}
	default:
		b.WriteString(r.Protocol + " " + portRange(r.FromPort, r.ToPort))
	}
	var src []string
	for _, c := range r.CIDRs {
		src = append(src, c.String())
	}
	src = append(src, r.Groups...)
	sort.Strings(src)
	b.WriteString(" from " + strings.Join(src, ","))
	return b.String()
}

func portRange(from, to int) string {
	if from == to {
		return strconv.Itoa(from)
	}
	return strconv.Itoa(from) + "-" + strconv.Itoa(to)
}

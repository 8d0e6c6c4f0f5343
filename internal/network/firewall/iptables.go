package firewall

import (
	"fmt"
	"slices"
	"strings"

	"github.com/coreos/go-iptables/iptables"
)

// forwardChain is iptables' filter FORWARD chain, where Berth inserts its accept rules (see the package doc).
type forwardChain struct {
	ipt   *iptables.IPTables
	table string // Berth's table name, the prefix of the comments
}

const (
	iptFilter  = "filter"
	iptForward = "FORWARD"
)

// owned lists Berth's rules in the chain whose comment satisfies keep.
func (f forwardChain) owned(keep func(comment string) bool) ([][]string, error) {
	lines, err := f.ipt.List(iptFilter, iptForward)
	if err != nil {
		return nil, fmt.Errorf("iptables: list %s: %w", iptForward, err)
	}
	var out [][]string
	for _, l := range lines {
		spec, comment, ok := parseRuleSpec(l)
		if ok && keep(comment) {
			out = append(out, spec)
		}
	}
	return out, nil
}

// ensure makes Berth's rules for n exactly forwardRules(n), inserting missing ones at the top of the chain.
func (f forwardChain) ensure(n Network) error {
	want := forwardRules(f.table, n)
	have, err := f.owned(func(c string) bool { return c == forwardComment(f.table, n.Bridge) })
	if err != nil {
		return err
	}
	for _, h := range have {
		if !slices.ContainsFunc(want, func(w []string) bool { return slices.Equal(w, h) }) {
			if err := f.ipt.DeleteIfExists(iptFilter, iptForward, h...); err != nil {
				return fmt.Errorf("iptables: delete %s: %w", strings.Join(h, " "), err)
			}
		}
	}
	for i := len(want) - 1; i >= 0; i-- {
		ok, err := f.ipt.Exists(iptFilter, iptForward, want[i]...)
		if err != nil {
			return fmt.Errorf("iptables: check %s: %w", strings.Join(want[i], " "), err)
		}
		if !ok {
			if err := f.ipt.Insert(iptFilter, iptForward, 1, want[i]...); err != nil {
				return fmt.Errorf("iptables: insert %s: %w", strings.Join(want[i], " "), err)
			}
		}
	}
	return nil
}

// remove deletes Berth's rules for bridge, or all of Berth's rules when bridge is "".
func (f forwardChain) remove(bridge string) error {
	have, err := f.owned(func(c string) bool {
		if bridge == "" {
			return strings.HasPrefix(c, forwardComment(f.table, ""))
		}
		return c == forwardComment(f.table, bridge)
	})
	if err != nil {
		return err
	}
	for _, h := range have {
		if err := f.ipt.DeleteIfExists(iptFilter, iptForward, h...); err != nil {
			return fmt.Errorf("iptables: delete %s: %w", strings.Join(h, " "), err)
		}
	}
	return nil
}

// list returns Berth's rules in the chain as `iptables -S` prints them.
func (f forwardChain) list() ([]string, error) {
	have, err := f.owned(func(c string) bool { return strings.HasPrefix(c, forwardComment(f.table, "")) })
	if err != nil {
		return nil, err
	}
	var out []string
	for _, h := range have {
		out = append(out, "-A "+iptForward+" "+strings.Join(h, " "))
	}
	return out, nil
}

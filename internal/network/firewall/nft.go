package firewall

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
)

// nftTable talks to Berth's inet table over netlink: it reads an observation and applies a change.
type nftTable struct {
	name string
}

func (t nftTable) table() *nftables.Table {
	return &nftables.Table{Name: t.name, Family: nftables.TableFamilyINet}
}

// observe reads the table's rules and their comments; a missing table or chain is simply empty.
func (t nftTable) observe() (observation, error) {
	conn, err := nftables.New()
	if err != nil {
		return observation{}, fmt.Errorf("nftables: %w", err)
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return observation{}, fmt.Errorf("nftables: list tables: %w", err)
	}
	var obs observation
	for _, tb := range tables {
		obs.exists = obs.exists || tb.Name == t.name
	}
	if !obs.exists {
		return obs, nil
	}
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return observation{}, fmt.Errorf("nftables: list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name != t.name {
			continue
		}
		rules, err := conn.GetRules(t.table(), ch)
		if err != nil {
			return observation{}, fmt.Errorf("nftables: list rules of %s: %w", ch.Name, err)
		}
		for _, r := range rules {
			c, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			obs.rules = append(obs.rules, installed{chain: ch.Name, handle: r.Handle, comment: c})
		}
	}
	return obs, nil
}

// apply runs c as one transaction: the kernel applies all of it or nothing.
func (t nftTable) apply(c change) error {
	if !c.ensureTable && !c.deleteTable && len(c.del) == 0 && len(c.add) == 0 {
		return nil
	}
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	tb := t.table()
	chains := map[string]*nftables.Chain{}
	for _, cs := range chainSpecs() {
		ch := &nftables.Chain{Name: cs.name, Table: tb}
		if cs.hook != nil {
			accept := nftables.ChainPolicyAccept
			ch.Hooknum, ch.Priority, ch.Type, ch.Policy = cs.hook, cs.priority, cs.typ, &accept
		}
		chains[cs.name] = ch
	}
	if c.ensureTable {
		conn.AddTable(tb)
		for _, cs := range chainSpecs() {
			conn.AddChain(chains[cs.name])
		}
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
		conn.AddRule(&nftables.Rule{
			Table:    tb,
			Chain:    chains[r.chain],
			Exprs:    r.exprs(),
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment),
		})
	}
	if c.deleteTable {
		conn.DelTable(tb)
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: table inet %s: %w", t.name, err)
	}
	return nil
}

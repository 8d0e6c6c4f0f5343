package secgroup

import (
	"context"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Apply replaces the inet table named table with rules, in one transaction; no rules removes the table.
func Apply(ctx context.Context, table string, rules []NFRule) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	tb := &nftables.Table{Name: table, Family: nftables.TableFamilyINet}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("nftables: list tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == table {
			conn.DelTable(tb)
		}
	}
	if len(rules) > 0 {
		conn.AddTable(tb)
		chains := map[string]*nftables.Chain{}
		// Regular chains first, so the base chains' jumps resolve in the same batch.
		for _, name := range Chains(rules) {
			chains[name] = conn.AddChain(&nftables.Chain{Name: name, Table: tb})
		}
		accept := nftables.ChainPolicyAccept
		for _, c := range []struct {
			name string
			hook *nftables.ChainHook
		}{{ChainForward, nftables.ChainHookForward}, {ChainOutput, nftables.ChainHookOutput}} {
			chains[c.name] = conn.AddChain(&nftables.Chain{Name: c.name, Table: tb, Hooknum: c.hook,
				Priority: nftables.ChainPriorityFilter, Type: nftables.ChainTypeFilter, Policy: &accept})
		}
		for _, r := range rules {
			conn.AddRule(&nftables.Rule{Table: tb, Chain: chains[r.Chain], Exprs: r.exprs(),
				UserData: userdata.AppendString(nil, userdata.TypeComment, r.Comment)})
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: table inet %s: %w", table, err)
	}
	return nil
}

// exprs compiles the rule.
func (r NFRule) exprs() []expr.Any {
	var out []expr.Any
	cmp := func(data []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data} }
	if r.Established {
		out = append(out, &expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)})
	}
	if r.DAddr.IsValid() || r.SAddr.IsValid() || r.Protocol != "" {
		out = append(out, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, cmp([]byte{unix.NFPROTO_IPV4}))
	}
	if r.DAddr.IsValid() {
		a := r.DAddr.As4()
		out = append(out, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}, cmp(a[:]))
	}
	if r.SAddr.IsValid() {
		a := r.SAddr.Masked().Addr().As4()
		out = append(out, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4})
		if r.SAddr.Bits() < 32 {
			mask := make([]byte, 4)
			for i := 0; i < r.SAddr.Bits(); i++ {
				mask[i/8] |= 0x80 >> (i % 8)
			}
			out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
		}
		out = append(out, cmp(a[:]))
	}
	if r.Protocol != "" {
		proto := map[string]byte{TCP: unix.IPPROTO_TCP, UDP: unix.IPPROTO_UDP, ICMP: unix.IPPROTO_ICMP}[r.Protocol]
		out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmp([]byte{proto}))
		switch r.Protocol {
		case TCP, UDP:
			if !(r.FromPort == 0 && r.ToPort == 65535) {
				out = append(out, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
				if r.FromPort == r.ToPort {
					out = append(out, cmp(binaryutil.BigEndian.PutUint16(uint16(r.FromPort))))
				} else {
					out = append(out, &expr.Range{Op: expr.CmpOpEq, Register: 1,
						FromData: binaryutil.BigEndian.PutUint16(uint16(r.FromPort)), ToData: binaryutil.BigEndian.PutUint16(uint16(r.ToPort))})
				}
			}
		case ICMP:
			if r.FromPort >= 0 {
				out = append(out, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1}, cmp([]byte{byte(r.FromPort)}))
				if r.ToPort >= 0 {
					out = append(out, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 1, Len: 1}, cmp([]byte{byte(r.ToPort)}))
				}
			}
		}
	}
	switch {
	case r.Verdict == "accept":
		out = append(out, &expr.Verdict{Kind: expr.VerdictAccept})
	case r.Verdict == "drop":
		out = append(out, &expr.Verdict{Kind: expr.VerdictDrop})
	case len(r.Verdict) > 5 && r.Verdict[:5] == "jump ":
		out = append(out, &expr.Verdict{Kind: expr.VerdictJump, Chain: r.Verdict[5:]})
	}
	return out
}

package firewall

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// Tunnel is an encrypted overlay network's VXLAN traffic on a node: it arrives decrypted, through the
// encryption tunnel's device, and must never be taken from the underlay in the clear, where anyone on the
// node's network could inject frames into the overlay. So one rule per encrypted VNI drops VXLAN packets of that
// VNI that come in through any other interface (the VNI is the 3 bytes at offset 4 of the VXLAN header, which
// follows the 8-byte UDP header):
//
//	input: iifname != Device udp dport Port @th,96,24 VNI drop    comment "tunnel vni=VNI port=Port device=Device"
//
// AddTunnel installs it (again: replacing), RemoveTunnel removes it; the last object of the table (tunnel,
// network or port) takes the table with it.
type Tunnel struct {
	VNI    uint32
	Port   uint16
	Device string
}

const tunnelPrefix = "tunnel "

func (t Tunnel) comment() string {
	return fmt.Sprintf("%svni=%d port=%d device=%s", tunnelPrefix, t.VNI, t.Port, t.Device)
}

// String describes t as Berth's rules label it.
func (t Tunnel) String() string { return strings.TrimPrefix(t.comment(), tunnelPrefix) }

func (t Tunnel) normalize() (Tunnel, error) {
	if t.VNI == 0 || t.VNI >= 1<<24 || t.Port == 0 {
		return t, fmt.Errorf("tunnel %s: %w", t, errdefs.ErrInvalidArgument)
	}
	if err := validBridge(t.Device); err != nil {
		return t, fmt.Errorf("tunnel device: %w", err)
	}
	return t, nil
}

func parseTunnelComment(c string) (Tunnel, bool) {
	rest, ok := strings.CutPrefix(c, tunnelPrefix)
	if !ok {
		return Tunnel{}, false
	}
	f := fields(rest)
	vni, err1 := strconv.ParseUint(f["vni"], 10, 24)
	port, err2 := strconv.ParseUint(f["port"], 10, 16)
	if err1 != nil || err2 != nil || f["device"] == "" {
		return Tunnel{}, false
	}
	return Tunnel{VNI: uint32(vni), Port: uint16(port), Device: f["device"]}, true
}

// vxlanVNI matches the VNI of a VXLAN packet (after a udp dport match).
type vxlanVNI struct{ vni uint32 }

// String is as nft prints it (in hex).
func (m vxlanVNI) String() string { return fmt.Sprintf("@th,96,24 0x%x", m.vni) }

func (m vxlanVNI) exprs() []expr.Any {
	b := binaryutil.BigEndian.PutUint32(m.vni)
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 12, Len: 3},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b[1:]},
	}
}

func (vxlanVNI) ipv4() bool { return false }

// tunnelRules is what one encrypted VNI installs.
func tunnelRules(t Tunnel) []rule {
	return []rule{{chain: chainInput, match: []match{
		ifname{not: true, name: t.Device},
		dport{proto: "udp", port: t.Port},
		vxlanVNI{vni: t.VNI},
	}, verdict: drop{}, comment: t.comment()}}
}

// planAddTunnel installs t, replacing the rules of the same tunnel.
func planAddTunnel(obs observation, t Tunnel) change {
	c := ensure(obs)
	for _, r := range obs.rules {
		if o, ok := parseTunnelComment(r.comment); ok && o.VNI == t.VNI && o.Port == t.Port {
			c.del = append(c.del, r)
		}
	}
	c.add = append(c.add, tunnelRules(t)...)
	return c
}

// planRemoveTunnel removes the tunnel of t's VNI and port; the last object of the table takes the table.
func planRemoveTunnel(obs observation, t Tunnel) change {
	var c change
	left := false
	for _, r := range obs.rules {
		if r.comment == staticComment {
			continue
		}
		if o, ok := parseTunnelComment(r.comment); ok && o.VNI == t.VNI && o.Port == t.Port {
			c.del = append(c.del, r)
			continue
		}
		left = true
	}
	if !left {
		return planReset(obs)
	}
	return c
}

// hasTunnels reports whether the observed table holds tunnel rules.
func (o observation) hasTunnels() bool {
	for _, r := range o.rules {
		if _, ok := parseTunnelComment(r.comment); ok {
			return true
		}
	}
	return false
}

// AddTunnel installs the rule that keeps t's VNI to its tunnel device (see Tunnel).
func (m *Manager) AddTunnel(ctx context.Context, t Tunnel) error {
	t, err := t.normalize()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.applyPlan(ctx, func(obs observation) (change, error) { return planAddTunnel(obs, t), nil }); err != nil {
		return err
	}
	m.log.DebugContext(ctx, "firewall: tunnel added", "tunnel", t.String())
	return nil
}

// RemoveTunnel removes the rule of t's VNI and port. Removing one that is not there is not an error.
func (m *Manager) RemoveTunnel(ctx context.Context, t Tunnel) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.applyPlan(ctx, func(obs observation) (change, error) { return planRemoveTunnel(obs, t), nil }); err != nil {
		return err
	}
	m.log.DebugContext(ctx, "firewall: tunnel removed", "tunnel", t.String())
	return nil
}

// Tunnels lists the tunnels installed, as read from the kernel.
func (m *Manager) Tunnels(ctx context.Context) ([]Tunnel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	obs, err := m.nft.observe()
	if err != nil {
		return nil, err
	}
	var out []Tunnel
	seen := map[string]bool{}
	for _, r := range obs.rules {
		if t, ok := parseTunnelComment(r.comment); ok && !seen[r.comment] {
			seen[r.comment] = true
			out = append(out, t)
		}
	}
	return out, nil
}

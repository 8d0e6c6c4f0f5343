package firewall

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// installed is a rule found in Berth's table in the kernel.
type installed struct {
	chain   string
	handle  uint64
	comment string
}

// observation is Berth's table as read from the kernel; it is all the state the planners need.
type observation struct {
	exists bool
	rules  []installed
}

// owned is what the observed rules say Berth owns.
type owned struct {
	networks []Network // by bridge
	ports    []Port    // by bridge, proto, host port, host address
}

func (o observation) owned() owned {
	var w owned
	seen := map[string]bool{}
	for _, r := range o.rules {
		if seen[r.comment] {
			continue
		}
		seen[r.comment] = true
		if n, ok := parseNetworkComment(r.comment); ok {
			w.networks = append(w.networks, n)
		} else if p, ok := parsePortComment(r.comment); ok {
			w.ports = append(w.ports, p)
		}
	}
	slices.SortFunc(w.networks, func(a, b Network) int { return strings.Compare(a.Bridge, b.Bridge) })
	slices.SortFunc(w.ports, func(a, b Port) int {
		return cmp.Or(strings.Compare(a.Bridge, b.Bridge), strings.Compare(a.Proto, b.Proto),
			cmp.Compare(a.HostPort, b.HostPort), a.HostIP.Compare(b.HostIP))
	})
	return w
}

func (w owned) network(bridge string) (Network, bool) {
	for _, n := range w.networks {
		if n.Bridge == bridge {
			return n, true
		}
	}
	return Network{}, false
}

// change is what to do to the kernel, applied as one nftables transaction: in this order, create the table and its
// chains (a no-op when they exist), delete rules, add rules, delete the table.
type change struct {
	ensureTable bool
	del         []installed
	add         []rule
	deleteTable bool
}

// planAddNetwork installs n, replacing the rules of the same network (so re-adding is idempotent and repairs).
func planAddNetwork(obs observation, n Network) (change, error) {
	w := obs.owned()
	for _, o := range w.networks {
		if o.Bridge == n.Bridge && o != n {
			return change{}, fmt.Errorf("network %q exists as %s: %w", n.Bridge, o, errdefs.ErrConflict)
		}
		if o.Bridge != n.Bridge && o.Subnet.Overlaps(n.Subnet) {
			return change{}, fmt.Errorf("network %q: subnet %s overlaps network %q (%s): %w", n.Bridge, n.Subnet, o.Bridge, o.Subnet, errdefs.ErrConflict)
		}
	}
	c := ensure(obs)
	c.del = append(c.del, obs.withComment(n.comment())...)
	c.add = append(c.add, networkRules(n)...)
	return c, nil
}

// planRemoveNetwork removes the network on bridge and the ports published through it; removing the last network
// removes the table.
func planRemoveNetwork(obs observation, bridge string) change {
	w := obs.owned()
	if (len(w.networks) == 0 || len(w.networks) == 1 && w.networks[0].Bridge == bridge) && !obs.hasTunnels() {
		return planReset(obs)
	}
	var c change
	for _, r := range obs.rules {
		if n, ok := parseNetworkComment(r.comment); ok && n.Bridge == bridge {
			c.del = append(c.del, r)
		} else if p, ok := parsePortComment(r.comment); ok && p.Bridge == bridge {
			c.del = append(c.del, r)
		}
	}
	return c
}

// planAddPort installs p, replacing the rules of the same port.
func planAddPort(obs observation, p Port) (change, error) {
	w := obs.owned()
	n, ok := w.network(p.Bridge)
	if !ok {
		return change{}, fmt.Errorf("port %s: network %q: %w", p, p.Bridge, errdefs.ErrNotFound)
	}
	if n.Internal {
		return change{}, fmt.Errorf("port %s: network %q is internal: %w", p, p.Bridge, errdefs.ErrInvalidArgument)
	}
	if !n.Subnet.Contains(p.ContainerIP) {
		return change{}, fmt.Errorf("port %s: %s is not in the subnet %s of network %q: %w", p, p.ContainerIP, n.Subnet, p.Bridge, errdefs.ErrInvalidArgument)
	}
	for _, o := range w.ports {
		if o.key() == p.key() && o == p {
			continue
		}
		if o.key().overlaps(p.key()) {
			return change{}, fmt.Errorf("port %s: already published as %s: %w", p, o, errdefs.ErrConflict)
		}
	}
	c := ensure(obs)
	c.del = append(c.del, obs.withComment(p.comment())...)
	c.add = append(c.add, portRules(p)...)
	return c, nil
}

// planRemovePort removes the port with p's key (protocol, host address and port).
func planRemovePort(obs observation, p Port) change {
	var c change
	for _, r := range obs.rules {
		if o, ok := parsePortComment(r.comment); ok && o.key() == p.key() {
			c.del = append(c.del, r)
		}
	}
	return c
}

// planReset removes the table and so every rule in it.
func planReset(obs observation) change {
	return change{deleteTable: obs.exists}
}

// ensure creates the table and chains, and repairs the static rules if they are not exactly the expected ones.
func ensure(obs observation) change {
	c := change{ensureTable: true}
	var have []string
	var haveRules []installed
	for _, r := range obs.rules {
		if r.comment == staticComment {
			have = append(have, r.chain)
			haveRules = append(haveRules, r)
		}
	}
	var want []string
	for _, r := range staticRules() {
		want = append(want, r.chain)
	}
	// The base chains hold nothing but static rules, so they can be rewritten in order without disturbing others.
	if !slices.Equal(have, want) || !obs.exists {
		c.del = haveRules
		c.add = staticRules()
	}
	return c
}

func (o observation) withComment(comment string) []installed {
	var out []installed
	for _, r := range o.rules {
		if r.comment == comment {
			out = append(out, r)
		}
	}
	return out
}

// forwardComment marks Berth's rules in iptables' filter FORWARD chain: the table name and the bridge.
func forwardComment(table, bridge string) string { return table + ":" + bridge }

// forwardRules are the rules for n in iptables' filter FORWARD chain. They only accept what Berth's own table
// then filters precisely, so that a FORWARD policy of DROP (dockerd sets one) does not drop Berth's traffic.
func forwardRules(table string, n Network) [][]string {
	c := []string{"-m", "comment", "--comment", forwardComment(table, n.Bridge), "-j", "ACCEPT"}
	out := []string{"-i", n.Bridge}
	if n.Internal {
		out = append(out, "-o", n.Bridge)
	}
	return [][]string{
		append(out, c...),
		append([]string{"-o", n.Bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT"}, c...),
	}
}

// parseRuleSpec reads one line of `iptables -S CHAIN`: the rule spec after "-A CHAIN" and its comment, if any.
func parseRuleSpec(line string) (spec []string, comment string, ok bool) {
	f := splitQuoted(line)
	if len(f) < 2 || f[0] != "-A" {
		return nil, "", false
	}
	spec = f[2:]
	for i, s := range spec {
		if s == "--comment" && i+1 < len(spec) {
			comment = spec[i+1]
		}
	}
	return spec, comment, true
}

// splitQuoted splits on spaces, keeping double-quoted strings (iptables quotes comments) as one unquoted field.
func splitQuoted(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			if q, err := strconv.QuotedPrefix(s); err == nil {
				u, _ := strconv.Unquote(q)
				out = append(out, u)
				s = s[len(q):]
				continue
			}
		}
		i := strings.IndexAny(s, " \t")
		if i < 0 {
			i = len(s)
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

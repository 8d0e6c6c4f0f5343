package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/coreos/go-iptables/iptables"
	"github.com/google/nftables"
)

// DefaultTableName is the name of Berth's nftables table and the prefix of its iptables comments.
const DefaultTableName = "berth"

// Option configures a Manager.
type Option func(*Manager)

// WithTableName names Berth's nftables table (and prefixes its iptables comments); tests use a private name.
func WithTableName(name string) Option { return func(m *Manager) { m.nft.name = name } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithIPTables(false) skips the accept rules in iptables' filter FORWARD chain; use it only where nothing sets a
// DROP policy there. By default they are added when an iptables command is installed.
func WithIPTables(enabled bool) Option { return func(m *Manager) { m.useIPTables = enabled } }

// WithIPForward(false) leaves net.ipv4.ip_forward alone; by default adding a non-internal network sets it to 1,
// as dockerd does.
func WithIPForward(enabled bool) Option { return func(m *Manager) { m.ipForward = enabled } }

// Manager installs and removes Berth's firewall rules. It keeps no state of its own: every call reads what Berth
// owns from the kernel, so a Manager created after a restart picks up where the last one stopped. A Manager is safe
// for concurrent use; two Managers must not share a table name.
type Manager struct {
	mu          sync.Mutex
	nft         nftTable
	fwd         *forwardChain // nil without iptables
	log         *slog.Logger
	useIPTables bool
	ipForward   bool
	procSys     string
}

// New returns a Manager after checking that nftables answers. It changes nothing in the kernel.
func New(ctx context.Context, opts ...Option) (*Manager, error) {
	m := &Manager{nft: nftTable{name: DefaultTableName}, log: slog.Default(), useIPTables: true, ipForward: true, procSys: "/proc/sys"}
	for _, o := range opts {
		o(m)
	}
	if n := m.nft.name; n == "" || len(n) > 200 || strings.ContainsAny(n, " \t\n\":") {
		return nil, fmt.Errorf("firewall: table name %q: %w", n, errdefs.ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := nftables.New()
	if err == nil {
		_, err = conn.ListTablesOfFamily(nftables.TableFamilyINet)
	}
	if err != nil {
		return nil, fmt.Errorf("firewall: nftables: %v: %w", err, errdefs.ErrUnavailable)
	}
	if m.useIPTables {
		ipt, err := iptables.NewWithProtocol(iptables.ProtocolIPv4)
		if err != nil {
			m.log.WarnContext(ctx, "firewall: no iptables command; not adding accept rules to the filter FORWARD chain", "error", err)
		} else {
			m.fwd = &forwardChain{ipt: ipt, table: m.nft.name}
		}
	}
	return m, nil
}

// AddNetwork installs the rules of n (see the package doc): outbound NAT, forwarding, isolation, and accept rules in
// iptables' FORWARD chain. Adding the same network again replaces its rules (no duplicates); adding a different
// network on an existing bridge, or one whose subnet overlaps another network, is an errdefs.ErrConflict.
func (m *Manager) AddNetwork(ctx context.Context, n Network) error {
	n, err := n.normalize()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if !n.ICC {
		// Traffic between ports of one bridge reaches the forward hook only through br_netfilter.
		if err := m.sysctl(ctx, "net/bridge/bridge-nf-call-iptables", "1", true); err != nil {
			return fmt.Errorf("network %q: icc=false needs br_netfilter: %v: %w", n.Bridge, err, errdefs.ErrUnavailable)
		}
	}
	if _, err := m.applyPlan(ctx, func(obs observation) (change, error) { return planAddNetwork(obs, n) }); err != nil {
		return err
	}
	if m.fwd != nil {
		if err := m.fwd.ensure(n); err != nil {
			return err
		}
	}
	if !n.Internal {
		if m.ipForward {
			if err := m.sysctl(ctx, "net/ipv4/ip_forward", "1", true); err != nil {
				return fmt.Errorf("network %q: %w", n.Bridge, err)
			}
		}
		m.routeLocalnet(ctx, n.Bridge, false)
	}
	m.log.DebugContext(ctx, "firewall: network added", "bridge", n.Bridge, "subnet", n.Subnet, "internal", n.Internal, "icc", n.ICC)
	return nil
}

// RemoveNetwork removes the rules of the network on bridge and of the ports published through it. Removing the
// last network removes everything, as Reset does. Removing a network that is not there is not an error.
func (m *Manager) RemoveNetwork(ctx context.Context, bridge string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.applyPlan(ctx, func(obs observation) (change, error) { return planRemoveNetwork(obs, bridge), nil })
	if err != nil {
		return err
	}
	if m.fwd != nil {
		which := bridge
		if c.deleteTable {
			which = "" // the last one: sweep every rule of ours
		}
		if err := m.fwd.remove(which); err != nil {
			return err
		}
	}
	m.log.DebugContext(ctx, "firewall: network removed", "bridge", bridge)
	return nil
}

// AddPort publishes p. The network p.Bridge must have been added (else errdefs.ErrNotFound) and not be internal;
// adding the same port again replaces its rules, and a port that catches the same packets as another
// (same protocol and host port, and the same or an unspecified host address) is an errdefs.ErrConflict.
func (m *Manager) AddPort(ctx context.Context, p Port) error {
	p, err := p.normalize()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.applyPlan(ctx, func(obs observation) (change, error) { return planAddPort(obs, p) }); err != nil {
		return err
	}
	if !p.HostIP.IsValid() || p.HostIP.IsLoopback() {
		m.routeLocalnet(ctx, p.Bridge, true)
	}
	m.log.DebugContext(ctx, "firewall: port added", "port", p.String())
	return nil
}

// RemovePort removes the port with p's protocol, host address and host port. Removing a port that is not there is
// not an error.
func (m *Manager) RemovePort(ctx context.Context, p Port) error {
	p, err := p.normalize()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.applyPlan(ctx, func(obs observation) (change, error) { return planRemovePort(obs, p), nil }); err != nil {
		return err
	}
	m.log.DebugContext(ctx, "firewall: port removed", "port", p.String())
	return nil
}

// applyPlan reads what Berth owns from the kernel, computes a change from it and applies it in one netlink
// transaction; the caller holds m.mu.
func (m *Manager) applyPlan(ctx context.Context, plan func(observation) (change, error)) (change, error) {
	if err := ctx.Err(); err != nil {
		return change{}, err
	}
	obs, err := m.nft.observe()
	if err != nil {
		return change{}, err
	}
	c, err := plan(obs)
	if err != nil {
		return change{}, err
	}
	return c, m.nft.apply(c)
}

// Reset removes everything the Manager's table name owns: the nftables table and Berth's rules in iptables'
// FORWARD chain. It leaves sysctls as they are (other bridges and dockerd rely on ip_forward).
func (m *Manager) Reset(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	obs, err := m.nft.observe()
	if err != nil {
		return err
	}
	err = m.nft.apply(planReset(obs))
	if m.fwd != nil {
		err = errors.Join(err, m.fwd.remove(""))
	}
	return err
}

// Networks lists the networks installed, as read from the kernel.
func (m *Manager) Networks(ctx context.Context) ([]Network, error) {
	w, err := m.owned(ctx)
	return w.networks, err
}

// Ports lists the published ports installed, as read from the kernel.
func (m *Manager) Ports(ctx context.Context) ([]Port, error) {
	w, err := m.owned(ctx)
	return w.ports, err
}

func (m *Manager) owned(ctx context.Context) (owned, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return owned{}, err
	}
	obs, err := m.nft.observe()
	if err != nil {
		return owned{}, err
	}
	return obs.owned(), nil
}

// Rules describes what is installed, in nft syntax followed by the iptables rules, for humans (and the README).
func (m *Manager) Rules(ctx context.Context) (string, error) {
	w, err := m.owned(ctx)
	if err != nil {
		return "", err
	}
	var ipt []string
	if m.fwd != nil {
		if ipt, err = m.fwd.list(); err != nil {
			return "", err
		}
	}
	return render(m.nft.name, w, ipt), nil
}

// render prints the table Berth installs for what it owns, and the iptables rules.
func render(table string, w owned, ipt []string) string {
	var b strings.Builder
	if len(w.networks) > 0 {
		renderTable(&b, table, w)
	}
	if len(ipt) > 0 {
		b.WriteString("\n# iptables -t filter -S FORWARD (Berth's rules, inserted at the top)\n")
		for _, l := range ipt {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func renderTable(b *strings.Builder, table string, w owned) {
	rules := staticRules()
	for _, n := range w.networks {
		rules = append(rules, networkRules(n)...)
	}
	for _, p := range w.ports {
		rules = append(rules, portRules(p)...)
	}
	fmt.Fprintf(b, "table inet %s {\n", table)
	for i, cs := range chainSpecs() {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(b, "\tchain %s {\n", cs.name)
		if cs.hook != nil {
			fmt.Fprintf(b, "\t\t%s\n", hookLine(cs))
		}
		for _, r := range rules {
			if r.chain == cs.name {
				fmt.Fprintf(b, "\t\t%s\n", r)
			}
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
}

func hookLine(cs chainSpec) string {
	hooks := map[nftables.ChainHook]string{
		*nftables.ChainHookPrerouting: "prerouting", *nftables.ChainHookOutput: "output",
		*nftables.ChainHookPostrouting: "postrouting", *nftables.ChainHookForward: "forward", *nftables.ChainHookInput: "input",
	}
	prios := map[nftables.ChainPriority]string{
		*nftables.ChainPriorityNATDest: "dstnat", *nftables.ChainPriorityNATSource: "srcnat", *nftables.ChainPriorityFilter: "filter",
	}
	prio := prios[*cs.priority]
	if *cs.hook == *nftables.ChainHookOutput {
		prio = fmt.Sprint(*cs.priority) // nft names dstnat only at prerouting
	}
	return fmt.Sprintf("type %s hook %s priority %s; policy accept;", cs.typ, hooks[*cs.hook], prio)
}

// sysctl sets key (a path under /proc/sys) to value unless it already has it; a missing key is an error only when
// required.
func (m *Manager) sysctl(ctx context.Context, key, value string, required bool) error {
	path := filepath.Join(m.procSys, key)
	cur, err := os.ReadFile(path)
	if err != nil {
		if !required && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("sysctl %s: %w", key, err)
	}
	if strings.TrimSpace(string(cur)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s: %w", key, err)
	}
	m.log.InfoContext(ctx, "firewall: sysctl set", "key", key, "value", value)
	return nil
}

// routeLocalnet lets the host's connections to 127.0.0.1 be DNATed out of the bridge. The bridge may not exist yet
// when its network is added; by the time a port is published it must, hence warn.
func (m *Manager) routeLocalnet(ctx context.Context, bridge string, warn bool) {
	key := filepath.Join("net/ipv4/conf", bridge, "route_localnet")
	if _, err := os.Stat(filepath.Join(m.procSys, key)); err != nil {
		if warn {
			m.log.WarnContext(ctx, "firewall: cannot set route_localnet; ports published on 127.0.0.1 will not answer", "bridge", bridge, "error", err)
		}
		return
	}
	if err := m.sysctl(ctx, key, "1", true); err != nil {
		m.log.WarnContext(ctx, "firewall: cannot set route_localnet; ports published on 127.0.0.1 will not answer", "bridge", bridge, "error", err)
	}
}

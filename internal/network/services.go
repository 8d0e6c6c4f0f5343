package network

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sort"

	"github.com/berth/berth/internal/network/dns"
	"github.com/berth/berth/internal/network/firewall"
)

// Swarm services on the cluster networks present on this node. Each network's view carries its services (their
// names, aliases, VIP and running tasks' addresses), from which the Manager keeps two things current:
//   - the embedded DNS: the service's name and aliases answer its VIP (vip mode) or its running tasks'
//     addresses (dnsrr); tasks.NAME (and tasks.ALIAS) its running tasks' addresses;
//   - the VIP balancers: in the namespace of each container of this node on the network (tasks and attachable
//     containers alike), a connection to a VIP goes to one of the service's running tasks (firewall.SyncVIPs),
//     where the connection starts, as docker's does in each sandbox.
// A container's table is rewritten only when what it should say changed; it goes with the container's last
// cluster endpoint (network disconnect, stop) and with the namespace.

// ServiceView is a swarm service as one network's view has it.
type ServiceView struct {
	Name    string
	Aliases []string
	// VIP is the service's address on the network, zero in dnsrr mode.
	VIP netip.Addr
	// Tasks are the addresses of its running tasks on the network.
	Tasks []netip.Addr
}

// VIPBalancer makes the VIP table in a network namespace balance exactly vips (none: no table);
// firewall.SyncVIPs by default.
type VIPBalancer func(ctx context.Context, nsPath string, vips []firewall.VIP) error

// WithVIPBalancer replaces how the Manager programs the VIP balancers of its containers' namespaces.
func WithVIPBalancer(b VIPBalancer) Option { return func(m *Manager) { m.balance = b } }

// serviceRecords are the DNS records of a network's services.
func serviceRecords(svcs []ServiceView) []dns.ServiceRecord {
	var out []dns.ServiceRecord
	for _, s := range svcs {
		names := slices.Concat([]string{s.Name}, s.Aliases)
		tasks := make([]string, len(names))
		for i, n := range names {
			tasks[i] = "tasks." + n
		}
		if s.VIP.IsValid() {
			out = append(out, dns.ServiceRecord{Names: names, Addrs: []netip.Addr{s.VIP}})
		} else {
			out = append(out, dns.ServiceRecord{Names: names, Addrs: slices.Clone(s.Tasks)})
		}
		out = append(out, dns.ServiceRecord{Names: tasks, Addrs: slices.Clone(s.Tasks)})
	}
	return out
}

// wantVIPs is what the VIP table of a container should say: the VIPs of the services of every cluster network
// it is on here; the caller holds m.mu.
func (m *Manager) wantVIPs(containerID string) []firewall.VIP {
	var out []firewall.VIP
	for _, r := range m.sorted() {
		if _, ok := r.Endpoints[containerID]; !ok || !m.global(r) {
			continue
		}
		for _, s := range m.views[r.ID].Services {
			if s.VIP.IsValid() {
				out = append(out, firewall.VIP{Addr: s.VIP, Service: s.Name, Network: r.Name, Backends: slices.Clone(s.Tasks)})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out
}

// syncVIPs brings the VIP table of each of containers up to date, writing only those whose VIPs changed; the
// caller holds m.mu (the tables are small and the writes few: one transaction per changed container).
func (m *Manager) syncVIPs(ctx context.Context, containers ...string) {
	m.writeVIPs(ctx, false, containers)
}

// writeVIPs is syncVIPs; force writes every container's table even where nothing seems changed (the first
// state after a daemon start: a table the kernel kept may say what the cluster no longer does).
func (m *Manager) writeVIPs(ctx context.Context, force bool, containers []string) {
	if m.balance == nil {
		return
	}
	if m.vipsApplied == nil {
		m.vipsApplied = map[string][]firewall.VIP{}
	}
	for _, id := range containers {
		want := m.wantVIPs(id)
		have, known := m.vipsApplied[id]
		if !force && (known && vipsEqual(have, want) || !known && len(want) == 0) {
			continue
		}
		if err := m.balance(ctx, m.nsPath(id), want); err != nil {
			slog.WarnContext(ctx, "service VIPs in a container's namespace", "container", id, "error", err)
			delete(m.vipsApplied, id) // tried again at the next change
			continue
		}
		if len(want) == 0 {
			delete(m.vipsApplied, id)
		} else {
			m.vipsApplied[id] = want
		}
	}
}

// syncAllVIPs brings every local container on a cluster network up to date; the caller holds m.mu.
func (m *Manager) syncAllVIPs(ctx context.Context) {
	seen := map[string]bool{}
	var ids []string
	for _, r := range m.nets {
		if !m.global(r) {
			continue
		}
		for id := range r.Endpoints {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	for id := range m.vipsApplied {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id) // a container that left its networks: its table goes
		}
	}
	sort.Strings(ids)
	m.writeVIPs(ctx, !m.vipsSynced, ids)
	m.vipsSynced = true
}

func vipsEqual(a, b []firewall.VIP) bool {
	return slices.EqualFunc(a, b, func(x, y firewall.VIP) bool {
		return x.Addr == y.Addr && x.Service == y.Service && x.Network == y.Network && slices.Equal(x.Backends, y.Backends)
	})
}

// VIPs are the service VIPs balanced in a container's namespace, as last written (for tests and inspection).
func (m *Manager) VIPs(containerID string) []firewall.VIP {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.vipsApplied[containerID])
}

package network

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/containerd/errdefs"
)

// docker_gwbridge, as libnetwork has it. A cluster network gives its containers no way out (its namespace has
// none), so a container whose networks give it no default route but include a cluster network that is not
// internal gets one more endpoint, "gateway_<id[:12]>", on docker_gwbridge: a local bridge network with
// masquerade and without inter-container traffic, made from the default pools (172.18.0.0/16 on a host with
// docker's pools and only docker0's taken), which is its default route. The endpoint follows the container's
// other endpoints: it is added when a cluster network leaves the container without a way out, taken away before
// a local network that gives a default route joins (so that one gives it), and it goes with DetachAll. The
// network is made when the node joins a swarm (EnsureGatewayNetwork, as dockerd makes it with its ingress
// sandbox) or when first needed, and DropCluster (swarm leave, or a daemon starting outside a swarm) removes it
// once no container is on it. A user may make docker_gwbridge beforehand (`network create --subnet ...
// docker_gwbridge`, docker's way to choose its subnet): it is used as it is, and kept. The node's ingress
// sandbox gets its way out the same way (gateway_ingress_sbox), and the mesh publishes its ports to that
// endpoint (daemon/ingress.go).
//
//	m := network.New(ctx, cfg, network.WithDriver("overlay", ov), network.WithCluster(c), network.WithGatewayBridge("docker_gwbridge"))
//	m.Attach(ctx, sb, "ovl", opts) // the overlay endpoint, then gateway_<id> on docker_gwbridge with the default route
//	m.Attach(ctx, sb, "mynet", opts) // the gateway endpoint goes first; mynet's endpoint gives the default route
//	m.DetachAll(ctx, id)           // both

// GatewayNetwork is the name of the bridge network giving containers on cluster networks their way out.
const GatewayNetwork = "docker_gwbridge"

// gatewayEndpointPrefix names a container's endpoint on GatewayNetwork, followed by its short ID.
const gatewayEndpointPrefix = "gateway_"

// WithGatewayBridge turns docker_gwbridge on, over a Linux bridge of that name (docker_gwbridge for dockerd; a
// daemon beside others names its own). Without it, a container whose only networks are cluster networks has no
// way out.
func WithGatewayBridge(bridge string) Option { return func(m *Manager) { m.gwBridge = bridge } }

// gatewayPlan says what a container's docker_gwbridge endpoint should become: need says one should exist,
// have that one does. The caller holds m.mu.
func (m *Manager) gatewayPlan(containerID string) (need, have bool) {
	if m.gwBridge == "" {
		return false, m.hasGatewayEndpoint(containerID)
	}
	cluster, local := false, false
	for _, r := range m.nets {
		if _, ok := r.Endpoints[containerID]; !ok || r.Internal {
			continue
		}
		switch {
		case r.Name == GatewayNetwork:
			have = true
		case m.global(r):
			cluster = true
		default:
			local = true
		}
	}
	return cluster && !local, have
}

func (m *Manager) hasGatewayEndpoint(containerID string) bool {
	r := m.byName(GatewayNetwork)
	if r == nil {
		return false
	}
	_, ok := r.Endpoints[containerID]
	return ok
}

// ensureGatewayNetwork returns docker_gwbridge, making it if it is not there; the caller holds m.mu.
func (m *Manager) ensureGatewayNetwork(ctx context.Context) (*record, error) {
	if r := m.byName(GatewayNetwork); r != nil {
		return r, nil
	}
	r, err := m.create(ctx, CreateOptions{Name: GatewayNetwork, Driver: DriverBridge, Options: map[string]string{
		BridgeNameOption:                                 m.gwBridge,
		"com.docker.network.bridge.enable_icc":           "false",
		"com.docker.network.bridge.enable_ip_masquerade": "true",
	}})
	if err != nil {
		return nil, fmt.Errorf("error creating external connectivity network: %w", err)
	}
	r.Made = true
	if err := m.save(r); err != nil {
		return nil, err
	}
	slog.InfoContext(ctx, "external connectivity network created", "network", GatewayNetwork, "subnet", r.IPAM.Subnet)
	return r, nil
}

// EnsureGatewayNetwork makes docker_gwbridge if the Manager has one and it is not there (the node is in a
// swarm). Idempotent and cheap when it exists.
func (m *Manager) EnsureGatewayNetwork(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gwBridge == "" {
		return nil
	}
	_, err := m.ensureGatewayNetwork(ctx)
	return err
}

// syncGateway adds or removes the container's docker_gwbridge endpoint as its other endpoints now need; the
// caller holds m.mu. nsPath is the container's namespace.
func (m *Manager) syncGateway(ctx context.Context, containerID, nsPath string) error {
	need, have := m.gatewayPlan(containerID)
	switch {
	case need && !have:
		r, err := m.ensureGatewayNetwork(ctx)
		if err != nil {
			return err
		}
		sb := Sandbox{ContainerID: containerID, Name: gatewayEndpointPrefix + containerID[:min(12, len(containerID))], NetNSPath: nsPath}
		_, err = m.attachLocal(ctx, sb, r, EndpointOptions{})
		return err
	case !need && have:
		return m.leaveGateway(ctx, containerID)
	}
	return nil
}

// leaveGateway removes the container's docker_gwbridge endpoint (and so its default route); the caller holds
// m.mu.
func (m *Manager) leaveGateway(ctx context.Context, containerID string) error {
	r := m.byName(GatewayNetwork)
	if r == nil {
		return nil
	}
	ep, ok := r.Endpoints[containerID]
	if !ok {
		return nil
	}
	if ed, ok := m.drivers[r.Driver].(EndpointDriver); ok {
		if err := ed.Leave(ctx, r.info(), ep.info(false)); err != nil {
			return err
		}
	}
	return m.forget(ctx, r, ep)
}

// dropGateway removes the gateway endpoints no container needs any longer and, without endpoints, docker_gwbridge
// itself (the node left the swarm); the caller holds m.mu.
func (m *Manager) dropGateway(ctx context.Context) {
	r := m.byName(GatewayNetwork)
	if r == nil || m.gwBridge == "" {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(r.Endpoints)) {
		if need, _ := m.gatewayPlan(id); !need {
			if err := m.leaveGateway(ctx, id); err != nil {
				slog.WarnContext(ctx, "leaving docker_gwbridge", "container", id, "error", err)
			}
		}
	}
	if len(r.Endpoints) > 0 || !r.Made {
		return // in use, or the user's
	}
	if err := m.remove(ctx, r); err != nil && !errdefs.IsNotFound(err) {
		slog.WarnContext(ctx, "removing docker_gwbridge", "error", err)
	}
}

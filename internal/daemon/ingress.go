package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster"
	"github.com/berth/berth/internal/cluster/api"
	berthnet "github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/link"
)

// The ingress routing mesh on this node (docs/design.md, "The ingress routing mesh"). While a service publishes
// a port in ingress mode, the node has an ingress sandbox — a namespace <exec-root>/netns/ingress_sbox, as
// docker's — with one leg on the ingress overlay network (an address from the cluster, like a task's) and one on
// docker_gwbridge (its gateway_ingress_sbox endpoint, which the network Manager gives it as to any container
// whose only network is an overlay, and its default route); the node publishes each mesh port to the sandbox's
// docker_gwbridge address through the bridge driver, as a container's published port (so the bridge's isolation
// lets it in, and 127.0.0.1 works as for containers), and the sandbox balances it over the running tasks'
// ingress addresses (table ip berth-ingress; firewall.SyncIngressSandbox). The sandbox is made with the first
// such service and goes with the last, so a node of a swarm that publishes nothing through the mesh holds
// nothing of it (docker makes it at join; nothing here needs it earlier: the first service's ports are
// programmed in the same pass that makes it). A restarted daemon adopts the sandbox the kernel kept, and its
// published ports, so connections through the mesh outlive the daemon as containers do.

// ingressMesh is the node's side of the mesh; the networks watch's sink drives it, one state at a time.
type ingressMesh struct {
	mu sync.Mutex
	// up says the sandbox and its endpoints are in place (made or adopted by this daemon).
	up bool
	// checked says leftovers of a previous daemon were looked for.
	checked bool
	// published are the mesh's ports published to the sandbox, by protocol and port ("tcp/8080").
	published map[string]berthnet.Port
}

// legacyIngressLink names the host bridge and veth that held the sandbox's leg before docker_gwbridge did,
// after the data root; a daemon removes what a previous version left of them.
func legacyIngressLink(dataRoot string) (bridge, veth string) {
	sum := sha256.Sum256([]byte(dataRoot))
	h := hex.EncodeToString(sum[:])[:6]
	if dataRoot == DefaultDataRoot {
		return "berth_ingress", "veth_ingress"
	}
	return "bing" + h, "ving" + h
}

// ingressWanted is what the mesh should do on this node by st: the ingress network and the ports published
// through it with their backends (the running tasks' ingress addresses).
func ingressWanted(st cluster.NetworkState) (*api.Network, []firewall.IngressPort) {
	var ingress *api.Network
	for _, n := range st.Networks {
		if n.Spec.Ingress {
			ingress = n
		}
	}
	if ingress == nil {
		return nil, nil
	}
	running := map[string]bool{}
	for _, r := range st.Running {
		running[r.ID] = r.Running
	}
	var ports []firewall.IngressPort
	for _, s := range st.Services {
		if len(s.Ports) == 0 || !slices.ContainsFunc(s.VIPs, func(v api.VirtualIP) bool { return v.NetworkID == ingress.ID }) {
			continue
		}
		var backends []netip.Addr
		for _, a := range st.Attachments {
			if a.NetworkID == ingress.ID && a.ServiceID == s.ID && a.NodeID != "" && running[a.TaskID] {
				backends = append(backends, a.Addr.Addr())
			}
		}
		for _, p := range s.Ports {
			ports = append(ports, firewall.IngressPort{Service: s.Name, Proto: protoOr(p.Protocol), Published: uint16(p.PublishedPort),
				Target: uint16(p.TargetPort), Backends: backends})
		}
	}
	return ingress, ports
}

func protoOr(p string) string {
	if p == "" {
		return "tcp"
	}
	return p
}

// syncIngress brings the node's mesh to what st says.
func (d *Daemon) syncIngress(ctx context.Context, st cluster.NetworkState) {
	m := &d.mesh
	m.mu.Lock()
	defer m.mu.Unlock()
	ingress, ports := ingressWanted(st)
	if !m.checked {
		m.checked = true
		d.removeLegacyIngress(ctx)
		// A previous daemon's sandbox, whole (its namespace, its endpoints on the ingress network and on
		// docker_gwbridge), is adopted with its published ports (connections through it go on; its tables are
		// brought up to date below); a partial one is removed and, if wanted, made again.
		eps := d.networks.Endpoints(cluster.IngressSandbox)
		_, gw := eps[berthnet.GatewayNetwork]
		ns := fileExists(d.networks.SandboxPath(cluster.IngressSandbox))
		switch {
		case gw && len(eps) == 2 && ns:
			m.up = true
			m.published = map[string]berthnet.Port{}
			have, err := d.networks.PublishedPorts(ctx, cluster.IngressSandbox, berthnet.GatewayNetwork)
			if err != nil {
				slog.WarnContext(ctx, "ingress routing mesh: the sandbox's published ports", "error", err)
			}
			for _, p := range have {
				m.published[portKey(p)] = p
			}
		case len(eps) > 0 || ns:
			m.up = true
			d.teardownIngress(ctx)
		}
	}
	if ingress == nil || len(ports) == 0 {
		d.teardownIngress(ctx)
		return
	}
	if !m.up {
		m.up = true // a failure half-way is undone by the teardown
		if err := d.setupIngress(ctx, ingress); err != nil {
			slog.WarnContext(ctx, "ingress routing mesh: making the ingress sandbox", "error", err)
			d.teardownIngress(ctx)
			return
		}
	}
	subnet, _ := netip.ParsePrefix(ingress.IPAM[0].Subnet)
	if err := firewall.SyncIngressSandbox(ctx, d.networks.SandboxPath(cluster.IngressSandbox), subnet, ports); err != nil {
		slog.WarnContext(ctx, "ingress routing mesh: the sandbox's balancers", "error", err)
	}
	d.publishIngress(ctx, ports)
}

func portKey(p berthnet.Port) string { return fmt.Sprintf("%s/%d", p.Proto, p.HostPort) }

// publishIngress publishes the mesh's ports to the sandbox's docker_gwbridge endpoint, and withdraws those no
// longer wanted; the caller holds d.mesh.mu.
func (d *Daemon) publishIngress(ctx context.Context, ports []firewall.IngressPort) {
	m := &d.mesh
	if m.published == nil {
		m.published = map[string]berthnet.Port{}
	}
	want := map[string]berthnet.Port{}
	for _, ip := range ports {
		p := berthnet.Port{Proto: ip.Proto, HostPort: ip.Published, ContainerPort: ip.Published}
		want[portKey(p)] = p
	}
	for k, p := range m.published {
		if _, ok := want[k]; ok {
			continue
		}
		if err := d.networks.UnpublishPort(ctx, cluster.IngressSandbox, berthnet.GatewayNetwork, p); err != nil {
			slog.WarnContext(ctx, "ingress routing mesh: withdrawing a port", "port", k, "error", err)
			continue
		}
		delete(m.published, k)
	}
	for k, p := range want {
		if _, ok := m.published[k]; ok {
			continue
		}
		if err := d.networks.PublishPort(ctx, cluster.IngressSandbox, berthnet.GatewayNetwork, p); err != nil {
			slog.WarnContext(ctx, "ingress routing mesh: publishing a port", "port", k, "error", err)
			continue
		}
		m.published[k] = p
	}
}

// setupIngress makes the sandbox: its namespace and its endpoint on the ingress network (the cluster's address
// for this node's sandbox), which brings its docker_gwbridge endpoint and default route; forwarding on.
func (d *Daemon) setupIngress(ctx context.Context, ingress *api.Network) error {
	ns, err := d.networks.NewSandbox(ctx, cluster.IngressSandbox)
	if err != nil {
		return err
	}
	sb := berthnet.Sandbox{ContainerID: cluster.IngressSandbox, Name: "ingress-endpoint", NetNSPath: ns}
	if _, err := d.networks.Attach(ctx, sb, ingress.ID, berthnet.EndpointOptions{}); err != nil {
		return fmt.Errorf("attaching to the ingress network: %w", err)
	}
	if _, ok := d.networks.Endpoints(cluster.IngressSandbox)[berthnet.GatewayNetwork]; !ok {
		return fmt.Errorf("the ingress sandbox has no %s endpoint", berthnet.GatewayNetwork)
	}
	if _, err := link.EnableForwarding(); err != nil {
		return err
	}
	return link.InNetNS(ctx, ns, func() error {
		_, err := link.EnableForwarding()
		return err
	})
}

// teardownIngress removes whatever of the mesh is on this node: its published ports, the sandbox's endpoints
// (its ingress address goes back to the cluster) and namespace. The caller holds d.mesh.mu.
func (d *Daemon) teardownIngress(ctx context.Context) {
	m := &d.mesh
	if !m.up {
		return
	}
	for k, p := range m.published {
		if err := d.networks.UnpublishPort(ctx, cluster.IngressSandbox, berthnet.GatewayNetwork, p); err != nil && !errdefs.IsNotFound(err) {
			slog.WarnContext(ctx, "ingress routing mesh: withdrawing a port", "port", k, "error", err)
		}
	}
	m.published = nil
	d.networks.DetachAll(ctx, cluster.IngressSandbox)
	if err := d.networks.DeleteSandbox(ctx, cluster.IngressSandbox); err != nil {
		slog.WarnContext(ctx, "ingress routing mesh: removing the sandbox", "error", err)
	}
	m.up = false
}

// removeLegacyIngress removes what a daemon before docker_gwbridge left of the mesh on the node: the table
// ip <table>-ingress, the FORWARD accepts and the host bridge of the sandbox's leg.
func (d *Daemon) removeLegacyIngress(ctx context.Context) {
	_, table := networkNames(d.cfg.DataRoot)
	table += "-ingress"
	if err := firewall.SyncIngressHost(ctx, "", table, netip.Addr{}, nil); err != nil {
		slog.WarnContext(ctx, "ingress routing mesh: removing an older daemon's table", "table", table, "error", err)
	}
	bridge, _ := legacyIngressLink(d.cfg.DataRoot)
	if !linkExists(bridge) {
		return
	}
	if err := firewall.IngressForward(table, bridge, false); err != nil {
		slog.WarnContext(ctx, "ingress routing mesh: removing an older daemon's FORWARD accepts", "bridge", bridge, "error", err)
	}
	if err := link.DeleteBridge(ctx, bridge); err != nil {
		slog.WarnContext(ctx, "ingress routing mesh: removing an older daemon's bridge", "bridge", bridge, "error", err)
	}
}

// linkExists reports whether the node's namespace has a network interface of that name.
func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// leaveIngress removes the node's mesh (the node left the swarm).
func (d *Daemon) leaveIngress(ctx context.Context) {
	d.mesh.mu.Lock()
	defer d.mesh.mu.Unlock()
	d.teardownIngress(ctx)
}

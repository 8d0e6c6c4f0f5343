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

	"github.com/berth/berth/internal/cluster"
	"github.com/berth/berth/internal/cluster/api"
	berthnet "github.com/berth/berth/internal/network"
	"github.com/berth/berth/internal/network/firewall"
	"github.com/berth/berth/internal/network/link"
)

// The ingress routing mesh on this node (docs/design.md, "The ingress routing mesh"). While a service publishes
// a port in ingress mode, the node has an ingress sandbox — a namespace <exec-root>/netns/ingress_sbox, as
// docker's — with one leg on the ingress overlay network (an address from the cluster, like a task's) and one
// on a host bridge of its own (docker's docker_gwbridge plays that part); the node DNATs its published ports to
// the sandbox's host-side address (table ip <table>-ingress) and the sandbox balances them over the running
// tasks' ingress addresses (table ip berth-ingress; firewall.SyncIngressSandbox). The sandbox is made with the
// first such service and goes with the last, so a node of a swarm that publishes nothing through the mesh
// holds nothing of it (docker makes it at join; nothing here needs it earlier: the first service's ports are
// programmed in the same pass that makes it). A restarted daemon adopts the sandbox the kernel kept, so
// connections through the mesh outlive the daemon as containers do.

// ingressMesh is the node's side of the mesh; the networks watch's sink drives it, one state at a time.
type ingressMesh struct {
	mu sync.Mutex
	// up says the sandbox, its legs and bridge are in place (made by this daemon).
	up bool
	// checked says leftovers of a previous daemon were looked for.
	checked bool
}

// ingressLink names the host bridge and veth of the sandbox and picks its /30 from 169.254.0.0/16 (link-local:
// no route of the host's overlaps it), after the data root, so that daemons side by side don't collide.
func ingressLink(dataRoot string) (bridge, veth string, gateway, sandbox netip.Prefix) {
	sum := sha256.Sum256([]byte(dataRoot))
	h := hex.EncodeToString(sum[:])[:6]
	bridge, veth = "bing"+h, "ving"+h
	if dataRoot == DefaultDataRoot {
		bridge, veth = "berth_ingress", "veth_ingress"
	}
	third := 1 + int(sum[0])%253
	gateway = netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, byte(third), 1}), 30)
	sandbox = netip.PrefixFrom(netip.AddrFrom4([4]byte{169, 254, byte(third), 2}), 30)
	return
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
	_, table := networkNames(d.cfg.DataRoot)
	table += "-ingress"
	bridge, _, _, sbAddr := ingressLink(d.cfg.DataRoot)
	ingress, ports := ingressWanted(st)
	if !m.checked {
		m.checked = true
		// A previous daemon's sandbox, whole, is adopted (connections through it go on; its tables are brought up
		// to date below); a partial one is removed and, if wanted, made again.
		_, veth, _, _ := ingressLink(d.cfg.DataRoot)
		ep := len(d.networks.Endpoints(cluster.IngressSandbox)) > 0
		ns := fileExists(d.networks.SandboxPath(cluster.IngressSandbox))
		br, vt := linkExists(bridge), linkExists(veth)
		switch {
		case ep && ns && br && vt:
			m.up = true
		case ep || ns || br || vt:
			m.up = true
			d.teardownIngress(ctx, table, bridge)
		}
	}
	if ingress == nil || len(ports) == 0 {
		d.teardownIngress(ctx, table, bridge)
		return
	}
	if !m.up {
		m.up = true // a failure half-way is undone by the teardown
		if err := d.setupIngress(ctx, ingress); err != nil {
			slog.WarnContext(ctx, "ingress routing mesh: making the ingress sandbox", "error", err)
			d.teardownIngress(ctx, table, bridge)
			return
		}
	}
	subnet, _ := netip.ParsePrefix(ingress.IPAM[0].Subnet)
	if err := firewall.SyncIngressSandbox(ctx, d.networks.SandboxPath(cluster.IngressSandbox), subnet, ports); err != nil {
		slog.WarnContext(ctx, "ingress routing mesh: the sandbox's balancers", "error", err)
	}
	if err := firewall.SyncIngressHost(ctx, "", table, sbAddr.Addr(), ports); err != nil {
		slog.WarnContext(ctx, "ingress routing mesh: the node's published ports", "error", err)
	}
}

// setupIngress makes the sandbox: its namespace, its endpoint on the ingress network (the cluster's address for
// this node's sandbox), its leg on the host bridge with the default route, forwarding on.
func (d *Daemon) setupIngress(ctx context.Context, ingress *api.Network) error {
	bridge, veth, gw, sbAddr := ingressLink(d.cfg.DataRoot)
	ns, err := d.networks.NewSandbox(ctx, cluster.IngressSandbox)
	if err != nil {
		return err
	}
	sb := berthnet.Sandbox{ContainerID: cluster.IngressSandbox, Name: "ingress-endpoint", NetNSPath: ns}
	if _, err := d.networks.Attach(ctx, sb, ingress.ID, berthnet.EndpointOptions{}); err != nil {
		return fmt.Errorf("attaching to the ingress network: %w", err)
	}
	if _, err := link.EnableForwarding(); err != nil {
		return err
	}
	if err := link.EnsureBridge(ctx, bridge, gw, 0); err != nil {
		return err
	}
	if err := link.SetRouteLocalnet(bridge); err != nil { // the node's 127.0.0.1:PORT reaches the mesh too
		return err
	}
	_, table := networkNames(d.cfg.DataRoot)
	if err := firewall.IngressForward(table+"-ingress", bridge, true); err != nil {
		return err
	}
	if err := link.AttachVeth(ctx, link.VethConfig{Bridge: bridge, HostName: veth, NetNSPath: ns, IfName: "eth1",
		Addr: sbAddr, Gateway: gw.Addr()}); err != nil {
		return err
	}
	return link.InNetNS(ctx, ns, func() error {
		_, err := link.EnableForwarding()
		return err
	})
}

// teardownIngress removes whatever of the mesh is on this node: the node's table, the sandbox's endpoint (its
// address goes back to the cluster), namespace and bridge. The caller holds d.mesh.mu.
func (d *Daemon) teardownIngress(ctx context.Context, table, bridge string) {
	if err := firewall.SyncIngressHost(ctx, "", table, netip.Addr{}, nil); err != nil {
		slog.WarnContext(ctx, "ingress routing mesh: removing the node's published ports", "error", err)
	}
	if !d.mesh.up {
		return
	}
	d.networks.DetachAll(ctx, cluster.IngressSandbox)
	if err := d.networks.DeleteSandbox(ctx, cluster.IngressSandbox); err != nil {
		slog.WarnContext(ctx, "ingress routing mesh: removing the sandbox", "error", err)
	}
	if err := firewall.IngressForward(table, bridge, false); err != nil {
		slog.WarnContext(ctx, "ingress routing mesh: removing the FORWARD accepts", "bridge", bridge, "error", err)
	}
	if err := link.DeleteBridge(ctx, bridge); err != nil {
		slog.WarnContext(ctx, "ingress routing mesh: removing the bridge", "bridge", bridge, "error", err)
	}
	d.mesh.up = false
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
	_, table := networkNames(d.cfg.DataRoot)
	bridge, _, _, _ := ingressLink(d.cfg.DataRoot)
	d.teardownIngress(ctx, table+"-ingress", bridge)
}

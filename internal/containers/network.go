package containers

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth/berth/internal/events"
	berthnet "github.com/berth/berth/internal/network"
)

// usesBridge reports whether the container's network mode is a bridge network (default or user-defined).
func usesBridge(hc *container.HostConfig) bool {
	nm := string(hc.NetworkMode)
	return nm != "" && nm != "none" && nm != "host" && !strings.HasPrefix(nm, "container:")
}

// containerNetworks lists the networks a container joins at start: its network mode first, then any other
// endpoint it was created with or connected to.
func containerNetworks(c *Container) []string {
	if !usesBridge(c.HostConfig) {
		return nil
	}
	var out []string
	primary := string(c.HostConfig.NetworkMode)
	if !c.Detached[primary] {
		out = append(out, primary)
	}
	var extra []string
	for name := range c.EndpointsConfig {
		if name != primary && !c.Detached[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}

// setupNetwork gives a starting container its namespace, endpoints and DNS; the caller holds c.mu. It returns
// the namespace path for the OCI spec ("" for none, "host" for the host's).
func (d *Service) setupNetwork(ctx context.Context, c *Container) (string, error) {
	if c.HostConfig.NetworkMode.IsHost() {
		return "host", nil
	}
	if ref, ok := strings.CutPrefix(string(c.HostConfig.NetworkMode), "container:"); ok {
		// Share another running container's network namespace, like a Kubernetes pod.
		other, err := d.containers.get(ref)
		if err != nil {
			return "", err
		}
		if other.ID == c.ID {
			return "", errdefs.ErrInvalidArgument.WithMessage("cannot join own network")
		}
		other.mu.Lock()
		defer other.mu.Unlock()
		if !other.running() {
			return "", errdefs.ErrConflict.WithMessage(fmt.Sprintf("cannot join network of a non running container: %s", other.ID))
		}
		if usesBridge(other.HostConfig) {
			return d.networks.SandboxPath(other.ID), nil
		}
		if other.HostConfig.NetworkMode.IsHost() {
			return "host", nil
		}
		return fmt.Sprintf("/proc/%d/ns/net", other.State.Pid), nil
	}
	if !usesBridge(c.HostConfig) {
		return "", nil
	}
	t0 := time.Now()
	c.waitNetworkTeardown()
	tWait := time.Now()
	ns, err := d.networks.NewSandbox(ctx, c.ID)
	if err != nil {
		return "", err
	}
	tNS := time.Now()
	defer func() {
		slog.DebugContext(ctx, "network set up", "container", c.ID, "wait", tWait.Sub(t0), "netns", tNS.Sub(tWait), "endpoints+dns+ports", time.Since(tNS))
	}()
	sb := berthnet.Sandbox{ContainerID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), NetNSPath: ns}
	for _, netName := range containerNetworks(c) {
		if _, err := d.networks.Attach(ctx, sb, netName, EndpointOptionsFrom(c.EndpointsConfig[netName])); err != nil {
			d.teardownNetwork(context.WithoutCancel(ctx), c)
			return "", err
		}
	}
	if err := d.networks.ServeDNS(ctx, c.ID, ns, upstreamResolvers(c)); err != nil {
		d.teardownNetwork(context.WithoutCancel(ctx), c)
		return "", err
	}
	if err := d.publishPorts(ctx, c); err != nil {
		d.teardownNetwork(context.WithoutCancel(ctx), c)
		return "", err
	}
	return ns, nil
}

// teardownNetwork removes a stopped container's endpoints and namespace; the caller holds c.mu. Ports and DNS
// names go at once (a new container may want the port); deleting veths and the namespace waits for the kernel
// (RCU grace periods, tens of milliseconds), so it runs in the background and the next start waits for it.
func (d *Service) teardownNetwork(ctx context.Context, c *Container) {
	if !usesBridge(c.HostConfig) {
		return
	}
	d.unpublishPorts(ctx, c)
	d.networks.StopDNS(c.ID)
	done := make(chan struct{})
	c.netDone = done
	d.cleanups.Add(1)
	go func() {
		defer d.cleanups.Done()
		defer close(done)
		ctx := context.WithoutCancel(ctx)
		d.networks.DetachAll(ctx, c.ID)
		d.networks.DeleteSandbox(ctx, c.ID)
	}()
}

// waitNetworkTeardown waits for the previous exit's background teardown; the caller holds c.mu.
func (c *Container) waitNetworkTeardown() {
	if c.netDone != nil {
		<-c.netDone
		c.netDone = nil
	}
}

// upstreamResolvers are where a container's embedded DNS forwards: its --dns servers, or the host's.
func upstreamResolvers(c *Container) []string {
	if len(c.HostConfig.DNS) > 0 {
		var out []string
		for _, a := range c.HostConfig.DNS {
			out = append(out, a.String())
		}
		return out
	}
	return hostResolvers()
}

// hostResolvers are the nameservers of the host's resolv.conf, for the embedded DNS to forward to.
func hostResolvers() []string {
	var out []string
	for _, line := range strings.Split(readString("/etc/resolv.conf"), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && a.Is4() {
				out = append(out, f[1])
			}
		}
	}
	return out
}

// containerResolvConf is the resolv.conf of a container on a bridge network: the embedded DNS on user-defined
// networks; on the default bridge, the host's without loopback resolvers (unreachable from the container).
func (d *Service) containerResolvConf(c *Container) []byte {
	host := readString("/etc/resolv.conf")
	var search, opts []string
	var servers []string
	for _, line := range strings.Split(host, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(f[1]); err == nil && !a.IsLoopback() {
				servers = append(servers, f[1])
			}
		case "search":
			search = f[1:]
		case "options":
			opts = append(opts, f[1:]...)
		}
	}
	user := false
	for _, n := range containerNetworks(c) {
		if d.networks.IsUserDefined(n) {
			user = true
		}
	}
	var b strings.Builder
	if len(c.HostConfig.DNS) > 0 {
		servers = nil
		for _, a := range c.HostConfig.DNS {
			servers = append(servers, a.String())
		}
	}
	if len(c.HostConfig.DNSSearch) > 0 {
		search = c.HostConfig.DNSSearch
	}
	opts = append(opts, c.HostConfig.DNSOptions...)
	if user {
		// The embedded DNS answers and forwards to the host's (or --dns) resolvers.
		b.WriteString("nameserver 127.0.0.11\n")
		opts = append(opts, "ndots:0")
	} else {
		for _, s := range servers {
			fmt.Fprintf(&b, "nameserver %s\n", s)
		}
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(opts) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(opts, " "))
	}
	return []byte(b.String())
}

// endpointSettings describes a container's endpoints for inspect and ps.
func (d *Service) endpointSettings(c *Container) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	eps := d.networks.Endpoints(c.ID)
	for _, name := range containerNetworks(c) {
		es := &network.EndpointSettings{}
		if cfg := c.EndpointsConfig[name]; cfg != nil {
			es.Aliases = cfg.Aliases
			es.IPAMConfig = cfg.IPAMConfig
		}
		if n, err := d.networks.Get(name); err == nil {
			es.NetworkID = n.ID
		}
		if ep, ok := eps[name]; ok {
			es.EndpointID = ep.ID
			es.IPAddress = ep.Addr.Addr()
			es.IPPrefixLen = ep.Addr.Bits()
			es.Gateway = ep.Gateway
			es.MacAddress = network.HardwareAddr(ep.MAC)
		}
		out[name] = es
	}
	if len(out) == 0 {
		out[string(c.HostConfig.NetworkMode)] = &network.EndpointSettings{}
	}
	return out
}

// NetworkConnect attaches a container to a network: at once if it runs, at its next start otherwise. opts are
// recorded as the container's endpoint settings for that network.
func (d *Service) NetworkConnect(ctx context.Context, netRef, ref string, opts berthnet.EndpointOptions) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	n, err := d.networks.Get(netRef)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !usesBridge(c.HostConfig) {
		return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("container cannot be disconnected from host network or connected to host network"))
	}
	for _, name := range containerNetworks(c) {
		if name == n.Name {
			return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("endpoint with name %s already exists in network %s", strings.TrimPrefix(c.Name, "/"), n.Name))
		}
	}
	if c.running() {
		sb := berthnet.Sandbox{ContainerID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), NetNSPath: d.networks.SandboxPath(c.ID)}
		if _, err := d.networks.Attach(ctx, sb, n.Name, opts); err != nil {
			return err
		}
		d.networks.ServeDNS(ctx, c.ID, sb.NetNSPath, upstreamResolvers(c))
	}
	if c.EndpointsConfig == nil {
		c.EndpointsConfig = map[string]*network.EndpointSettings{}
	}
	c.EndpointsConfig[n.Name] = endpointSettingsOf(opts)
	delete(c.Detached, n.Name)
	d.saveDurable(c)
	d.events.Publish(events.NetworkEventType, events.ActionConnect, n.ID, map[string]string{"name": n.Name, "container": c.ID, "type": n.Driver})
	return nil
}

// NetworkDisconnect detaches a container from a network.
func (d *Service) NetworkDisconnect(ctx context.Context, netRef, ref string, force bool) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	n, err := d.networks.Get(netRef)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	found := false
	for _, name := range containerNetworks(c) {
		if name == n.Name {
			found = true
		}
	}
	if !found {
		return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("container %s is not connected to network %s", c.ID[:12], n.Name))
	}
	if c.running() {
		if err := d.networks.Detach(ctx, c.ID, n.Name); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
	}
	if string(c.HostConfig.NetworkMode) == n.Name {
		if c.Detached == nil {
			c.Detached = map[string]bool{}
		}
		c.Detached[n.Name] = true
	} else {
		delete(c.EndpointsConfig, n.Name)
	}
	d.saveDurable(c)
	d.events.Publish(events.NetworkEventType, events.ActionDisconnect, n.ID, map[string]string{"name": n.Name, "container": c.ID, "type": n.Driver})
	return nil
}

func networkExists(d *Service, name string) error {
	if _, err := d.networks.Get(name); err != nil {
		return err
	}
	return nil
}

// EndpointOptionsFrom is what the network service is asked for an endpoint configured with docker's settings
// (run --network, network connect).
func EndpointOptionsFrom(es *network.EndpointSettings) berthnet.EndpointOptions {
	if es == nil {
		return berthnet.EndpointOptions{}
	}
	o := berthnet.EndpointOptions{Aliases: es.Aliases, MacAddress: net.HardwareAddr(es.MacAddress), Links: es.Links,
		DriverOpts: es.DriverOpts, GwPriority: es.GwPriority}
	if c := es.IPAMConfig; c != nil {
		o.IPv4Address, o.IPv6Address, o.LinkLocalIPs = c.IPv4Address, c.IPv6Address, c.LinkLocalIPs
	}
	return o
}

// endpointSettingsOf records endpoint options as docker's settings (IPAMConfig only when an address was asked
// for).
func endpointSettingsOf(o berthnet.EndpointOptions) *network.EndpointSettings {
	es := &network.EndpointSettings{Aliases: o.Aliases, MacAddress: network.HardwareAddr(o.MacAddress), Links: o.Links,
		DriverOpts: o.DriverOpts, GwPriority: o.GwPriority}
	if o.IPv4Address.IsValid() || o.IPv6Address.IsValid() || len(o.LinkLocalIPs) > 0 {
		es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: o.IPv4Address, IPv6Address: o.IPv6Address, LinkLocalIPs: o.LinkLocalIPs}
	}
	return es
}

package containers

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	berthnet "github.com/berth/berth/internal/network"
)

// PublishedPort is one host port forwarded to a container port while the container runs.
type PublishedPort struct {
	Proto         string
	HostIP        netip.Addr // zero: every address
	HostPort      uint16
	ContainerPort uint16
}

// Ephemeral range for `-p CONTAINER` and `-P`, as docker's port allocator uses.
const portRangeLo, portRangeHi = 32768, 60999

// publishPorts forwards the container's published ports (-p, -P) to its address on its primary network. A
// host port in use is an error and nothing stays half set up. The caller holds c.mu.
func (d *Service) publishPorts(ctx context.Context, c *Container) (err error) {
	c.Ports = nil
	wanted := map[network.Port][]network.PortBinding{}
	for p, bs := range c.HostConfig.PortBindings {
		wanted[p] = bs
	}
	if c.HostConfig.PublishAllPorts {
		for p := range c.Config.ExposedPorts {
			if _, ok := wanted[p]; !ok {
				wanted[p] = []network.PortBinding{{}}
			}
		}
	}
	if len(wanted) == 0 {
		return nil
	}
	if !usesBridge(c.HostConfig) {
		// docker ignores port bindings with host or none networking.
		return nil
	}
	primary := string(c.HostConfig.NetworkMode)
	if _, ok := d.networks.Endpoints(c.ID)[primary]; !ok {
		return errdefs.ErrInvalidArgument.WithMessage("no endpoint to publish ports on")
	}
	defer func() {
		if err != nil {
			d.unpublishPorts(context.WithoutCancel(ctx), c)
		}
	}()
	ports := make([]network.Port, 0, len(wanted))
	for p := range wanted {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].Num() < ports[j].Num() })
	for _, p := range ports {
		for _, b := range wanted[p] {
			proto := string(p.Proto())
			hostPort, err := pickHostPort(proto, b.HostIP, b.HostPort)
			if err != nil {
				return err
			}
			pp := PublishedPort{Proto: proto, HostIP: b.HostIP, HostPort: hostPort, ContainerPort: p.Num()}
			if err := d.networks.PublishPort(ctx, c.ID, primary, berthnet.Port{Proto: proto, HostIP: b.HostIP, HostPort: hostPort,
				ContainerPort: p.Num()}); err != nil {
				if errdefs.IsConflict(err) {
					return errdefs.ErrConflict.WithMessage(fmt.Sprintf("driver failed programming external connectivity on endpoint %s: Bind for %s failed: port is already allocated", c.Name[1:], hostAddr(b.HostIP, hostPort)))
				}
				return err
			}
			c.Ports = append(c.Ports, pp)
		}
	}
	return nil
}

func hostAddr(ip netip.Addr, port uint16) string {
	h := "0.0.0.0"
	if ip.IsValid() {
		h = ip.String()
	}
	return net.JoinHostPort(h, strconv.Itoa(int(port)))
}

// pickHostPort checks that a requested host port is free (by binding it), or finds a free ephemeral one.
func pickHostPort(proto string, ip netip.Addr, spec string) (uint16, error) {
	free := func(port uint16) bool {
		addr := hostAddr(ip, port)
		if proto == "udp" {
			c, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return false
			}
			c.Close()
			return true
		}
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return false
		}
		l.Close()
		return true
	}
	if spec != "" && spec != "0" {
		lo, hi, err := parseHostPort(spec)
		if err != nil {
			return 0, err
		}
		// A range takes its first free port, as docker's allocator does.
		for p := lo; p >= lo && p <= hi; p++ {
			if free(p) {
				return p, nil
			}
		}
		return 0, errdefs.ErrConflict.WithMessage(fmt.Sprintf("driver failed programming external connectivity: Bind for %s failed: port is already allocated", hostAddr(ip, lo)))
	}
	for range 64 {
		p := uint16(portRangeLo + rand.IntN(portRangeHi-portRangeLo))
		if free(p) {
			return p, nil
		}
	}
	return 0, errdefs.ErrUnavailable.WithMessage("no free host port in the ephemeral range")
}

// parseHostPort reads a binding's HostPort: a port or a range "LO-HI" of ports 1–65535, with docker's error.
func parseHostPort(spec string) (lo, hi uint16, err error) {
	invalid := errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid port specification: %q", spec))
	a, b, isRange := strings.Cut(spec, "-")
	l, err := strconv.ParseUint(a, 10, 16)
	if err != nil || l == 0 {
		return 0, 0, invalid
	}
	h := l
	if isRange {
		if h, err = strconv.ParseUint(b, 10, 16); err != nil || h < l {
			return 0, 0, invalid
		}
	}
	return uint16(l), uint16(h), nil
}

// validatePortBindings refuses, at create, host ports a start could not honour (docker answers 400 there).
func validatePortBindings(hc *container.HostConfig) error {
	for _, bs := range hc.PortBindings {
		for _, b := range bs {
			if b.HostPort == "" || b.HostPort == "0" {
				continue
			}
			if _, _, err := parseHostPort(b.HostPort); err != nil {
				return err
			}
		}
	}
	return nil
}

// unpublishPorts removes the container's forwards; the caller holds c.mu.
func (d *Service) unpublishPorts(ctx context.Context, c *Container) {
	if len(c.Ports) == 0 {
		return
	}
	primary := string(c.HostConfig.NetworkMode)
	for _, p := range c.Ports {
		if err := d.networks.UnpublishPort(ctx, c.ID, primary, berthnet.Port{Proto: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort,
			ContainerPort: p.ContainerPort}); err != nil {
			slog.WarnContext(ctx, "withdrawing a published port", "container", c.ID, "port", p.HostPort, "error", err)
		}
	}
	c.Ports = nil
}

// portMap is NetworkSettings.Ports: every exposed or published port, with its host bindings while running.
func portMap(c *Container) network.PortMap {
	out := network.PortMap{}
	for p := range c.Config.ExposedPorts {
		out[p] = nil
	}
	for p := range c.HostConfig.PortBindings {
		out[p] = nil
	}
	for _, pp := range c.Ports {
		port, err := network.ParsePort(fmt.Sprintf("%d/%s", pp.ContainerPort, pp.Proto))
		if err != nil {
			continue
		}
		ips := []netip.Addr{pp.HostIP}
		if !pp.HostIP.IsValid() {
			ips = []netip.Addr{netip.IPv4Unspecified()}
		}
		for _, ip := range ips {
			out[port] = append(out[port], network.PortBinding{HostIP: ip, HostPort: strconv.Itoa(int(pp.HostPort))})
		}
	}
	return out
}

// portSummaries is the PORTS column of ps.
func portSummaries(c *Container) []container.PortSummary {
	out := []container.PortSummary{}
	seen := map[string]bool{}
	for _, pp := range c.Ports {
		ip := pp.HostIP
		if !ip.IsValid() {
			ip = netip.IPv4Unspecified()
		}
		out = append(out, container.PortSummary{IP: ip, PrivatePort: pp.ContainerPort, PublicPort: pp.HostPort, Type: pp.Proto})
		seen[fmt.Sprintf("%d/%s", pp.ContainerPort, pp.Proto)] = true
	}
	for p := range c.Config.ExposedPorts {
		if !seen[p.String()] {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
		}
	}
	return out
}

package api

import "net/netip"

// The endpoint modes of a service (docker's --endpoint-mode).
const (
	// EndpointModeVIP gives the service one virtual IP per network; its name answers that address and
	// connections to it are balanced over the running tasks (the default).
	EndpointModeVIP = "vip"
	// EndpointModeDNSRR gives no virtual IP: the service's name answers its running tasks' addresses.
	EndpointModeDNSRR = "dnsrr"
)

// Endpoint is what the cluster allocated for reaching a service, as swarmkit's api.Endpoint: a virtual IP on
// each network of the service in vip mode. It is kept across updates for the networks the service stays on,
// and released with the service.
type Endpoint struct {
	VirtualIPs []VirtualIP `json:"virtualIPs,omitempty"`
	// Ports are the service's published ports as allocated: an ingress port published as 0 gets one from
	// 30000-32767 (swarmkit's dynamic range).
	Ports []PortSpec `json:"ports,omitempty"`
}

// VirtualIP is a service's address on one network, with the subnet's length (docker shows "10.0.1.2/24").
type VirtualIP struct {
	NetworkID string       `json:"networkID"`
	Addr      netip.Prefix `json:"addr"`
}

// EndpointMode is the service's endpoint mode, vip when unset.
func (s *ServiceSpec) EndpointMode() string {
	if s.Endpoint != nil && s.Endpoint.Mode == EndpointModeDNSRR {
		return EndpointModeDNSRR
	}
	return EndpointModeVIP
}

// VIP is the service's virtual IP on a network, zero when it has none there.
func (s *Service) VIP(networkID string) netip.Prefix {
	if s.Endpoint == nil {
		return netip.Prefix{}
	}
	for _, v := range s.Endpoint.VirtualIPs {
		if v.NetworkID == networkID {
			return v.Addr
		}
	}
	return netip.Prefix{}
}

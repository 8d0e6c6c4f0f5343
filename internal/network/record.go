package network

import (
	"encoding/json"
	"maps"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/berth/berth/internal/network/ipam"
)

// record is a network as persisted in <root>/<id>.json. Field names are those Berth wrote before drivers, so a
// daemon upgraded in place loads its networks: such a record has no IPAM section but the pool's whole state
// (Pool) and the bridge's name (Bridge); decode turns them into the IPAM config, and the Manager hands the
// addresses to its IPAM when it starts.
type record struct {
	ID         string
	Name       string
	Driver     string
	Created    time.Time
	Internal   bool
	Attachable bool
	// Ingress marks a swarm's ingress network (the routing mesh's).
	Ingress bool `json:",omitempty"`
	// Made says the Manager made the network for itself (docker_gwbridge), and so removes it; a user's stays.
	Made bool `json:",omitempty"`

	Labels    map[string]string
	Options   map[string]string
	IPAM      *recordIPAM `json:",omitempty"`
	Endpoints map[string]*endpointRecord

	// Before drivers: the network's Linux bridge and its address pool.
	Bridge string     `json:",omitempty"`
	Pool   *ipam.Pool `json:",omitempty"`
}

// recordIPAM is the network's IPAM config and the pool the IPAM handed out for it.
type recordIPAM struct {
	Driver  string
	Options map[string]string `json:",omitempty"`
	PoolID  string            `json:",omitempty"`
	Subnet  netip.Prefix      `json:",omitzero"`
	IPRange netip.Prefix      `json:",omitzero"`
	Gateway netip.Addr        `json:",omitzero"`
}

// endpointRecord is an endpoint as persisted; IfName is new with drivers (empty in older records).
type endpointRecord struct {
	ID          string
	ContainerID string
	Name        string
	Addr        netip.Prefix
	Gateway     netip.Addr
	MAC         string
	HostVeth    string
	IfName      string `json:",omitempty"`
	Aliases     []string
}

// decodeRecord reads a record, upgrading one written before drivers.
func decodeRecord(b []byte) (*record, error) {
	r := &record{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, err
	}
	if r.Endpoints == nil {
		r.Endpoints = map[string]*endpointRecord{}
	}
	if r.IPAM == nil && r.Pool != nil {
		r.IPAM = &recordIPAM{Driver: "default", Subnet: r.Pool.Subnet(), IPRange: r.Pool.IPRange(), Gateway: r.Pool.Gateway()}
	}
	if r.Driver == DriverBridge && r.Bridge != "" && r.Options[BridgeNameOption] == "" && r.Bridge != "br-"+r.ID[:min(12, len(r.ID))] {
		// The bridge driver names a bridge from the option or the ID; keep an older name that is neither.
		if r.Options == nil {
			r.Options = map[string]string{}
		}
		r.Options[BridgeNameOption] = r.Bridge
	}
	r.Bridge, r.Pool = "", nil
	return r, nil
}

// info is what r's driver is told of it.
func (r *record) info() NetworkInfo {
	n := NetworkInfo{ID: r.ID, Name: r.Name, Internal: r.Internal, Options: r.Options}
	if r.IPAM != nil {
		n.Subnet, n.Gateway = r.IPAM.Subnet, r.IPAM.Gateway
	}
	return n
}

// network describes r, with scope and addresses as its driver says.
func (r *record) network(c Capability, known bool) Network {
	n := Network{
		ID: r.ID, Name: r.Name, Driver: r.Driver, Scope: scopeName(c.Scope), Created: r.Created,
		Internal: r.Internal, Attachable: r.Attachable, Ingress: r.Ingress, EnableIPv4: known && !c.Singleton,
		Labels: maps.Clone(r.Labels), Options: maps.Clone(r.Options),
		IPAM:      IPAM{Driver: "default"},
		Endpoints: make(map[string]Endpoint, len(r.Endpoints)),
	}
	if r.IPAM != nil {
		n.IPAM.Driver, n.IPAM.Options = r.IPAM.Driver, maps.Clone(r.IPAM.Options)
		if r.IPAM.Subnet.IsValid() {
			cfg := IPAMConfig{Subnet: r.IPAM.Subnet, Gateway: r.IPAM.Gateway}
			if r.IPAM.IPRange != r.IPAM.Subnet {
				cfg.IPRange = r.IPAM.IPRange
			}
			n.IPAM.Config = []IPAMConfig{cfg}
		}
	}
	for id, ep := range r.Endpoints {
		n.Endpoints[id] = ep.endpoint()
	}
	return n
}

// scopeName is the scope docker shows for a driver's scope.
func scopeName(scope string) string {
	if scope == ScopeGlobal {
		return "swarm"
	}
	return "local"
}

func (e *endpointRecord) endpoint() Endpoint {
	mac, _ := net.ParseMAC(e.MAC)
	return Endpoint{ID: e.ID, ContainerID: e.ContainerID, Name: e.Name, Addr: e.Addr, Gateway: e.Gateway, MAC: mac,
		Aliases: slices.Clone(e.Aliases), IfName: e.IfName, HostIfName: e.HostVeth}
}

func (e *endpointRecord) info(defaultRoute bool) EndpointInfo {
	mac, _ := net.ParseMAC(e.MAC)
	return EndpointInfo{ID: e.ID, ContainerID: e.ContainerID, Addr: e.Addr, Gateway: e.Gateway, DefaultRoute: defaultRoute,
		MAC: mac, IfName: e.IfName, HostIfName: e.HostVeth}
}

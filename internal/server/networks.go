package server

import (
	"maps"
	"net/http"

	"github.com/moby/moby/api/types/network"

	"github.com/berth/berth/internal/containers"
	berthnet "github.com/berth/berth/internal/network"
)

func (s *Server) networkRoutes() {
	m := s.mux
	m.HandleFunc("GET /networks", func(w http.ResponseWriter, r *http.Request) {
		f, err := filtersParam(r)
		if err != nil {
			writeError(w, err)
			return
		}
		list, err := s.b.Networks.List(r.Context(), f)
		if err != nil {
			writeError(w, err)
			return
		}
		out := make([]network.Inspect, 0, len(list))
		for _, n := range list {
			out = append(out, networkJSON(n))
		}
		writeJSON(w, 200, out)
	})
	m.HandleFunc("GET /networks/{id}", func(w http.ResponseWriter, r *http.Request) {
		n, err := s.b.Networks.Inspect(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, 200, networkJSON(n))
	})
	m.HandleFunc("POST /networks/create", func(w http.ResponseWriter, r *http.Request) {
		var req network.CreateRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, err)
			return
		}
		n, err := s.b.Networks.Create(r.Context(), createOptions(req))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, network.CreateResponse{ID: n.ID})
	})
	m.HandleFunc("DELETE /networks/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.b.Networks.Remove(r.Context(), r.PathValue("id")); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("POST /networks/{id}/connect", func(w http.ResponseWriter, r *http.Request) {
		var req network.ConnectRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if err := s.b.Networks.Connect(r.Context(), r.PathValue("id"), req.Container, containers.EndpointOptionsFrom(req.EndpointConfig)); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(200)
	})
	m.HandleFunc("POST /networks/{id}/disconnect", func(w http.ResponseWriter, r *http.Request) {
		var req network.DisconnectRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if err := s.b.Networks.Disconnect(r.Context(), r.PathValue("id"), req.Container, req.Force); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(200)
	})
	m.HandleFunc("POST /networks/prune", func(w http.ResponseWriter, r *http.Request) {
		f, err := filtersParam(r)
		if err != nil {
			writeError(w, err)
			return
		}
		removed, err := s.b.Networks.Prune(r.Context(), f)
		if err != nil {
			writeError(w, err)
			return
		}
		if removed == nil {
			removed = []string{}
		}
		writeJSON(w, 200, network.PruneReport{NetworksDeleted: removed})
	})
}

// createOptions is a network create request in Berth's terms.
func createOptions(req network.CreateRequest) berthnet.CreateOptions {
	o := berthnet.CreateOptions{
		Name: req.Name, Driver: req.Driver, Internal: req.Internal, Attachable: req.Attachable, Ingress: req.Ingress,
		EnableIPv6: req.EnableIPv6 != nil && *req.EnableIPv6, Labels: req.Labels, Options: req.Options,
	}
	if req.IPAM != nil {
		o.IPAM = berthnet.IPAM{Driver: req.IPAM.Driver, Options: req.IPAM.Options}
		for _, c := range req.IPAM.Config {
			o.IPAM.Config = append(o.IPAM.Config, berthnet.IPAMConfig{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway})
		}
	}
	return o
}

// networkJSON is docker's description of a network, for GET /networks and GET /networks/{id}: maps are never
// null, and each container is listed with its endpoint.
func networkJSON(n berthnet.Network) network.Inspect {
	in := network.Inspect{
		Network: network.Network{
			Name: n.Name, ID: n.ID, Created: n.Created, Scope: n.Scope, Driver: n.Driver, EnableIPv4: n.EnableIPv4,
			IPAM:     network.IPAM{Driver: n.IPAM.Driver, Options: orEmpty(n.IPAM.Options), Config: []network.IPAMConfig{}},
			Internal: n.Internal, Attachable: n.Attachable, Ingress: n.Ingress, Options: orEmpty(n.Options), Labels: orEmpty(n.Labels),
		},
		Containers: make(map[string]network.EndpointResource, len(n.Endpoints)),
	}
	for _, c := range n.IPAM.Config {
		in.IPAM.Config = append(in.IPAM.Config, network.IPAMConfig{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway})
	}
	for id, ep := range n.Endpoints {
		in.Containers[id] = network.EndpointResource{Name: ep.Name, EndpointID: ep.ID, MacAddress: network.HardwareAddr(ep.MAC), IPv4Address: ep.Addr}
	}
	// A swarm network present on this node names the nodes it spans (docker's networkdb peers).
	for _, p := range n.Peers {
		in.Peers = append(in.Peers, network.PeerInfo{Name: p.Name, IP: p.IP})
	}
	return in
}

// orEmpty is a copy of m, never nil: docker shows {} rather than null.
func orEmpty(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}

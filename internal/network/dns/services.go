package dns

import (
	"net/netip"
	"slices"
)

// ServiceRecord is a name a network answers with addresses that belong to no one endpoint: a swarm service's
// name and aliases (its VIP, or in dnsrr mode its running tasks' addresses) and tasks.NAME (its running tasks'
// addresses). A service's records answer before the endpoints' names of the same network, so that a service
// alias resolves to the service, as docker's does, even where one of its tasks carries it too.
type ServiceRecord struct {
	Names []string
	Addrs []netip.Addr
}

// SetServices replaces the service records of network with recs (none: the network has no services). A
// name given twice answers the union of its addresses; a record without addresses still holds its name (an
// AAAA or empty answer, not a forward upstream: a service scaled to zero is still known here). Invalid names
// are skipped.
func (r *Registry) SetServices(network string, recs []ServiceRecord) {
	next := map[string]*nameRecord{}
	for _, rec := range recs {
		for _, name := range rec.Names {
			n, err := canonicalName(name)
			if err != nil {
				continue
			}
			nr := next[n]
			if nr == nil {
				nr = &nameRecord{}
				next[n] = nr
			}
			for _, a := range rec.Addrs {
				if a = a.Unmap(); a.IsValid() && !slices.Contains(nr.addrs, a) {
					nr.addrs = append(nr.addrs, a)
				}
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(next) == 0 {
		delete(r.services, network)
		return
	}
	if r.services == nil {
		r.services = map[string]map[string]*nameRecord{}
	}
	// Keep each unchanged name's round robin where it was: the state changes often, a name's answers rarely.
	for n, nr := range next {
		if old := r.services[network][n]; old != nil && slices.Equal(old.addrs, nr.addrs) {
			next[n] = old
		}
	}
	r.services[network] = next
}

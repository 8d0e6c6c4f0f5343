// Package dns owns the embedded DNS server that containers on user-defined networks reach at 127.0.0.11, as
// Docker's does: a Registry of per-network names (container name, network aliases, short ID) that the daemon
// keeps current, and a server per container network namespace that answers from the Registry, scoped to the
// networks the container is attached to, and forwards everything else to the host's resolvers.
package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/containerd/errdefs"
	miekg "github.com/miekg/dns"
)

// ShortIDLen is how many leading characters of a container ID are registered as a name, as Docker does.
const ShortIDLen = 12

// Registry holds the names each network resolves. It does no I/O and is safe for concurrent use; one Registry
// serves every container of a daemon.
//
// Terms: a record maps a name to an address on one network. An endpoint is a container's attachment to a
// network; on that network its address identifies it. The first name added for an address is its primary name,
// the answer to reverse (PTR) queries; AddEndpoint makes it the container name.
//
// Lifecycle, as the daemon drives it:
//
//	reg.AddEndpoint("n1", dns.Endpoint{ContainerID: id, Name: "web", Aliases: []string{"frontend"}, Addr: a})
//	reg.Lookup([]string{"n1"}, "web")       // [a], also for "WEB.", "frontend", id[:12], "web.n1"
//	reg.Remove("n1", "web", a)              // rename: drop the old name ...
//	reg.Add("n1", "site", a)                // ... and add the new one, which becomes the primary name
//	reg.RemoveEndpoint("n1", id)            // disconnect: every name of that endpoint goes
//	reg.RemoveContainer(id)                 // rm: the endpoints on every network go
//
// Names are case-insensitive and may carry a trailing dot. Several addresses may share a name (an alias given to
// several containers); lookups return them all and rotate their order on each lookup (round robin; Docker
// shuffles them at random, which spreads the load the same way but is not predictable).
type Registry struct {
	mu   sync.RWMutex
	nets map[string]*netRecords
	// services are the service records of each network (services.go), by canonical name.
	services map[string]map[string]*nameRecord
}

// Endpoint is one container's attachment to one network, as DNS sees it.
type Endpoint struct {
	// ContainerID is the full container ID; its first ShortIDLen characters are registered as a name.
	ContainerID string
	// Name is the container name without Docker's leading "/"; it answers reverse lookups of Addr.
	Name string
	// Aliases are the endpoint's network aliases (--network-alias, link aliases).
	Aliases []string
	// Addr is the container's address on the network.
	Addr netip.Addr
}

type netRecords struct {
	names map[string]*nameRecord     // canonical name -> addresses
	addrs map[netip.Addr]*addrRecord // address -> names, for reverse lookups and endpoint removal
	ids   map[string]netip.Addr      // container ID -> its address on this network
}

type nameRecord struct {
	addrs []netip.Addr // in the order added
	next  atomic.Uint32
}

type addrRecord struct {
	primary string   // "" after the primary name was removed, until the next Add for this address
	names   []string // in the order added
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry {
	return &Registry{nets: make(map[string]*netRecords)}
}

// Add registers name -> addr on network. Adding a record that exists is a no-op.
func (r *Registry) Add(network, name string, addr netip.Addr) error {
	n, err := canonicalName(name)
	if err != nil {
		return err
	}
	if err := checkNetworkAddr(network, addr); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(network, n, addr.Unmap())
	return nil
}

// Remove drops the record name -> addr on network; a missing record is not an error.
func (r *Registry) Remove(network, name string, addr netip.Addr) {
	n, err := canonicalName(name)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remove(network, n, addr.Unmap())
}

// AddEndpoint registers the names of one endpoint on network: its container name, its aliases and its short
// ID, all pointing to ep.Addr. An endpoint registered before for the same container on network is replaced.
func (r *Registry) AddEndpoint(network string, ep Endpoint) error {
	if ep.ContainerID == "" {
		return fmt.Errorf("endpoint on network %q: empty container ID: %w", network, errdefs.ErrInvalidArgument)
	}
	if err := checkNetworkAddr(network, ep.Addr); err != nil {
		return err
	}
	var names []string
	for _, s := range slices.Concat([]string{ep.Name}, ep.Aliases, []string{shortID(ep.ContainerID)}) {
		if s == "" {
			continue // a container without a name still gets its aliases and short ID
		}
		n, err := canonicalName(s)
		if err != nil {
			return fmt.Errorf("container %s on network %q: %w", shortID(ep.ContainerID), network, err)
		}
		names = append(names, n)
	}
	addr := ep.Addr.Unmap()

	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeEndpoint(network, ep.ContainerID)
	for _, n := range names {
		r.add(network, n, addr)
	}
	nr := r.nets[network]
	for id, a := range nr.ids {
		if a == addr {
			delete(nr.ids, id) // a stale endpoint whose address was reused: an address identifies one endpoint
		}
	}
	nr.ids[ep.ContainerID] = addr
	return nil
}

// RemoveEndpoint drops every name pointing to the address of containerID's endpoint on network, including names
// added later with Add for that address. An unknown endpoint is not an error.
func (r *Registry) RemoveEndpoint(network, containerID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeEndpoint(network, containerID)
}

// RemoveContainer drops the endpoints of containerID on every network.
func (r *Registry) RemoveContainer(containerID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for network := range r.nets {
		r.removeEndpoint(network, containerID)
	}
}

// Lookup returns the addresses of name for a container attached to networks, nil if none has it. Networks are
// searched in order and the first one holding the name answers, as in Docker; "name.network" is looked up as
// name on that network when the container is attached to it.
func (r *Registry) Lookup(networks []string, name string) []netip.Addr {
	addrs, _ := r.resolve(networks, name, func(netip.Addr) bool { return true })
	return addrs
}

// LookupAddr returns the name answering a reverse lookup of addr for a container attached to networks:
// "primaryname.network", as Docker answers. Networks are searched in order.
func (r *Registry) LookupAddr(networks []string, addr netip.Addr) (string, bool) {
	addr = addr.Unmap()
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, network := range networks {
		nr := r.nets[network]
		if nr == nil {
			continue
		}
		if ar := nr.addrs[addr]; ar != nil {
			name := ar.primary
			if name == "" {
				name = ar.names[0]
			}
			return name + "." + network, true
		}
	}
	return "", false
}

// resolve is Lookup restricted to the addresses want accepts (one address family). found reports whether the
// name exists on an attached network at all, so that an AAAA query for an IPv4-only name gets an empty answer
// instead of being forwarded. Only a non-empty answer advances the round robin, so that a resolver's paired
// A and AAAA queries don't rotate the order twice.
func (r *Registry) resolve(networks []string, name string, want func(netip.Addr) bool) (addrs []netip.Addr, found bool) {
	q, err := canonicalName(name)
	if err != nil {
		return nil, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	lookupIn := func(network, n string) {
		if addrs != nil {
			return
		}
		// A service's names answer before endpoints' (a service alias is the VIP, not the local task).
		rec := r.services[network][n]
		if rec == nil {
			nr := r.nets[network]
			if nr == nil {
				return
			}
			rec = nr.names[n]
		}
		if rec == nil {
			return
		}
		found = true
		var match []netip.Addr
		for _, a := range rec.addrs {
			if want(a) {
				match = append(match, a)
			}
		}
		if len(match) == 0 {
			return
		}
		start := int((rec.next.Add(1) - 1) % uint32(len(match)))
		addrs = slices.Concat(match[start:], match[:start])
	}

	for _, network := range networks {
		lookupIn(network, q)
	}
	// "a.b.c" is a.b on network c, then a on network b.c, when the container is attached to that network.
	for i := len(q) - 1; i > 0 && addrs == nil; i-- {
		if q[i] != '.' {
			continue
		}
		for _, network := range networks {
			if strings.EqualFold(network, q[i+1:]) {
				lookupIn(network, q[:i])
			}
		}
	}
	return addrs, found
}

// add and the other lower-case helpers expect r.mu held and canonical arguments.
func (r *Registry) add(network, name string, addr netip.Addr) {
	nr := r.nets[network]
	if nr == nil {
		nr = &netRecords{
			names: make(map[string]*nameRecord),
			addrs: make(map[netip.Addr]*addrRecord),
			ids:   make(map[string]netip.Addr),
		}
		r.nets[network] = nr
	}
	rec := nr.names[name]
	if rec == nil {
		rec = &nameRecord{}
		nr.names[name] = rec
	}
	if !slices.Contains(rec.addrs, addr) {
		rec.addrs = append(rec.addrs, addr)
	}
	ar := nr.addrs[addr]
	if ar == nil {
		ar = &addrRecord{}
		nr.addrs[addr] = ar
	}
	if !slices.Contains(ar.names, name) {
		ar.names = append(ar.names, name)
	}
	if ar.primary == "" {
		ar.primary = name
	}
}

func (r *Registry) remove(network, name string, addr netip.Addr) {
	nr := r.nets[network]
	if nr == nil {
		return
	}
	if rec := nr.names[name]; rec != nil {
		rec.addrs = slices.DeleteFunc(rec.addrs, func(a netip.Addr) bool { return a == addr })
		if len(rec.addrs) == 0 {
			delete(nr.names, name)
		}
	}
	if ar := nr.addrs[addr]; ar != nil {
		ar.names = slices.DeleteFunc(ar.names, func(n string) bool { return n == name })
		if ar.primary == name {
			ar.primary = ""
		}
		if len(ar.names) == 0 {
			delete(nr.addrs, addr)
		}
	}
	if len(nr.names) == 0 && len(nr.ids) == 0 {
		delete(r.nets, network)
	}
}

func (r *Registry) removeEndpoint(network, containerID string) {
	nr := r.nets[network]
	if nr == nil {
		return
	}
	addr, ok := nr.ids[containerID]
	if !ok {
		return
	}
	delete(nr.ids, containerID)
	if ar := nr.addrs[addr]; ar != nil {
		for _, n := range slices.Clone(ar.names) {
			r.remove(network, n, addr)
		}
	}
	if len(nr.names) == 0 && len(nr.ids) == 0 {
		delete(r.nets, network)
	}
}

// canonicalName lower-cases name and drops a trailing dot; DNS names compare case-insensitively.
func canonicalName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	if n == "" {
		return "", fmt.Errorf("empty DNS name: %w", errdefs.ErrInvalidArgument)
	}
	if _, ok := miekg.IsDomainName(n); !ok || strings.ContainsAny(n, " \t\r\n") {
		return "", fmt.Errorf("invalid DNS name %q: %w", name, errdefs.ErrInvalidArgument)
	}
	return n, nil
}

func checkNetworkAddr(network string, addr netip.Addr) error {
	if network == "" {
		return fmt.Errorf("empty network name: %w", errdefs.ErrInvalidArgument)
	}
	if !addr.IsValid() {
		return fmt.Errorf("network %q: invalid address: %w", network, errdefs.ErrInvalidArgument)
	}
	return nil
}

func shortID(id string) string {
	if len(id) > ShortIDLen {
		return id[:ShortIDLen]
	}
	return id
}

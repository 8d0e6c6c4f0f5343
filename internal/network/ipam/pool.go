package ipam

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
)

// Docker's wording for the address errors (libnetwork's ipamapi).
const (
	msgInUse      = "Address already in use"
	msgOutOfRange = "requested address is out of range"
	msgNoAddrs    = "no available addresses on this pool"
)

// Pool hands out the addresses of one network's subnet: the gateway, then containers' addresses.
//
// Terms: the subnet is the network's prefix; the allocation range is the optional --ip-range inside it (the whole
// subnet otherwise) from which addresses are chosen when no particular one is asked for; reserved addresses are
// the IPv4 network and broadcast addresses (none for /31 and /32, as in RFC 3021) or the IPv6 subnet-router anycast
// address. Reserved addresses and the gateway are never handed out.
//
// Dynamic allocation takes the lowest free address of the allocation range, as docker does for local networks
// (so a container started after one was removed gets the freed address back); WithSerial makes it continue after
// the last address handed out instead, wrapping around, as docker does with com.docker.network.ipam.serial=true.
//
// A Pool is safe for concurrent use. Its JSON form (MarshalJSON) is the whole state; UnmarshalJSON restores it.
type Pool struct {
	mu sync.Mutex
	s  poolState
}

type poolState struct {
	subnet   netip.Prefix
	ipRange  netip.Prefix // zero when the whole subnet is the allocation range
	gateway  netip.Addr
	reserved []netip.Addr // network/broadcast or anycast address
	serial   bool
	next     netip.Addr   // serial mode: where the next search starts
	used     []netip.Addr // sorted: reserved addresses, the gateway and allocated addresses
}

// Option configures a Pool.
type Option func(*poolState)

// WithSerial makes dynamic allocation continue after the last address handed out (wrapping around at the end of
// the allocation range) instead of taking the lowest free address.
func WithSerial() Option {
	return func(s *poolState) { s.serial = true }
}

// NewPool validates a network's IPAM configuration like docker does and returns its pool with the gateway
// allocated. ipRange is optional (the zero Prefix); a zero gateway means the first free address of the allocation
// range, docker's default (172.18.0.1 for 172.18.0.0/16).
func NewPool(subnet, ipRange netip.Prefix, gateway netip.Addr, opts ...Option) (*Pool, error) {
	s, err := newState(subnet, ipRange, gateway, opts...)
	if err != nil {
		return nil, err
	}
	return &Pool{s: s}, nil
}

func newState(subnet, ipRange netip.Prefix, gateway netip.Addr, opts ...Option) (poolState, error) {
	if err := validate(subnet, ipRange, gateway); err != nil {
		return poolState{}, err
	}
	s := poolState{subnet: subnet, ipRange: ipRange}
	for _, o := range opts {
		o(&s)
	}
	hostBits := subnet.Addr().BitLen() - subnet.Bits()
	switch {
	case subnet.Addr().Is4() && hostBits > 1:
		s.reserved = []netip.Addr{subnet.Addr(), lastAddr(subnet)}
	case subnet.Addr().Is6():
		s.reserved = []netip.Addr{subnet.Addr()}
	}
	for _, r := range s.reserved {
		s.insert(r)
	}
	if gateway.IsValid() {
		if s.inUse(gateway) {
			return poolState{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("failed to allocate gateway (%s): %s", gateway, msgInUse))
		}
		s.gateway = gateway
	} else {
		lo, hi := s.bounds()
		gw, ok := s.nextFree(lo, hi, lo)
		if !ok {
			return poolState{}, errdefs.ErrUnavailable.WithMessage("failed to allocate gateway: " + msgNoAddrs)
		}
		s.gateway = gw
	}
	s.insert(s.gateway)
	return s, nil
}

// validate checks the configuration with docker's wording (api/types/network.ValidateIPAM): every problem is
// listed, under "invalid network config:".
func validate(subnet, ipRange netip.Prefix, gateway netip.Addr) error {
	if !subnet.IsValid() {
		return invalidConfig([]string{"invalid subnet : invalid CIDR block notation"})
	}
	family := "IPv4"
	if subnet.Addr().Is6() {
		family = "IPv6"
	}
	var errs []string
	if subnet != subnet.Masked() {
		errs = append(errs, fmt.Sprintf("invalid subnet %s: it should be %s", subnet, subnet.Masked()))
	}
	if ipRange.IsValid() {
		switch {
		case ipRange.Addr().Is6() != subnet.Addr().Is6():
			errs = append(errs, fmt.Sprintf("invalid ip-range %s: parent subnet is an %s block", ipRange, family))
		default:
			if ipRange.Bits() < subnet.Bits() {
				errs = append(errs, fmt.Sprintf("invalid ip-range %s: CIDR block is bigger than its parent subnet %s", ipRange, subnet))
			}
			if ipRange != ipRange.Masked() {
				errs = append(errs, fmt.Sprintf("invalid ip-range %s: it should be %s", ipRange, ipRange.Masked()))
			}
			if !subnet.Overlaps(ipRange) {
				errs = append(errs, fmt.Sprintf("invalid ip-range %s: parent subnet %s doesn't contain ip-range", ipRange, subnet))
			}
		}
	}
	if gateway.IsValid() {
		switch {
		case gateway.Is6() != subnet.Addr().Is6():
			errs = append(errs, fmt.Sprintf("invalid gateway %s: parent subnet is an %s block", gateway, family))
		case !subnet.Contains(gateway):
			errs = append(errs, fmt.Sprintf("invalid gateway %s: parent subnet %s doesn't contain this address", gateway, subnet))
		}
	}
	if len(errs) > 0 {
		return invalidConfig(errs)
	}
	return nil
}

// invalidConfig formats errors the way docker joins them: one alone, or a "* " list.
func invalidConfig(errs []string) error {
	msg := errs[0]
	if len(errs) > 1 {
		msg = "* " + strings.Join(errs, "\n* ")
	}
	return errdefs.ErrInvalidArgument.WithMessage("invalid network config:\n" + msg)
}

// Clone returns an independent copy of the pool: changing one does not change the other.
func (p *Pool) Clone() *Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.s
	s.reserved = slices.Clone(s.reserved)
	s.used = slices.Clone(s.used)
	return &Pool{s: s}
}

// Subnet returns the network's subnet.
func (p *Pool) Subnet() netip.Prefix {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.s.subnet
}

// IPRange returns the allocation range given to NewPool, or the zero Prefix when there is none.
func (p *Pool) IPRange() netip.Prefix {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.s.ipRange
}

// Gateway returns the gateway address.
func (p *Pool) Gateway() netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.s.gateway
}

// Allocated returns the addresses handed out by Allocate and not released, in address order (the gateway and
// reserved addresses are not included).
func (p *Pool) Allocated() []netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.s.allocated()
}

// InUse reports whether addr is reserved, the gateway or allocated.
func (p *Pool) InUse(addr netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.s.inUse(addr.Unmap())
}

// Allocate hands out preferred, or when preferred is the zero Addr a free address of the allocation range.
// A preferred address may lie anywhere in the subnet (docker's --ip); one outside it is an invalid argument, one in
// use (including the gateway and reserved addresses) a conflict, and a full allocation range is unavailable.
func (p *Pool) Allocate(preferred netip.Addr) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.s
	if preferred.IsValid() {
		preferred = preferred.Unmap()
		if !s.subnet.Contains(preferred) {
			return netip.Addr{}, errdefs.ErrInvalidArgument.WithMessage(msgOutOfRange)
		}
		if s.inUse(preferred) {
			return netip.Addr{}, errdefs.ErrConflict.WithMessage(msgInUse)
		}
		s.insert(preferred)
		return preferred, nil
	}
	lo, hi := s.bounds()
	start := lo
	if s.serial && s.next.IsValid() && s.next.Compare(lo) > 0 && s.next.Compare(hi) <= 0 {
		start = s.next
	}
	a, ok := s.nextFree(lo, hi, start)
	if !ok {
		return netip.Addr{}, errdefs.ErrUnavailable.WithMessage(msgNoAddrs)
	}
	s.insert(a)
	if s.serial {
		s.next = a.Next()
	}
	return a, nil
}

// Release returns addr to the pool. Releasing an address that is not allocated, the gateway or a reserved address
// does nothing; an address outside the subnet is an invalid argument.
func (p *Pool) Release(addr netip.Addr) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.s
	addr = addr.Unmap()
	if !s.subnet.Contains(addr) {
		return errdefs.ErrInvalidArgument.WithMessage(msgOutOfRange)
	}
	if addr == s.gateway || slices.Contains(s.reserved, addr) {
		return nil
	}
	if i, ok := slices.BinarySearchFunc(s.used, addr, netip.Addr.Compare); ok {
		s.used = slices.Delete(s.used, i, i+1)
	}
	return nil
}

// bounds returns the first and last address of the allocation range.
func (s *poolState) bounds() (lo, hi netip.Addr) {
	r := s.subnet
	if s.ipRange.IsValid() {
		r = s.ipRange
	}
	return r.Addr(), lastAddr(r)
}

// nextFree returns the first address not in use in [start, hi], then in [lo, start).
func (s *poolState) nextFree(lo, hi, start netip.Addr) (netip.Addr, bool) {
	if a, ok := s.freeFrom(start, hi); ok {
		return a, true
	}
	if start != lo {
		return s.freeFrom(lo, hi)
	}
	return netip.Addr{}, false
}

// freeFrom walks used from c: each step either finds a free address or skips a used one, so it costs at most
// len(used) steps.
func (s *poolState) freeFrom(c, hi netip.Addr) (netip.Addr, bool) {
	i, _ := slices.BinarySearchFunc(s.used, c, netip.Addr.Compare)
	for c.IsValid() && c.Compare(hi) <= 0 {
		if i < len(s.used) && s.used[i] == c {
			c = c.Next()
			i++
			continue
		}
		return c, true
	}
	return netip.Addr{}, false
}

func (s *poolState) inUse(a netip.Addr) bool {
	_, ok := slices.BinarySearchFunc(s.used, a, netip.Addr.Compare)
	return ok
}

func (s *poolState) insert(a netip.Addr) {
	i, ok := slices.BinarySearchFunc(s.used, a, netip.Addr.Compare)
	if !ok {
		s.used = slices.Insert(s.used, i, a)
	}
}

func (s *poolState) allocated() []netip.Addr {
	out := make([]netip.Addr, 0, len(s.used))
	for _, a := range s.used {
		if a != s.gateway && !slices.Contains(s.reserved, a) {
			out = append(out, a)
		}
	}
	return out
}

// poolJSON is the persisted form of a Pool.
type poolJSON struct {
	Subnet    netip.Prefix
	IPRange   netip.Prefix `json:",omitzero"`
	Gateway   netip.Addr
	Serial    bool         `json:",omitzero"`
	Next      netip.Addr   `json:",omitzero"`
	Allocated []netip.Addr `json:",omitempty"`
}

// MarshalJSON encodes the pool's whole state.
func (p *Pool) MarshalJSON() ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return json.Marshal(poolJSON{
		Subnet:    p.s.subnet,
		IPRange:   p.s.ipRange,
		Gateway:   p.s.gateway,
		Serial:    p.s.serial,
		Next:      p.s.next,
		Allocated: p.s.allocated(),
	})
}

// UnmarshalJSON restores a pool encoded by MarshalJSON, validating it as NewPool does.
func (p *Pool) UnmarshalJSON(data []byte) error {
	var j poolJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid IPAM pool state: %v", err))
	}
	var opts []Option
	if j.Serial {
		opts = append(opts, WithSerial())
	}
	s, err := newState(j.Subnet, j.IPRange, j.Gateway, opts...)
	if err != nil {
		return fmt.Errorf("invalid IPAM pool state: %w", err)
	}
	for _, a := range j.Allocated {
		a = a.Unmap()
		if !s.subnet.Contains(a) || s.inUse(a) {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid IPAM pool state: address %s is outside %s or listed twice", a, s.subnet))
		}
		s.insert(a)
	}
	s.next = j.Next
	p.mu.Lock()
	defer p.mu.Unlock()
	p.s = s
	return nil
}

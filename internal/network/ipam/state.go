package ipam

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"

	"github.com/containerd/errdefs"
)

// State is everything an IPAM has handed out: the pools by ID. Its methods apply one request each and are
// pure (no I/O, no clock); a failed request leaves the State unchanged. Its JSON form is the whole state.
type State struct {
	Pools map[string]*Pool
}

// Clone returns an independent copy of s.
func (s State) Clone() State {
	out := State{Pools: make(map[string]*Pool, len(s.Pools))}
	for id, p := range s.Pools {
		out.Pools[id] = p.Clone()
	}
	return out
}

// poolID names a pool by its subnet.
func poolID(subnet netip.Prefix) string { return subnet.String() }

// RequestPool reserves the subnet req asks for, or the first subnet of defaults that overlaps neither another
// pool nor req.Avoid, and allocates its gateway.
func (s *State) RequestPool(req PoolRequest, defaults []netip.Prefix) (PoolInfo, error) {
	subnet := req.Subnet
	if !subnet.IsValid() {
		inUse := slices.Clone(req.Avoid)
		for _, p := range s.Pools {
			inUse = append(inUse, p.Subnet())
		}
		var err error
		if subnet, err = ChooseSubnet(defaults, inUse); err != nil {
			return PoolInfo{}, err
		}
	}
	p, err := NewPool(subnet, req.IPRange, req.Gateway)
	if err != nil {
		return PoolInfo{}, err
	}
	for _, o := range s.Pools {
		if o.Subnet().Overlaps(p.Subnet()) {
			return PoolInfo{}, errdefs.ErrPermissionDenied.WithMessage("invalid pool request: Pool overlaps with other one on this address space")
		}
	}
	if s.Pools == nil {
		s.Pools = map[string]*Pool{}
	}
	id := poolID(p.Subnet())
	s.Pools[id] = p
	return info(id, p), nil
}

func info(id string, p *Pool) PoolInfo {
	return PoolInfo{ID: id, Subnet: p.Subnet(), IPRange: p.IPRange(), Gateway: p.Gateway()}
}

func (s *State) pool(id string) (*Pool, error) {
	p, ok := s.Pools[id]
	if !ok {
		return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("address pool %s not found", id))
	}
	return p, nil
}

// ReleasePool forgets a pool and its addresses.
func (s *State) ReleasePool(id string) error {
	if _, err := s.pool(id); err != nil {
		return err
	}
	delete(s.Pools, id)
	return nil
}

// RequestAddress allocates an address in a pool (see Pool.Allocate).
func (s *State) RequestAddress(poolID string, preferred netip.Addr) (netip.Addr, error) {
	p, err := s.pool(poolID)
	if err != nil {
		return netip.Addr{}, err
	}
	return p.Allocate(preferred)
}

// ReleaseAddress frees an address of a pool.
func (s *State) ReleaseAddress(poolID string, addr netip.Addr) error {
	p, err := s.pool(poolID)
	if err != nil {
		return err
	}
	return p.Release(addr)
}

// ListPools describes every pool, ordered by subnet.
func (s *State) ListPools() []PoolInfo {
	out := make([]PoolInfo, 0, len(s.Pools))
	for id, p := range s.Pools {
		out = append(out, info(id, p))
	}
	slices.SortFunc(out, func(a, b PoolInfo) int {
		return cmp.Or(a.Subnet.Addr().Compare(b.Subnet.Addr()), a.Subnet.Bits()-b.Subnet.Bits())
	})
	return out
}

// Allocated lists a pool's allocated addresses.
func (s *State) Allocated(poolID string) ([]netip.Addr, error) {
	p, err := s.pool(poolID)
	if err != nil {
		return nil, err
	}
	return p.Allocated(), nil
}

// UnmarshalJSON restores a State, checking that every pool is filed under its own ID and that no two overlap.
func (s *State) UnmarshalJSON(data []byte) error {
	var raw struct{ Pools map[string]*Pool }
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("invalid IPAM state: %w", err)
	}
	for id, p := range raw.Pools {
		if p == nil || poolID(p.Subnet()) != id {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid IPAM state: pool %s is filed under the wrong subnet", id))
		}
		for oid, o := range raw.Pools {
			if oid != id && o != nil && o.Subnet().Overlaps(p.Subnet()) {
				return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid IPAM state: pools %s and %s overlap", id, oid))
			}
		}
	}
	s.Pools = raw.Pools
	return nil
}

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
	"github.com/berth/berth/internal/network/ipam"
)

// The cluster IPAM: the subnets of the cluster's networks and the addresses handed out in them are one
// ipam.State, kept as the store value ipamValue. Managers change it inside the store transactions that create
// the objects holding what they allocate (a network and its pool, an attachment and its address), so that
// nothing is ever allocated without an owner or owned without being allocated. IPAMStore is the same state as an
// ipam.Store, for an ipam.Allocator (and the ipamtest conformance suite).

// ipamValue is the store value holding the cluster IPAM's state.
const ipamValue = "ipam/networks"

// IPAMStore is an ipam.Store over the cluster store: Load reads the state and its revision, CompareAndSwap
// replaces it if the revision did not move. Several managers may use it at once.
type IPAMStore struct {
	s    *store.Store
	name string
}

var _ ipam.Store = (*IPAMStore)(nil)

// NewIPAMStore is the cluster IPAM's state in s.
func NewIPAMStore(s *store.Store) *IPAMStore { return &IPAMStore{s: s, name: ipamValue} }

// Load implements ipam.Store.
func (i *IPAMStore) Load(ctx context.Context) (ipam.State, uint64, error) {
	st, rev, err := loadIPAM(ctx, i.s, i.name)
	return st, uint64(rev), err
}

// CompareAndSwap implements ipam.Store.
func (i *IPAMStore) CompareAndSwap(ctx context.Context, rev uint64, st ipam.State) (uint64, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	newRev, ok, err := i.s.CompareAndSwapValue(ctx, i.name, int64(rev), b)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, ipam.ErrModified
	}
	return uint64(newRev), nil
}

// loadIPAM reads the IPAM state at r's revision (inside a transaction, as a condition of its commit).
func loadIPAM(ctx context.Context, r store.Reader, name string) (ipam.State, int64, error) {
	b, rev, err := store.GetValue(ctx, r, name)
	if err != nil {
		return ipam.State{}, 0, err
	}
	var st ipam.State
	if len(b) > 0 {
		if err := json.Unmarshal(b, &st); err != nil {
			return ipam.State{}, 0, fmt.Errorf("cluster IPAM state: %w", err)
		}
	}
	return st, rev, nil
}

// saveIPAM writes the IPAM state in tx.
func saveIPAM(tx *store.Tx, st ipam.State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return store.PutValue(tx, ipamValue, b)
}

// defaultSubnets are the subnets a cluster network without --subnet may get: the cluster's default address
// pools (swarm init --default-addr-pool, 10.0.0.0/8 by default) cut into subnets of its subnet size (/24).
func defaultSubnets(cl *api.Cluster) ([]netip.Prefix, error) {
	pools := cl.DefaultAddrPool
	if len(pools) == 0 {
		pools = api.DefaultAddrPool
	}
	size := int(cl.SubnetSize)
	if size == 0 {
		size = api.DefaultSubnetSize
	}
	var in []ipam.AddressPool
	for _, p := range pools {
		in = append(in, ipam.AddressPool{Base: p.String(), Size: max(size, p.Bits())})
	}
	return ipam.SplitPools(in)
}

// tunnelSubnets are where the pool of the encryption tunnels' addresses comes from: the /16s of the default
// address pools, last first, away from the subnets networks get (which are handed out from the start).
func tunnelSubnets(cl *api.Cluster) ([]netip.Prefix, error) {
	pools := cl.DefaultAddrPool
	if len(pools) == 0 {
		pools = api.DefaultAddrPool
	}
	var in []ipam.AddressPool
	for _, p := range pools {
		in = append(in, ipam.AddressPool{Base: p.String(), Size: max(16, p.Bits()+1)})
	}
	out, err := ipam.SplitPools(in)
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

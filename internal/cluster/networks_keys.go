package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/store"
	"github.com/berth/berth/internal/network/ipam"
)

// The keys of encrypted networks. Each node makes its own WireGuard key pair and registers the public key over
// its mutual-TLS session; the managers give it an address in the tunnels (from a pool of the cluster IPAM kept
// for them) and record both as an api.NetworkNode, which every node learns with the network state. A preshared
// key, the same for every pair of nodes, is made once by a manager, kept sealed with the cluster's data key
// (which only managers hold), and handed to nodes only over their mutual-TLS sessions: a node needs both its
// peer's public key and the cluster's preshared key to talk to it, so a key pair alone, or a copy of the store,
// opens nothing.

const (
	// tunnelPoolValue holds the subnet of the tunnels' pool; pskValue the sealed preshared key.
	tunnelPoolValue = "overlay/tunnelpool"
	pskValue        = "overlay/psk"
)

// registerNetworkNode records a node's public key and gives the node a tunnel address (the same one as long as
// it stays registered).
func registerNetworkNode(ctx context.Context, s *store.Store, nodeID, publicKey string) (*api.NetworkNode, error) {
	if b, err := base64.StdEncoding.DecodeString(publicKey); err != nil || len(b) != 32 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("invalid WireGuard public key")
	}
	var out *api.NetworkNode
	err := s.Update(ctx, func(tx *store.Tx) error {
		out = nil
		nn, err := store.Get[api.NetworkNode](ctx, tx, nodeID)
		switch {
		case err == nil:
			if nn.PublicKey == publicKey && nn.TunnelAddr.IsValid() {
				out = nn
				return nil
			}
			nn.PublicKey, nn.Version = publicKey, 0
			out = nn
			return store.Put(tx, nn)
		case !errdefs.IsNotFound(err):
			return err
		}
		cl, err := clusterObject(ctx, tx)
		if err != nil {
			return err
		}
		st, _, err := loadIPAM(ctx, tx, ipamValue)
		if err != nil {
			return err
		}
		pool, err := tunnelPool(ctx, tx, cl, &st)
		if err != nil {
			return err
		}
		addr, err := st.RequestAddress(pool.String(), netip.Addr{})
		if err != nil {
			return fmt.Errorf("encryption tunnels' pool %s: %w", pool, err)
		}
		nn = &api.NetworkNode{ID: nodeID, PublicKey: publicKey, TunnelAddr: netip.PrefixFrom(addr, pool.Bits())}
		if err := store.Create(tx, nn); err != nil {
			return err
		}
		out = nn
		return saveIPAM(tx, st)
	})
	return out, err
}

// tunnelPool is the subnet of the tunnels' addresses, taken from the cluster IPAM (and recorded) the first time.
func tunnelPool(ctx context.Context, tx *store.Tx, cl *api.Cluster, st *ipam.State) (netip.Prefix, error) {
	b, _, err := store.GetValue(ctx, tx, tunnelPoolValue)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p, err := netip.ParsePrefix(string(b)); err == nil && st.Pools[p.String()] != nil {
		return p, nil
	}
	candidates, err := tunnelSubnets(cl)
	if err != nil {
		return netip.Prefix{}, err
	}
	var inUse []netip.Prefix
	for _, p := range st.ListPools() {
		inUse = append(inUse, p.Subnet)
	}
	subnet, err := ipam.ChooseSubnet(candidates, inUse)
	if err != nil {
		return netip.Prefix{}, err
	}
	pool, err := st.RequestPool(ipam.PoolRequest{Subnet: subnet}, nil)
	if err != nil {
		return netip.Prefix{}, err
	}
	return pool.Subnet, store.PutValue(tx, tunnelPoolValue, []byte(pool.Subnet.String()))
}

// releaseNetworkNode forgets a node's key and frees its tunnel address, in tx.
func releaseNetworkNode(ctx context.Context, tx *store.Tx, nn *api.NetworkNode) error {
	if err := store.Delete(tx, api.KindNetworkNode, nn.ID); err != nil {
		return err
	}
	st, _, err := loadIPAM(ctx, tx, ipamValue)
	if err != nil {
		return err
	}
	if err := st.ReleaseAddress(nn.TunnelAddr.Masked().String(), nn.TunnelAddr.Addr()); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return saveIPAM(tx, st)
}

// presharedKey is the cluster's preshared key, made and stored (sealed with dataKey) the first time.
func presharedKey(ctx context.Context, s *store.Store, dataKey []byte) ([]byte, error) {
	if len(dataKey) == 0 {
		return nil, errdefs.ErrFailedPrecondition.WithMessage("this manager does not hold the cluster's data key")
	}
	var psk []byte
	err := s.Update(ctx, func(tx *store.Tx) error {
		sealed, _, err := store.GetValue(ctx, tx, pskValue)
		if err != nil {
			return err
		}
		if len(sealed) > 0 {
			psk, err = ca.Open(dataKey, sealed)
			return err
		}
		psk = make([]byte, 32)
		if _, err := rand.Read(psk); err != nil {
			return err
		}
		if sealed, err = ca.Seal(dataKey, psk); err != nil {
			return err
		}
		return store.PutValue(tx, pskValue, sealed)
	})
	return psk, err
}

package cluster

import (
	"context"
	"time"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/store"
)

// Root CA rotation (swarm ca --rotate), as swarmkit's in outline: a new root is made (or the user's taken);
// while it rotates, nodes trust both roots and renew their certificates under the new one (their heartbeats
// are told to); once every node's certificate chains to the new root, it replaces the old, the join tokens
// pin it, and nodes trust it alone.

// startRotation begins a rotation to a new root (the spec's signing root, or a new one).
func startRotation(cl *api.Cluster, spec api.ClusterSpec, dataKey []byte) error {
	var root *ca.RootCA
	var err error
	if spec.CAConfig.SigningCACert != "" && spec.CAConfig.SigningCAKey != "" {
		root, err = ca.ParseRootCA([]byte(spec.CAConfig.SigningCACert), []byte(spec.CAConfig.SigningCAKey))
	} else {
		root, err = ca.NewRootCA()
	}
	if err != nil {
		return err
	}
	sealed, err := ca.Seal(dataKey, ca.KeyPEM(root.Key))
	if err != nil {
		return err
	}
	cl.RootCA.Rotation = &api.RootRotation{CACert: root.CertPEM, CAKeySealed: sealed}
	cl.RootCA.LastForcedRotation = spec.CAConfig.ForceRotate
	return nil
}

// progressRotation (the leader's) ends a rotation once every node has a certificate of the new root.
func (c *Cluster) progressRotation(ctx context.Context, s *store.Store) {
	cl, err := clusterObject(ctx, s)
	if err != nil || cl.RootCA.Rotation == nil {
		return
	}
	want := tlsInfo(cl.RootCA.Rotation.CACert)
	nodes, err := store.List[api.Node](ctx, s)
	if err != nil {
		return
	}
	for _, n := range nodes {
		if string(n.Description.TLSInfo.CertIssuerPublicKey) != string(want.CertIssuerPublicKey) {
			return
		}
	}
	err = s.Update(ctx, func(tx *store.Tx) error {
		cl, err := clusterObject(ctx, tx)
		if err != nil || cl.RootCA.Rotation == nil {
			return err
		}
		root, err := ca.ParseRootCA(cl.RootCA.Rotation.CACert, nil)
		if err != nil {
			return err
		}
		cl.RootCA.CACert, cl.RootCA.CAKeySealed = cl.RootCA.Rotation.CACert, cl.RootCA.Rotation.CAKeySealed
		cl.RootCA.CACertHash = root.Digest()
		cl.RootCA.Rotation = nil
		// The tokens keep their secrets and pin the new root.
		cl.RootCA.JoinTokens.Worker = repin(cl.RootCA.JoinTokens.Worker, root)
		cl.RootCA.JoinTokens.Manager = repin(cl.RootCA.JoinTokens.Manager, root)
		cl.Version = 0
		return store.Put(tx, cl)
	})
	if err != nil {
		c.log.Warn("ending the root CA rotation", "error", err)
		return
	}
	c.log.Info("root CA rotation complete", "at", time.Now().UTC())
}

func repin(token string, root *ca.RootCA) string {
	t, err := ca.ParseJoinToken(token)
	if err != nil {
		return ca.NewJoinToken(root)
	}
	return "SWMTKN-1-" + root.Digest() + "-" + t.Secret
}

package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/store"
)

// Swarm is the cluster as swarm inspect shows it.
type Swarm struct {
	Cluster *api.Cluster
	// TLSInfo is the current root's; RootRotationInProgress is set during a root CA rotation.
	TLSInfo                api.TLSInfo
	RootRotationInProgress bool
	JoinTokens             api.JoinTokens
}

// Inspect is the swarm (managers only).
func (c *Cluster) Inspect(ctx context.Context) (Swarm, error) {
	m, err := c.managerStore()
	if err != nil {
		return Swarm{}, err
	}
	cl, err := clusterObject(ctx, m.Store())
	if err != nil {
		return Swarm{}, err
	}
	return swarmOf(cl), nil
}

func swarmOf(cl *api.Cluster) Swarm {
	out := Swarm{Cluster: cl, JoinTokens: cl.RootCA.JoinTokens, TLSInfo: tlsInfo(cl.RootCA.CACert), RootRotationInProgress: cl.RootCA.Rotation != nil}
	cl.RootCA.CAKeySealed, cl.UnlockKeySealed = nil, nil
	if cl.RootCA.Rotation != nil {
		cl.RootCA.Rotation = &api.RootRotation{CACert: cl.RootCA.Rotation.CACert}
	}
	return out
}

// UpdateFlags are swarm update's rotations.
type UpdateFlags struct {
	RotateWorkerToken, RotateManagerToken, RotateManagerUnlockKey bool
}

// Update changes the swarm's spec at version (the one the caller read), and rotates what flags say.
func (c *Cluster) Update(ctx context.Context, version uint64, spec api.ClusterSpec, flags UpdateFlags) error {
	m, err := c.managerStore()
	if err != nil {
		return err
	}
	if err := api.ValidateClusterSpec(spec); err != nil {
		return err
	}
	c.mu.Lock()
	dk := c.dataKey
	c.mu.Unlock()
	var rotated bool
	err = m.Store().Update(ctx, func(tx *store.Tx) error {
		rotated = false
		cl, err := clusterObject(ctx, tx)
		if err != nil {
			return err
		}
		if version != cl.Version {
			return api.RPCError(errdefs.ErrConflict, "Unknown", "update out of sequence")
		}
		root, err := ca.ParseRootCA(firstCert(cl.RootCA.CACert), nil)
		if err != nil {
			return err
		}
		if flags.RotateWorkerToken {
			cl.RootCA.JoinTokens.Worker = ca.NewJoinToken(root)
		}
		if flags.RotateManagerToken {
			cl.RootCA.JoinTokens.Manager = ca.NewJoinToken(root)
		}
		wasLocked := cl.Spec.Encryption.AutoLockManagers
		if spec.Encryption.AutoLockManagers && (!wasLocked || flags.RotateManagerUnlockKey || len(cl.UnlockKeySealed) == 0) {
			if cl.UnlockKeySealed, err = ca.Seal(dk, []byte(ca.NewUnlockKey())); err != nil {
				return err
			}
		}
		if !spec.Encryption.AutoLockManagers {
			cl.UnlockKeySealed = nil
		}
		// A new ForceRotate, or a new signing root, starts a root CA rotation.
		if spec.CAConfig.ForceRotate != cl.Spec.CAConfig.ForceRotate || (spec.CAConfig.SigningCACert != "" && spec.CAConfig.SigningCACert != cl.Spec.CAConfig.SigningCACert) {
			if err := startRotation(cl, spec, dk); err != nil {
				return err
			}
			rotated = true
		}
		spec.CAConfig.SigningCAKey = ""
		cl.Spec = spec
		cl.Version = 0
		return store.Put(tx, cl)
	})
	if err != nil {
		return err
	}
	if rotated {
		c.log.Info("root CA rotation started")
	}
	c.hb.setPeriod(spec.Dispatcher.HeartbeatPeriod)
	return nil
}

func firstCert(bundle []byte) []byte {
	certs, err := ca.ParseCerts(bundle)
	if err != nil {
		return bundle
	}
	return pemOf(certs[0].Raw)
}

// UnlockKey is the swarm's unlock key ("" without autolock).
func (c *Cluster) UnlockKey(ctx context.Context) (string, error) {
	m, err := c.managerStore()
	if err != nil {
		return "", err
	}
	cl, err := clusterObject(ctx, m.Store())
	if err != nil {
		return "", err
	}
	if !cl.Spec.Encryption.AutoLockManagers || len(cl.UnlockKeySealed) == 0 {
		return "", nil
	}
	c.mu.Lock()
	dk := c.dataKey
	c.mu.Unlock()
	k, err := ca.Open(dk, cl.UnlockKeySealed)
	if err != nil {
		return "", err
	}
	return string(k), nil
}

// Unlock opens a locked manager's key material with the unlock key and brings the manager up.
func (c *Cluster) Unlock(ctx context.Context, key string) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	switch s, _ := c.State(); s {
	case StateLocked:
	case StateInactive:
		return ErrNoSwarm
	default:
		st := c.nodeState()
		if st.Role != api.RoleManager {
			return ErrSwarmNotManager
		}
		return ErrNotLocked
	}
	kek, err := ca.ParseUnlockKey(key)
	if err != nil {
		return err
	}
	km, sealed, err := c.loadKeys(kek)
	if sealed || err != nil {
		return ErrInvalidUnlockKey
	}
	c.mu.Lock()
	c.sealedWith = key
	c.mu.Unlock()
	if err := c.resume(km); err != nil {
		return err
	}
	// Wait (a little) for the manager to serve, as docker's unlock returns once the node is up.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s, _ := c.State(); s == StateActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// Leave leaves the swarm; a manager needs force where docker's does.
func (c *Cluster) Leave(ctx context.Context, force bool) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	state, _ := c.State()
	if state == StateInactive {
		return ErrNoSwarm
	}
	if state == StateLocked && !force {
		return ErrLockedLeave
	}
	st := c.nodeState()
	if st.Role == api.RoleManager && !force && state != StateError && state != StateLocked {
		msg := "You are attempting to leave the swarm on a node that is participating as a manager. "
		if m, err := c.managerStoreNow(); err == nil {
			reachable, unreachable := c.managerCounts(ctx, m.Store())
			if reachable+unreachable > 0 && reachable-2 <= unreachable { // moby's removingManagerCausesLossOfQuorum
				if reachable == 1 && unreachable == 0 {
					msg += "Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message. "
					return errdefs.ErrUnavailable.WithMessage(msg)
				}
				msg += fmt.Sprintf("Removing this node leaves %v managers out of %v. Without a Raft quorum your swarm will be inaccessible. ", reachable-1, reachable+unreachable)
			}
		} else {
			msg += "Doing so may lose the consensus of your cluster. "
		}
		msg += "The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message."
		return errdefs.ErrUnavailable.WithMessage(msg)
	}
	// Tell the managers (best effort): the node is down at once, a manager's store member leaves.
	if pc, cr := c.client.Load(), c.creds.Load(); pc != nil && cr != nil && state != StateLocked && state != StateError {
		for _, addr := range orderManagers(st.Managers, 0) {
			if addr == st.Addr && st.Role == api.RoleManager {
				if err := c.leaveSelf(ctx); err == nil {
					break
				}
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := pc.call(cctx, addr, pathLeave, struct{}{}, nil)
			cancel()
			if err == nil {
				break
			}
		}
	}
	c.stopRun()
	// The node's tasks stop with its membership, as docker's.
	if a := c.agent.Swap(nil); a != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		if err := a.RemoveAll(rctx); err != nil {
			c.log.Warn("removing the node's task containers", "error", err)
		}
		cancel()
	}
	c.clear()
	c.log.Info("left the swarm", "node", st.NodeID)
	return nil
}

// leaveSelf is nodeLeft for this manager, through its own store.
func (c *Cluster) leaveSelf(ctx context.Context) error {
	cr := c.creds.Load()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.nodeLeft(cctx, cr.id)
}

// managerCounts are the reachable and unreachable managers.
func (c *Cluster) managerCounts(ctx context.Context, s *store.Store) (reachable, unreachable int) {
	nodes, err := store.List[api.Node](ctx, s)
	if err != nil {
		return 0, 0
	}
	for _, n := range nodes {
		if n.Role != api.RoleManager {
			continue
		}
		if n.Status.State == api.NodeStateReady {
			reachable++
		} else {
			unreachable++
		}
	}
	return reachable, unreachable
}

// Info is the node's swarm description for docker info.
type Info struct {
	NodeID, NodeAddr string
	State            LocalState
	ControlAvailable bool
	Error            string
	RemoteManagers   []Peer
	Nodes, Managers  int
	// Swarm is set on a serving manager.
	Swarm    *Swarm
	Warnings []string
}

// Info describes the node's membership.
func (c *Cluster) Info(ctx context.Context) Info {
	state, msg := c.State()
	st := c.nodeState()
	info := Info{State: state, Error: msg, NodeID: st.NodeID, RemoteManagers: st.Managers}
	if host, _, err := splitAddr(st.Addr); err == nil {
		info.NodeAddr = host
	}
	if state == StateInactive {
		return Info{State: state}
	}
	m, err := c.managerStoreNow()
	if err != nil {
		if st.Role == api.RoleManager && state == StatePending {
			info.ControlAvailable = false
		}
		return info
	}
	info.ControlAvailable = true
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := clusterObject(ctx, m.Store())
	if err != nil {
		info.Error = err.Error()
		return info
	}
	sw := swarmOf(cl)
	info.Swarm = &sw
	nodes, err := store.List[api.Node](ctx, m.Store())
	if err != nil {
		info.Error = err.Error()
		return info
	}
	info.Nodes = len(nodes)
	leader, _ := m.Leader()
	info.RemoteManagers = nil
	for _, n := range nodes {
		if n.Role == api.RoleManager {
			info.Managers++
			if n.Manager != nil {
				info.RemoteManagers = append(info.RemoteManagers, Peer{NodeID: n.ID, Addr: n.Manager.Addr, Leader: n.ID == leader})
			}
		}
	}
	if info.Managers == 2 {
		info.Warnings = append(info.Warnings, `WARNING: Running Swarm in a two-manager configuration. This configuration provides
         no fault tolerance, and poses a high risk to lose control over the cluster.
         Refer to https://docs.docker.com/engine/swarm/admin_guide/ to configure the
         Swarm for fault-tolerance.`)
	}
	return info
}

package cluster

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/manager"
	"github.com/berth/berth/internal/cluster/store"
)

// Disaster recovery: `docker swarm init --force-new-cluster` on a manager of a swarm that lost quorum makes a
// one-manager swarm from this manager's copy of the state. Its store member restarts from its data as the only
// member of the store (etcd's --force-new-cluster), then the cluster's own record of its managers is made to
// agree: the other managers are down and no longer store members (node ls shows them Down and Unreachable,
// node rm removes them), this one is the only manager the nodes are told about. Services, tasks, secrets,
// configs, networks and nodes are kept; workers keep running their tasks and their sessions find this manager.

// forcedNodeMessage is the status message of a manager dropped from the store by a forced new cluster.
const forcedNodeMessage = "removed from the managers by swarm init --force-new-cluster"

// forceLeadWait bounds the wait for the forced one-member store to elect its member.
const forceLeadWait = 30 * time.Second

// forceNewCluster is swarm init --force-new-cluster on a node in a swarm (c.ctl held); it returns the node's ID.
// The settings given with it (the fields docker's CLI sends for the flags set) go over the swarm's, as moby's
// initClusterSpec merges them.
func (c *Cluster) forceNewCluster(ctx context.Context, req InitRequest) (string, error) {
	given := req.Spec
	st := c.nodeState()
	state, _ := c.State()
	if state == StateError || st.Role != api.RoleManager {
		return "", ErrSwarmNotManager
	}
	// The node keeps its addresses (the CLI always sends the default listen address); a different advertise
	// address is refused rather than ignored.
	if req.AdvertiseAddr != "" {
		_, adv, err := resolveAddrs(req.ListenAddr, req.AdvertiseAddr)
		if err != nil {
			return "", err
		}
		have, _, _ := splitAddr(st.Addr)
		if want, _, _ := splitAddr(adv); want != have {
			return "", invalid("--force-new-cluster keeps this node's advertise address %s: moving the node to %s is not supported", have, want)
		}
	}
	if len(c.cfg.External.Endpoints) > 0 {
		return "", invalid("this swarm keeps its state in an external etcd, whose own members hold its quorum: --force-new-cluster has no store member to restart here")
	}
	if given.Name != "" && given.Name != api.ClusterName {
		return "", invalid(`swarm spec must be named "default"`)
	}
	if given.CAConfig.SigningCACert != "" || given.CAConfig.SigningCAKey != "" {
		return "", invalid("a new root CA cannot be given with --force-new-cluster: rotate it afterwards with docker swarm ca --rotate")
	}
	// Bad settings are refused before anything changes (the swarm's own spec cannot be read without quorum:
	// they are checked over the defaults).
	if err := api.ValidateClusterSpec(mergeGivenSpec(api.DefaultClusterSpec(), given)); err != nil {
		return "", err
	}
	c.mu.Lock()
	runCtx := c.runCtx
	c.mu.Unlock()
	if runCtx == nil || runCtx.Err() != nil {
		return "", ErrManagerStarting
	}
	c.log.Warn("forcing a new cluster from this manager's copy of the swarm's state", "node", st.NodeID)
	c.stopStoreMember()
	c.setState(StatePending, "")
	if err := c.startManager(runCtx, nil, false, true); err != nil {
		// The member comes back from whatever its data now says (the old store, or the new one-member store if
		// etcd got as far as committing the membership change), in the background.
		if rerr := c.startManager(runCtx, nil, true, false); rerr != nil {
			c.log.Warn("restarting the store member after a failed --force-new-cluster", "error", rerr)
		}
		return "", fmt.Errorf("restarting the cluster store as a new cluster: %w", err)
	}
	m, err := c.managerStore()
	if err != nil {
		return "", err
	}
	if err := waitLeading(ctx, m); err != nil {
		return "", err
	}
	var period time.Duration
	err = m.Store().Update(ctx, func(tx *store.Tx) error {
		nodes, err := store.List[api.Node](ctx, tx)
		if err != nil {
			return err
		}
		for _, n := range forcedMembership(nodes, st.NodeID, m.MemberID()) {
			n.Version = 0
			if err := store.Put(tx, n); err != nil {
				return err
			}
		}
		cl, err := clusterObject(ctx, tx)
		if err != nil {
			return err
		}
		spec := mergeGivenSpec(cl.Spec, given)
		if err := api.ValidateClusterSpec(spec); err != nil {
			return err
		}
		period = spec.Dispatcher.HeartbeatPeriod
		if reflect.DeepEqual(spec, cl.Spec) {
			return nil
		}
		cl.Spec, cl.Version = spec, 0
		return store.Put(tx, cl)
	})
	if err != nil {
		return "", fmt.Errorf("recording the new cluster's managers: %w", err)
	}
	c.hb.setPeriod(period)
	if err := c.updateState(func(s *nodeState) { s.Managers = []Peer{{NodeID: s.NodeID, Addr: s.Addr, Leader: true}} }); err != nil {
		return "", err
	}
	c.log.Info("swarm re-initialized as a new cluster with this node as its only manager", "node", st.NodeID)
	return st.NodeID, nil
}

// mergeGivenSpec is the swarm's spec with the settings given to init over it: mergeSpec's fields, keeping the
// swarm's labels, external CAs and task defaults where none were given (init's merge starts from defaults, where
// an empty value loses nothing).
func mergeGivenSpec(cur, given api.ClusterSpec) api.ClusterSpec {
	out := mergeSpec(cur, given)
	if len(given.Labels) == 0 {
		out.Labels = cur.Labels
	}
	if len(given.CAConfig.ExternalCAs) == 0 {
		out.CAConfig.ExternalCAs = cur.CAConfig.ExternalCAs
	}
	if reflect.ValueOf(given.TaskDefaults).IsZero() {
		out.TaskDefaults = cur.TaskDefaults
	}
	out.CAConfig.SigningCACert, out.CAConfig.SigningCAKey = cur.CAConfig.SigningCACert, ""
	return out
}

// waitLeading waits until the manager's one-member store has elected it.
func waitLeading(ctx context.Context, m *manager.Manager) error {
	deadline := time.NewTimer(forceLeadWait)
	defer deadline.Stop()
	for {
		id, changed := m.Leader()
		if id != "" && m.IsLeader() {
			return nil
		}
		select {
		case <-changed:
		case <-time.After(100 * time.Millisecond):
		case <-deadline.C:
			return fmt.Errorf("the new cluster's store did not elect this manager in %v: %w", forceLeadWait, store.ErrNoLeader)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// forcedMembership is what a forced new cluster changes in the node records: every other manager is down and no
// longer a store member (its address is kept for node ls), and self is the store's one member. It returns
// changed copies; the records given are not modified.
func forcedMembership(nodes []*api.Node, self string, memberID uint64) []*api.Node {
	var out []*api.Node
	for _, n := range nodes {
		if n.Role != api.RoleManager {
			continue
		}
		cp := *n
		if n.ID == self {
			if n.Manager == nil || n.Manager.MemberID == memberID {
				continue
			}
			mi := *n.Manager
			mi.MemberID = memberID
			cp.Manager = &mi
			out = append(out, &cp)
			continue
		}
		mi := api.ManagerInfo{}
		if n.Manager != nil {
			mi.Addr = n.Manager.Addr
		}
		cp.Manager = &mi
		cp.Status.State, cp.Status.Message = api.NodeStateDown, forcedNodeMessage
		out = append(out, &cp)
	}
	return out
}

// storeMember reports whether a manager node has a member in the store's membership (by its name, the node's
// ID, or for a learner that has not started yet, its peer URL).
func storeMember(n *api.Node, members []manager.Member) bool {
	for _, mem := range members {
		if mem.Name == n.ID {
			return true
		}
		if n.Manager != nil && n.Manager.PeerURL != "" && mem.PeerURL == n.Manager.PeerURL {
			return true
		}
	}
	return false
}

// forcedOut reports whether a node is a manager that a forced new cluster dropped from the (embedded) store: a
// manager without a member. A joining or promoted manager has its member ID from the moment its record says
// manager.
func forcedOut(n *api.Node) bool {
	return n.Role == api.RoleManager && n.Manager != nil && n.Manager.MemberID == 0 && n.Manager.PeerURL == ""
}

// demoteForcedOut records a dropped manager that came back as a worker: its store member can never rejoin the
// new store, and docker's answer (demote it, then promote it again if a manager is wanted) is what the node
// then does by itself — its heartbeat tells it to renew its certificate, for the worker role, and it leaves
// its old store's data. Its tasks run on. It returns the node as recorded.
func (c *Cluster) demoteForcedOut(ctx context.Context, s *store.Store, id string) (*api.Node, error) {
	var out *api.Node
	var changed bool
	err := s.Update(ctx, func(tx *store.Tx) error {
		n, err := store.Get[api.Node](ctx, tx, id)
		if err != nil {
			return err
		}
		out, changed = n, forcedOut(n)
		if !changed {
			return nil // the dispatcher's view was behind the store
		}
		n.Role, n.Spec.DesiredRole, n.Manager, n.Version = api.RoleWorker, api.RoleWorker, nil, 0
		return store.Put(tx, n)
	})
	if err != nil {
		return nil, err
	}
	if changed {
		c.log.Info("a manager dropped by --force-new-cluster came back: it carries on as a worker", "node", id)
	}
	return out, nil
}

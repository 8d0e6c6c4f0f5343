package cluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/manager"
	"github.com/berth/berth/internal/cluster/store"
	"github.com/berth/berth/internal/filters"
)

// Reachability is a manager's, as docker shows it.
type Reachability string

// The reachabilities.
const (
	Reachable   Reachability = "reachable"
	Unreachable Reachability = "unreachable"
)

// ManagerStatus is a manager node's place in the control plane, as node ls shows it.
type ManagerStatus struct {
	Leader       bool
	Reachability Reachability
	Addr         string
}

// Node is a node as the nodes API shows it: the stored node and, for a manager, its status.
type Node struct {
	*api.Node
	ManagerStatus *ManagerStatus
}

func view(n *api.Node, leader string) Node {
	v := Node{Node: n}
	if n.Role == api.RoleManager && n.Manager != nil {
		v.ManagerStatus = &ManagerStatus{Leader: n.ID == leader, Reachability: Unreachable, Addr: n.Manager.Addr}
		if n.Status.State == api.NodeStateReady {
			v.ManagerStatus.Reachability = Reachable
		}
	}
	return v
}

// Nodes lists the nodes that pass f (docker's node filters: id, label, node.label, name, membership, role).
func (c *Cluster) Nodes(ctx context.Context, f filters.Args) ([]Node, error) {
	m, err := c.managerStore()
	if err != nil {
		return nil, err
	}
	if err := f.Validate("id", "label", "name", "membership", "role", "node.label"); err != nil {
		return nil, err
	}
	for _, r := range f.Get("role") {
		if r != "manager" && r != "worker" {
			return nil, invalid("Invalid role filter value %s. Must be one of manager or worker", r)
		}
	}
	for _, mb := range f.Get("membership") {
		if mb != "accepted" && mb != "pending" {
			return nil, invalid("Invalid membership filter value %s. Must be one of accepted or pending", mb)
		}
	}
	nodes, err := store.List[api.Node](ctx, m.Store())
	if err != nil {
		return nil, err
	}
	leader, _ := m.Leader()
	out := []Node{}
	for _, n := range nodes {
		if !f.ExactMatch("membership", "accepted") && len(f.Get("membership")) > 0 {
			continue
		}
		if ids := f.Get("id"); len(ids) > 0 && !anyPrefix(n.ID, ids) {
			continue
		}
		if names := f.Get("name"); len(names) > 0 && !anyContains(nodeName(n), names) {
			continue
		}
		if roles := f.Get("role"); len(roles) > 0 && !f.ExactMatch("role", string(n.Role)) {
			continue
		}
		if !f.MatchKVList("label", n.Description.Engine.Labels) || !f.MatchKVList("node.label", n.Spec.Labels) {
			continue
		}
		out = append(out, view(n, leader))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func nodeName(n *api.Node) string {
	if n.Spec.Name != "" {
		return n.Spec.Name
	}
	return n.Description.Hostname
}

func anyPrefix(s string, ps []string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func anyContains(s string, ps []string) bool {
	for _, p := range ps {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// lookup finds a node by full ID, then name (or hostname), then ID prefix, as moby's getNode.
func lookup(nodes []*api.Node, ref string) (*api.Node, error) {
	for _, n := range nodes {
		if n.ID == ref {
			return n, nil
		}
	}
	var byName []*api.Node
	for _, n := range nodes {
		if nodeName(n) == ref {
			byName = append(byName, n)
		}
	}
	matches := byName
	if len(matches) == 0 && ref != "" {
		for _, n := range nodes {
			if strings.HasPrefix(n.ID, ref) {
				matches = append(matches, n)
			}
		}
	}
	switch len(matches) {
	case 0:
		return nil, notFound("node", ref)
	case 1:
		return matches[0], nil
	}
	return nil, invalid("node %s is ambiguous (%d matches found)", ref, len(matches))
}

// Node is one node by ID, name or ID prefix.
func (c *Cluster) Node(ctx context.Context, ref string) (Node, error) {
	m, err := c.managerStore()
	if err != nil {
		return Node{}, err
	}
	nodes, err := store.List[api.Node](ctx, m.Store())
	if err != nil {
		return Node{}, err
	}
	n, err := lookup(nodes, ref)
	if err != nil {
		return Node{}, err
	}
	leader, _ := m.Leader()
	return view(n, leader), nil
}

// UpdateNode sets a node's spec at version (node update, promote, demote).
func (c *Cluster) UpdateNode(ctx context.Context, ref string, version uint64, spec api.NodeSpec) error {
	m, err := c.managerStore()
	if err != nil {
		return err
	}
	if err := api.ValidateNodeSpec(spec); err != nil {
		return err
	}
	return m.Store().Update(ctx, func(tx *store.Tx) error {
		nodes, err := store.List[api.Node](ctx, tx)
		if err != nil {
			return err
		}
		n, err := lookup(nodes, ref)
		if err != nil {
			return err
		}
		if version != n.Version {
			return api.RPCError(errdefs.ErrConflict, "Unknown", "update out of sequence")
		}
		if n.Spec.DesiredRole == api.RoleManager && spec.DesiredRole == api.RoleWorker {
			managers, reachable := 0, 0
			for _, o := range nodes {
				if o.Role == api.RoleManager && o.Spec.DesiredRole == api.RoleManager {
					managers++
					if o.Status.State == api.NodeStateReady {
						reachable++
					}
				}
			}
			if managers <= 1 {
				return api.RPCError(errdefs.ErrFailedPrecondition, "FailedPrecondition", "attempting to demote the last manager of the swarm")
			}
			// Removing a reachable member must leave a quorum of the members that remain.
			if n.Status.State == api.NodeStateReady && reachable-1 <= (managers-1)/2 {
				return api.RPCError(errdefs.ErrFailedPrecondition, "FailedPrecondition", "can't remove member from the raft: this would result in a loss of quorum")
			}
		}
		n.Spec = spec
		return store.Put(tx, n)
	})
}

// RemoveNode removes a node from the swarm: down nodes only, unless force; never a manager.
func (c *Cluster) RemoveNode(ctx context.Context, ref string, force bool) error {
	m, err := c.managerStore()
	if err != nil {
		return err
	}
	// A manager that is no longer a member of the store (dropped by swarm init --force-new-cluster) can be
	// removed, as swarmkit's, which asks the raft membership rather than the node's role.
	var members []manager.Member
	if m.Embedded() {
		if members, err = m.Members(ctx); err != nil {
			return err
		}
	}
	var removed string
	err = m.Store().Update(ctx, func(tx *store.Tx) error {
		nodes, err := store.List[api.Node](ctx, tx)
		if err != nil {
			return err
		}
		n, err := lookup(nodes, ref)
		if err != nil {
			return err
		}
		if (n.Role == api.RoleManager || n.Spec.DesiredRole == api.RoleManager) && (!m.Embedded() || storeMember(n, members)) {
			return api.RPCError(errdefs.ErrFailedPrecondition, "FailedPrecondition", "node %s is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal", n.ID)
		}
		if !force && n.Status.State == api.NodeStateReady {
			return api.RPCError(errdefs.ErrFailedPrecondition, "FailedPrecondition", "node %s is not down and can't be removed", n.ID)
		}
		cl, err := clusterObject(ctx, tx)
		if err != nil {
			return err
		}
		if cl.RemovedNodes == nil {
			cl.RemovedNodes = map[string]time.Time{}
		}
		// Its certificate is refused until it would have expired.
		cl.RemovedNodes[n.ID] = time.Now().Add(cl.Spec.CAConfig.NodeCertExpiry).UTC()
		for id, until := range cl.RemovedNodes {
			if time.Now().After(until) {
				delete(cl.RemovedNodes, id)
			}
		}
		cl.Version = 0
		if err := store.Put(tx, cl); err != nil {
			return err
		}
		removed = n.ID
		return store.Delete(tx, api.KindNode, n.ID)
	})
	if err != nil {
		return err
	}
	c.hb.forget(removed)
	c.log.Info("node removed", "node", removed, "force", force)
	return nil
}

// String is a node's short description for logs.
func (n Node) String() string { return fmt.Sprintf("%s (%s)", n.ID, nodeName(n.Node)) }

// Tasks lists the cluster's tasks that pass f (docker's task filters: id, name, service, node, label,
// desired-state, and the CLI's _up-to-date), as moby's GetTasks: services and nodes are named by ID, name or
// ID prefix, a name matches a task name's prefix.
func (c *Cluster) Tasks(ctx context.Context, f filters.Args) ([]*api.Task, error) {
	m, err := c.managerStore()
	if err != nil {
		return nil, err
	}
	if err := f.Validate("id", "name", "service", "node", "label", "desired-state", "_up-to-date", "runtime"); err != nil {
		return nil, err
	}
	var desired []api.TaskState
	for _, s := range f.Get("desired-state") {
		st, ok := api.ParseTaskState(strings.ToLower(s))
		if !ok && s != "" {
			return nil, invalid("Invalid desired-state filter: '%s'", s)
		}
		if ok {
			desired = append(desired, st)
		}
	}
	v, err := m.Store().View(ctx)
	if err != nil {
		return nil, err
	}
	services := map[string]*api.Service{}
	var serviceIDs []string
	if refs := f.Get("service"); len(refs) > 0 || f.Contains("_up-to-date") || f.Contains("name") {
		all, err := store.List[api.Service](ctx, v)
		if err != nil {
			return nil, err
		}
		for _, s := range all {
			services[s.ID] = s
		}
		for _, ref := range refs {
			s, err := lookupNamed(all, ref, "service", serviceName)
			if err != nil {
				return nil, err
			}
			serviceIDs = append(serviceIDs, s.ID)
		}
	}
	var nodeIDs []string
	if refs := f.Get("node"); len(refs) > 0 {
		nodes, err := store.List[api.Node](ctx, v)
		if err != nil {
			return nil, err
		}
		for _, ref := range refs {
			n, err := lookup(nodes, ref)
			if err != nil {
				return nil, err
			}
			nodeIDs = append(nodeIDs, n.ID)
		}
	}
	tasks, err := store.List[api.Task](ctx, v)
	if err != nil {
		return nil, err
	}
	out := []*api.Task{}
	for _, t := range tasks {
		if ids := f.Get("id"); len(ids) > 0 && !anyPrefix(t.ID, ids) {
			continue
		}
		if len(nodeIDs) > 0 && !contains(nodeIDs, t.NodeID) {
			continue
		}
		if len(serviceIDs) > 0 && !contains(serviceIDs, t.ServiceID) {
			continue
		}
		if len(desired) > 0 && !slices.Contains(desired, t.DesiredState) {
			continue
		}
		if names := f.Get("name"); len(names) > 0 && !anyPrefix(api.TaskName(t), names) {
			continue
		}
		if !f.MatchKVList("label", t.ServiceAnnotations.Labels) {
			continue
		}
		if f.Contains("_up-to-date") {
			if s := services[t.ServiceID]; s == nil || !taskUpToDate(s, t) {
				continue
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// Task is one task by ID (or ID prefix, as moby's getTask).
func (c *Cluster) Task(ctx context.Context, ref string) (*api.Task, error) {
	m, err := c.managerStore()
	if err != nil {
		return nil, err
	}
	t, err := store.Get[api.Task](ctx, m.Store(), ref)
	if err == nil {
		return t, nil
	}
	if !errdefs.IsNotFound(err) {
		return nil, err
	}
	tasks, err := store.List[api.Task](ctx, m.Store())
	if err != nil {
		return nil, err
	}
	var matches []*api.Task
	for _, t := range tasks {
		if strings.HasPrefix(t.ID, ref) && ref != "" {
			matches = append(matches, t)
		}
	}
	switch len(matches) {
	case 0:
		return nil, notFound("task", ref)
	case 1:
		return matches[0], nil
	}
	return nil, invalid("task %s is ambiguous (%d matches found)", ref, len(matches))
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
	"github.com/berth/berth/internal/network/ipam"
)

// Cluster networks (overlay) in the store: each is an api.Network holding its subnet (a pool of the cluster
// IPAM) and its VXLAN ID; each endpoint on one is an api.Attachment holding its address, on the node that runs
// it. Creating a network takes its pool and VNI, attaching takes an address, in the same transaction as the
// object that owns them; removing gives them back the same way. The functions of this file work on a store and
// know nothing of the node they run on: the Cluster's methods (networks_node.go) check the node's role and
// reach the managers from a worker.

// errNetworkNotFound is docker's answer for a network that is not there.
func errNetworkNotFound(ref string) error {
	return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("network %s not found", ref))
}

// findNetwork finds a cluster network by name, ID or unique ID prefix, as docker resolves network references.
func findNetwork(ctx context.Context, r store.Reader, ref string) (*api.Network, error) {
	if ref == "" {
		return nil, errNetworkNotFound(ref)
	}
	if n, err := store.GetByName[api.Network](ctx, r, ref); err == nil {
		return n, nil
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}
	if n, err := store.Get[api.Network](ctx, r, ref); err == nil {
		return n, nil
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}
	nets, err := store.List[api.Network](ctx, r)
	if err != nil {
		return nil, err
	}
	var found *api.Network
	for _, n := range nets {
		if strings.HasPrefix(n.ID, ref) {
			if found != nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("network %s is ambiguous (%d matches found based on ID prefix)", ref, 2))
			}
			found = n
		}
	}
	if found == nil {
		return nil, errNetworkNotFound(ref)
	}
	return found, nil
}

// poolRequest is the IPAM request of a network spec (its first subnet, if any).
func poolRequest(spec api.NetworkSpec) ipam.PoolRequest {
	var req ipam.PoolRequest
	if len(spec.IPAM) == 0 {
		return req
	}
	c := spec.IPAM[0]
	req.Subnet, _ = netip.ParsePrefix(c.Subnet)
	req.IPRange, _ = netip.ParsePrefix(c.Range)
	req.Gateway, _ = netip.ParseAddr(c.Gateway)
	return req
}

// nextVNI is the lowest VXLAN ID no network holds: FirstVNI for the ingress network, from FirstVNI+1 for others
// (the first overlay network gets 4097, as docker's).
func nextVNI(nets []*api.Network, ingress bool) (uint32, error) {
	used := map[uint32]bool{}
	for _, n := range nets {
		used[n.VNI()] = true
	}
	first := uint32(api.FirstVNI + 1)
	if ingress {
		first = api.FirstVNI
	}
	for v := first; v <= api.MaxVNI; v++ {
		if !used[v] {
			return v, nil
		}
	}
	return 0, errdefs.ErrUnavailable.WithMessage("no free VXLAN ID left")
}

// createNetwork stores a new cluster network with a subnet from the cluster IPAM and a VNI.
func createNetwork(ctx context.Context, s *store.Store, spec api.NetworkSpec) (*api.Network, error) {
	if err := api.ValidateNetworkSpec(spec); err != nil {
		return nil, err
	}
	if spec.Driver == nil {
		spec.Driver = &api.Driver{Name: api.DriverOverlay}
	} else if spec.Driver.Name == "" {
		spec.Driver.Name = api.DriverOverlay
	}
	var out *api.Network
	err := s.Update(ctx, func(tx *store.Tx) error {
		cl, err := clusterObject(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := store.GetByName[api.Network](ctx, tx, spec.Name); err == nil {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf("network with name %s already exists", spec.Name))
		}
		nets, err := store.List[api.Network](ctx, tx)
		if err != nil {
			return err
		}
		if spec.Ingress {
			// One ingress network per swarm (docker's way to change its subnet: rm ingress, create --ingress).
			for _, n := range nets {
				if n.Spec.Ingress {
					return api.RPCError(errdefs.ErrAlreadyExists, "AlreadyExists", "ingress network (%s) is already present", n.ID)
				}
			}
		}
		vni, err := nextVNI(nets, spec.Ingress)
		if err != nil {
			return err
		}
		st, _, err := loadIPAM(ctx, tx, ipamValue)
		if err != nil {
			return err
		}
		defaults, err := defaultSubnets(cl)
		if err != nil {
			return err
		}
		pool, err := st.RequestPool(poolRequest(spec), defaults)
		if err != nil {
			return err
		}
		n := &api.Network{ID: api.NewID(), Spec: spec,
			DriverState: map[string]string{api.OptVXLANIDs: strconv.FormatUint(uint64(vni), 10)},
			IPAM:        []api.IPAMConfig{{Subnet: pool.Subnet.String(), Gateway: pool.Gateway.String()}}}
		if pool.IPRange.IsValid() {
			n.IPAM[0].Range = pool.IPRange.String()
		}
		if err := store.Create(tx, n); err != nil {
			if errors.Is(err, store.ErrNameConflict) {
				return errdefs.ErrConflict.WithMessage(fmt.Sprintf("network with name %s already exists", spec.Name))
			}
			return err
		}
		out = n
		return saveIPAM(tx, st)
	})
	return out, err
}

// networkPool is the ID of a network's pool in the cluster IPAM (its subnet), "" for one without.
func networkPool(n *api.Network) string {
	if len(n.IPAM) == 0 {
		return ""
	}
	p, err := netip.ParsePrefix(n.IPAM[0].Subnet)
	if err != nil {
		return ""
	}
	return p.Masked().String()
}

// removeNetwork deletes a cluster network no service and no endpoint uses, and gives its pool back; swarmkit's
// words for one in use.
func removeNetwork(ctx context.Context, s *store.Store, ref string) (*api.Network, error) {
	var out *api.Network
	err := s.Update(ctx, func(tx *store.Tx) error {
		n, err := findNetwork(ctx, tx, ref)
		if err != nil {
			return err
		}
		services, err := store.List[api.Service](ctx, tx)
		if err != nil {
			return err
		}
		for _, svc := range services {
			if serviceUses(svc, n.ID) {
				return api.RPCError(errdefs.ErrFailedPrecondition, "FailedPrecondition", "network %s is in use by service %s", n.ID, svc.ID)
			}
		}
		atts, err := store.List[api.Attachment](ctx, tx)
		if err != nil {
			return err
		}
		for _, a := range atts {
			if a.NetworkID == n.ID {
				if leaving, err := taskLeaving(ctx, tx, a, services); err != nil {
					return err
				} else if leaving {
					continue
				}
				user := a.TaskID
				if user == "" {
					user = a.ID
				}
				return api.RPCError(errdefs.ErrFailedPrecondition, "FailedPrecondition", "network %s is in use by task %s", n.ID, user)
			}
		}
		if err := store.Delete(tx, api.KindNetwork, n.ID); err != nil {
			return err
		}
		if pool := networkPool(n); pool != "" {
			st, _, err := loadIPAM(ctx, tx, ipamValue)
			if err != nil {
				return err
			}
			if err := st.ReleasePool(pool); err != nil && !errdefs.IsNotFound(err) {
				return err
			}
			if err := saveIPAM(tx, st); err != nil {
				return err
			}
		}
		out = n
		return nil
	})
	return out, err
}

// serviceUses reports whether a service's spec names the network (by ID or name).
func serviceUses(svc *api.Service, networkID string) bool {
	if svc.Endpoint != nil && hasIngressPorts(&svc.Spec) {
		for _, v := range svc.Endpoint.VirtualIPs {
			if v.NetworkID == networkID {
				return true // the ingress network, while the service publishes through it
			}
		}
	}
	for _, na := range slices.Concat(svc.Spec.Networks, svc.Spec.Task.Networks) {
		if na.Target == networkID {
			return true
		}
	}
	return false
}

// AttachRequest asks the cluster for an endpoint on one of its networks, for a container of the calling node.
type AttachRequest struct {
	// Network is the network's name, ID or ID prefix.
	Network string `json:"network"`
	// ContainerID, Name and Aliases are the container's (the names the embedded DNS answers).
	ContainerID string   `json:"containerID,omitempty"`
	Name        string   `json:"name,omitempty"`
	Aliases     []string `json:"aliases,omitempty"`
	// Addr is the address asked for (--ip); zero for any. MAC likewise (--mac-address).
	Addr netip.Addr `json:"addr,omitzero"`
	MAC  string     `json:"mac,omitempty"`
	// Attachment names an attachment allocated beforehand (a task's): the call hands it to the node instead of
	// allocating one.
	Attachment string `json:"attachment,omitempty"`
}

// attach gives the node's container an endpoint on a cluster network, or hands it the one allocated for its
// task. Asking again for the same container returns the same attachment (a retried call allocates nothing).
func attach(ctx context.Context, s *store.Store, nodeID string, req AttachRequest) (*api.Attachment, *api.Network, error) {
	var att *api.Attachment
	var net *api.Network
	err := s.Update(ctx, func(tx *store.Tx) error {
		att, net = nil, nil
		n, err := findNetwork(ctx, tx, req.Network)
		if err != nil {
			return err
		}
		net = n
		if req.Attachment != "" {
			a, err := store.Get[api.Attachment](ctx, tx, req.Attachment)
			if err != nil {
				return err
			}
			if a.NetworkID != n.ID {
				return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("attachment %s is not on network %s", a.ID, req.Network))
			}
			if a.NodeID != "" && a.NodeID != nodeID {
				return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("attachment %s belongs to node %s", a.ID, a.NodeID))
			}
			att = a
			if a.NodeID == nodeID && a.ContainerID == req.ContainerID {
				return nil
			}
			a.NodeID, a.ContainerID, a.Version = nodeID, req.ContainerID, 0
			return store.Put(tx, a)
		}
		if !n.Spec.Attachable && !(n.Spec.Ingress && req.ContainerID == IngressSandbox) {
			return api.RPCError(errdefs.ErrPermissionDenied, "PermissionDenied", "network %s not manually attachable", n.Spec.Name)
		}
		if req.ContainerID == "" {
			return errdefs.ErrInvalidArgument.WithMessage("an attachment needs a container")
		}
		atts, err := store.List[api.Attachment](ctx, tx)
		if err != nil {
			return err
		}
		for _, a := range atts {
			if a.NetworkID == n.ID && a.NodeID == nodeID && a.ContainerID == req.ContainerID {
				att = a
				return nil
			}
		}
		pool := networkPool(n)
		if pool == "" {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("container cannot be connected to network %s", n.Spec.Name))
		}
		st, _, err := loadIPAM(ctx, tx, ipamValue)
		if err != nil {
			return err
		}
		addr, err := st.RequestAddress(pool, req.Addr)
		if err != nil {
			return err
		}
		mac := req.MAC
		if mac == "" {
			mac = ipam.MAC(addr).String()
		}
		prefix, _ := netip.ParsePrefix(pool)
		a := &api.Attachment{ID: api.NewID(), NetworkID: n.ID, NodeID: nodeID, ContainerID: req.ContainerID,
			Name: req.Name, Aliases: slices.Clone(req.Aliases), Addr: netip.PrefixFrom(addr, prefix.Bits()), MAC: mac}
		if err := store.Create(tx, a); err != nil {
			return err
		}
		att = a
		return saveIPAM(tx, st)
	})
	if err != nil {
		return nil, nil, err
	}
	return att, net, nil
}

// releaseAttachment deletes an attachment and frees its address, in tx.
func releaseAttachment(ctx context.Context, tx *store.Tx, a *api.Attachment) error {
	if err := store.Delete(tx, api.KindAttachment, a.ID); err != nil {
		return err
	}
	n, err := store.Get[api.Network](ctx, tx, a.NetworkID)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	st, _, err := loadIPAM(ctx, tx, ipamValue)
	if err != nil {
		return err
	}
	if err := st.ReleaseAddress(networkPool(n), a.Addr.Addr()); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return saveIPAM(tx, st)
}

// detach gives back the endpoint of a container of the node. A task's attachment stays: it is the task's until
// the task is removed (ReleaseTaskAttachments). A missing attachment is not an error.
func detach(ctx context.Context, s *store.Store, nodeID, id string) error {
	return s.Update(ctx, func(tx *store.Tx) error {
		a, err := store.Get[api.Attachment](ctx, tx, id)
		if errdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if a.NodeID != nodeID {
			return errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("attachment %s belongs to node %s", a.ID, a.NodeID))
		}
		if a.TaskID != "" {
			return nil
		}
		return releaseAttachment(ctx, tx, a)
	})
}

// syncAttachments releases the node's container attachments that the node no longer has: those not in keep
// that were made at or before rev (a revision the node saw before listing keep, so that an attachment made
// meanwhile, which the node may not have recorded yet, is never taken).
func syncAttachments(ctx context.Context, s *store.Store, nodeID string, rev int64, keep []string) ([]string, error) {
	var released []string
	err := s.Update(ctx, func(tx *store.Tx) error {
		released = nil
		atts, err := store.List[api.Attachment](ctx, tx)
		if err != nil {
			return err
		}
		for _, a := range atts {
			if a.NodeID != nodeID || a.TaskID != "" || int64(a.Version) > rev || slices.Contains(keep, a.ID) {
				continue
			}
			if err := releaseAttachment(ctx, tx, a); err != nil {
				return err
			}
			released = append(released, a.ID)
		}
		return nil
	})
	return released, err
}

// collectAttachments releases the container attachments and tunnel keys of nodes that are gone: removed from
// the swarm, or that left it (their containers lost the network with the swarm). known is a node as the
// leader's dispatcher has it in memory (nil: none): a node it has and that has not left is not read from the
// store, so that a pass over a cluster whose nodes are all there reads no node (it listed and decoded every
// node every 2 s: 3-7 % of a 10,000-node leader's CPU in bench/swarm-scale.sh). Any other owner is read in the
// transaction, which thus decides on the store's word alone.
func collectAttachments(ctx context.Context, s *store.Store, known func(id string) (*api.Node, bool)) ([]string, error) {
	var released []string
	err := s.Update(ctx, func(tx *store.Tx) error {
		released = nil
		live := map[string]bool{}
		alive := func(id string) (bool, error) {
			if l, ok := live[id]; ok {
				return l, nil
			}
			if known != nil {
				if n, ok := known(id); ok && !nodeHasLeft(n) {
					live[id] = true
					return true, nil
				}
			}
			n, err := store.Get[api.Node](ctx, tx, id)
			if err != nil && !errdefs.IsNotFound(err) {
				return false, err
			}
			live[id] = err == nil && !nodeHasLeft(n)
			return live[id], nil
		}
		atts, err := store.List[api.Attachment](ctx, tx)
		if err != nil {
			return err
		}
		for _, a := range atts {
			if a.TaskID != "" || a.NodeID == "" {
				continue
			}
			if l, err := alive(a.NodeID); err != nil || l {
				if err != nil {
					return err
				}
				continue
			}
			if err := releaseAttachment(ctx, tx, a); err != nil {
				return err
			}
			released = append(released, a.ID)
		}
		nns, err := store.List[api.NetworkNode](ctx, tx)
		if err != nil {
			return err
		}
		for _, nn := range nns {
			l, err := alive(nn.ID)
			if err != nil {
				return err
			}
			if !l {
				if err := releaseNetworkNode(ctx, tx, nn); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return released, err
}

// nodeHasLeft reports whether a node left the swarm (rpc.go's nodeLeft): its endpoints are no longer its own.
// A node merely down keeps them: it may come back.
func nodeHasLeft(n *api.Node) bool {
	return n.Status.State == api.NodeStateDown && n.Status.Message == "node left the swarm"
}

// AllocateTaskAttachments gives a task an address on each network it joins, in the transaction that creates
// or places the task (the services layer's, on the leader): an api.Attachment per network, owned by the task
// and on its node, and the addresses in task.Networks. nets name networks by ID or name; a network listed
// twice gets one attachment with both lists of aliases. The caller stores the task; ReleaseTaskAttachments
// gives everything back when the task is removed. See docs/design.md, "Task attachments".
func AllocateTaskAttachments(ctx context.Context, tx *store.Tx, task *api.Task, nets []api.NetworkAttachment) ([]*api.Attachment, error) {
	st, _, err := loadIPAM(ctx, tx, ipamValue)
	if err != nil {
		return nil, err
	}
	byNet := map[string]*api.Attachment{}
	var out []*api.Attachment
	for _, na := range nets {
		n, err := findNetwork(ctx, tx, na.Target)
		if err != nil {
			return nil, err
		}
		if a := byNet[n.ID]; a != nil {
			a.Aliases = append(a.Aliases, na.Aliases...)
			continue
		}
		pool := networkPool(n)
		if pool == "" {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("network %s has no subnet", n.Spec.Name))
		}
		addr, err := st.RequestAddress(pool, netip.Addr{})
		if err != nil {
			return nil, fmt.Errorf("network %s: %w", n.Spec.Name, err)
		}
		prefix, _ := netip.ParsePrefix(pool)
		a := &api.Attachment{ID: api.NewID(), NetworkID: n.ID, NodeID: task.NodeID, TaskID: task.ID, ServiceID: task.ServiceID,
			Aliases: slices.Clone(na.Aliases), Addr: netip.PrefixFrom(addr, prefix.Bits()), MAC: ipam.MAC(addr).String()}
		byNet[n.ID] = a
		out = append(out, a)
	}
	task.Networks = nil
	for _, a := range out {
		if err := store.Create(tx, a); err != nil {
			return nil, err
		}
		task.Networks = append(task.Networks, api.TaskNetwork{NetworkID: a.NetworkID, Addresses: []string{a.Addr.String()},
			AttachmentID: a.ID, Aliases: slices.Clone(a.Aliases)})
	}
	if len(out) > 0 {
		if err := saveIPAM(tx, st); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PlaceTaskAttachments records, in tx, the node a task was placed on in its attachments (the scheduler's
// decision), so that the node's peers learn where the task's addresses live.
func PlaceTaskAttachments(ctx context.Context, tx *store.Tx, taskID, nodeID string) error {
	atts, err := TaskAttachments(ctx, tx, taskID)
	if err != nil {
		return err
	}
	for _, a := range atts {
		if a.NodeID == nodeID {
			continue
		}
		a.NodeID, a.Version = nodeID, 0
		if err := store.Put(tx, a); err != nil {
			return err
		}
	}
	return nil
}

// TaskAttachments reads a task's attachments, ordered by network ID.
func TaskAttachments(ctx context.Context, r store.Reader, taskID string) ([]*api.Attachment, error) {
	atts, err := store.List[api.Attachment](ctx, r)
	if err != nil {
		return nil, err
	}
	var out []*api.Attachment
	for _, a := range atts {
		if a.TaskID == taskID {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NetworkID < out[j].NetworkID })
	return out, nil
}

// ReleaseTaskAttachments deletes a task's attachments and frees their addresses, in tx.
func ReleaseTaskAttachments(ctx context.Context, tx *store.Tx, taskID string) error {
	atts, err := TaskAttachments(ctx, tx, taskID)
	if err != nil {
		return err
	}
	for _, a := range atts {
		if err := releaseAttachment(ctx, tx, a); err != nil {
			return err
		}
	}
	return nil
}

package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// The node's side of cluster networks: what `docker network create/ls/inspect/rm` of an overlay network does on
// this node (a manager's store, or a worker's call to a manager), a container's endpoint on one, and the agent
// that keeps the node's data path in step with the cluster (RunNetworks).

// ErrWorkerNetworkCreate is docker's answer to creating a cluster network on a worker.
var ErrWorkerNetworkCreate = errdefs.ErrPermissionDenied.WithMessage("Cannot create a multi-host network from a worker node. Please create the network from a manager node.")

// storeForNetworks is the manager's store, or docker's refusal on a worker (create) or outside a swarm.
func (c *Cluster) storeForNetworks(workerErr error) (*store.Store, error) {
	if s, _ := c.State(); s == StateInactive {
		return nil, errdefs.ErrUnavailable.WithMessage(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`)
	}
	if st := c.nodeState(); st.Role != api.RoleManager {
		return nil, workerErr
	}
	m, err := c.managerStore()
	if err != nil {
		return nil, err
	}
	return m.Store(), nil
}

// IsManager reports whether this node is a manager of a swarm.
func (c *Cluster) IsManager() bool {
	s, _ := c.State()
	return s != StateInactive && c.nodeState().Role == api.RoleManager
}

// CreateNetwork creates a cluster network (managers only).
func (c *Cluster) CreateNetwork(ctx context.Context, spec api.NetworkSpec) (*api.Network, error) {
	s, err := c.storeForNetworks(ErrWorkerNetworkCreate)
	if err != nil {
		return nil, err
	}
	n, err := createNetwork(ctx, s, spec)
	if err == nil {
		c.log.Info("network created", "network", n.ID, "name", n.Spec.Name, "vni", n.VNI(), "subnet", networkPool(n))
	}
	return n, err
}

// RemoveNetwork removes a cluster network no service or endpoint uses (managers only).
func (c *Cluster) RemoveNetwork(ctx context.Context, ref string) error {
	s, err := c.storeForNetworks(ErrSwarmNotManager)
	if err != nil {
		return err
	}
	n, err := removeNetwork(ctx, s, ref)
	if err == nil {
		c.log.Info("network removed", "network", n.ID, "name", n.Spec.Name)
	}
	return err
}

// Networks lists the cluster's networks on a manager. A worker lists the ingress network, as docker's does
// from its join (the others it lists only while it uses them, which its network manager has); a node outside a
// swarm lists none.
func (c *Cluster) Networks(ctx context.Context) ([]*api.Network, error) {
	if s, _ := c.State(); s != StateActive {
		return nil, nil
	}
	if c.nodeState().Role != api.RoleManager {
		if n := c.watchedIngress.Load(); n != nil {
			return []*api.Network{n}, nil
		}
		return nil, nil
	}
	m, err := c.managerStoreNow()
	if err != nil {
		return nil, nil
	}
	return store.List[api.Network](ctx, m.Store())
}

// Network finds a cluster network by name, ID or ID prefix: in a manager's store, or asking a manager.
func (c *Cluster) Network(ctx context.Context, ref string) (*api.Network, error) {
	if s, _ := c.State(); s == StateInactive {
		return nil, errNetworkNotFound(ref)
	}
	if c.nodeState().Role == api.RoleManager {
		m, err := c.managerStore()
		if err != nil {
			return nil, err
		}
		return findNetwork(ctx, m.Store(), ref)
	}
	var n api.Network
	if err := c.callManagers(ctx, pathNetLookup, lookupRequest{Network: ref}, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// AttachNetwork asks the cluster for an endpoint of a container of this node.
func (c *Cluster) AttachNetwork(ctx context.Context, req AttachRequest) (*api.Attachment, *api.Network, error) {
	if s, _ := c.State(); s == StateInactive {
		return nil, nil, errNetworkNotFound(req.Network)
	}
	st := c.nodeState()
	if st.Role == api.RoleManager {
		m, err := c.managerStore()
		if err != nil {
			return nil, nil, err
		}
		return attach(ctx, m.Store(), st.NodeID, req)
	}
	var resp attachResponse
	if err := c.callManagers(ctx, pathNetAttach, req, &resp); err != nil {
		return nil, nil, err
	}
	return resp.Attachment, resp.Network, nil
}

// DetachNetwork gives an endpoint of this node back to the cluster.
func (c *Cluster) DetachNetwork(ctx context.Context, attachmentID string) error {
	if s, _ := c.State(); s == StateInactive {
		return nil
	}
	st := c.nodeState()
	if st.Role == api.RoleManager {
		m, err := c.managerStore()
		if err != nil {
			return err
		}
		return detach(ctx, m.Store(), st.NodeID, attachmentID)
	}
	return c.callManagers(ctx, pathNetDetach, detachRequest{Attachment: attachmentID}, nil)
}

// callManagers makes a call to the managers: the leader first, then the others, until one answers. An answer
// that is an error of the call itself (not found, refused, invalid, conflict) is the answer; a manager that
// cannot be reached, or that is unavailable, passes the call on to the next.
func (c *Cluster) callManagers(ctx context.Context, path string, in, out any) error {
	pc := c.client.Load()
	if pc == nil {
		return ErrNoSwarm
	}
	st := c.nodeState()
	targets := orderManagers(st.Managers, 0)
	if len(targets) == 0 {
		return errdefs.ErrUnavailable.WithMessage("no manager known")
	}
	var lastErr error
	for _, addr := range targets {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := pc.call(cctx, addr, path, in, out)
		cancel()
		if err == nil {
			return nil
		}
		lastErr = err
		if errdefs.IsNotFound(err) || errdefs.IsPermissionDenied(err) || errdefs.IsInvalidArgument(err) ||
			errdefs.IsConflict(err) || errdefs.IsFailedPrecondition(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return errdefs.ErrUnavailable.WithMessage("no manager answered: " + lastErr.Error())
}

// NetworkSink is what a node does with the cluster's networking: the daemon implements it over its network
// manager and the overlay driver.
type NetworkSink interface {
	// ApplyNetworkState takes the whole state, at the start of each watch and after each change.
	ApplyNetworkState(ctx context.Context, st NetworkState)
	// LocalAttachments lists the attachments this node's endpoints hold, so that the cluster releases the
	// node's others (containers removed while the node could not tell it).
	LocalAttachments() []string
	// PublicKey is the node's encryption tunnel key, "" when it has none.
	PublicKey() string
	// LeftSwarm is called when the node is in no swarm: every cluster network goes from the node.
	LeftSwarm(ctx context.Context)
}

// RunNetworks keeps sink in step with the cluster's networking until ctx ends: while the node is in a swarm it
// follows the networks watch of a manager (reconnecting to the next one when a stream ends), registers the
// node's tunnel key and reconciles the node's endpoints with the cluster's; when the node is in none (it left,
// or it was never in one at the daemon's start), it has sink drop every cluster network.
func (c *Cluster) RunNetworks(ctx context.Context, sink NetworkSink) {
	inSwarm := true // the first pass outside a swarm cleans what a previous run may have left
	backoff := 200 * time.Millisecond
	go c.reportApplied(ctx)
	for ctx.Err() == nil {
		state, _ := c.State()
		switch state {
		case StateInactive:
			c.watchedIngress.Store(nil)
			if inSwarm {
				sink.LeftSwarm(ctx)
				c.forgetApplied()
				inSwarm = false
			}
		case StateActive:
			inSwarm = true
			began := time.Now()
			err := c.followNetworks(ctx, sink)
			if ctx.Err() != nil {
				return
			}
			c.log.Debug("networks watch ended", "error", err)
			if time.Since(began) > 10*time.Second {
				backoff = 200 * time.Millisecond // a watch that ran a while: reconnect at once
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// followNetworks follows one manager's watch until it ends, or the node's membership does.
func (c *Cluster) followNetworks(ctx context.Context, sink NetworkSink) error {
	c.mu.Lock()
	runCtx := c.runCtxLocked()
	c.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(runCtx, cancel) // the membership ended (leave): so does the watch
	defer stop()
	pc := c.client.Load()
	if pc == nil {
		return ErrNoSwarm
	}
	st := c.nodeState()
	targets := orderManagers(st.Managers, 0)
	if len(targets) == 0 && st.Role == api.RoleManager {
		targets = []string{st.Addr}
	}
	var lastErr error = errors.New("no manager known")
	for _, addr := range targets {
		body, err := pc.openStream(ctx, addr, pathNetWatch, struct{}{})
		if err != nil {
			lastErr = err
			continue
		}
		return c.consumeNetworks(ctx, body, sink)
	}
	return lastErr
}

// consumeNetworks applies a watch stream to sink.
func (c *Cluster) consumeNetworks(ctx context.Context, body interface {
	Read([]byte) (int, error)
	Close() error
}, sink NetworkSink) error {
	lines := make(chan watchLine, 64)
	errc := make(chan error, 1)
	go func() { errc <- readLines(ctx, body, lines) }()
	var m *mirror
	// Changes come in bursts (a container's attachment and its node's key; a network and its endpoints):
	// they are applied together, a moment after the first.
	var pending <-chan time.Time
	for {
		select {
		case err := <-errc:
			return err
		case <-pending:
			pending = nil
			c.applyNetworkState(ctx, sink, m.state())
		case l := <-lines:
			switch {
			case l.State != nil:
				m = newMirror(l.State)
				// A snapshot sets where the node is: it may be of another swarm than the last (left and joined
				// again between two passes of RunNetworks), whose revisions are another store's.
				c.forgetApplied()
				c.applyNetworkState(ctx, sink, m.state())
				go c.afterSnapshot(ctx, sink, l.State.Rev) // retried in the background: the watch goes on
			case l.Event != nil && m != nil:
				m.apply(l.Event)
				if pending == nil {
					pending = time.After(20 * time.Millisecond)
				}
			}
		}
	}
}

// applyNetworkState notes the ingress network (which a worker lists), hands st to sink, and then notes that the
// node's balancers are written from st's revision.
func (c *Cluster) applyNetworkState(ctx context.Context, sink NetworkSink, st NetworkState) {
	var ingress *api.Network
	for _, n := range st.Networks {
		if n.Spec.Ingress {
			ingress = n
		}
	}
	c.watchedIngress.Store(ingress)
	sink.ApplyNetworkState(ctx, st)
	c.noteApplied(st.Rev)
}

// afterSnapshot registers the node's tunnel key and gives back the endpoints the node no longer has. Each is
// retried until it is done or the watch ends: a manager's store that is still starting, or a manager that does not
// answer in time on a loaded machine, must not leave the node's key unknown to its peers (their encrypted
// networks would never reach it) until the watch happens to reconnect.
func (c *Cluster) afterSnapshot(ctx context.Context, sink NetworkSink, rev int64) {
	if key := sink.PublicKey(); key != "" {
		c.retryNetworkCall(ctx, "registering the node's tunnel key", func() error { return c.registerKey(ctx, key) })
	}
	keep := sink.LocalAttachments()
	c.retryNetworkCall(ctx, "reconciling the node's network endpoints", func() error { return c.syncNetworks(ctx, rev, keep) })
}

// retryNetworkCall runs call until it succeeds, fails for good (the request itself is wrong or refused), or ctx
// ends, backing off from 200 ms to 2 s; each failure is logged.
func (c *Cluster) retryNetworkCall(ctx context.Context, what string, call func() error) {
	backoff := 200 * time.Millisecond
	for {
		err := call()
		if err == nil {
			return
		}
		c.log.Warn(what, "error", err)
		if errdefs.IsInvalidArgument(err) || errdefs.IsPermissionDenied(err) || errdefs.IsNotFound(err) || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (c *Cluster) registerKey(ctx context.Context, key string) error {
	st := c.nodeState()
	if st.Role == api.RoleManager {
		m, err := c.managerStore()
		if err != nil {
			return err
		}
		_, err = registerNetworkNode(ctx, m.Store(), st.NodeID, key)
		return err
	}
	return c.callManagers(ctx, pathNetRegister, registerRequest{PublicKey: key}, nil)
}

func (c *Cluster) syncNetworks(ctx context.Context, rev int64, keep []string) error {
	st := c.nodeState()
	if st.Role == api.RoleManager {
		m, err := c.managerStore()
		if err != nil {
			return err
		}
		released, err := syncAttachments(ctx, m.Store(), st.NodeID, rev, keep)
		if len(released) > 0 {
			c.log.Info("released endpoints this node no longer has", "attachments", released)
		}
		return err
	}
	return c.callManagers(ctx, pathNetSync, syncRequest{Rev: rev, Keep: keep}, nil)
}

// networkDuties are the leader's networking duties, run from its loop: the endpoints of nodes that are gone
// are released.
func (c *Cluster) networkDuties(ctx context.Context, s *store.Store) {
	now := time.Now()
	c.mu.Lock()
	due := now.Sub(c.netDutiesAt) >= 2*time.Second
	if due {
		c.netDutiesAt = now
	}
	c.mu.Unlock()
	if !due {
		return
	}
	var known func(string) (*api.Node, bool)
	if d := c.leaderDispatcher(); d != nil {
		known = d.Node
	}
	released, err := collectAttachments(ctx, s, known)
	if err != nil {
		c.log.Debug("releasing the endpoints of nodes that are gone", "error", err)
		return
	}
	if len(released) > 0 {
		c.log.Info("released the endpoints of nodes that are gone", "attachments", released)
	}
}

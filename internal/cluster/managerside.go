package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/manager"
	"github.com/berth/berth/internal/cluster/store"
)

// The manager side of a node: the cluster listener, the store member and the leader's loops.

// managerConfig is the store member's configuration for this node.
func (c *Cluster) managerConfig(join *storeJoin) (manager.Config, error) {
	st := c.nodeState()
	host, _, err := splitAddr(st.Addr)
	if err != nil {
		return manager.Config{}, err
	}
	cr := c.creds.Load()
	run := c.cfg.RunRoot
	if err := os.MkdirAll(run, 0o700); err != nil {
		return manager.Config{}, err
	}
	// etcd reads its TLS from files: the key lives in the run root (a tmpfs under /run normally) while the
	// member runs, and is removed when it stops; at rest it is only in keys.json (sealed with autolock).
	files := manager.TLSFiles{Cert: filepath.Join(run, "node.crt"), Key: filepath.Join(run, "node.key"), CA: filepath.Join(run, "ca.crt")}
	certPEM := encodeChain(cr.cert.Certificate)
	for p, b := range map[string][]byte{files.Cert: certPEM, files.Key: cr.keyPEM, files.CA: cr.rootPEM} {
		if err := atomicfile.WriteFile(p, b, 0o600); err != nil {
			return manager.Config{}, err
		}
	}
	mc := manager.Config{
		NodeID:    st.NodeID,
		Dir:       c.path("etcd"),
		PeerURL:   "https://" + joinHostPort(host, c.cfg.PeerPort),
		ClientURL: "https://" + joinHostPort(host, c.cfg.ClientPort),
		TLS:       files,
		External:  c.cfg.External,
		Prefix:    c.cfg.StorePrefix,
		Raft:      api.DefaultClusterSpec().Raft,
	}
	if join != nil {
		mc.InitialCluster = join.InitialCluster
		mc.Raft = join.Raft
	}
	return mc, nil
}

// startManagerSide starts the cluster listener and the store member. With background, the member starts in the
// background (a restarted member waits for its peers) and the node is pending until it serves; else this
// waits for it. join is how a new manager joins the store (nil on init and restart).
func (c *Cluster) startManagerSide(runCtx context.Context, join *storeJoin, background bool) error {
	return c.startManager(runCtx, join, background, false)
}

// startManager is startManagerSide; force restarts the store member as the only member of its store (swarm
// init --force-new-cluster).
func (c *Cluster) startManager(runCtx context.Context, join *storeJoin, background, force bool) error {
	if len(c.cfg.External.Endpoints) == 0 && join != nil && join.External {
		return invalid("this swarm keeps its state in an external etcd: start the daemon with --swarm-etcd-endpoints (and its TLS options) to make this node a manager")
	}
	if err := c.listen(runCtx); err != nil {
		return err
	}
	mc, err := c.managerConfig(join)
	if err != nil {
		return err
	}
	mc.ForceNewCluster = force
	mctx, cancel := context.WithCancel(runCtx)
	c.mu.Lock()
	c.mgrCancel = cancel
	c.mu.Unlock()
	start := func() error {
		m, err := manager.Start(mctx, mc)
		if err != nil {
			return err
		}
		if join != nil && join.InitialCluster != "" {
			if err := m.PromoteSelf(mctx, join.Voters); err != nil {
				m.Close()
				return err
			}
		}
		c.mu.Lock()
		if mctx.Err() != nil {
			c.mu.Unlock()
			m.Close()
			return mctx.Err()
		}
		c.mgr, c.mgrReady = m, true
		c.state = StateActive
		c.mu.Unlock()
		c.wg.Add(1)
		go c.leaderLoop(mctx, m)
		c.log.Info("manager started", "node", mc.NodeID, "embedded store", m.Embedded())
		return nil
	}
	if !background {
		return start()
	}
	// The member's data directory is the starting goroutine's until it returns: stopping the member waits for it
	// (a --force-new-cluster restart of a member still waiting for its peers).
	starting := make(chan struct{})
	c.mu.Lock()
	c.mgrStarting = starting
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(starting)
		for mctx.Err() == nil {
			err := start()
			if err == nil || mctx.Err() != nil {
				return
			}
			c.log.Warn("manager did not start; retrying", "error", err)
			select {
			case <-mctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}()
	return nil
}

// stopManagerSide stops the listener and the store member (the member's data stays).
func (c *Cluster) stopManagerSide() {
	c.mu.Lock()
	m, srv, cancel, starting := c.mgr, c.srv, c.mgrCancel, c.mgrStarting
	c.mgr, c.srv, c.mgrCancel, c.mgrReady, c.mgrStarting = nil, nil, nil, false, nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.waitStarting(starting)
	if srv != nil {
		ctx, done := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(ctx)
		done()
		srv.Close()
	}
	if m != nil {
		m.Close()
	}
	os.Remove(filepath.Join(c.cfg.RunRoot, "node.key"))
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// waitStarting waits for the goroutine starting the store member in the background to return (it was
// cancelled), bounded: a member that cannot be stopped must not hold the node's membership lock forever.
func (c *Cluster) waitStarting(starting <-chan struct{}) {
	if starting == nil {
		return
	}
	select {
	case <-starting:
	case <-time.After(time.Minute):
		c.log.Warn("the store member's background start did not end in 1m after it was cancelled")
	}
}

// stopStoreMember stops only the store member and the leader's loops, keeping the listener (a demotion).
func (c *Cluster) stopStoreMember() {
	c.mu.Lock()
	m, cancel, starting := c.mgr, c.mgrCancel, c.mgrStarting
	c.mgr, c.mgrCancel, c.mgrReady, c.mgrStarting = nil, nil, false, nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.waitStarting(starting)
	if m != nil {
		m.Close()
	}
	os.Remove(filepath.Join(c.cfg.RunRoot, "node.key"))
}

// listen starts the cluster listener on the node's listen address, once.
func (c *Cluster) listen(runCtx context.Context) error {
	c.mu.Lock()
	if c.srv != nil {
		c.mu.Unlock()
		return nil
	}
	addr := c.st.ListenAddr
	c.mu.Unlock()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for the swarm on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathJoin, c.handleJoin)
	mux.HandleFunc("POST "+pathHeartbeat, c.handleHeartbeat)
	mux.HandleFunc("POST "+pathCert, c.handleCert)
	mux.HandleFunc("POST "+pathLeave, c.handleLeave)
	mux.HandleFunc(pathControl, c.handleControl)
	mux.HandleFunc("POST "+pathDispatchSession, c.handleDispatchSession)
	mux.HandleFunc("POST "+pathDispatchStatus, c.handleDispatchStatus)
	mux.HandleFunc("POST "+pathDispatchLogs, c.handleDispatchLogs)
	mux.HandleFunc("POST "+pathDispatchApplied, c.handleDispatchApplied)
	mux.HandleFunc("POST "+pathDispatchWaitApplied, c.handleDispatchWaitApplied)
	c.networkHandlers(mux)
	srv := &http.Server{Handler: mux, TLSConfig: c.serverTLS(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelDebug), BaseContext: func(net.Listener) context.Context { return runCtx }}
	c.mu.Lock()
	c.srv = srv
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := srv.ServeTLS(l, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Warn("swarm listener stopped", "error", err)
		}
	}()
	c.log.Info("swarm listener", "address", l.Addr().String())
	return nil
}

// managerStore is the store when this node is a serving manager. A manager whose store member is (re)starting
// is waited for a little (a restart after a root rotation, a daemon that just started), rather than failing the
// call at once.
func (c *Cluster) managerStore() (*manager.Manager, error) {
	deadline := time.Now().Add(memberWait)
	for {
		m, err := c.managerStoreNow()
		if err != ErrManagerStarting || time.Now().After(deadline) {
			return m, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// memberWait bounds how long a call waits for a starting store member.
const memberWait = 10 * time.Second

func (c *Cluster) managerStoreNow() (*manager.Manager, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case StateInactive:
		return nil, ErrNoSwarm
	case StateLocked:
		return nil, ErrSwarmLocked
	case StateError:
		return nil, ErrSwarmNotManager
	}
	if c.st == nil || c.st.Role != api.RoleManager {
		return nil, ErrSwarmNotManager
	}
	if c.mgr == nil || !c.mgrReady {
		return nil, ErrManagerStarting
	}
	return c.mgr, nil
}

// leaderLoop runs the leader's duties while this manager leads.
func (c *Cluster) leaderLoop(ctx context.Context, m *manager.Manager) {
	defer c.wg.Done()
	leading := false
	var duties *leaderDuties
	defer func() { c.stopLeading(duties) }()
	go c.clusterEvents(ctx, m.Store())
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.Done():
			// The member stopped by itself: it was removed from the store (a demotion, or node rm --force).
			c.log.Info("the store member stopped: this node is no longer a manager of the store")
			return
		case <-tick.C:
		}
		if m.IsLeader() != leading {
			leading = !leading
			if leading {
				c.log.Info("this manager leads the swarm")
				c.hb.lead(ctx, m.Store(), time.Now())
				duties = c.startLeading(ctx, m)
			} else {
				c.hb.follow()
				c.stopLeading(duties)
				duties = nil
			}
		}
		if !leading {
			continue
		}
		c.markDownNodes(ctx, m.Store())
		c.reconcileRoles(ctx, m)
		c.progressRotation(ctx, m.Store())
		c.networkDuties(ctx, m.Store())
	}
}

// markDownNodes writes down the nodes whose heartbeats stopped, many a transaction (a thousand nodes lost at
// once are a few writes, not a thousand).
func (c *Cluster) markDownNodes(ctx context.Context, s *store.Store) {
	expired := c.hb.expired(time.Now())
	for start := 0; start < len(expired); start += 256 {
		ids := expired[start:min(start+256, len(expired))]
		var down []string
		err := s.Update(ctx, func(tx *store.Tx) error {
			down = down[:0]
			for _, id := range ids {
				n, err := store.Get[api.Node](ctx, tx, id)
				if errdefs.IsNotFound(err) {
					continue
				}
				if err != nil {
					return err
				}
				if n.Status.State != api.NodeStateReady {
					continue
				}
				n.Status.State, n.Status.Message = api.NodeStateDown, "heartbeat failure"
				n.Version = 0
				if err := store.Put(tx, n); err != nil {
					return err
				}
				down = append(down, id)
			}
			return nil
		})
		if err != nil {
			c.log.Warn("marking nodes down", "nodes", len(ids), "error", err)
			continue
		}
		for _, id := range down {
			c.log.Info("node down: heartbeat failure", "node", id)
		}
	}
}

// reconcileRoles carries out demotions: a manager whose desired role is worker leaves the store's membership,
// then is recorded as a worker (its node renews its certificate when it sees that).
func (c *Cluster) reconcileRoles(ctx context.Context, m *manager.Manager) {
	// The dispatcher's view has every node in memory: listing ten thousand nodes from the store four times a
	// second would cost more than the rest of the leader's work.
	var nodes []*api.Node
	if d := c.leaderDispatcher(); d != nil && isClosed(d.Ready()) {
		nodes = d.Managers()
	} else {
		var err error
		if nodes, err = store.List[api.Node](ctx, m.Store()); err != nil {
			return
		}
	}
	for _, n := range nodes {
		if n.Spec.DesiredRole != api.RoleWorker || n.Role != api.RoleManager {
			continue
		}
		if n.Manager != nil && n.Manager.MemberID != 0 {
			if err := m.RemoveMember(ctx, n.Manager.MemberID); err != nil {
				// etcd refuses while a member joined only seconds ago ("unhealthy cluster"): the next pass retries.
				c.log.Debug("removing a demoted manager's store member", "node", n.ID, "error", err)
				continue
			}
		}
		id := n.ID
		err := m.Store().Update(ctx, func(tx *store.Tx) error {
			n, err := store.Get[api.Node](ctx, tx, id)
			if err != nil {
				return err
			}
			if n.Spec.DesiredRole != api.RoleWorker {
				return nil
			}
			n.Role, n.Manager, n.Version = api.RoleWorker, nil, 0
			return store.Put(tx, n)
		})
		if err != nil {
			c.log.Warn("recording a demotion", "node", id, "error", err)
			continue
		}
		c.log.Info("node demoted to worker", "node", id)
	}
}

package cluster

import (
	"bytes"
	"context"
	"errors"
	"os"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/agent"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
)

// The node's session with the managers: a heartbeat to the leader every period, over the node's mutual-TLS
// connection. Its answers carry what the node must follow: the managers (and who leads), a role change, a
// certificate renewal, the roots to trust, the autolock setting.

func (c *Cluster) startSession(runCtx context.Context) {
	c.wg.Add(1)
	go c.session(runCtx)
	c.startAgent(runCtx)
}

// startAgent starts the node's agent: it runs the tasks the dispatcher assigns the node until the membership
// ends (the containers live on).
func (c *Cluster) startAgent(runCtx context.Context) {
	if c.cfg.Executor == nil {
		return
	}
	st := c.nodeState()
	a := agent.New(agent.Config{NodeID: st.NodeID, Describe: c.cfg.Describe, Backend: c.cfg.Executor,
		Dispatcher: dispatchClient{c}, Logger: c.log})
	c.agent.Store(a)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		a.Run(runCtx)
	}()
}

func (c *Cluster) session(ctx context.Context) {
	defer c.wg.Done()
	next := 0 // index into the known managers of the one to try
	for {
		st := c.nodeState()
		period := st.Period
		if period <= 0 {
			period = api.DefaultHeartbeatPeriod
		}
		resp, err := c.beatOnce(ctx, st, &next)
		if ctx.Err() != nil {
			return
		}
		wait := period
		switch {
		case err == nil:
			c.follow(ctx, st, resp)
			if resp.Period > 0 {
				// The leader's deadline for the next beat counts the period it just told (a swarm update may
				// have shortened it), not the one this beat was sent with.
				wait = resp.Period
			}
		case errdefs.IsPermissionDenied(err) || errdefs.IsNotFound(err):
			// The node was removed from the swarm: it keeps its state until swarm leave, in the error state.
			msg := "node is removed from the swarm: " + err.Error()
			c.log.Warn("swarm session refused", "error", err)
			c.updateState(func(s *nodeState) { s.Error = msg })
			c.setState(StateError, msg)
			go c.stopAfterRemoval()
			return
		default:
			c.log.Debug("heartbeat failed", "error", err)
			wait = period / 2
			if wait > time.Second {
				wait = time.Second
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// stopAfterRemoval stops a removed node's swarm parts (not its state: swarm leave clears that).
func (c *Cluster) stopAfterRemoval() {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.stopRun()
}

// beatOnce sends one heartbeat, to the leader if known, following redirections, else to each known manager.
func (c *Cluster) beatOnce(ctx context.Context, st nodeState, next *int) (*heartbeatResponse, error) {
	pc := c.client.Load()
	cr := c.creds.Load()
	if pc == nil || cr == nil {
		return nil, errors.New("no credentials")
	}
	req := heartbeatRequest{Description: c.cfg.Describe(), CertSerial: cr.id.Serial}
	req.Description.TLSInfo = tlsInfo(issuerPEM(cr))
	targets := orderManagers(st.Managers, *next)
	if len(targets) == 0 && st.Role == api.RoleManager {
		targets = []string{st.Addr}
	}
	var lastErr error
	for i, addr := range targets {
		for hop := 0; hop < 3; hop++ {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			var resp heartbeatResponse
			err := pc.call(cctx, addr, pathHeartbeat, req, &resp)
			cancel()
			if err != nil {
				lastErr = err
				if errdefs.IsPermissionDenied(err) || errdefs.IsNotFound(err) {
					return nil, err
				}
				break
			}
			if resp.NotLeader {
				c.rememberManagers(resp.Managers)
				leader := leaderAddr(resp.Managers)
				if leader == "" || leader == addr {
					lastErr = errors.New("the swarm has no leader")
					break
				}
				addr = leader
				continue
			}
			*next = i
			return &resp, nil
		}
	}
	*next++
	if lastErr == nil {
		lastErr = errors.New("no manager known")
	}
	return nil, lastErr
}

func issuerPEM(cr *creds) []byte {
	if len(cr.cert.Certificate) > 1 {
		return pemOf(cr.cert.Certificate[len(cr.cert.Certificate)-1])
	}
	return cr.rootPEM
}

func leaderAddr(ps []Peer) string {
	for _, p := range ps {
		if p.Leader {
			return p.Addr
		}
	}
	return ""
}

// orderManagers lists the managers' addresses to try: the leader first, then from the index start on.
func orderManagers(ps []Peer, start int) []string {
	var out []string
	if l := leaderAddr(ps); l != "" {
		out = append(out, l)
	}
	for i := range ps {
		p := ps[(start+i)%len(ps)]
		if !p.Leader {
			out = append(out, p.Addr)
		}
	}
	return out
}

func (c *Cluster) rememberManagers(ps []Peer) {
	if len(ps) == 0 {
		return
	}
	st := c.nodeState()
	if equalPeers(st.Managers, ps) {
		return
	}
	c.updateState(func(s *nodeState) { s.Managers = ps })
}

func equalPeers(a, b []Peer) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// follow acts on a heartbeat's answer.
func (c *Cluster) follow(ctx context.Context, st nodeState, resp *heartbeatResponse) {
	c.rememberManagers(resp.Managers)
	if resp.Period > 0 && resp.Period != st.Period {
		c.updateState(func(s *nodeState) { s.Period = resp.Period })
	}
	cr := c.creds.Load()
	if len(resp.RootCA) > 0 && !bytes.Equal(resp.RootCA, cr.rootPEM) && !resp.Renew {
		c.trust(resp.RootCA)
	}
	if resp.Renew {
		// A renewal may start or stop a store member, which takes seconds: heartbeats go on meanwhile.
		if c.renewing.CompareAndSwap(false, true) {
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				defer c.renewing.Store(false)
				if err := c.renewCert(ctx); err != nil && ctx.Err() == nil {
					c.log.Warn("certificate renewal", "error", err)
				}
			}()
		}
		return
	}
	if st.Role == api.RoleManager {
		c.followAutolock(resp)
	}
}

// trust replaces the node's roots (a root rotation went on or ended).
func (c *Cluster) trust(rootPEM []byte) {
	cr := c.creds.Load()
	certPEM := encodeChain(cr.cert.Certificate)
	if err := c.setCreds(certPEM, cr.keyPEM, rootPEM); err != nil {
		c.log.Warn("new roots", "error", err)
		return
	}
	if err := c.saveCreds(certPEM, rootPEM); err != nil {
		c.log.Warn("saving new roots", "error", err)
	}
	c.log.Info("trusting the swarm's new root CA bundle")
	if c.nodeState().Role == api.RoleManager {
		// The store member reads its trusted roots when it starts: it restarts to trust the new bundle.
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.restartStoreMember()
		}()
	}
}

// restartStoreMember restarts this manager's store member (the listener stays).
func (c *Cluster) restartStoreMember() {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.Lock()
	runCtx := c.runCtx
	running := c.mgr != nil
	c.mu.Unlock()
	if runCtx == nil || runCtx.Err() != nil || !running {
		return
	}
	c.stopStoreMember()
	if err := c.startManagerSide(runCtx, nil, true); err != nil {
		c.log.Warn("restarting the store member", "error", err)
	}
}

// renewCert gets a new certificate (same key) for the role the cluster has for the node, and acts on a role
// change: a new manager joins the store, a demoted one leaves it.
func (c *Cluster) renewCert(ctx context.Context) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	st := c.nodeState()
	cr := c.creds.Load()
	if cr == nil {
		return nil
	}
	keyPEM, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		return err
	}
	var resp certResponse
	var lastErr error
	for _, addr := range orderManagers(st.Managers, 0) {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		lastErr = c.client.Load().call(cctx, addr, pathCert, certRequest{CSR: csr, Addr: st.Addr}, &resp)
		cancel()
		if lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return lastErr
	}
	if err := c.setCreds(resp.Cert, keyPEM, resp.RootCA); err != nil {
		return err
	}
	if err := c.saveCreds(resp.Cert, resp.RootCA); err != nil {
		return err
	}
	c.mu.Lock()
	km := keyMaterial{NodeKey: keyPEM, DataKey: c.dataKey}
	sealedWith := c.sealedWith
	c.mu.Unlock()
	switch {
	case resp.Role == api.RoleManager && st.Role == api.RoleWorker:
		km.DataKey = resp.Store.DataKey
		c.mu.Lock()
		c.dataKey = resp.Store.DataKey
		c.mu.Unlock()
		if err := c.saveKeys(km, ""); err != nil {
			return err
		}
		c.updateState(func(s *nodeState) { s.Role = api.RoleManager })
		c.mu.Lock()
		runCtx := c.runCtxLocked()
		c.mu.Unlock()
		if err := c.becomeManager(ctx, runCtx, resp.Store); err != nil {
			c.log.Warn("starting as a manager", "error", err)
			return err
		}
		c.log.Info("this node is now a manager")
	case resp.Role == api.RoleWorker && st.Role == api.RoleManager:
		km.DataKey = nil
		c.stopManagerSide()
		os.RemoveAll(c.path("etcd"))
		c.mu.Lock()
		c.dataKey = nil
		c.mu.Unlock()
		if err := c.saveKeys(km, ""); err != nil {
			return err
		}
		c.updateState(func(s *nodeState) { s.Role = api.RoleWorker })
		c.setState(StateActive, "")
		c.log.Info("this node is now a worker")
	default:
		if err := c.saveKeys(km, sealedWith); err != nil {
			return err
		}
		if st.Role == api.RoleManager {
			c.refreshStoreTLS()
		}
		c.log.Info("node certificate renewed")
	}
	return nil
}

// followAutolock seals or unseals the manager's key material as the cluster's autolock setting says.
func (c *Cluster) followAutolock(resp *heartbeatResponse) {
	want := ""
	if resp.AutoLock {
		want = resp.UnlockKey
	}
	c.mu.Lock()
	have := c.sealedWith
	km := keyMaterial{DataKey: c.dataKey}
	c.mu.Unlock()
	if want == have {
		return
	}
	km.NodeKey = c.creds.Load().keyPEM
	if err := c.saveKeys(km, want); err != nil {
		c.log.Warn("sealing the manager's keys", "error", err)
		return
	}
	if want != "" {
		c.log.Info("manager keys sealed with the unlock key (autolock)")
	} else {
		c.log.Info("manager keys no longer sealed (autolock off)")
	}
}

package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/manager"
	"github.com/berth/berth/internal/cluster/store"
)

// The cluster listener's handlers (managers only).

func encodeChain(ders [][]byte) []byte {
	var out []byte
	for _, d := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return out
}

func decodeWire(r *http.Request, v any) error {
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(v); err != nil {
		return invalid("invalid request: %v", err)
	}
	return nil
}

// peerIdentity is the caller's verified node identity, which must belong to this cluster.
func (c *Cluster) peerIdentity(r *http.Request) (ca.Identity, error) {
	id, err := ca.PeerIdentity(r.TLS)
	if err != nil {
		return id, err
	}
	if st := c.nodeState(); id.ClusterID != st.ClusterID {
		return id, errdefs.ErrPermissionDenied.WithMessage("certificate of another swarm")
	}
	return id, nil
}

// signingRoot is the root that signs new certificates: during a rotation the new one.
func (c *Cluster) signingRoot(cl *api.Cluster) (*ca.RootCA, error) {
	c.mu.Lock()
	dk := c.dataKey
	c.mu.Unlock()
	certPEM, sealed := cl.RootCA.CACert, cl.RootCA.CAKeySealed
	if rot := cl.RootCA.Rotation; rot != nil {
		certPEM, sealed = rot.CACert, rot.CAKeySealed
	}
	keyPEM, err := ca.Open(dk, sealed)
	if err != nil {
		return nil, fmt.Errorf("opening the root CA key: %w", err)
	}
	first, err := ca.ParseCerts(certPEM)
	if err != nil {
		return nil, err
	}
	return ca.ParseRootCA(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: first[0].Raw}), keyPEM)
}

// trustBundle is what nodes trust: the root, and during a rotation the new root too.
func trustBundle(cl *api.Cluster) []byte {
	b := append([]byte(nil), cl.RootCA.CACert...)
	if rot := cl.RootCA.Rotation; rot != nil {
		b = append(b, rot.CACert...)
	}
	return b
}

// managerPeers are the cluster's managers as nodes know them.
func managerPeers(nodes []*api.Node, leader string) []Peer {
	var out []Peer
	for _, n := range nodes {
		if n.Role == api.RoleManager && n.Manager != nil {
			out = append(out, Peer{NodeID: n.ID, Addr: n.Manager.Addr, Leader: n.ID == leader, ClientURL: n.Manager.ClientURL})
		}
	}
	return out
}

func (c *Cluster) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	if err := decodeWire(r, &req); err != nil {
		writeWire(w, nil, err)
		return
	}
	resp, err := c.join(r.Context(), req)
	writeWire(w, resp, err)
}

// join admits a node presenting a join token: a node record, a certificate of the token's role, and for a
// manager a place in the store.
func (c *Cluster) join(ctx context.Context, req joinRequest) (*joinResponse, error) {
	m, err := c.managerStore()
	if err != nil {
		return nil, err
	}
	s := m.Store()
	cl, err := clusterObject(ctx, s)
	if err != nil {
		return nil, err
	}
	if _, err := ca.ParseJoinToken(req.Token); err != nil {
		return nil, err
	}
	var role api.NodeRole
	switch {
	case ca.TokenMatches(req.Token, cl.RootCA.JoinTokens.Manager):
		role = api.RoleManager
	case ca.TokenMatches(req.Token, cl.RootCA.JoinTokens.Worker):
		role = api.RoleWorker
	default:
		return nil, api.RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "A valid join token is necessary to join this cluster")
	}
	host, _, err := splitAddr(req.Addr)
	if err != nil || host == "" {
		return nil, invalid("invalid advertise address %q", req.Addr)
	}
	if req.DataPathAddr != "" {
		if ip, err := netip.ParseAddr(req.DataPathAddr); err != nil || !ip.Is4() || ip.IsUnspecified() {
			return nil, errBadDataPathAddr
		}
	}
	root, err := c.signingRoot(cl)
	if err != nil {
		return nil, err
	}
	nodeID := api.NewID()
	certPEM, err := root.Sign(ca.SignRequest{CSR: req.CSR, NodeID: nodeID, ClusterID: cl.ID, Role: role,
		Expiry: cl.Spec.CAConfig.NodeCertExpiry, IPs: ipsOf(host)})
	if err != nil {
		return nil, err
	}
	avail := req.Availability
	if avail == "" {
		avail = api.AvailabilityActive
	}
	node := &api.Node{ID: nodeID, Spec: api.NodeSpec{DesiredRole: role, Availability: avail}, Description: req.Description,
		Status: api.NodeStatus{State: api.NodeStateUnknown, Addr: host, DataPathAddr: req.DataPathAddr}, Role: role}
	resp := &joinResponse{NodeID: nodeID, ClusterID: cl.ID, Role: role, Cert: certPEM, RootCA: trustBundle(cl),
		Period: cl.Spec.Dispatcher.HeartbeatPeriod}
	if role == api.RoleManager {
		if resp.Store, err = c.storeJoinFor(ctx, m, cl, nodeID, host); err != nil {
			return nil, err
		}
		node.Manager = &api.ManagerInfo{Addr: req.Addr, MemberID: resp.Store.MemberID}
	}
	if err := s.Update(ctx, func(tx *store.Tx) error { return store.Create(tx, node) }); err != nil {
		if resp.Store != nil && resp.Store.MemberID != 0 {
			m.RemoveMember(context.WithoutCancel(ctx), resp.Store.MemberID) // nothing half-made
		}
		return nil, err
	}
	nodes, err := store.List[api.Node](ctx, s)
	if err != nil {
		return nil, err
	}
	leader, _ := m.Leader()
	resp.Managers = managerPeers(nodes, leader)
	c.log.Info("node joined", "node", nodeID, "role", role, "addr", req.Addr)
	return resp, nil
}

// storeJoinFor adds a new manager's store member (a learner) and says how it joins.
func (c *Cluster) storeJoinFor(ctx context.Context, m *manager.Manager, cl *api.Cluster, nodeID, host string) (*storeJoin, error) {
	c.mu.Lock()
	dk := append([]byte(nil), c.dataKey...)
	c.mu.Unlock()
	sj := &storeJoin{DataKey: dk, Raft: cl.Spec.Raft, External: !m.Embedded()}
	if !m.Embedded() {
		return sj, nil
	}
	peerURL := "https://" + joinHostPort(host, c.cfg.PeerPort)
	initial, memberID, err := m.AddLearner(ctx, nodeID, peerURL)
	if err != nil {
		return nil, err
	}
	sj.InitialCluster, sj.MemberID = initial, memberID
	nodes, err := store.List[api.Node](ctx, m.Store())
	if err != nil {
		m.RemoveMember(context.WithoutCancel(ctx), memberID)
		return nil, err
	}
	for _, p := range managerPeers(nodes, "") {
		if p.ClientURL != "" {
			sj.Voters = append(sj.Voters, p.ClientURL)
		}
	}
	return sj, nil
}

func (c *Cluster) handleHeartbeat(w http.ResponseWriter, r *http.Request) {
	id, err := c.peerIdentity(r)
	if err != nil {
		writeWire(w, nil, err)
		return
	}
	var req heartbeatRequest
	if err := decodeWire(r, &req); err != nil {
		writeWire(w, nil, err)
		return
	}
	chain := r.TLS.VerifiedChains[0]
	resp, err := c.heartbeat(r.Context(), id, chain[len(chain)-1].Raw, req)
	writeWire(w, resp, err)
}

// heartbeat records a node's heartbeat (the leader's) and tells it what the cluster expects of it; root is the
// root its certificate chains to. The leader answers from its dispatcher's view of the store, which a watch
// keeps current: a heartbeat reads nothing from the store, and writes only a node's change of state.
func (c *Cluster) heartbeat(ctx context.Context, id ca.Identity, root []byte, req heartbeatRequest) (*heartbeatResponse, error) {
	m, err := c.managerStoreNow()
	if err != nil {
		return nil, err
	}
	s := m.Store()
	leader, _ := m.Leader()
	d := c.leaderDispatcher()
	if leader != c.nodeState().NodeID || d == nil {
		peers, err := c.peers.get(ctx, m, leader)
		if err != nil {
			return nil, err
		}
		return &heartbeatResponse{NotLeader: true, Managers: peers}, nil
	}
	select {
	case <-d.Ready():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cl := d.Cluster()
	if cl == nil {
		return nil, ErrNoSwarm
	}
	resp := &heartbeatResponse{Managers: managerPeers(d.Managers(), leader)}
	node, ok := d.Node(id.NodeID)
	if !ok {
		if _, removed := cl.RemovedNodes[id.NodeID]; removed {
			return nil, errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("node %s was removed from the swarm", id.NodeID))
		}
		// A node that joined a moment ago may not be in the view yet.
		if _, err := store.Get[api.Node](ctx, s, id.NodeID); err != nil {
			return nil, notFound("node", id.NodeID)
		}
		return &heartbeatResponse{Managers: resp.Managers, Period: cl.Spec.Dispatcher.HeartbeatPeriod, RootCA: trustBundle(cl)}, nil
	}
	if m.Embedded() && forcedOut(node) {
		if node, err = c.demoteForcedOut(ctx, s, node.ID); err != nil {
			return nil, err
		}
	}
	period := cl.Spec.Dispatcher.HeartbeatPeriod
	if period <= 0 {
		period = api.DefaultHeartbeatPeriod
	}
	c.hb.setPeriod(period)
	c.hb.beat(node.ID, time.Now())
	if node.Status.State != api.NodeStateReady || !reflect.DeepEqual(node.Description, req.Description) {
		nid := node.ID
		err := s.Update(ctx, func(tx *store.Tx) error {
			n, err := store.Get[api.Node](ctx, tx, nid)
			if err != nil {
				return err
			}
			if n.Status.State == api.NodeStateReady && reflect.DeepEqual(n.Description, req.Description) {
				return nil
			}
			n.Status.State, n.Status.Message = api.NodeStateReady, ""
			n.Description = req.Description
			n.Version = 0
			return store.Put(tx, n)
		})
		if err != nil {
			return nil, err
		}
	}
	resp.Period = period
	resp.DesiredRole, resp.Role = node.Spec.DesiredRole, node.Role
	resp.RootCA = trustBundle(cl)
	// A role change waits for the store: a promotion is carried out by the node (it joins the store with its
	// new certificate), a demotion once the leader removed the node's member.
	if (id.Role == api.RoleWorker && node.Spec.DesiredRole == api.RoleManager) || (id.Role == api.RoleManager && node.Role == api.RoleWorker) {
		resp.Renew = true
	}
	if rot := cl.RootCA.Rotation; rot != nil {
		if certs, err := ca.ParseCerts(rot.CACert); err == nil && !bytes.Equal(certs[0].Raw, root) {
			resp.Renew = true
		}
	}
	if id.Role == api.RoleManager {
		resp.AutoLock = cl.Spec.Encryption.AutoLockManagers
		if resp.AutoLock && len(cl.UnlockKeySealed) > 0 {
			c.mu.Lock()
			dk := c.dataKey
			c.mu.Unlock()
			if k, err := ca.Open(dk, cl.UnlockKeySealed); err == nil {
				resp.UnlockKey = string(k)
			}
		}
	}
	return resp, nil
}

// peerCache is the managers as a manager that does not lead knows them, read from the store at most once a
// second: after a leader change every node asks some manager, and ten thousand of them must not each make it
// list every node.
type peerCache struct {
	mu     sync.Mutex
	at     time.Time
	leader string
	peers  []Peer
}

func (p *peerCache) get(ctx context.Context, m *manager.Manager, leader string) ([]Peer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.at) < time.Second && p.leader == leader {
		return p.peers, nil
	}
	nodes, err := store.List[api.Node](ctx, m.Store())
	if err != nil {
		return nil, err
	}
	p.peers, p.leader, p.at = managerPeers(nodes, leader), leader, time.Now()
	return p.peers, nil
}

// ipsOf is the IP of an advertise host, for a manager's certificate.
func ipsOf(host string) []net.IP {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}
	}
	return nil
}

func (c *Cluster) handleCert(w http.ResponseWriter, r *http.Request) {
	id, err := c.peerIdentity(r)
	if err != nil {
		writeWire(w, nil, err)
		return
	}
	var req certRequest
	if err := decodeWire(r, &req); err != nil {
		writeWire(w, nil, err)
		return
	}
	resp, err := c.renew(r.Context(), id, req)
	writeWire(w, resp, err)
}

// renew issues a node a new certificate for the role the cluster has for it; a worker becoming a manager gets
// its place in the store with it.
func (c *Cluster) renew(ctx context.Context, id ca.Identity, req certRequest) (*certResponse, error) {
	m, err := c.managerStore()
	if err != nil {
		return nil, err
	}
	s := m.Store()
	cl, err := clusterObject(ctx, s)
	if err != nil {
		return nil, err
	}
	node, err := store.Get[api.Node](ctx, s, id.NodeID)
	if err != nil {
		if _, removed := cl.RemovedNodes[id.NodeID]; removed {
			return nil, errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("node %s was removed from the swarm", id.NodeID))
		}
		return nil, err
	}
	role := node.Role
	if node.Spec.DesiredRole == api.RoleManager {
		role = api.RoleManager
	}
	host, _, err := splitAddr(req.Addr)
	if err != nil {
		return nil, invalid("invalid advertise address %q", req.Addr)
	}
	root, err := c.signingRoot(cl)
	if err != nil {
		return nil, err
	}
	certPEM, err := root.Sign(ca.SignRequest{CSR: req.CSR, NodeID: node.ID, ClusterID: cl.ID, Role: role,
		Expiry: cl.Spec.CAConfig.NodeCertExpiry, IPs: ipsOf(host)})
	if err != nil {
		return nil, err
	}
	resp := &certResponse{Role: role, Cert: certPEM, RootCA: trustBundle(cl)}
	if role == api.RoleManager && node.Role == api.RoleWorker {
		if resp.Store, err = c.storeJoinFor(ctx, m, cl, node.ID, host); err != nil {
			return nil, err
		}
		nid, memberID := node.ID, resp.Store.MemberID
		err := s.Update(ctx, func(tx *store.Tx) error {
			n, err := store.Get[api.Node](ctx, tx, nid)
			if err != nil {
				return err
			}
			n.Role, n.Version = api.RoleManager, 0
			n.Manager = &api.ManagerInfo{Addr: req.Addr, MemberID: memberID}
			return store.Put(tx, n)
		})
		if err != nil {
			m.RemoveMember(context.WithoutCancel(ctx), memberID)
			return nil, err
		}
		c.log.Info("node promoted to manager", "node", nid)
	}
	return resp, nil
}

func (c *Cluster) handleLeave(w http.ResponseWriter, r *http.Request) {
	id, err := c.peerIdentity(r)
	if err != nil {
		writeWire(w, nil, err)
		return
	}
	writeWire(w, struct{}{}, c.nodeLeft(r.Context(), id))
}

// nodeLeft records that a node left the swarm: it is down, and a manager's store member is gone.
func (c *Cluster) nodeLeft(ctx context.Context, id ca.Identity) error {
	m, err := c.managerStore()
	if err != nil {
		return err
	}
	node, err := store.Get[api.Node](ctx, m.Store(), id.NodeID)
	if err != nil {
		return err
	}
	if node.Manager != nil && node.Manager.MemberID != 0 {
		if err := m.RemoveMember(ctx, node.Manager.MemberID); err != nil {
			return err
		}
	}
	c.hb.forget(id.NodeID)
	return m.Store().Update(ctx, func(tx *store.Tx) error {
		n, err := store.Get[api.Node](ctx, tx, id.NodeID)
		if err != nil {
			return err
		}
		n.Status.State, n.Status.Message, n.Version = api.NodeStateDown, "node left the swarm", 0
		if n.Manager != nil {
			n.Manager.MemberID = 0
		}
		return store.Put(tx, n)
	})
}

// handleControl serves the managers' control API: managers only. It reads the cluster's nodes and settings
// (the services API joins it later).
func (c *Cluster) handleControl(w http.ResponseWriter, r *http.Request) {
	id, err := c.peerIdentity(r)
	if err != nil {
		writeWire(w, nil, err)
		return
	}
	if id.Role != api.RoleManager {
		writeWire(w, nil, errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("Permission denied: node %s is a worker: the control API is for managers", id.NodeID)))
		return
	}
	m, err := c.managerStore()
	if err != nil {
		writeWire(w, nil, err)
		return
	}
	switch strings.TrimPrefix(r.URL.Path, pathControl) {
	case "nodes":
		nodes, err := store.List[api.Node](r.Context(), m.Store())
		writeWire(w, nodes, err)
	case "logs":
		c.handleControlLogs(w, r)
	default:
		writeWire(w, nil, notFound("control call", r.URL.Path))
	}
}

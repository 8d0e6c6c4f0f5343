// Package cluster is a Berth node's side of swarm mode: what `docker swarm init/join/leave/update/unlock` and
// `docker node ...` do on this node, over the cluster packages below it (api, store, ca, manager). It keeps the
// node's identity on disk (its ID, certificate, key and the managers it knows) so that a daemon that restarts,
// even after kill -9, comes back as the same node; it runs the node's session with the managers (heartbeats
// over mutual TLS, which the task dispatcher will share), and on a manager the cluster listener (port 2377:
// joins, sessions, certificate renewals), the store member, and the leader's duties (nodes going down when their
// heartbeats stop, demotions).
//
// States are docker's: inactive (no swarm), pending (joining, or a restarted manager waiting for its store),
// active, locked (an autolocked manager restarted without its unlock key) and error.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/cluster/agent"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/dispatcher"
	"github.com/berth/berth/internal/cluster/manager"
)

// LocalState is the node's swarm state, as docker's LocalNodeState.
type LocalState string

// The local states.
const (
	StateInactive LocalState = "inactive"
	StatePending  LocalState = "pending"
	StateActive   LocalState = "active"
	StateError    LocalState = "error"
	StateLocked   LocalState = "locked"
)

// DefaultPort is the cluster listener's port, swarm's.
const DefaultPort = 2377

// Config configures a node's cluster side.
type Config struct {
	// Root keeps the node's swarm state (<data-root>/swarm); RunRoot the files that live only while the node
	// runs (<exec-root>/swarm: the key the store member reads).
	Root, RunRoot string
	// Describe is this node's description (hostname, platform, resources, engine).
	Describe func() api.NodeDescription
	// External points the managers at an external etcd instead of embedded members.
	External manager.External
	// StorePrefix is where the cluster lives in the store's key space (store.DefaultPrefix when empty).
	StorePrefix string
	// PeerPort and ClientPort are the embedded store member's ports (2380 and 2379 by default).
	PeerPort, ClientPort int
	Logger               *slog.Logger
	// Executor is the engine as the node's agent runs tasks through it (nil: the node runs no tasks).
	Executor agent.Backend
	// Events receives the cluster's events (service, node...) on a manager, as docker's daemon emits them.
	Events func(typ, action, id string, attrs map[string]string)
	// Clock is the leader loops' clock (the real one when nil).
	Clock clockwork.Clock
}

// nodeState is the node's identity, persisted as state.json.
type nodeState struct {
	NodeID    string       `json:"nodeID"`
	ClusterID string       `json:"clusterID"`
	Role      api.NodeRole `json:"role"`
	// Addr is the node's advertise address (host:port); ListenAddr where its cluster listener binds.
	Addr       string `json:"addr"`
	ListenAddr string `json:"listenAddr"`
	Managers   []Peer `json:"managers"`
	// Period is the heartbeat period last heard.
	Period time.Duration `json:"period"`
	// Error is why the node is in the error state (it was removed).
	Error string `json:"error,omitempty"`
}

// keyFile is the node's key material at rest (keys.json): its TLS key and, on a manager, the cluster's data
// key; sealed with the unlock key on an autolocked manager.
type keyFile struct {
	Sealed bool   `json:"sealed"`
	Blob   []byte `json:"blob"`
}

type keyMaterial struct {
	NodeKey []byte `json:"nodeKey"`
	DataKey []byte `json:"dataKey,omitempty"`
}

// creds are the node's TLS identity, swapped whole on renewal.
type creds struct {
	cert    tls.Certificate
	pool    *x509.CertPool
	rootPEM []byte
	keyPEM  []byte
	id      ca.Identity
}

// Cluster is this node's swarm membership.
type Cluster struct {
	cfg Config
	log *slog.Logger

	// ctl serializes the operations that change the node's membership (init, join, leave, unlock, role
	// changes).
	ctl sync.Mutex

	mu      sync.Mutex
	state   LocalState
	errMsg  string
	st      *nodeState
	dataKey []byte
	// unlockKey is the key the node's material is sealed with ("" when it is not).
	sealedWith string
	mgr        *manager.Manager
	mgrReady   bool
	srv        *http.Server
	runCtx     context.Context
	runCancel  context.CancelFunc
	mgrCancel  context.CancelFunc
	// mgrStarting is closed when the goroutine that starts the store member in the background returns.
	mgrStarting chan struct{}
	wg          sync.WaitGroup

	creds    atomic.Pointer[creds]
	renewing atomic.Bool
	client   atomic.Pointer[peerClient]
	hb       *heartbeats

	// disp is the dispatcher while this manager leads.
	disp atomic.Pointer[dispatcher.Dispatcher]
	// agent runs this node's tasks while it is in a swarm.
	agent atomic.Pointer[agent.Agent]
	// peers caches the managers a manager that does not lead tells nodes about.
	peers peerCache
	// netDutiesAt is when the leader last ran its networking duties (networks_node.go).
	netDutiesAt time.Time
	// watchedIngress is the ingress network as the node's networks watch last said, which a worker lists
	// (networks_node.go); nil outside a swarm or without one.
	watchedIngress atomic.Pointer[api.Network]
	// appliedRev is the store revision the node's load balancers were last written from, which appliedPoke
	// tells reportApplied (balancers.go).
	appliedRev  atomic.Int64
	appliedPoke chan struct{}
}

// New returns the node's cluster side, inactive until Start finds a swarm on disk or Init/Join make one.
func New(cfg Config) *Cluster {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PeerPort == 0 {
		cfg.PeerPort = manager.DefaultPeerPort
	}
	if cfg.ClientPort == 0 {
		cfg.ClientPort = manager.DefaultClientPort
	}
	if cfg.Describe == nil {
		cfg.Describe = func() api.NodeDescription { h, _ := os.Hostname(); return api.NodeDescription{Hostname: h} }
	}
	return &Cluster{cfg: cfg, log: cfg.Logger.With("component", "cluster"), state: StateInactive, hb: newHeartbeats(),
		appliedPoke: make(chan struct{}, 1)}
}

func (c *Cluster) path(name string) string { return filepath.Join(c.cfg.Root, name) }

// Start resumes the swarm membership kept on disk, if any: a worker starts its session, a manager its listener
// and store member (in the background: the member may wait for its peers), an autolocked manager waits for
// swarm unlock.
func (c *Cluster) Start(ctx context.Context) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	b, err := os.ReadFile(c.path("state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st nodeState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("reading %s: %w", c.path("state.json"), err)
	}
	c.mu.Lock()
	c.st = &st
	c.mu.Unlock()
	if st.Error != "" {
		c.setState(StateError, st.Error)
		return nil
	}
	km, sealed, err := c.loadKeys(nil)
	if sealed {
		c.log.Info("swarm is locked: the manager's keys are sealed with the unlock key", "node", st.NodeID)
		c.setState(StateLocked, "")
		return nil
	}
	if err != nil {
		return err
	}
	return c.resume(km)
}

// resume brings a node with its key material back into its swarm.
func (c *Cluster) resume(km keyMaterial) error {
	certPEM, err := os.ReadFile(c.path("node.crt"))
	if err != nil {
		return err
	}
	rootPEM, err := os.ReadFile(c.path("ca.crt"))
	if err != nil {
		return err
	}
	if err := c.setCreds(certPEM, km.NodeKey, rootPEM); err != nil {
		return err
	}
	c.mu.Lock()
	c.dataKey = km.DataKey
	role := c.st.Role
	c.mu.Unlock()
	c.setState(StatePending, "")
	runCtx := c.startRun()
	if role == api.RoleManager {
		if err := c.startManagerSide(runCtx, nil, true); err != nil {
			return err
		}
	} else {
		c.setState(StateActive, "")
	}
	c.startSession(runCtx)
	return nil
}

// startRun begins a membership's lifetime: everything started under it stops with stopRun.
func (c *Cluster) startRun() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	c.runCtx, c.runCancel = ctx, cancel
	c.mu.Unlock()
	return ctx
}

// runCtxLocked is the current membership's context (c.mu held).
func (c *Cluster) runCtxLocked() context.Context {
	if c.runCtx == nil {
		return context.Background()
	}
	return c.runCtx
}

// refreshStoreTLS rewrites the files the store member reads its TLS from (it reads its certificate on every
// handshake).
func (c *Cluster) refreshStoreTLS() {
	if _, err := c.managerConfig(nil); err != nil {
		c.log.Warn("refreshing the store member's TLS files", "error", err)
	}
}

// stopRun stops the session, the listener and the manager.
func (c *Cluster) stopRun() {
	c.mu.Lock()
	cancel := c.runCancel
	c.runCancel = nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	c.stopManagerSide()
	c.wg.Wait()
	if pc := c.client.Swap(nil); pc != nil {
		pc.close()
	}
}

// Close stops the node's swarm side; its state stays on disk for the next start. Running tasks are not touched.
func (c *Cluster) Close() error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.stopRun()
	return nil
}

func (c *Cluster) setState(s LocalState, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state, c.errMsg = s, msg
}

// State is the node's local state and, in the error state, why.
func (c *Cluster) State() (LocalState, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, c.errMsg
}

func (c *Cluster) nodeState() nodeState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == nil {
		return nodeState{}
	}
	st := *c.st
	st.Managers = append([]Peer(nil), c.st.Managers...)
	return st
}

// saveState writes state.json atomically.
func (c *Cluster) saveState() error {
	c.mu.Lock()
	b, err := json.MarshalIndent(c.st, "", "  ")
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(c.path("state.json"), b, 0o600)
}

func (c *Cluster) updateState(fn func(*nodeState)) error {
	c.mu.Lock()
	fn(c.st)
	c.mu.Unlock()
	return c.saveState()
}

// saveKeys writes keys.json, sealed with the unlock key when one is given.
func (c *Cluster) saveKeys(km keyMaterial, unlockKey string) error {
	b, err := json.Marshal(km)
	if err != nil {
		return err
	}
	kf := keyFile{Blob: b}
	if unlockKey != "" {
		kek, err := ca.ParseUnlockKey(unlockKey)
		if err != nil {
			return err
		}
		if kf.Blob, err = ca.Seal(kek, b); err != nil {
			return err
		}
		kf.Sealed = true
	}
	out, err := json.Marshal(kf)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(c.path("keys.json"), out, 0o600); err != nil {
		return err
	}
	c.mu.Lock()
	c.sealedWith = unlockKey
	c.mu.Unlock()
	return nil
}

// loadKeys reads keys.json; sealed reports that it is sealed and kek (the unlock key's bytes) was not given or
// did not open it (err wraps ca.ErrSealed then).
func (c *Cluster) loadKeys(kek []byte) (km keyMaterial, sealed bool, err error) {
	b, err := os.ReadFile(c.path("keys.json"))
	if err != nil {
		return km, false, err
	}
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return km, false, err
	}
	blob := kf.Blob
	if kf.Sealed {
		if kek == nil {
			return km, true, nil
		}
		if blob, err = ca.Open(kek, kf.Blob); err != nil {
			return km, true, err
		}
	}
	err = json.Unmarshal(blob, &km)
	return km, false, err
}

// setCreds makes certPEM/keyPEM/rootPEM the node's TLS identity.
func (c *Cluster) setCreds(certPEM, keyPEM, rootPEM []byte) error {
	kp, err := ca.KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("node certificate: %w", err)
	}
	pool, err := ca.Pool(rootPEM)
	if err != nil {
		return err
	}
	id, err := ca.IdentityOf(kp.Leaf)
	if err != nil {
		return err
	}
	c.creds.Store(&creds{cert: kp, pool: pool, rootPEM: rootPEM, keyPEM: keyPEM, id: id})
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: ca.ManagerName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cr := c.creds.Load()
			return &cr.cert, nil
		},
		RootCAs: pool,
	}
	if old := c.client.Swap(newPeerClient(cfg)); old != nil {
		old.close()
	}
	return nil
}

// saveCreds writes the node's certificate and roots (the key goes with keys.json).
func (c *Cluster) saveCreds(certPEM, rootPEM []byte) error {
	if err := atomicfile.WriteFile(c.path("node.crt"), certPEM, 0o600); err != nil {
		return err
	}
	return atomicfile.WriteFile(c.path("ca.crt"), rootPEM, 0o600)
}

// serverTLS is the cluster listener's TLS, following renewals.
func (c *Cluster) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cr := c.creds.Load()
			cfg := ca.ServerConfig(cr.cert, cr.pool)
			return cfg, nil
		},
	}
}

// splitAddr splits a host:port, the port defaulting to swarm's.
func splitAddr(addr string) (string, int, error) {
	host, port := ca.SplitHostPort(addr, strconv.Itoa(DefaultPort))
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return "", 0, fmt.Errorf("invalid port %q", port)
	}
	return host, p, nil
}

func joinHostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

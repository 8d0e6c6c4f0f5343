// Package manager runs the control plane's storage on a manager node: an embedded etcd member (etcd's embed
// package) whose peer and client traffic is mutual TLS with the node's cluster certificate — or, with an
// external etcd, a client of it — the cluster store over it, the store's membership (a manager joins as a
// learner and is promoted once it caught up; a demoted or departed manager is removed), and who leads (the
// etcd leader's node, or with an external etcd the holder of an election). One manager process per manager
// node; the node's side (internal/cluster) starts and stops it.
//
// Ports: the embedded member listens for its peers on the node's advertise address, port 2380 by default, and for
// clients on port 2379; only certificates naming swarm-manager (managers') pass either.
package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/store"
)

// Default ports of the embedded store member.
const (
	DefaultPeerPort   = 2380
	DefaultClientPort = 2379
)

// TLSFiles are the node's certificate chain, key and trusted roots on disk (etcd reads its TLS from files).
type TLSFiles struct {
	Cert, Key, CA string
}

// Config says how a manager reaches its store.
type Config struct {
	// NodeID names the store member.
	NodeID string
	// Dir holds the embedded member's data.
	Dir string
	// PeerURL and ClientURL are the member's advertised URLs (https://IP:2380, https://IP:2379).
	PeerURL, ClientURL string
	TLS                TLSFiles
	// InitialCluster is "name=peerURL,..." for a member that joins an existing store; empty for the first member
	// of a new store (and ignored when Dir has data already: a restarted member knows its cluster).
	InitialCluster string
	// Raft are the member's raft settings (the cluster spec's, at start).
	Raft api.RaftConfig
	// External, when it has endpoints, is an external etcd: no member is embedded.
	External External
	// Prefix is where the cluster lives in the key space (store.DefaultPrefix when empty).
	Prefix string
	// ForceNewCluster restarts the member from its data as the only member of its store (etcd's
	// --force-new-cluster): swarm init --force-new-cluster on a manager whose store lost quorum. Only for that
	// one start; later starts find the one-member store in the data.
	ForceNewCluster bool
}

// External is an external etcd cluster and the client TLS to reach it.
type External struct {
	Endpoints []string
	TLS       TLSFiles
}

// Manager is a running manager's store.
type Manager struct {
	cfg    Config
	etcd   *embed.Etcd // nil with an external store
	cli    *clientv3.Client
	store  *store.Store
	closed chan struct{}

	mu       sync.Mutex
	leaderID string
	changed  chan struct{} // closed and replaced when the leader changes
	session  *concurrency.Session

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start starts the manager's store member (or connects to the external store) and waits until it serves.
func Start(ctx context.Context, cfg Config) (*Manager, error) {
	m := &Manager{cfg: cfg, closed: make(chan struct{}), changed: make(chan struct{})}
	var runCtx context.Context
	runCtx, m.cancel = context.WithCancel(context.Background())
	if len(cfg.External.Endpoints) == 0 {
		if err := m.startEmbedded(ctx); err != nil {
			m.cancel()
			return nil, err
		}
	}
	if err := m.connect(ctx); err != nil {
		m.Close()
		return nil, err
	}
	m.store = store.New(store.NewEtcdBackend(m.cli), store.WithPrefix(m.prefix()))
	if m.etcd != nil {
		m.wg.Add(1)
		go m.followEtcdLeader(runCtx)
	} else {
		if err := m.campaign(runCtx); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

func (m *Manager) prefix() string {
	if m.cfg.Prefix != "" {
		return m.cfg.Prefix
	}
	return store.DefaultPrefix
}

func etcdLogger(dir string) (*zap.Logger, error) {
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(zapcore.WarnLevel)
	zc.OutputPaths = []string{filepath.Join(dir, "etcd.log")}
	zc.ErrorOutputPaths = zc.OutputPaths
	zc.Sampling = nil
	return zc.Build()
}

func (m *Manager) startEmbedded(ctx context.Context) error {
	c := m.cfg
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return err
	}
	peer, err := url.Parse(c.PeerURL)
	if err != nil {
		return fmt.Errorf("peer URL %q: %w", c.PeerURL, errdefs.ErrInvalidArgument)
	}
	client, err := url.Parse(c.ClientURL)
	if err != nil {
		return fmt.Errorf("client URL %q: %w", c.ClientURL, errdefs.ErrInvalidArgument)
	}
	cfg := embed.NewConfig()
	cfg.Name = c.NodeID
	cfg.Dir = filepath.Join(c.Dir, "member")
	lg, err := etcdLogger(c.Dir)
	if err != nil {
		return err
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	cfg.Logger = "zap"
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	// Only managers' certificates pass, for peers and clients alike: a worker's is signed by the same root but
	// does not name swarm-manager.
	tlsInfo := transport.TLSInfo{CertFile: c.TLS.Cert, KeyFile: c.TLS.Key, TrustedCAFile: c.TLS.CA, ClientCertAuth: true,
		ServerName: ca.ManagerName, AllowedHostnames: []string{ca.ManagerName}, SkipClientSANVerify: true}
	cfg.PeerTLSInfo, cfg.ClientTLSInfo = tlsInfo, tlsInfo
	cfg.PeerAutoTLS, cfg.ClientAutoTLS = false, false
	cfg.InitialClusterToken = "berth"
	if c.InitialCluster == "" {
		cfg.InitialCluster = c.NodeID + "=" + c.PeerURL
		cfg.ClusterState = embed.ClusterStateFlagNew
	} else {
		cfg.InitialCluster = c.InitialCluster
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	cfg.ForceNewCluster = c.ForceNewCluster
	applyRaft(cfg, c.Raft)
	// The store holds objects, not logs: big transactions (a service's tasks) fit, and the history is kept an
	// hour for watchers that reconnect.
	cfg.MaxTxnOps = 8192
	cfg.MaxRequestBytes = 16 << 20
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "1h"
	cfg.Metrics = "basic"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("starting the cluster store member: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		closeUnready(e)
		return fmt.Errorf("cluster store member: %w", err)
	case <-ctx.Done():
		closeUnready(e)
		return ctx.Err()
	case <-time.After(60 * time.Second):
		// A member that joins a store without quorum never gets ready; its caller decides what that means.
		closeUnready(e)
		return fmt.Errorf("the cluster store member did not become ready in 60s: %w", store.ErrNoLeader)
	}
	m.etcd = e
	return nil
}

// closeUnready closes a member that never became ready. embed.Etcd.Close waits for its client servers before it
// stops the server, and they wait for the server to be ready or stopping: stopping the server first lets Close
// return (else it blocks forever, holding the data directory).
func closeUnready(e *embed.Etcd) {
	e.Server.HardStop()
	e.Close()
}

// applyRaft maps swarm's raft settings onto etcd's: ticks of 100 ms, the snapshot interval as etcd's snapshot
// count, the entries kept for slow followers as its catch-up entries, old snapshots as its snapshot files.
func applyRaft(cfg *embed.Config, r api.RaftConfig) {
	const tick = 100
	if r.HeartbeatTick > 0 {
		cfg.TickMs = uint(r.HeartbeatTick * tick)
	}
	if r.ElectionTick > 0 {
		cfg.ElectionMs = uint(r.ElectionTick * tick)
	}
	if r.SnapshotInterval > 0 {
		cfg.SnapshotCount = r.SnapshotInterval
	}
	if r.LogEntriesForSlowFollowers > 0 {
		cfg.SnapshotCatchUpEntries = r.LogEntriesForSlowFollowers
	}
	if r.KeepOldSnapshots != nil {
		cfg.MaxSnapFiles = uint(*r.KeepOldSnapshots) + 1
	}
}

func (m *Manager) connect(ctx context.Context) error {
	endpoints := []string{m.cfg.ClientURL}
	if len(m.cfg.External.Endpoints) > 0 {
		endpoints = m.cfg.External.Endpoints
	}
	cli, err := m.newClient(endpoints)
	if err != nil {
		return err
	}
	m.cli = cli
	return nil
}

// newClient is a store client to endpoints with the manager's TLS (the external store's, with one).
func (m *Manager) newClient(endpoints []string) (*clientv3.Client, error) {
	files := m.cfg.TLS
	if len(m.cfg.External.Endpoints) > 0 {
		files = m.cfg.External.TLS
	}
	cc := clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), Context: context.Background(),
		DialKeepAliveTime: 5 * time.Second, DialKeepAliveTimeout: 3 * time.Second}
	if files.Cert != "" || files.CA != "" {
		info := transport.TLSInfo{CertFile: files.Cert, KeyFile: files.Key, TrustedCAFile: files.CA}
		if len(m.cfg.External.Endpoints) == 0 {
			info.ServerName = ca.ManagerName
		}
		tc, err := info.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("cluster store client TLS: %w", err)
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster store: %w", err)
	}
	return cli, nil
}

// Store is the cluster store.
func (m *Manager) Store() *store.Store { return m.store }

// Client is the etcd client (for the membership calls of this package's users' tests).
func (m *Manager) Client() *clientv3.Client { return m.cli }

// Embedded reports whether this manager runs a store member.
func (m *Manager) Embedded() bool { return m.etcd != nil }

// Done is closed when the embedded member stopped on its own (it was removed from the store's membership, or
// failed).
func (m *Manager) Done() <-chan struct{} {
	if m.etcd == nil {
		return nil
	}
	return m.etcd.Server.StopNotify()
}

// Close stops the member (or disconnects from the external store). The member's data stays for a restart.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		if m.session != nil {
			m.session.Close()
		}
		if m.cli != nil {
			m.cli.Close()
		}
		m.wg.Wait()
		if m.etcd != nil {
			m.etcd.Close()
		}
	})
	return nil
}

// followEtcdLeader tracks the store's leader: the leader of the manager's own member's view.
func (m *Manager) followEtcdLeader(ctx context.Context) {
	defer m.wg.Done()
	s := m.etcd.Server
	for {
		name := ""
		if lead := s.Leader(); lead != 0 {
			if mem := s.Cluster().Member(lead); mem != nil {
				name = mem.Name
			}
		}
		m.setLeader(name)
		select {
		case <-ctx.Done():
			return
		case <-s.StopNotify():
			m.setLeader("")
			return
		case <-s.LeaderChangedNotify():
		case <-time.After(500 * time.Millisecond): // a new member's name arrives after its first leader change
		}
	}
}

// campaign leads through an election in the external store: the leader is whoever holds it.
func (m *Manager) campaign(ctx context.Context) error {
	sess, err := concurrency.NewSession(m.cli, concurrency.WithTTL(5))
	if err != nil {
		return fmt.Errorf("cluster store session: %w", err)
	}
	m.session = sess
	el := concurrency.NewElection(sess, m.prefix()+"leader")
	m.wg.Add(2)
	go func() {
		defer m.wg.Done()
		for ctx.Err() == nil {
			if err := el.Campaign(ctx, m.cfg.NodeID); err != nil && ctx.Err() == nil {
				slog.Warn("cluster leader election", "error", err)
				time.Sleep(time.Second)
				continue
			}
			<-ctx.Done()
		}
	}()
	go func() {
		defer m.wg.Done()
		for ctx.Err() == nil {
			for resp := range el.Observe(ctx) {
				if len(resp.Kvs) > 0 {
					m.setLeader(string(resp.Kvs[0].Value))
				}
			}
			if ctx.Err() == nil {
				m.setLeader("")
				time.Sleep(500 * time.Millisecond)
			}
		}
	}()
	return nil
}

func (m *Manager) setLeader(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id != m.leaderID {
		m.leaderID = id
		close(m.changed)
		m.changed = make(chan struct{})
	}
}

// Leader is the node ID of the cluster's leader as this manager sees it ("" while there is none), and a
// channel closed when that changes.
func (m *Manager) Leader() (string, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leaderID, m.changed
}

// IsLeader reports whether this manager leads.
func (m *Manager) IsLeader() bool {
	id, _ := m.Leader()
	return id != "" && id == m.cfg.NodeID
}

// Member is one member of the store's membership.
type Member struct {
	ID      uint64
	Name    string
	PeerURL string
	Learner bool
}

// Members lists the store's members (none with an external store).
func (m *Manager) Members(ctx context.Context) ([]Member, error) {
	if m.etcd == nil {
		return nil, nil
	}
	rctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), 10*time.Second)
	defer cancel()
	resp, err := m.cli.MemberList(rctx)
	if err != nil {
		return nil, unavailable(err)
	}
	var out []Member
	for _, mem := range resp.Members {
		mm := Member{ID: mem.ID, Name: mem.Name, Learner: mem.IsLearner}
		if len(mem.PeerURLs) > 0 {
			mm.PeerURL = mem.PeerURLs[0]
		}
		out = append(out, mm)
	}
	return out, nil
}

func unavailable(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	slog.Debug("cluster store membership call", "error", err)
	return store.ErrNoLeader
}

// AddLearner adds a joining manager's member (as a learner: it votes once it caught up and was promoted) and
// returns the initial-cluster string the new member starts with, and its member ID. With an external store
// there is nothing to add.
func (m *Manager) AddLearner(ctx context.Context, nodeID, peerURL string) (string, uint64, error) {
	if m.etcd == nil {
		return "", 0, nil
	}
	rctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), 20*time.Second)
	defer cancel()
	// A member of that peer URL left from an earlier attempt (a join that failed half-way) goes first.
	if list, err := m.cli.MemberList(rctx); err == nil {
		for _, mem := range list.Members {
			if len(mem.PeerURLs) > 0 && mem.PeerURLs[0] == peerURL && mem.IsLearner {
				m.cli.MemberRemove(rctx, mem.ID)
			}
		}
	}
	// etcd refuses a membership change until every voter has been connected a few seconds ("unhealthy
	// cluster"): right after another manager joined, wait for that.
	var resp *clientv3.MemberAddResponse
	for {
		var err error
		resp, err = m.cli.MemberAddAsLearner(rctx, []string{peerURL})
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "unhealthy cluster") || rctx.Err() != nil {
			return "", 0, unavailable(err)
		}
		select {
		case <-rctx.Done():
			return "", 0, unavailable(err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	var parts []string
	for _, mem := range resp.Members {
		name := mem.Name
		if mem.ID == resp.Member.ID {
			name = nodeID
		}
		for _, u := range mem.PeerURLs {
			parts = append(parts, name+"="+u)
		}
	}
	return strings.Join(parts, ","), resp.Member.ID, nil
}

// PromoteSelf makes this manager's learner member a voter, retrying until it has caught up with the leader. A
// learner serves no client calls: the promotion goes through the voters' client URLs.
func (m *Manager) PromoteSelf(ctx context.Context, voters []string) error {
	if m.etcd == nil {
		return nil
	}
	cli, err := m.newClient(voters)
	if err != nil {
		return err
	}
	defer cli.Close()
	id := uint64(m.etcd.Server.MemberID())
	for {
		if !m.etcd.Server.IsLearner() {
			return nil
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := cli.MemberPromote(rctx, id)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("promoting the store member: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// MemberID is this manager's store member ID (0 with an external store).
func (m *Manager) MemberID() uint64 {
	if m.etcd == nil {
		return 0
	}
	return uint64(m.etcd.Server.MemberID())
}

// RemoveMember removes a member from the store's membership.
func (m *Manager) RemoveMember(ctx context.Context, id uint64) error {
	if m.etcd == nil || id == 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), 10*time.Second)
	defer cancel()
	_, err := m.cli.MemberRemove(rctx, id)
	if err != nil && strings.Contains(err.Error(), "member not found") {
		return nil
	}
	if err != nil {
		return unavailable(err)
	}
	return nil
}

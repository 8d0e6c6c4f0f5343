package manager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/store"
)

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// certFiles issues a node certificate of role under root and writes it, its key and the root to dir.
func certFiles(t *testing.T, root *ca.RootCA, dir, id string, role api.NodeRole) TLSFiles {
	t.Helper()
	keyPEM, csr, err := ca.NewKeyAndCSR()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := root.Sign(ca.SignRequest{CSR: csr, NodeID: id, ClusterID: "c1", Role: role, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	f := TLSFiles{Cert: filepath.Join(dir, "node.crt"), Key: filepath.Join(dir, "node.key"), CA: filepath.Join(dir, "ca.crt")}
	for p, b := range map[string][]byte{f.Cert: cert, f.Key: keyPEM, f.CA: root.CertPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

type member struct {
	id  string
	cfg Config
	m   *Manager
}

func newMember(t *testing.T, root *ca.RootCA, id string) *member {
	dir := t.TempDir()
	return &member{id: id, cfg: Config{NodeID: id, Dir: filepath.Join(dir, "etcd"),
		PeerURL:   fmt.Sprintf("https://127.0.0.1:%d", freePort(t)),
		ClientURL: fmt.Sprintf("https://127.0.0.1:%d", freePort(t)),
		TLS:       certFiles(t, root, dir, id, api.RoleManager), Raft: api.DefaultClusterSpec().Raft}}
}

func (mb *member) start(t *testing.T, ctx context.Context) {
	t.Helper()
	m, err := Start(ctx, mb.cfg)
	if err != nil {
		t.Fatalf("starting %s: %v", mb.id, err)
	}
	mb.m = m
	t.Cleanup(func() { m.Close() })
}

func waitLeader(t *testing.T, ms ...*member) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		first, _ := ms[0].m.Leader()
		same := first != ""
		for _, mb := range ms[1:] {
			if l, _ := mb.m.Leader(); l != first {
				same = false
			}
		}
		if same {
			return first
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no common leader after 20s")
	return ""
}

func put(ctx context.Context, s *store.Store, id string) error {
	return s.Update(ctx, func(tx *store.Tx) error {
		return store.Create(tx, &api.Node{ID: id, Spec: api.NodeSpec{DesiredRole: api.RoleWorker, Availability: api.AvailabilityActive}})
	})
}

// startManagers starts n store members as a manager join makes them: the first alone, each next one added as a
// learner by the first and promoted once it has caught up. All are voters when it returns.
func startManagers(t *testing.T, ctx context.Context, root *ca.RootCA, n int) []*member {
	t.Helper()
	var ms []*member
	for i := range n {
		ms = append(ms, newMember(t, root, fmt.Sprintf("m%d", i+1)))
	}
	ms[0].start(t, ctx)
	for _, mb := range ms[1:] {
		initial, _, err := ms[0].m.AddLearner(ctx, mb.id, mb.cfg.PeerURL)
		if err != nil {
			t.Fatal(err)
		}
		mb.cfg.InitialCluster = initial
		mb.start(t, ctx)
		if err := mb.m.PromoteSelf(ctx, []string{ms[0].cfg.ClientURL}); err != nil {
			t.Fatal(err)
		}
	}
	members, err := ms[0].m.Members(ctx)
	if err != nil || len(members) != n {
		t.Fatalf("members %+v, %v", members, err)
	}
	for _, mem := range members {
		if mem.Learner {
			t.Fatalf("member %s is still a learner", mem.Name)
		}
	}
	return ms
}

// Five managers tolerate the loss of two: the leader and another stop, a new leader takes writes that every
// survivor reads; a third loss leaves two of five, and writes fail with docker's words.
func TestFiveManagers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, _ := ca.NewRootCA()
	ms := startManagers(t, ctx, root, 5)
	leader := waitLeader(t, ms...)
	var rest []*member
	for _, mb := range ms {
		if mb.id == leader {
			mb.m.Close()
		} else {
			rest = append(rest, mb)
		}
	}
	rest[0].m.Close() // a follower too: three of five left
	rest = rest[1:]
	if l := waitLeader(t, rest...); l == leader {
		t.Fatalf("leader still %s", leader)
	}
	if err := put(ctx, rest[0].m.Store(), "three-of-five"); err != nil {
		t.Fatalf("write with three of five managers: %v", err)
	}
	for _, mb := range rest {
		if _, err := store.Get[api.Node](ctx, mb.m.Store(), "three-of-five"); err != nil {
			t.Fatalf("%s does not see the write: %v", mb.id, err)
		}
	}
	rest[0].m.Close() // two of five: no quorum
	err := put(ctx, rest[1].m.Store(), "two-of-five")
	if !errors.Is(err, store.ErrNoLeader) || !errdefs.IsUnavailable(err) {
		t.Fatalf("write with two of five managers: %v", err)
	}
}

// Three managers: members join as learners and are promoted, every manager reads what another wrote, losing the
// leader elects another that takes writes, losing quorum makes writes fail with docker's words, and a worker's
// certificate cannot reach the store.
func TestThreeManagers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, _ := ca.NewRootCA()
	ms := startManagers(t, ctx, root, 3)
	leader := waitLeader(t, ms...)
	if err := put(ctx, ms[1].m.Store(), "written-on-m2"); err != nil {
		t.Fatal(err)
	}
	for _, mb := range ms {
		if _, err := store.Get[api.Node](ctx, mb.m.Store(), "written-on-m2"); err != nil {
			t.Fatalf("%s does not see the write: %v", mb.id, err)
		}
	}

	// A worker's certificate, from the same root, is refused by the store's members.
	wf := certFiles(t, root, t.TempDir(), "w1", api.RoleWorker)
	tc, _ := (transport.TLSInfo{CertFile: wf.Cert, KeyFile: wf.Key, TrustedCAFile: wf.CA, ServerName: ca.ManagerName}).ClientConfig()
	wcli, err := clientv3.New(clientv3.Config{Endpoints: []string{ms[0].cfg.ClientURL}, TLS: tc, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err == nil {
		wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
		_, err = wcli.Get(wctx, "/berth/cluster/objects/nodes/written-on-m2")
		wcancel()
		wcli.Close()
	}
	if err == nil {
		t.Fatal("a worker's certificate read the store")
	}

	// Kill the leader: another is elected and writes go on.
	var rest []*member
	for _, mb := range ms {
		if mb.id == leader {
			mb.m.Close()
		} else {
			rest = append(rest, mb)
		}
	}
	start := time.Now()
	newLeader := waitLeader(t, rest...)
	if newLeader == leader {
		t.Fatalf("leader still %s", leader)
	}
	t.Logf("new leader %s elected %v after the leader stopped", newLeader, time.Since(start).Round(time.Millisecond))
	if err := put(ctx, rest[0].m.Store(), "after-leader-loss"); err != nil {
		t.Fatalf("write after the leader's loss: %v", err)
	}

	// Lose quorum: one of three left. Writes fail, with docker's words, in bounded time.
	rest[1].m.Close()
	start = time.Now()
	err = put(ctx, rest[0].m.Store(), "without-quorum")
	if !errors.Is(err, store.ErrNoLeader) || !errdefs.IsUnavailable(err) {
		t.Fatalf("write without quorum: %v", err)
	}
	t.Logf("write without quorum failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

// A restarted member keeps its data and its place.
func TestRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, _ := ca.NewRootCA()
	mb := newMember(t, root, "m1")
	mb.start(t, ctx)
	if err := put(ctx, mb.m.Store(), "kept"); err != nil {
		t.Fatal(err)
	}
	mb.m.Close()
	mb.start(t, ctx)
	waitLeader(t, mb)
	if _, err := store.Get[api.Node](ctx, mb.m.Store(), "kept"); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	if !mb.m.IsLeader() {
		t.Fatal("the only member does not lead")
	}
}

// A member of a store that lost quorum restarts with ForceNewCluster as its only member: it leads, keeps every
// object, takes writes again, and a new member joins it.
func TestForceNewCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, _ := ca.NewRootCA()
	ms := []*member{newMember(t, root, "m1"), newMember(t, root, "m2"), newMember(t, root, "m3")}
	ms[0].start(t, ctx)
	for _, mb := range ms[1:] {
		initial, _, err := ms[0].m.AddLearner(ctx, mb.id, mb.cfg.PeerURL)
		if err != nil {
			t.Fatal(err)
		}
		mb.cfg.InitialCluster = initial
		mb.start(t, ctx)
		if err := mb.m.PromoteSelf(ctx, []string{ms[0].cfg.ClientURL}); err != nil {
			t.Fatal(err)
		}
	}
	waitLeader(t, ms...)
	if err := put(ctx, ms[0].m.Store(), "before"); err != nil {
		t.Fatal(err)
	}
	ms[1].m.Close()
	ms[2].m.Close()
	if err := put(ctx, ms[0].m.Store(), "without-quorum"); !errors.Is(err, store.ErrNoLeader) {
		t.Fatalf("write without quorum: %v", err)
	}

	survivor := ms[0]
	survivor.m.Close()
	// Restarted plainly, the member waits for its peers; given up, it lets go of its data (this returns, and the
	// forced start below opens the same directory).
	wctx, wcancel := context.WithCancel(ctx)
	time.AfterFunc(2*time.Second, wcancel)
	if m, err := Start(wctx, survivor.cfg); err == nil {
		m.Close()
		t.Fatal("a member without quorum became ready")
	}
	forced := survivor.cfg
	forced.ForceNewCluster = true
	m, err := Start(ctx, forced)
	if err != nil {
		t.Fatalf("force-new-cluster start: %v", err)
	}
	survivor.m = m
	t.Cleanup(func() { m.Close() })
	waitLeader(t, survivor)
	if !m.IsLeader() {
		t.Fatal("the forced member does not lead")
	}
	members, err := m.Members(ctx)
	if err != nil || len(members) != 1 || members[0].Name != "m1" {
		t.Fatalf("members after force-new-cluster: %+v, %v", members, err)
	}
	if _, err := store.Get[api.Node](ctx, m.Store(), "before"); err != nil {
		t.Fatalf("an object written before the loss: %v", err)
	}
	if err := put(ctx, m.Store(), "after"); err != nil {
		t.Fatalf("a write after force-new-cluster: %v", err)
	}

	// A new member joins the one-member store.
	m4 := newMember(t, root, "m4")
	initial, _, err := m.AddLearner(ctx, "m4", m4.cfg.PeerURL)
	if err != nil {
		t.Fatal(err)
	}
	m4.cfg.InitialCluster = initial
	m4.start(t, ctx)
	if err := m4.m.PromoteSelf(ctx, []string{survivor.cfg.ClientURL}); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, survivor, m4)
	// The promotion is committed before the new member applied it: until then it answers as a learner.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := store.Get[api.Node](ctx, m4.m.Store(), "after")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new member does not see the data: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if members, err = m.Members(ctx); err != nil || len(members) != 2 {
		t.Fatalf("members after a join: %+v, %v", members, err)
	}
}

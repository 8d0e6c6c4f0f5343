package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/manager"
	"github.com/berth/berth/internal/cluster/store"
	"github.com/berth/berth/internal/filters"
)

func TestForcedMembership(t *testing.T) {
	mgr := func(id string, member uint64, state api.NodeState) *api.Node {
		return &api.Node{ID: id, Role: api.RoleManager, Status: api.NodeStatus{State: state},
			Manager: &api.ManagerInfo{Addr: id + ":2377", PeerURL: "https://" + id + ":2380", ClientURL: "https://" + id + ":2379", MemberID: member}}
	}
	worker := &api.Node{ID: "w", Role: api.RoleWorker, Status: api.NodeStatus{State: api.NodeStateReady}}
	tests := []struct {
		name     string
		nodes    []*api.Node
		memberID uint64
		// want is node ID -> "state member peerURL" of the changed records.
		want map[string]string
	}{
		{name: "other managers down and no longer members, workers untouched",
			nodes:    []*api.Node{mgr("self", 1, api.NodeStateReady), mgr("m2", 2, api.NodeStateReady), mgr("m3", 3, api.NodeStateDown), worker},
			memberID: 1,
			want:     map[string]string{"m2": "down 0 ", "m3": "down 0 "}},
		{name: "self's member ID recorded when etcd gave it another",
			nodes:    []*api.Node{mgr("self", 1, api.NodeStateReady), mgr("m2", 2, api.NodeStateDown)},
			memberID: 9,
			want:     map[string]string{"self": "ready 9 https://self:2380", "m2": "down 0 "}},
		{name: "a lone manager changes nothing",
			nodes:    []*api.Node{mgr("self", 1, api.NodeStateReady), worker},
			memberID: 1,
			want:     map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := fmt.Sprintf("%+v", *tc.nodes[1])
			got := map[string]string{}
			for _, n := range forcedMembership(tc.nodes, "self", tc.memberID) {
				got[n.ID] = fmt.Sprintf("%s %d %s", n.Status.State, n.Manager.MemberID, n.Manager.PeerURL)
				if n.ID != "self" && (n.Manager.Addr != n.ID+":2377" || n.Status.Message != forcedNodeMessage) {
					t.Errorf("%s: addr %q message %q", n.ID, n.Manager.Addr, n.Status.Message)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("changed %v, want %v", got, tc.want)
			}
			if after := fmt.Sprintf("%+v", *tc.nodes[1]); after != before {
				t.Errorf("the input record changed: %s -> %s", before, after)
			}
		})
	}
}

func TestMergeGivenSpec(t *testing.T) {
	cur := api.DefaultClusterSpec()
	cur.Labels = map[string]string{"env": "prod"}
	cur.Dispatcher.HeartbeatPeriod = 2 * time.Second
	cur.CAConfig.ExternalCAs = []api.ExternalCA{{Protocol: "cfssl", URL: "https://ca.example"}}
	cur.CAConfig.SigningCACert = "ROOT"
	cur.Encryption.AutoLockManagers = true
	limit := int64(1)
	tests := []struct {
		name  string
		given api.ClusterSpec
		want  func(*api.ClusterSpec)
	}{
		{name: "nothing given keeps everything", want: func(*api.ClusterSpec) {}},
		{name: "a setting given goes over the swarm's",
			given: api.ClusterSpec{Orchestration: api.OrchestrationConfig{TaskHistoryRetentionLimit: &limit}, Dispatcher: api.DispatcherConfig{HeartbeatPeriod: 5 * time.Second}},
			want: func(s *api.ClusterSpec) {
				s.Orchestration.TaskHistoryRetentionLimit = &limit
				s.Dispatcher.HeartbeatPeriod = 5 * time.Second
			}},
		{name: "labels given replace the swarm's", given: api.ClusterSpec{Annotations: api.Annotations{Labels: map[string]string{"a": "b"}}},
			want: func(s *api.ClusterSpec) { s.Labels = map[string]string{"a": "b"} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := cur
			tc.want(&want)
			if got := mergeGivenSpec(cur, tc.given); fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestForcedOut(t *testing.T) {
	tests := []struct {
		name string
		node *api.Node
		want bool
	}{
		{name: "dropped manager", node: &api.Node{Role: api.RoleManager, Manager: &api.ManagerInfo{Addr: "10.0.0.2:2377"}}, want: true},
		{name: "joined manager before its URLs are recorded", node: &api.Node{Role: api.RoleManager, Manager: &api.ManagerInfo{Addr: "a:2377", MemberID: 7}}},
		{name: "manager", node: &api.Node{Role: api.RoleManager, Manager: &api.ManagerInfo{Addr: "a:2377", MemberID: 7, PeerURL: "https://a:2380"}}},
		{name: "worker being promoted", node: &api.Node{Role: api.RoleWorker, Spec: api.NodeSpec{DesiredRole: api.RoleManager}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := forcedOut(tc.node); got != tc.want {
				t.Errorf("forcedOut = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStoreMember(t *testing.T) {
	n := &api.Node{ID: "n1", Role: api.RoleManager, Manager: &api.ManagerInfo{PeerURL: "https://10.0.0.1:2380"}}
	dropped := &api.Node{ID: "n2", Role: api.RoleManager, Manager: &api.ManagerInfo{Addr: "10.0.0.2:2377"}}
	tests := []struct {
		name    string
		node    *api.Node
		members []manager.Member
		want    bool
	}{
		{name: "by name", node: n, members: []manager.Member{{Name: "n1", PeerURL: "https://other:2380"}}, want: true},
		{name: "a learner not started yet, by peer URL", node: n, members: []manager.Member{{PeerURL: "https://10.0.0.1:2380", Learner: true}}, want: true},
		{name: "not a member", node: n, members: []manager.Member{{Name: "n9", PeerURL: "https://10.0.0.9:2380"}}, want: false},
		{name: "a dropped manager has no peer URL to match", node: dropped, members: []manager.Member{{Name: "n1"}, {PeerURL: ""}}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := storeMember(tc.node, tc.members); got != tc.want {
				t.Errorf("storeMember = %v, want %v", got, tc.want)
			}
		})
	}
}

// Three managers and a worker, in process: two managers stop, the survivor cannot write; swarm init
// --force-new-cluster on it makes a one-manager swarm that kept its objects, takes writes, shows the other
// managers down and unreachable, removes them with node rm, and takes a new manager.
func TestForceNewCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	n1, n2, n3, w, n5 := newNode(t, 1), newNode(t, 2), newNode(t, 3), newNode(t, 4), newNode(t, 5)
	const base = 40 // loopback addresses of their own: other tests of the package use the low ones
	spec := api.DefaultClusterSpec()
	spec.Dispatcher.HeartbeatPeriod = time.Second
	if _, err := n1.Init(ctx, InitRequest{ForceNewCluster: true, ListenAddr: addr(base+1) + ":2377", AdvertiseAddr: addr(base + 1), Spec: spec}); err != nil {
		t.Fatalf("--force-new-cluster outside a swarm (a plain init): %v", err)
	}
	sw, err := n1.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	join := func(c *Cluster, i int, token string) {
		t.Helper()
		if err := c.Join(ctx, JoinRequest{ListenAddr: addr(base+i) + ":2377", AdvertiseAddr: addr(base + i), RemoteAddrs: []string{addr(base+1) + ":2377"}, JoinToken: token}); err != nil {
			t.Fatalf("join of node%d: %v", i, err)
		}
	}
	join(n2, 2, sw.JoinTokens.Manager)
	join(n3, 3, sw.JoinTokens.Manager)
	join(w, 4, sw.JoinTokens.Worker)
	if _, err := n1.CreateSecret(ctx, api.SecretSpec{Annotations: api.Annotations{Name: "kept"}}, []byte("a secret value")); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Init(ctx, InitRequest{ListenAddr: addr(base+1) + ":2377"}); err != ErrSwarmExists {
		t.Fatalf("init in a swarm: %v", err)
	}
	if _, err := w.Init(ctx, InitRequest{ForceNewCluster: true}); err != ErrSwarmNotManager {
		t.Fatalf("--force-new-cluster on a worker: %v", err)
	}
	id2, id3, wid := n2.nodeState().NodeID, n3.nodeState().NodeID, w.nodeState().NodeID
	// label is a cluster write: a label on the worker.
	label := func(value string) error {
		n, err := n1.Node(ctx, wid)
		if err != nil {
			return err
		}
		n.Spec.Labels = map[string]string{"written": value}
		return n1.UpdateNode(ctx, n.ID, n.Version, n.Spec)
	}

	n2.Close()
	n3.Close()
	err = label("without-quorum")
	if !errors.Is(err, store.ErrNoLeader) {
		t.Fatalf("a write without quorum: %v", err)
	}

	// The survivor's daemon restarted meanwhile: its store member waits for its peers, the node is pending.
	n1 = reopen(t, n1)
	if s, _ := n1.State(); s != StatePending {
		t.Fatalf("the restarted survivor is %s", s)
	}
	if _, err := n1.Init(ctx, InitRequest{ForceNewCluster: true, Spec: api.ClusterSpec{CAConfig: api.CAConfig{SigningCACert: "x"}}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("--force-new-cluster with a new root CA: %v", err)
	}
	if _, err := n1.Init(ctx, InitRequest{ForceNewCluster: true, AdvertiseAddr: addr(base + 9)}); !errdefs.IsInvalidArgument(err) ||
		!strings.Contains(err.Error(), "moving the node to "+addr(base+9)+" is not supported") {
		t.Fatalf("--force-new-cluster with another advertise address: %v", err)
	}
	if _, err := n1.Init(ctx, InitRequest{ForceNewCluster: true, Spec: api.ClusterSpec{Dispatcher: api.DispatcherConfig{HeartbeatPeriod: -time.Second}}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("--force-new-cluster with a negative heartbeat period: %v", err)
	}
	if s, _ := n1.State(); s != StatePending {
		t.Fatalf("after a refused --force-new-cluster the survivor is %s", s)
	}
	limit := int64(2)
	id, err := n1.Init(ctx, InitRequest{ForceNewCluster: true, ListenAddr: "0.0.0.0:2377", AdvertiseAddr: addr(base + 1),
		Spec: api.ClusterSpec{Orchestration: api.OrchestrationConfig{TaskHistoryRetentionLimit: &limit}}})
	if err != nil {
		t.Fatalf("--force-new-cluster: %v", err)
	}
	if sw, err := n1.Inspect(ctx); err != nil || sw.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit == nil ||
		*sw.Cluster.Spec.Orchestration.TaskHistoryRetentionLimit != 2 || sw.Cluster.Spec.Dispatcher.HeartbeatPeriod != time.Second {
		t.Fatalf("the swarm's spec after --force-new-cluster --task-history-limit 2: %+v, %v", sw.Cluster, err)
	}
	if id != n1.nodeState().NodeID {
		t.Fatalf("--force-new-cluster returned %q", id)
	}
	if err := label("after"); err != nil {
		t.Fatalf("a write after --force-new-cluster: %v", err)
	}
	if s, err := n1.Secrets(ctx, filters.Args{}); err != nil || len(s) != 1 || s[0].Spec.Name != "kept" {
		t.Fatalf("secrets after --force-new-cluster: %v, %v", s, err)
	}
	eventually(t, "the survivor leads, the others are down and unreachable, the worker ready", 30*time.Second, func() error {
		nodes, err := n1.Nodes(ctx, filters.Args{})
		if err != nil {
			return err
		}
		var desc []string
		for _, n := range nodes {
			d := fmt.Sprintf("%s:%s", n.Description.Hostname, n.Status.State)
			if n.ManagerStatus != nil {
				d += fmt.Sprintf(":%s:%v", n.ManagerStatus.Reachability, n.ManagerStatus.Leader)
			}
			desc = append(desc, d)
		}
		got := strings.Join(desc, " ")
		for _, want := range []string{"node1:ready:reachable:true", "node2:down:unreachable:false", "node3:down:unreachable:false", "node4:ready"} {
			if !strings.Contains(got, want) {
				return fmt.Errorf("nodes %s, want %s", got, want)
			}
		}
		return nil
	})
	if err := n1.RemoveNode(ctx, id2, false); err != nil {
		t.Fatalf("node rm of a dropped, down manager: %v", err)
	}
	// A dropped manager that comes back carries on as a worker: its old store member is gone for good.
	n3 = reopen(t, n3)
	eventually(t, "the dropped manager back as a worker", 60*time.Second, func() error {
		n, err := n1.Node(ctx, id3)
		if err != nil {
			return err
		}
		if s, _ := n3.State(); s != StateActive || n3.nodeState().Role != api.RoleWorker || n.Role != api.RoleWorker ||
			n.ManagerStatus != nil || n.Status.State != api.NodeStateReady {
			return fmt.Errorf("node3 is %s, %s on itself; %s, %s, %+v in the swarm", s, n3.nodeState().Role, n.Role, n.Status.State, n.ManagerStatus)
		}
		return nil
	})
	if _, err := os.Stat(n3.path("etcd")); !os.IsNotExist(err) {
		t.Fatalf("the dropped manager kept its store data: %v", err)
	}
	if err := n1.RemoveNode(ctx, id, true); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("node rm of the store's own member: %v", err)
	}

	sw, err = n1.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	join(n5, 5, sw.JoinTokens.Manager)
	eventually(t, "two managers in the store", 30*time.Second, func() error {
		nodes, err := n5.Nodes(ctx, filters.NewArgs(filters.Arg("role", "manager")))
		if err != nil {
			return err
		}
		if len(nodes) != 2 {
			return fmt.Errorf("%d managers", len(nodes))
		}
		return nil
	})
	m, err := n1.managerStore()
	if err != nil {
		t.Fatal(err)
	}
	if members, err := m.Members(ctx); err != nil || len(members) != 2 {
		t.Fatalf("store members after a new manager joined: %+v, %v", members, err)
	}
}

// --force-new-cluster on a manager of a healthy swarm, as docker allows: the other managers' members, removed
// from the store, stop (etcd refuses a removed member), and the managers carry on as workers; no second store
// goes on with the old membership.
func TestForceNewClusterWithLiveManagers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	n1, n2, n3 := newNode(t, 1), newNode(t, 2), newNode(t, 3)
	const base = 50
	spec := api.DefaultClusterSpec()
	spec.Dispatcher.HeartbeatPeriod = time.Second
	if _, err := n1.Init(ctx, InitRequest{ListenAddr: addr(base+1) + ":2377", AdvertiseAddr: addr(base + 1), Spec: spec}); err != nil {
		t.Fatal(err)
	}
	sw, err := n1.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []*Cluster{n2, n3} {
		if err := c.Join(ctx, JoinRequest{ListenAddr: addr(base+2+i) + ":2377", AdvertiseAddr: addr(base + 2 + i), RemoteAddrs: []string{addr(base+1) + ":2377"}, JoinToken: sw.JoinTokens.Manager}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "three store members", 30*time.Second, func() error {
		m, err := n1.managerStore()
		if err != nil {
			return err
		}
		members, err := m.Members(ctx)
		if err != nil || len(members) != 3 {
			return fmt.Errorf("%d members, %v", len(members), err)
		}
		for _, mem := range members {
			if mem.Learner {
				return fmt.Errorf("a learner")
			}
		}
		return nil
	})
	if _, err := n1.Init(ctx, InitRequest{ForceNewCluster: true}); err != nil {
		t.Fatalf("--force-new-cluster: %v", err)
	}
	eventually(t, "the other managers workers", 90*time.Second, func() error {
		nodes, err := n1.Nodes(ctx, filters.Args{})
		if err != nil {
			return err
		}
		var desc []string
		for _, n := range nodes {
			desc = append(desc, fmt.Sprintf("%s:%s:%s", n.Description.Hostname, n.Role, n.Status.State))
		}
		got := strings.Join(desc, " ")
		for _, want := range []string{"node1:manager:ready", "node2:worker:ready", "node3:worker:ready"} {
			if !strings.Contains(got, want) {
				return fmt.Errorf("nodes %s", got)
			}
		}
		for _, c := range []*Cluster{n2, n3} {
			if c.nodeState().Role != api.RoleWorker {
				return fmt.Errorf("%s still a manager on itself", c.nodeState().NodeID)
			}
		}
		return nil
	})
	m, err := n1.managerStore()
	if err != nil {
		t.Fatal(err)
	}
	if members, err := m.Members(ctx); err != nil || len(members) != 1 {
		t.Fatalf("store members: %+v, %v", members, err)
	}
}

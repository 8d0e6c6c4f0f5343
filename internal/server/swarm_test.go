package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	mobyclient "github.com/moby/moby/client"

	"github.com/berth/berth/internal/cluster"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/filters"
)

// fakeSwarm is a swarm backend holding one cluster and its nodes, recording what the routes pass on.
type fakeSwarm struct {
	calls    []string
	manager  bool
	cl       *api.Cluster
	nodes    []cluster.Node
	services []*api.Service
	logs     []api.LogMessage
}

func (f *fakeSwarm) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}
func (f *fakeSwarm) last() string {
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeSwarm) Init(_ context.Context, r cluster.InitRequest) (string, error) {
	f.record("init listen=%s advertise=%s autolock=%v avail=%s heartbeat=%v", r.ListenAddr, r.AdvertiseAddr, r.AutoLockManagers, r.Availability, r.Spec.Dispatcher.HeartbeatPeriod)
	f.manager = true
	return "node1", nil
}
func (f *fakeSwarm) Join(_ context.Context, r cluster.JoinRequest) error {
	f.record("join %v token=%s", r.RemoteAddrs, r.JoinToken)
	if !strings.HasPrefix(r.JoinToken, "SWMTKN-1-") {
		return errdefs.ErrInvalidArgument.WithMessage("invalid join token")
	}
	return nil
}
func (f *fakeSwarm) Leave(_ context.Context, force bool) error {
	f.record("leave force=%v", force)
	return nil
}
func (f *fakeSwarm) check() error {
	if !f.manager {
		return cluster.ErrSwarmNotManager
	}
	return nil
}
func (f *fakeSwarm) Inspect(context.Context) (cluster.Swarm, error) {
	if err := f.check(); err != nil {
		return cluster.Swarm{}, err
	}
	return cluster.Swarm{Cluster: f.cl, JoinTokens: f.cl.RootCA.JoinTokens}, nil
}
func (f *fakeSwarm) Update(_ context.Context, v uint64, s api.ClusterSpec, fl cluster.UpdateFlags) error {
	f.record("update version=%d heartbeat=%v expiry=%v autolock=%v rotate=%v/%v/%v", v, s.Dispatcher.HeartbeatPeriod, s.CAConfig.NodeCertExpiry,
		s.Encryption.AutoLockManagers, fl.RotateWorkerToken, fl.RotateManagerToken, fl.RotateManagerUnlockKey)
	return f.check()
}
func (f *fakeSwarm) UnlockKey(context.Context) (string, error) { return "SWMKEY-1-abc", f.check() }
func (f *fakeSwarm) Unlock(_ context.Context, key string) error {
	f.record("unlock %s", key)
	return cluster.ErrInvalidUnlockKey
}
func (f *fakeSwarm) Info(context.Context) cluster.Info {
	if !f.manager {
		return cluster.Info{State: cluster.StateInactive}
	}
	return cluster.Info{State: cluster.StateActive, NodeID: "node1", NodeAddr: "10.0.0.1", ControlAvailable: true, Nodes: 2, Managers: 1,
		RemoteManagers: []cluster.Peer{{NodeID: "node1", Addr: "10.0.0.1:2377"}}, Swarm: &cluster.Swarm{Cluster: f.cl}}
}
func (f *fakeSwarm) Nodes(_ context.Context, fl filters.Args) ([]cluster.Node, error) {
	f.record("nodes role=%v", fl.Get("role"))
	return f.nodes, f.check()
}
func (f *fakeSwarm) Node(_ context.Context, ref string) (cluster.Node, error) {
	if err := f.check(); err != nil {
		return cluster.Node{}, err
	}
	for _, n := range f.nodes {
		if n.ID == ref || n.Description.Hostname == ref {
			return n, nil
		}
	}
	return cluster.Node{}, errdefs.ErrNotFound.WithMessage("node " + ref + " not found")
}
func (f *fakeSwarm) UpdateNode(_ context.Context, ref string, v uint64, s api.NodeSpec) error {
	f.record("update node %s version=%d role=%s availability=%s labels=%v", ref, v, s.DesiredRole, s.Availability, s.Labels)
	return f.check()
}
func (f *fakeSwarm) RemoveNode(_ context.Context, ref string, force bool) error {
	f.record("rm node %s force=%v", ref, force)
	return api.RPCError(errdefs.ErrFailedPrecondition, "FailedPrecondition", "node %s is not down and can't be removed", ref)
}

func (f *fakeSwarm) Tasks(_ context.Context, fl filters.Args) ([]*api.Task, error) {
	f.record("tasks node=%v", fl.Get("node"))
	return []*api.Task{{ID: "task1", NodeID: "node1", ServiceID: "svc1", Slot: 2, DesiredState: api.TaskRunning,
		Status: api.TaskStatus{State: api.TaskRunning, ContainerID: "c1"}}}, f.check()
}
func (f *fakeSwarm) Task(_ context.Context, id string) (*api.Task, error) {
	return nil, errdefs.ErrNotFound.WithMessage("task " + id + " not found")
}

func newFakeSwarm() *fakeSwarm {
	spec := api.DefaultClusterSpec()
	cl := &api.Cluster{ID: "cluster1", Meta: api.Meta{Version: 7}, Spec: spec,
		RootCA: api.RootCA{JoinTokens: api.JoinTokens{Worker: "SWMTKN-1-w", Manager: "SWMTKN-1-m"}}}
	mgr := &api.Node{ID: "node1", Meta: api.Meta{Version: 9}, Role: api.RoleManager,
		Spec:        api.NodeSpec{DesiredRole: api.RoleManager, Availability: api.AvailabilityActive},
		Description: api.NodeDescription{Hostname: "host1", Engine: api.EngineDescription{EngineVersion: "0.1"}},
		Status:      api.NodeStatus{State: api.NodeStateReady, Addr: "10.0.0.1"}}
	wrk := &api.Node{ID: "node2", Role: api.RoleWorker, Spec: api.NodeSpec{DesiredRole: api.RoleWorker, Availability: api.AvailabilityDrain},
		Description: api.NodeDescription{Hostname: "host2"}, Status: api.NodeStatus{State: api.NodeStateDown, Message: "heartbeat failure"}}
	return &fakeSwarm{cl: cl, nodes: []cluster.Node{
		{Node: mgr, ManagerStatus: &cluster.ManagerStatus{Leader: true, Reachability: cluster.Reachable, Addr: "10.0.0.1:2377"}},
		{Node: wrk},
	}}
}

func serveSwarm(t *testing.T, f *fakeSwarm) (*httptest.Server, *mobyclient.Client) {
	t.Helper()
	e := newFakeEngine()
	b := e.backends()
	b.Swarm = f
	srv := httptest.NewServer(New(b))
	t.Cleanup(srv.Close)
	c, err := mobyclient.New(mobyclient.WithHost("tcp://"+srv.Listener.Addr().String()), mobyclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

// The swarm and node routes through docker's own Go client: what they pass on, docker's shapes back, docker's
// statuses for the errors.
func TestSwarmRoutes(t *testing.T) {
	f := newFakeSwarm()
	srv, c := serveSwarm(t, f)
	ctx := context.Background()

	info, err := c.Info(ctx, mobyclient.InfoOptions{})
	if err != nil || info.Info.Swarm.LocalNodeState != swarm.LocalNodeStateInactive {
		t.Fatalf("info outside a swarm: %+v, %v", info.Info.Swarm, err)
	}
	// On a node that is no manager, docker's 503 and words.
	if _, err := c.NodeList(ctx, mobyclient.NodeListOptions{}); !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "This node is not a swarm manager.") {
		t.Fatalf("node ls on a worker: %v", err)
	}

	res, err := c.SwarmInit(ctx, mobyclient.SwarmInitOptions{ListenAddr: "0.0.0.0:2377", AdvertiseAddr: "10.0.0.1", AutoLockManagers: true,
		Availability: swarm.NodeAvailabilityDrain, Spec: swarm.Spec{Dispatcher: swarm.DispatcherConfig{HeartbeatPeriod: 2 * time.Second}}})
	if err != nil || res.NodeID != "node1" {
		t.Fatalf("init: %+v, %v", res, err)
	}
	if got := f.last(); got != "init listen=0.0.0.0:2377 advertise=10.0.0.1 autolock=true avail=drain heartbeat=2s" {
		t.Errorf("init passed %q", got)
	}
	info, err = c.Info(ctx, mobyclient.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sw := info.Info.Swarm
	if sw.LocalNodeState != swarm.LocalNodeStateActive || !sw.ControlAvailable || sw.NodeID != "node1" || sw.Nodes != 2 || sw.Managers != 1 ||
		sw.Cluster == nil || sw.Cluster.ID != "cluster1" || sw.Cluster.Spec.Raft.ElectionTick != 10 || len(sw.RemoteManagers) != 1 {
		t.Fatalf("info's swarm: %+v", sw)
	}

	insp, err := c.SwarmInspect(ctx, mobyclient.SwarmInspectOptions{})
	if err != nil || insp.Swarm.JoinTokens.Worker != "SWMTKN-1-w" || insp.Swarm.Version.Index != 7 || insp.Swarm.Spec.CAConfig.NodeCertExpiry != 90*24*time.Hour {
		t.Fatalf("inspect: %+v, %v", insp.Swarm, err)
	}
	spec := insp.Swarm.Spec
	spec.Dispatcher.HeartbeatPeriod = 11 * time.Second
	if _, err := c.SwarmUpdate(ctx, mobyclient.SwarmUpdateOptions{Version: insp.Swarm.Version, Spec: spec, RotateWorkerToken: true}); err != nil {
		t.Fatal(err)
	}
	if got := f.last(); got != "update version=7 heartbeat=11s expiry=2160h0m0s autolock=false rotate=true/false/false" {
		t.Errorf("update passed %q", got)
	}
	resp, _ := http.Post(srv.URL+"/v1.47/swarm/update", "application/json", strings.NewReader("{}"))
	if resp.StatusCode != 400 {
		t.Errorf("an update without a version: %s", resp.Status)
	}

	nodes, err := c.NodeList(ctx, mobyclient.NodeListOptions{Filters: mobyclient.Filters{"role": {"manager": true}}})
	if err != nil || len(nodes.Items) != 2 || f.last() != "nodes role=[manager]" {
		t.Fatalf("node ls: %v, passed %q", err, f.last())
	}
	m := nodes.Items[0]
	if m.ManagerStatus == nil || !m.ManagerStatus.Leader || m.ManagerStatus.Reachability != swarm.ReachabilityReachable || m.Spec.Role != swarm.NodeRoleManager ||
		m.Status.State != swarm.NodeStateReady || m.Description.Engine.EngineVersion != "0.1" || m.Version.Index != 9 {
		t.Fatalf("manager node %+v", m)
	}
	if w := nodes.Items[1]; w.ManagerStatus != nil || w.Status.State != swarm.NodeStateDown || w.Spec.Availability != swarm.NodeAvailabilityDrain {
		t.Fatalf("worker node %+v", w)
	}
	if _, err := c.NodeInspect(ctx, "nope", mobyclient.NodeInspectOptions{}); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "node nope not found") {
		t.Fatalf("inspect of an unknown node: %v", err)
	}
	_, err = c.NodeUpdate(ctx, "host2", mobyclient.NodeUpdateOptions{Version: swarm.Version{Index: 3},
		Spec: swarm.NodeSpec{Role: swarm.NodeRoleManager, Availability: swarm.NodeAvailabilityPause, Annotations: swarm.Annotations{Labels: map[string]string{"zone": "a"}}}})
	if err != nil || f.last() != "update node host2 version=3 role=manager availability=pause labels=map[zone:a]" {
		t.Fatalf("node update: %v, passed %q", err, f.last())
	}
	if _, err := c.NodeRemove(ctx, "host2", mobyclient.NodeRemoveOptions{Force: true}); !errdefs.IsFailedPrecondition(err) ||
		!strings.Contains(err.Error(), "rpc error: code = FailedPrecondition desc = node host2 is not down and can't be removed") || f.last() != "rm node host2 force=true" {
		t.Fatalf("node rm: %v, passed %q", err, f.last())
	}
	tasks, err := c.TaskList(ctx, mobyclient.TaskListOptions{Filters: mobyclient.Filters{"node": {"host1": true}}})
	if err != nil || len(tasks.Items) != 1 || f.last() != "tasks node=[host1]" {
		t.Fatalf("task ls: %+v, %v, passed %q", tasks, err, f.last())
	}
	if tk := tasks.Items[0]; tk.Status.State != swarm.TaskStateRunning || tk.DesiredState != swarm.TaskStateRunning || tk.Slot != 2 || tk.Status.ContainerStatus.ContainerID != "c1" {
		t.Fatalf("task %+v", tk)
	}
	if key, err := c.SwarmGetUnlockKey(ctx); err != nil || key.Key != "SWMKEY-1-abc" {
		t.Fatalf("unlock key: %+v, %v", key, err)
	}
	if _, err := c.SwarmUnlock(ctx, mobyclient.SwarmUnlockOptions{Key: "SWMKEY-1-x"}); !errdefs.IsUnauthorized(err) || !strings.Contains(err.Error(), "invalid key provided") {
		t.Fatalf("unlock with a wrong key: %v", err)
	}
	if _, err := c.SwarmJoin(ctx, mobyclient.SwarmJoinOptions{RemoteAddrs: []string{"10.0.0.1:2377"}, JoinToken: "bad"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("join with a bad token: %v", err)
	}
	if _, err := c.SwarmLeave(ctx, mobyclient.SwarmLeaveOptions{Force: true}); err != nil || f.last() != "leave force=true" {
		t.Fatalf("leave: %v, passed %q", err, f.last())
	}
}

package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/filters"
)

// Nodes of these tests are in this process, each on its own loopback address (127.0.1.N): no root, no
// namespaces, the real listener, store members and sessions.

func newNode(t *testing.T, n int) *Cluster {
	t.Helper()
	dir := t.TempDir()
	c := New(Config{Root: filepath.Join(dir, "swarm"), RunRoot: filepath.Join(dir, "run"),
		Describe: func() api.NodeDescription {
			return api.NodeDescription{Hostname: fmt.Sprintf("node%d", n), Platform: api.Platform{OS: "linux", Architecture: "x86_64"},
				Engine: api.EngineDescription{EngineVersion: "test"}}
		}})
	t.Cleanup(func() { c.Close() })
	return c
}

func addr(n int) string { return fmt.Sprintf("127.0.1.%d", n) }

func eventually(t *testing.T, what string, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not after %v: %v", what, d, err)
}

func nodeByHost(t *testing.T, ctx context.Context, c *Cluster, host string) Node {
	t.Helper()
	n, err := c.Node(ctx, host)
	if err != nil {
		t.Fatalf("node %s: %v", host, err)
	}
	return n
}

func TestSwarmLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n1, n2, n3 := newNode(t, 1), newNode(t, 2), newNode(t, 3)

	if _, err := n1.Nodes(ctx, filters.Args{}); err != ErrNoSwarm {
		t.Fatalf("nodes outside a swarm: %v", err)
	}
	spec := api.DefaultClusterSpec()
	spec.Dispatcher.HeartbeatPeriod = time.Second
	id1, err := n1.Init(ctx, InitRequest{ListenAddr: addr(1) + ":2377", AdvertiseAddr: addr(1), Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Init(ctx, InitRequest{ListenAddr: addr(1) + ":2377", AdvertiseAddr: addr(1)}); err != ErrSwarmExists {
		t.Fatalf("second init: %v", err)
	}
	sw, err := n1.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info := n1.Info(ctx)
	if info.State != StateActive || !info.ControlAvailable || info.Nodes != 1 || info.Managers != 1 || info.NodeID != id1 || info.NodeAddr != addr(1) {
		t.Fatalf("info %+v", info)
	}

	// A wrong token is refused, in docker's words, and leaves the node out.
	bad := sw.JoinTokens.Worker[:len(sw.JoinTokens.Worker)-5] + "aaaaa"
	err = n2.Join(ctx, JoinRequest{ListenAddr: addr(2) + ":2377", AdvertiseAddr: addr(2), RemoteAddrs: []string{addr(1) + ":2377"}, JoinToken: bad})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "A valid join token is necessary to join this cluster") {
		t.Fatalf("wrong token: %v", err)
	}
	if s, _ := n2.State(); s != StateInactive {
		t.Fatalf("after a refused join the node is %s", s)
	}
	if err := n2.Join(ctx, JoinRequest{ListenAddr: addr(2) + ":2377", AdvertiseAddr: addr(2), RemoteAddrs: []string{addr(1) + ":2377"}, JoinToken: sw.JoinTokens.Worker}); err != nil {
		t.Fatalf("worker join: %v", err)
	}
	if err := n3.Join(ctx, JoinRequest{ListenAddr: addr(3) + ":2377", AdvertiseAddr: addr(3), RemoteAddrs: []string{addr(1) + ":2377"}, JoinToken: sw.JoinTokens.Manager}); err != nil {
		t.Fatalf("manager join: %v", err)
	}
	if _, err := n2.Nodes(ctx, filters.Args{}); err != ErrSwarmNotManager {
		t.Fatalf("node ls on a worker: %v", err)
	}
	eventually(t, "three ready nodes, two managers", 20*time.Second, func() error {
		nodes, err := n3.Nodes(ctx, filters.Args{})
		if err != nil {
			return err
		}
		ready, managers := 0, 0
		for _, n := range nodes {
			if n.Status.State == api.NodeStateReady {
				ready++
			}
			if n.ManagerStatus != nil {
				managers++
			}
		}
		if ready != 3 || managers != 2 {
			return fmt.Errorf("%d ready, %d managers", ready, managers)
		}
		return nil
	})
	if n := nodeByHost(t, ctx, n1, "node1"); n.ManagerStatus == nil || !n.ManagerStatus.Leader || n.ManagerStatus.Reachability != Reachable {
		t.Fatalf("node1's manager status %+v", n.ManagerStatus)
	}

	// A worker's certificate cannot call the managers' control API; a manager's can.
	var out []api.Node
	err = n2.client.Load().call(ctx, addr(1)+":2377", pathControl+"nodes", struct{}{}, &out)
	if !errdefs.IsPermissionDenied(err) {
		t.Fatalf("a worker called the control API: %v", err)
	}
	if err := n3.client.Load().call(ctx, addr(1)+":2377", pathControl+"nodes", struct{}{}, &out); err != nil || len(out) != 3 {
		t.Fatalf("a manager calling the control API: %d nodes, %v", len(out), err)
	}

	// Promote the worker, demote the joined manager.
	w := nodeByHost(t, ctx, n1, "node2")
	w.Spec.DesiredRole = api.RoleManager
	if err := n1.UpdateNode(ctx, w.ID, w.Version, w.Spec); err != nil {
		t.Fatal(err)
	}
	if err := n1.UpdateNode(ctx, w.ID, w.Version, w.Spec); err == nil || !strings.Contains(err.Error(), "update out of sequence") {
		t.Fatalf("an update at an old version: %v", err)
	}
	eventually(t, "node2 a manager", 40*time.Second, func() error {
		if _, err := n2.Inspect(ctx); err != nil {
			return err
		}
		if n := nodeByHost(t, ctx, n1, "node2"); n.ManagerStatus == nil || n.ManagerStatus.Reachability != Reachable {
			return fmt.Errorf("manager status %+v", n.ManagerStatus)
		}
		return nil
	})
	m3 := nodeByHost(t, ctx, n1, "node3")
	m3.Spec.DesiredRole = api.RoleWorker
	if err := n1.UpdateNode(ctx, m3.ID, m3.Version, m3.Spec); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node3 a worker", 40*time.Second, func() error {
		if _, err := n3.Inspect(ctx); err != ErrSwarmNotManager {
			return fmt.Errorf("inspect on node3: %v", err)
		}
		if n := nodeByHost(t, ctx, n1, "node3"); n.ManagerStatus != nil {
			return fmt.Errorf("manager status %+v", n.ManagerStatus)
		}
		return nil
	})

	// A stopped node goes down after its heartbeats stop; a ready one cannot be removed without force.
	if err := n1.RemoveNode(ctx, "node3", false); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "is not down and can't be removed") {
		t.Fatalf("removing a ready node: %v", err)
	}
	if err := n1.RemoveNode(ctx, "node2", true); !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "must be demoted to worker before removal") {
		t.Fatalf("removing a manager: %v", err)
	}
	n3.Close()
	eventually(t, "node3 down", 20*time.Second, func() error {
		if n := nodeByHost(t, ctx, n1, "node3"); n.Status.State != api.NodeStateDown {
			return fmt.Errorf("state %s", n.Status.State)
		}
		return nil
	})
	if err := n1.RemoveNode(ctx, "node3", false); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Node(ctx, "node3"); !errdefs.IsNotFound(err) || err.Error() != "node node3 not found" {
		t.Fatalf("a removed node: %v", err)
	}

	// Tasks are listed by node, service and desired state, nodes and services by name. This cluster's nodes run
	// no agent: the task stays where the scheduler put it.
	n := uint64(1)
	if _, err := n1.CreateService(ctx, api.ServiceSpec{Annotations: api.Annotations{Name: "svc1"}, Mode: api.ModeReplicated, Replicas: &n,
		Task: api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox"}}}, ""); err != nil {
		t.Fatal(err)
	}
	var task *api.Task
	eventually(t, "the service's task placed", 20*time.Second, func() error {
		ts, err := n1.Tasks(ctx, filters.Args{})
		if err != nil || len(ts) != 1 || ts[0].NodeID == "" {
			return fmt.Errorf("%d tasks, %v", len(ts), err)
		}
		task = ts[0]
		return nil
	})
	host := nodeByHost(t, ctx, n1, task.NodeID).Description.Hostname
	tests := []struct {
		name    string
		filters filters.Args
		want    int
	}{
		{name: "all", want: 1},
		{name: "by node hostname", filters: filters.NewArgs(filters.Arg("node", host)), want: 1},
		{name: "by desired state", filters: filters.NewArgs(filters.Arg("desired-state", "shutdown")), want: 0},
		{name: "by service", filters: filters.NewArgs(filters.Arg("service", "svc1")), want: 1},
	}
	for _, tc := range tests {
		got, err := n1.Tasks(ctx, tc.filters)
		if err != nil || len(got) != tc.want {
			t.Fatalf("%s: %d tasks, %v", tc.name, len(got), err)
		}
	}
	if _, err := n1.Tasks(ctx, filters.NewArgs(filters.Arg("desired-state", "dancing"))); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("a bad desired-state: %v", err)
	}
	if got, err := n1.Task(ctx, task.ID); err != nil || got.ServiceID != task.ServiceID {
		t.Fatalf("task %s: %v", task.ID, err)
	}
	if _, err := n1.Task(ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Fatalf("an unknown task: %v", err)
	}

	// The last manager refuses to leave without force.
	if err := n2.Leave(ctx, false); err == nil || !strings.Contains(err.Error(), "participating as a manager") {
		t.Fatalf("a manager leaving: %v", err)
	}
}

// reopen is the node of c after a daemon restart: a new Cluster over the same directories.
func reopen(t *testing.T, c *Cluster) *Cluster {
	t.Helper()
	c.Close()
	r := New(c.cfg)
	t.Cleanup(func() { r.Close() })
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// Restarted nodes come back as themselves; an autolocked manager comes back locked and refuses cluster calls
// until unlocked with the right key.
func TestRestartAndAutolock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n1, n2 := newNode(t, 11), newNode(t, 12)
	spec := api.DefaultClusterSpec()
	spec.Dispatcher.HeartbeatPeriod = time.Second
	id1, err := n1.Init(ctx, InitRequest{ListenAddr: addr(11) + ":2377", AdvertiseAddr: addr(11), Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	sw, _ := n1.Inspect(ctx)
	if err := n2.Join(ctx, JoinRequest{ListenAddr: addr(12) + ":2377", AdvertiseAddr: addr(12), RemoteAddrs: []string{addr(11)}, JoinToken: sw.JoinTokens.Worker}); err != nil {
		t.Fatal(err)
	}
	id2 := n2.Info(ctx).NodeID
	if key, err := n1.UnlockKey(ctx); err != nil || key != "" {
		t.Fatalf("unlock key without autolock: %q, %v", key, err)
	}

	n1 = reopen(t, n1)
	n2 = reopen(t, n2)
	eventually(t, "both back and ready", 30*time.Second, func() error {
		nodes, err := n1.Nodes(ctx, filters.Args{})
		if err != nil {
			return err
		}
		if len(nodes) != 2 {
			return fmt.Errorf("%d nodes", len(nodes))
		}
		for _, n := range nodes {
			if n.Status.State != api.NodeStateReady {
				return fmt.Errorf("%s is %s", n.ID, n.Status.State)
			}
		}
		return nil
	})
	if got := n1.Info(ctx).NodeID; got != id1 {
		t.Fatalf("the manager came back as %s, not %s", got, id1)
	}
	if got := n2.Info(ctx).NodeID; got != id2 {
		t.Fatalf("the worker came back as %s, not %s", got, id2)
	}

	// Autolock: the manager's keys are sealed; a restart leaves it locked.
	sw, _ = n1.Inspect(ctx)
	spec = sw.Cluster.Spec
	spec.Encryption.AutoLockManagers = true
	if err := n1.Update(ctx, sw.Cluster.Version, spec, UpdateFlags{}); err != nil {
		t.Fatal(err)
	}
	key, err := n1.UnlockKey(ctx)
	if err != nil || !strings.HasPrefix(key, "SWMKEY-1-") {
		t.Fatalf("unlock key %q, %v", key, err)
	}
	eventually(t, "keys sealed", 10*time.Second, func() error {
		if _, sealed, _ := n1.loadKeys(nil); !sealed {
			return fmt.Errorf("keys.json not sealed")
		}
		return nil
	})
	if err := n1.Unlock(ctx, key); err != ErrNotLocked {
		t.Fatalf("unlocking an unlocked swarm: %v", err)
	}
	n1 = reopen(t, n1)
	if s, _ := n1.State(); s != StateLocked {
		t.Fatalf("state after restart %s", s)
	}
	if _, err := n1.Nodes(ctx, filters.Args{}); err != ErrSwarmLocked {
		t.Fatalf("node ls on a locked manager: %v", err)
	}
	other := "SWMKEY-1-" + strings.Repeat("A", 43)
	if err := n1.Unlock(ctx, other); err != ErrInvalidUnlockKey {
		t.Fatalf("wrong key: %v", err)
	}
	if err := n1.Unlock(ctx, "garbage"); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("malformed key: %v", err)
	}
	if err := n1.Unlock(ctx, key); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unlocked manager serving", 20*time.Second, func() error {
		_, err := n1.Nodes(ctx, filters.Args{})
		return err
	})

	// Rotating the key re-seals with the new one; turning autolock off unseals.
	sw, _ = n1.Inspect(ctx)
	if err := n1.Update(ctx, sw.Cluster.Version, sw.Cluster.Spec, UpdateFlags{RotateManagerUnlockKey: true}); err != nil {
		t.Fatal(err)
	}
	newKey, _ := n1.UnlockKey(ctx)
	if newKey == key || newKey == "" {
		t.Fatalf("rotated key %q", newKey)
	}
	eventually(t, "keys sealed with the new key", 10*time.Second, func() error {
		kek, _ := ca.ParseUnlockKey(newKey)
		if _, sealed, err := n1.loadKeys(kek); sealed || err != nil {
			return fmt.Errorf("not opened by the new key: %v", err)
		}
		return nil
	})
}

package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// A leader on its embedded etcd schedules services of thousands of replicas over a thousand nodes: every task
// is created once in its own slot and assigned, the replicas spread evenly (a node holds as many of each
// service as any other), and no task is lost or doubled by the leader's blind writes (CreateFresh, PutAt)
// racing its own loops.
func TestLeaderSchedulesThousandsOfTasks(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of tasks through etcd; run without -short")
	}
	const (
		nodes    = 1000
		services = 2
		replicas = 5000 // per service: 5 tasks of each service on every node with the manager
	)
	ctx := context.Background()
	n1 := newNode(t, 1)
	if _, err := n1.Init(ctx, InitRequest{ListenAddr: addr(1) + ":2377", AdvertiseAddr: addr(1), Spec: api.DefaultClusterSpec()}); err != nil {
		t.Fatal(err)
	}
	m, err := n1.managerStore()
	if err != nil {
		t.Fatal(err)
	}
	st := m.Store()
	// Simulated workers, ready as though their agents had registered; the manager is a node too.
	for i := 0; i < nodes-1; i += 500 {
		must(t, st.Update(ctx, func(tx *store.Tx) error {
			for j := i; j < min(i+500, nodes-1); j++ {
				n := &api.Node{ID: fmt.Sprintf("sim%05d", j), Role: api.RoleWorker,
					Spec:        api.NodeSpec{DesiredRole: api.RoleWorker, Availability: api.AvailabilityActive},
					Description: api.NodeDescription{Hostname: fmt.Sprintf("sim%05d", j), Platform: api.Platform{OS: "linux", Architecture: "x86_64"}, Resources: api.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30}},
					Status:      api.NodeStatus{State: api.NodeStateReady}}
				if err := store.Create(tx, n); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	v, err := st.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := st.Watch(ctx, v.Rev(), api.KindTask)
	start := time.Now()
	reps := uint64(replicas)
	svcIDs := map[string]bool{}
	for i := 0; i < services; i++ {
		id, err := n1.CreateService(ctx, api.ServiceSpec{Annotations: api.Annotations{Name: fmt.Sprintf("s%d", i)}, Mode: api.ModeReplicated,
			Replicas: &reps, Task: api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox"}}}, "")
		if err != nil {
			t.Fatal(err)
		}
		svcIDs[id] = true
	}
	assigned := map[string]bool{}
	timeout := time.After(3 * time.Minute)
	for len(assigned) < services*replicas {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatal("the watch ended")
			}
			if tk := ev.Object.(*api.Task); ev.Action != store.ActionRemove && tk.Status.State == api.TaskAssigned {
				assigned[tk.ID] = true
			}
		case <-timeout:
			t.Fatalf("%d of %d tasks assigned after 3 minutes", len(assigned), services*replicas)
		}
	}
	t.Logf("%d tasks on %d nodes assigned in %v", services*replicas, nodes, time.Since(start))

	tasks, err := store.List[api.Task](ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != services*replicas {
		t.Fatalf("%d tasks stored, want %d", len(tasks), services*replicas)
	}
	slots := map[string]bool{}
	perNode := map[string]int{}
	for _, tk := range tasks {
		if !svcIDs[tk.ServiceID] || tk.Slot < 1 || tk.Slot > replicas {
			t.Fatalf("task %s: service %s slot %d", tk.ID, tk.ServiceID, tk.Slot)
		}
		if k := fmt.Sprintf("%s.%d", tk.ServiceID, tk.Slot); slots[k] {
			t.Fatalf("slot %s twice", k)
		} else {
			slots[k] = true
		}
		if tk.NodeID == "" || tk.Status.State < api.TaskAssigned || tk.DesiredState != api.TaskRunning {
			t.Fatalf("task %s: node %q, state %v, desired %v", tk.ID, tk.NodeID, tk.Status.State, tk.DesiredState)
		}
		perNode[tk.ServiceID+"/"+tk.NodeID]++
	}
	if len(perNode) != services*nodes {
		t.Fatalf("tasks on %d service/node pairs, want %d", len(perNode), services*nodes)
	}
	for k, n := range perNode {
		if n != replicas/nodes {
			t.Fatalf("%s holds %d tasks, want %d", k, n, replicas/nodes)
		}
	}
}

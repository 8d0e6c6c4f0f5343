package orchestrator

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/berth/berth/internal/cluster/placement"
)

// TestConvergence drives the simulated cluster of the scenario tests through random weather — nodes going down,
// coming back, drained and paused; tasks failing; services scaled and updated; time passing — from fixed seeds,
// then lets it heal and checks what a user would check with `docker service ls` and `docker service ps`: every
// replicated service runs exactly its replicas, one task per slot; every global service one task per node; no
// task runs that should not. The same seed gives the same history twice.
func TestConvergence(t *testing.T) {
	for seed := range uint64(25) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			first := weather(t, seed)
			if again := weather(t, seed); again != first {
				t.Fatalf("the same seed gave two histories")
			}
		})
	}
}

// weather runs one seed and returns the cluster's history.
func weather(t *testing.T, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 7))
	c := newCluster()
	var log strings.Builder
	step := func() {
		for _, f := range []func() (string, bool){
			func() (string, bool) { out, ch, _ := c.reconcile(); return out, ch },
			c.schedule, c.agents,
		} {
			out, _ := f()
			log.WriteString(out)
		}
	}
	for i := range 5 {
		if err := c.node(fmt.Sprintf("n%d labels=zone=z%d", i, i%2)); err != nil {
			t.Fatal(err)
		}
	}
	orders := []string{"stop-first", "start-first"}
	for i, svc := range []string{"a", "b", "c"} {
		args := map[string][]string{"replicas": {fmt.Sprint(1 + rng.IntN(5))}, "image": {"v0"},
			"update-parallelism": {fmt.Sprint(rng.IntN(3))}, "update-order": {orders[i%2]},
			"update-failure-action": {[]string{"pause", "continue", "rollback"}[rng.IntN(3)]}}
		if i == 2 {
			args["pref"] = []string{"node.labels.zone"}
		}
		if err := c.create(svc, args); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.create("g", map[string][]string{"mode": {"global"}}); err != nil {
		t.Fatal(err)
	}
	step()

	image := 0
	for range 60 {
		node := fmt.Sprintf("n%d", rng.IntN(5))
		svc := []string{"a", "b", "c"}[rng.IntN(3)]
		var err error
		switch rng.IntN(9) {
		case 0:
			err = c.node(node + " state=down")
		case 1:
			err = c.node(node + " state=ready")
		case 2:
			err = c.node(node + " avail=" + []string{"active", "pause", "drain"}[rng.IntN(3)])
		case 3, 4:
			if running := c.running(); len(running) > 0 {
				tk := running[rng.IntN(len(running))]
				tk.Status = TaskStatus{State: TaskStateFailed, Timestamp: c.now, Err: "task: non-zero exit (1)"}
				tk.Version = c.bump()
			}
		case 5:
			err = c.update(svc, map[string][]string{"replicas": {fmt.Sprint(rng.IntN(6))}}, false)
		case 6:
			image++
			err = c.update(svc, map[string][]string{"image": {fmt.Sprint("v", image)}}, false)
		case 7:
			c.now = c.now.Add(time.Duration(1+rng.IntN(30)) * time.Second)
		}
		if err != nil {
			t.Fatal(err)
		}
		step()
	}

	// Heal: every node back, ready and active; then time passes until nothing changes.
	for i := range 5 {
		if err := c.node(fmt.Sprintf("n%d state=ready avail=active", i)); err != nil {
			t.Fatal(err)
		}
	}
	for range 50 {
		step()
		c.now = c.now.Add(time.Minute)
	}
	if out, changed, _ := c.reconcile(); changed {
		t.Fatalf("seed %d: still changing after healing:\n%s", seed, out)
	}

	for _, s := range c.snapshot().Services {
		perSlot := map[string]int{}
		for _, tk := range c.tasks {
			if tk.ServiceID != s.ID || tk.DesiredState > TaskStateRunning {
				continue
			}
			if tk.Status.State != TaskStateRunning {
				t.Errorf("seed %d: %s (%s) is desired running but %s", seed, c.name(tk), tk.ID, tk.Status.State)
			}
			perSlot[c.name(tk)]++
		}
		for name, n := range perSlot {
			if n != 1 {
				t.Errorf("seed %d: slot %s has %d tasks desired running", seed, name, n)
			}
		}
		want := int(s.Spec.Replicas)
		if s.Spec.Mode == ModeGlobal {
			want = len(c.nodes)
		}
		if len(perSlot) != want {
			t.Errorf("seed %d: service %s runs %d tasks, want %d:\n%s", seed, s.ID, len(perSlot), want, c.ps([]string{s.ID}, true))
		}
		// Slots need not be 1…N: scaling down removes the slots least worth keeping (not running, doubled up on a
		// node) before the highest, as swarmkit does, and scaling up fills the lowest free numbers.
		if s.Spec.Mode == ModeReplicated && perSlot[s.ID+".0"] > 0 {
			t.Errorf("seed %d: service %s has a task in slot 0", seed, s.ID)
		}
	}
	for _, tk := range c.tasks {
		if tk.Status.State == TaskStateRunning && tk.DesiredState > TaskStateRunning {
			t.Errorf("seed %d: %s (%s) still runs though desired %s", seed, c.name(tk), tk.ID, tk.DesiredState)
		}
	}
	if t.Failed() {
		t.Logf("history:\n%s", log.String())
	}
	return log.String()
}

// running are the tasks observed running on a node that is up.
func (c *cluster) running() []*Task {
	up := map[string]bool{}
	for _, n := range c.nodes {
		up[n.ID] = n.State != placement.NodeStateDown
	}
	var out []*Task
	for _, t := range c.tasks {
		if t.Status.State == TaskStateRunning && up[t.NodeID] {
			out = append(out, t)
		}
	}
	return out
}

package scheduler

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/docker/go-units"

	"github.com/berth/berth/internal/cluster/placement"
)

// TestScenarios runs the scripts in testdata/: each builds a cluster of nodes, runs the scheduler on pending
// tasks and prints where they went, as etcd's raft interaction tests print what a cluster of nodes does. A line
// of a command's input is one node or one group of tasks, written as words; values hold no spaces:
//
//	nodes          one node a line, added or changed: ID [host=H] [role=manager] [avail=pause|drain]
//	               [state=down|unknown] [labels=k=v,k=v] [engine=k=v,…] [cpus=N] [mem=SIZE] [platform=os/arch]
//	               [addr=IP]; a node is a ready, active worker on linux/amd64 named after its ID unless told
//	remove-node ID
//	running        tasks that hold a node's resources: SERVICE on=NODE [xN] [cpus=N] [mem=SIZE] [stopping]
//	               [port=8080/tcp]
//	schedule [counts]  pending tasks: SERVICE [xN] [version=V] [on=NODE (preassigned)] [constraint=EXPR]…
//	               [pref=DESCRIPTOR]… [max=N] [cpus=N] [mem=SIZE] [port=P/proto] [platform=os/arch]…; prints
//	               each task's decision, or with counts each service's tasks per node and why some stayed pending
//	stop TASK…     the tasks stopped: they hold nothing any more
//	fail TASK…     the tasks failed now: they hold nothing, and count against their node
//	advance D      moves the clock
//	state          each node's tasks, per service, and its reservations
//
// Task IDs are SERVICE.N in the order they are written, so a script can stop them.
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		h := &harness{s: New(), now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), seq: map[string]int{}}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := h.run(d)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			return out
		})
	})
}

type harness struct {
	s     *Scheduler
	now   time.Time
	seq   map[string]int // tasks written per service
	nodes []string       // node IDs in the order they were added
}

func (h *harness) run(d *datadriven.TestData) (string, error) {
	switch d.Cmd {
	case "nodes":
		for _, line := range lines(d.Input) {
			if err := h.node(line); err != nil {
				return "", err
			}
		}
		return "", nil
	case "remove-node":
		for _, a := range d.CmdArgs {
			h.s.RemoveNode(a.Key)
		}
		return h.state(), nil
	case "running":
		for _, line := range lines(d.Input) {
			ts, err := h.tasks(line)
			if err != nil {
				return "", err
			}
			for _, t := range ts {
				h.s.AddTask(t)
			}
		}
		return "", nil
	case "schedule":
		var pending []Task
		for _, line := range lines(d.Input) {
			ts, err := h.tasks(line)
			if err != nil {
				return "", err
			}
			pending = append(pending, ts...)
		}
		ds := h.s.Schedule(pending, h.now)
		if d.HasArg("counts") {
			return h.counts(pending, ds), nil
		}
		var b strings.Builder
		for _, dec := range ds {
			if dec.Placed() {
				fmt.Fprintf(&b, "%s: %s (%s)\n", dec.TaskID, dec.NodeID, dec.Message)
			} else {
				fmt.Fprintf(&b, "%s: pending: %s\n", dec.TaskID, dec.Err)
			}
		}
		return b.String(), nil
	case "stop":
		for _, a := range d.CmdArgs {
			h.s.RemoveTask(a.Key)
		}
		return h.state(), nil
	case "fail":
		for _, a := range d.CmdArgs {
			h.s.TaskFailed(a.Key, h.now)
		}
		return "", nil
	case "advance":
		by, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			return "", err
		}
		h.now = h.now.Add(by)
		return "", nil
	case "state":
		return h.state(), nil
	}
	return "", fmt.Errorf("unknown command %q", d.Cmd)
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// words splits a line into its first word and its key=value words (a repeated key keeps every value).
func words(line string) (string, map[string][]string) {
	f := strings.Fields(line)
	kv := map[string][]string{}
	for _, w := range f[1:] {
		k, v, _ := strings.Cut(w, "=")
		kv[k] = append(kv[k], v)
	}
	return f[0], kv
}

func one(kv map[string][]string, k string) (string, bool) {
	v, ok := kv[k]
	if !ok {
		return "", false
	}
	return v[len(v)-1], true
}

func labels(s string) map[string]string {
	m := map[string]string{}
	for _, p := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(p, "=")
		m[k] = v
	}
	return m
}

func resources(kv map[string][]string) (placement.Resources, error) {
	var r placement.Resources
	if v, ok := one(kv, "cpus"); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return r, err
		}
		r.NanoCPUs = int64(f * 1e9)
	}
	if v, ok := one(kv, "mem"); ok {
		b, err := units.RAMInBytes(v)
		if err != nil {
			return r, err
		}
		r.MemoryBytes = b
	}
	return r, nil
}

func platform(s string) placement.Platform {
	os, arch, _ := strings.Cut(s, "/")
	return placement.Platform{OS: os, Architecture: arch}
}

func (h *harness) node(line string) error {
	id, kv := words(line)
	n, _, _, ok := h.s.Node(id)
	if !ok {
		n = placement.Node{ID: id, Hostname: id, Role: placement.RoleWorker, Availability: placement.AvailabilityActive,
			State: placement.NodeStateReady, Platform: placement.Platform{OS: "linux", Architecture: "amd64"}}
		h.nodes = append(h.nodes, id)
	}
	for k, vs := range kv {
		v := vs[len(vs)-1]
		switch k {
		case "host":
			n.Hostname = v
		case "role":
			n.Role = placement.Role(v)
		case "avail":
			n.Availability = placement.Availability(v)
		case "state":
			n.State = placement.NodeState(v)
		case "labels":
			n.Labels = labels(v)
		case "engine":
			n.EngineLabels = labels(v)
		case "platform":
			n.Platform = platform(v)
		case "addr":
			n.Addr = v
		case "cpus", "mem":
		default:
			return fmt.Errorf("node %s: unknown attribute %q", id, k)
		}
	}
	if _, ok := kv["cpus"]; ok {
		r, err := resources(map[string][]string{"cpus": kv["cpus"]})
		if err != nil {
			return err
		}
		n.Resources.NanoCPUs = r.NanoCPUs
	}
	if _, ok := kv["mem"]; ok {
		r, err := resources(map[string][]string{"mem": kv["mem"]})
		if err != nil {
			return err
		}
		n.Resources.MemoryBytes = r.MemoryBytes
	}
	h.s.SetNode(n)
	return nil
}

// tasks reads a line of tasks: SERVICE [xN] and their attributes.
func (h *harness) tasks(line string) ([]Task, error) {
	svc, kv := words(line)
	count := 1
	for _, w := range strings.Fields(line)[1:] {
		if n, ok := strings.CutPrefix(w, "x"); ok {
			if c, err := strconv.Atoi(n); err == nil {
				count = c
				delete(kv, w)
			}
		}
	}
	var t Task
	t.ServiceID = svc
	var err error
	if t.Reservations, err = resources(kv); err != nil {
		return nil, err
	}
	for k, vs := range kv {
		switch k {
		case "cpus", "mem":
		case "on":
			t.NodeID = vs[0]
		case "version":
			t.SpecVersion, err = strconv.ParseUint(vs[0], 10, 64)
			if err != nil {
				return nil, err
			}
		case "constraint":
			t.Placement.Constraints = vs
		case "pref":
			for _, v := range vs {
				t.Placement.Preferences = append(t.Placement.Preferences, placement.Preference{Spread: v})
			}
		case "max":
			t.Placement.MaxReplicas, err = strconv.ParseUint(vs[0], 10, 64)
			if err != nil {
				return nil, err
			}
		case "platform":
			for _, v := range vs {
				t.Placement.Platforms = append(t.Placement.Platforms, platform(v))
			}
		case "port":
			for _, v := range vs {
				port, proto, _ := strings.Cut(v, "/")
				p, err := strconv.ParseUint(port, 10, 32)
				if err != nil {
					return nil, err
				}
				t.HostPorts = append(t.HostPorts, HostPort{Protocol: proto, Port: uint32(p)})
			}
		case "stopping":
			t.Stopping = true
		default:
			return nil, fmt.Errorf("task %s: unknown attribute %q", svc, k)
		}
	}
	out := make([]Task, count)
	for i := range out {
		h.seq[svc]++
		out[i] = t
		out[i].ID = fmt.Sprintf("%s.%d", svc, h.seq[svc])
	}
	return out, nil
}

// counts prints, per service of the pending tasks, how many went to each node and why the others did not.
func (h *harness) counts(pending []Task, ds []Decision) string {
	svcOf := map[string]string{}
	var order []string
	for _, t := range pending {
		if _, ok := svcOf[t.ID]; !ok && !slices.Contains(order, t.ServiceID) {
			order = append(order, t.ServiceID)
		}
		svcOf[t.ID] = t.ServiceID
	}
	per := map[string]map[string]int{}
	unplaced := map[string]map[string]int{}
	for _, d := range ds {
		svc := svcOf[d.TaskID]
		if d.Placed() {
			if per[svc] == nil {
				per[svc] = map[string]int{}
			}
			per[svc][d.NodeID]++
		} else {
			if unplaced[svc] == nil {
				unplaced[svc] = map[string]int{}
			}
			unplaced[svc][d.Err]++
		}
	}
	var b strings.Builder
	for _, svc := range order {
		fmt.Fprintf(&b, "%s:", svc)
		for _, n := range h.nodes {
			if c := per[svc][n]; c > 0 {
				fmt.Fprintf(&b, " %s=%d", n, c)
			}
		}
		b.WriteString("\n")
		for _, why := range slices.Sorted(maps.Keys(unplaced[svc])) {
			fmt.Fprintf(&b, "  %d pending: %s\n", unplaced[svc][why], why)
		}
	}
	return b.String()
}

// state prints each node: its tasks that count, per service, and the resources they reserve.
func (h *harness) state() string {
	var b strings.Builder
	for _, id := range h.nodes {
		n, reserved, active, ok := h.s.Node(id)
		if !ok {
			continue
		}
		slot := h.s.byID[id]
		var svcs []string
		for svc, m := range h.s.services {
			if c := m[slot]; c > 0 {
				svcs = append(svcs, fmt.Sprintf("%s=%d", svc, c))
			}
		}
		slices.Sort(svcs)
		fmt.Fprintf(&b, "%s: %d task%s", id, active, map[bool]string{true: "", false: "s"}[active == 1])
		if len(svcs) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(svcs, " "))
		}
		if !n.Resources.IsZero() || !reserved.IsZero() {
			fmt.Fprintf(&b, " cpus %g/%g mem %s/%s", float64(reserved.NanoCPUs)/1e9, float64(n.Resources.NanoCPUs)/1e9,
				units.BytesSize(float64(reserved.MemoryBytes)), units.BytesSize(float64(n.Resources.MemoryBytes)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

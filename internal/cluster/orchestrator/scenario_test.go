package orchestrator

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/docker/go-units"

	"github.com/berth/berth/internal/cluster/placement"
	"github.com/berth/berth/internal/cluster/scheduler"
)

// TestScenarios runs the scripts in testdata/: a small cluster simulated in memory — a store of services, tasks
// and nodes with versions, the real scheduler, and agents that do what their tasks' desired states say — driven
// step by step, each step printing what changed, as etcd's raft interaction tests print what a cluster does.
//
//	nodes                 input: a node a line, added or changed: ID [role=manager] [avail=active|pause|drain]
//	                      [state=ready|down] [labels=k=v,…] [cpus=N] [mem=SIZE]
//	create NAME [k=v…]    a service: mode= replicas= max-concurrent= image= constraint=… pref=… max-per-node=
//	                      reserve-cpu= reserve-mem= restart-condition= restart-delay= restart-max-attempts=
//	                      restart-window= update-parallelism= update-delay= update-order= update-failure-action=
//	                      update-monitor= update-max-failure-ratio= rollback-… (the same)
//	update NAME [k=v…] [force]  the service's spec changes (`service update`): a new spec version, the old one
//	                      kept for a rollback, the update status reset
//	rollback NAME         `service rollback`
//	rm NAME               `service rm`
//	history-limit N       the cluster's task history limit (5 unless told)
//	reconcile             runs the orchestrator, prints its plan and applies it
//	schedule              moves NEW tasks to PENDING (the allocator's step), runs the scheduler on the pending
//	                      ones and applies its decisions
//	agents                every node that is not down does what its tasks' desired states ask: stop, prepare, run
//	tick [n=N]            reconcile, schedule and agents, until nothing changes (N rounds at most), printing
//	                      each step's changes
//	fail|complete|reject|shutdown TASK…   the agent reports the task so (TASK: its ID, or NAME.SLOT for the
//	                      latest task of a slot)
//	advance D             the clock moves on
//	ps [NAME…] [all]      the tasks as `docker service ps` lists them (with their history under all)
//	inspect NAME          the service's spec version and update status
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		c := newCluster()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := c.run(d)
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			return out
		})
	})
}

var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// cluster is the simulated store and clock.
type cluster struct {
	now      time.Time
	nodes    []placement.Node
	services map[string]*Service
	names    map[string]string // service ID -> name (IDs are the names here)
	tasks    []*Task
	nextTask int
	version  uint64 // the store's revision: every write bumps it
	limit    int64
}

func newCluster() *cluster {
	return &cluster{now: epoch, services: map[string]*Service{}, names: map[string]string{}, limit: 5}
}

func (c *cluster) bump() uint64 { c.version++; return c.version }

func (c *cluster) rel(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return "+" + t.Sub(epoch).String()
}

func (c *cluster) run(d *datadriven.TestData) (string, error) {
	args := map[string][]string{}
	var pos []string
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 {
			pos = append(pos, a.Key)
		} else {
			args[a.Key] = append(args[a.Key], a.Vals...)
		}
	}
	switch d.Cmd {
	case "nodes":
		for _, line := range strings.Split(d.Input, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				if err := c.node(line); err != nil {
					return "", err
				}
			}
		}
		return "", nil
	case "create":
		return "", c.create(pos[0], args)
	case "update":
		return "", c.update(pos[0], args, slices.Contains(pos, "force"))
	case "rollback":
		s := c.services[pos[0]]
		if s == nil || s.PreviousSpec == nil {
			return "", fmt.Errorf("service %s has no previous spec", pos[0])
		}
		s.Spec, s.SpecVersion = *s.PreviousSpec, s.PreviousSpecVersion
		s.PreviousSpec, s.PreviousSpecVersion = nil, 0
		s.UpdateStatus = &UpdateStatus{State: UpdateRollbackStarted, StartedAt: c.now, Message: "manually requested rollback"}
		s.Version = c.bump()
		return "", nil
	case "rm":
		delete(c.services, pos[0])
		return "", nil
	case "history-limit":
		n, err := strconv.ParseInt(pos[0], 10, 64)
		c.limit = n
		return "", err
	case "reconcile":
		out, _, wake := c.reconcile()
		if !wake.IsZero() {
			out += fmt.Sprintf("wake at %s\n", c.rel(wake))
		}
		return out, nil
	case "schedule":
		out, _ := c.schedule()
		return out, nil
	case "agents":
		out, _ := c.agents()
		return out, nil
	case "tick":
		rounds := 10
		if v, ok := args["n"]; ok {
			rounds, _ = strconv.Atoi(v[0])
		}
		var b strings.Builder
		var wake time.Time
		for range rounds {
			out, changed, w := c.reconcile()
			b.WriteString(out)
			wake = w
			for _, step := range []func() (string, bool){c.schedule, c.agents} {
				out, ch := step()
				b.WriteString(out)
				changed = changed || ch
			}
			if !changed {
				break
			}
		}
		if !wake.IsZero() {
			fmt.Fprintf(&b, "wake at %s\n", c.rel(wake))
		}
		return b.String(), nil
	case "fail", "complete", "reject", "shutdown":
		state := map[string]TaskState{"fail": TaskStateFailed, "complete": TaskStateComplete,
			"reject": TaskStateRejected, "shutdown": TaskStateShutdown}[d.Cmd]
		for _, name := range pos {
			t := c.find(name)
			if t == nil {
				return "", fmt.Errorf("no task %s", name)
			}
			msg, errText := "finished", ""
			if state == TaskStateFailed {
				msg, errText = "started", "task: non-zero exit (1)"
			} else if state == TaskStateRejected {
				msg, errText = "preparing", "No such image: "+t.Spec.Digest
			} else if state == TaskStateShutdown {
				msg = "shutdown"
			}
			t.Status = TaskStatus{State: state, Timestamp: c.now, Message: msg, Err: errText}
			t.Version = c.bump()
		}
		return "", nil
	case "advance":
		by, err := time.ParseDuration(pos[0])
		if err != nil {
			return "", err
		}
		c.now = c.now.Add(by)
		return "", nil
	case "ps":
		all := slices.Contains(pos, "all")
		return c.ps(slices.DeleteFunc(pos, func(s string) bool { return s == "all" }), all), nil
	case "inspect":
		s := c.services[pos[0]]
		if s == nil {
			return "", fmt.Errorf("no service %s", pos[0])
		}
		out := fmt.Sprintf("spec version %d (%s), previous %d\n", s.SpecVersion, s.Spec.Task.Digest, s.PreviousSpecVersion)
		if st := s.UpdateStatus; st != nil {
			out += fmt.Sprintf("update: %s %q started %s completed %s\n", st.State, st.Message,
				c.rel(st.StartedAt), c.rel(st.CompletedAt))
		}
		return out, nil
	}
	return "", fmt.Errorf("unknown command %q", d.Cmd)
}

func (c *cluster) node(line string) error {
	f := strings.Fields(line)
	id := f[0]
	i := slices.IndexFunc(c.nodes, func(n placement.Node) bool { return n.ID == id })
	if i < 0 {
		c.nodes = append(c.nodes, placement.Node{ID: id, Hostname: id, Role: placement.RoleWorker,
			Availability: placement.AvailabilityActive, State: placement.NodeStateReady,
			Platform: placement.Platform{OS: "linux", Architecture: "amd64"}})
		i = len(c.nodes) - 1
	}
	n := &c.nodes[i]
	for _, w := range f[1:] {
		k, v, _ := strings.Cut(w, "=")
		switch k {
		case "role":
			n.Role = placement.Role(v)
		case "avail":
			n.Availability = placement.Availability(v)
		case "state":
			n.State = placement.NodeState(v)
		case "labels":
			n.Labels = map[string]string{}
			for _, p := range strings.Split(v, ",") {
				lk, lv, _ := strings.Cut(p, "=")
				n.Labels[lk] = lv
			}
		case "cpus":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return err
			}
			n.Resources.NanoCPUs = int64(f * 1e9)
		case "mem":
			b, err := units.RAMInBytes(v)
			if err != nil {
				return err
			}
			n.Resources.MemoryBytes = b
		case "rm":
			c.nodes = slices.Delete(c.nodes, i, i+1)
			return nil
		default:
			return fmt.Errorf("node %s: unknown attribute %q", id, k)
		}
	}
	return nil
}

func (c *cluster) create(name string, args map[string][]string) error {
	if _, ok := c.services[name]; ok {
		return fmt.Errorf("service %s exists", name)
	}
	spec := ServiceSpec{Task: TaskSpec{Digest: "image=busybox"}}
	if err := applySpec(&spec, args); err != nil {
		return err
	}
	v := c.bump()
	c.services[name] = &Service{ID: name, Version: v, SpecVersion: v, Spec: spec}
	return nil
}

func (c *cluster) update(name string, args map[string][]string, force bool) error {
	s := c.services[name]
	if s == nil {
		return fmt.Errorf("no service %s", name)
	}
	prev := s.Spec
	spec := s.Spec
	spec.Task.Placement.Constraints = slices.Clone(spec.Task.Placement.Constraints)
	if err := applySpec(&spec, args); err != nil {
		return err
	}
	if force {
		spec.Task.ForceUpdate++
	}
	v := c.bump()
	s.PreviousSpec, s.PreviousSpecVersion = &prev, s.SpecVersion
	s.Spec, s.SpecVersion, s.Version = spec, v, v
	s.UpdateStatus = nil
	if spec.Mode.job() {
		s.JobIteration++
	}
	return nil
}

func applySpec(spec *ServiceSpec, args map[string][]string) error {
	one := func(k string) string { return args[k][len(args[k])-1] }
	dur := func(k string) (time.Duration, error) { return time.ParseDuration(one(k)) }
	u64 := func(k string) (uint64, error) { return strconv.ParseUint(one(k), 10, 64) }
	var err error
	for k, vs := range args {
		switch k {
		case "mode":
			i := slices.Index([]string{"replicated", "global", "replicated-job", "global-job"}, vs[0])
			if i < 0 {
				return fmt.Errorf("mode %q", vs[0])
			}
			spec.Mode = Mode(i)
		case "replicas":
			spec.Replicas, err = u64(k)
			spec.TotalCompletions = spec.Replicas
		case "max-concurrent":
			spec.MaxConcurrent, err = u64(k)
		case "image":
			spec.Task.Digest = "image=" + one(k)
		case "constraint":
			spec.Task.Placement.Constraints = vs
		case "pref":
			spec.Task.Placement.Preferences = nil
			for _, v := range vs {
				spec.Task.Placement.Preferences = append(spec.Task.Placement.Preferences, placement.Preference{Spread: v})
			}
		case "max-per-node":
			spec.Task.Placement.MaxReplicas, err = u64(k)
		case "reserve-cpu":
			var f float64
			f, err = strconv.ParseFloat(one(k), 64)
			spec.Task.Reservations.NanoCPUs = int64(f * 1e9)
		case "reserve-mem":
			spec.Task.Reservations.MemoryBytes, err = units.RAMInBytes(one(k))
		case "restart-condition":
			spec.Task.Restart.Condition = RestartCondition(one(k))
		case "restart-delay":
			var d time.Duration
			d, err = dur(k)
			spec.Task.Restart.Delay = &d
		case "restart-max-attempts":
			spec.Task.Restart.MaxAttempts, err = u64(k)
		case "restart-window":
			spec.Task.Restart.Window, err = dur(k)
		default:
			kind, field, ok := strings.Cut(k, "-")
			if !ok || (kind != "update" && kind != "rollback") {
				return fmt.Errorf("unknown spec key %q", k)
			}
			cfgp := &spec.Update
			if kind == "rollback" {
				cfgp = &spec.Rollback
			}
			if *cfgp == nil {
				cfg := defaultUpdate
				*cfgp = &cfg
			} else {
				cfg := **cfgp
				*cfgp = &cfg
			}
			cfg := *cfgp
			switch field {
			case "parallelism":
				cfg.Parallelism, err = u64(k)
			case "delay":
				cfg.Delay, err = dur(k)
			case "order":
				cfg.Order = UpdateOrder(one(k))
			case "failure-action":
				cfg.FailureAction = FailureAction(one(k))
			case "monitor":
				cfg.Monitor, err = dur(k)
			case "max-failure-ratio":
				var f float64
				f, err = strconv.ParseFloat(one(k), 32)
				cfg.MaxFailureRatio = float32(f)
			default:
				return fmt.Errorf("unknown spec key %q", k)
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	if spec.Mode == ModeReplicatedJob && spec.MaxConcurrent == 0 {
		spec.MaxConcurrent = max(spec.TotalCompletions, 1) // docker's CLI: max-concurrent defaults to replicas
	}
	return nil
}

// name is a task's name as docker shows it: service.slot, or service.node for global services.
func (c *cluster) name(t *Task) string {
	s := c.services[t.ServiceID]
	if (s != nil && s.Spec.Mode.global()) || (s == nil && t.Slot == 0 && t.NodeID != "") {
		return fmt.Sprintf("%s.%s", t.ServiceID, t.NodeID)
	}
	return fmt.Sprintf("%s.%d", t.ServiceID, t.Slot)
}

func (c *cluster) find(ref string) *Task {
	var found *Task
	for _, t := range c.tasks {
		if t.ID == ref {
			return t
		}
		if c.name(t) == ref && (found == nil || !t.CreatedAt.Before(found.CreatedAt)) {
			found = t
		}
	}
	return found
}

func (c *cluster) taskByID(id string) *Task {
	for _, t := range c.tasks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

func (c *cluster) snapshot() Snapshot {
	snap := Snapshot{Nodes: slices.Clone(c.nodes), TaskHistoryLimit: c.limit}
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range c.services {
			if !yield(id) {
				return
			}
		}
	}) {
		snap.Services = append(snap.Services, *c.services[id])
	}
	for _, t := range c.tasks {
		snap.Tasks = append(snap.Tasks, *t)
	}
	return snap
}

// reconcile runs the orchestrator and applies its plan, checking each write's version as the store would.
func (c *cluster) reconcile() (string, bool, time.Time) {
	plan := Reconcile(c.snapshot(), c.now)
	var b strings.Builder
	for _, u := range plan.Update {
		t := c.taskByID(u.ID)
		if t.Version != u.Version {
			fmt.Fprintf(&b, "conflict: %s at version %d, plan had %d\n", u.ID, t.Version, u.Version)
			continue
		}
		if u.DesiredState != t.DesiredState {
			fmt.Fprintf(&b, "%s %s: desired %s -> %s\n", t.ID, c.name(t), t.DesiredState, u.DesiredState)
			t.DesiredState = u.DesiredState
		}
		if u.Status != nil {
			fmt.Fprintf(&b, "%s %s: %s (%s: %s)\n", t.ID, c.name(t), u.Status.State, u.Status.Message, u.Status.Err)
			t.Status = *u.Status
		}
		t.Version = c.bump()
	}
	for _, r := range plan.Remove {
		i := slices.IndexFunc(c.tasks, func(t *Task) bool { return t.ID == r.ID })
		t := c.tasks[i]
		if t.Version != r.Version {
			fmt.Fprintf(&b, "conflict: %s at version %d, plan had %d\n", r.ID, t.Version, r.Version)
			continue
		}
		fmt.Fprintf(&b, "%s %s: removed\n", t.ID, c.name(t))
		c.tasks = slices.Delete(c.tasks, i, i+1)
	}
	for _, nt := range plan.Create {
		c.nextTask++
		t := nt
		t.ID = fmt.Sprintf("t%03d", c.nextTask) // padded, so that IDs order as they were made
		t.Version = c.bump()
		c.tasks = append(c.tasks, &t)
		extra := ""
		if !t.StartAfter.IsZero() {
			extra = " start-after " + c.rel(t.StartAfter)
		}
		if t.NodeID != "" {
			extra += " on " + t.NodeID
		}
		fmt.Fprintf(&b, "%s %s: created v%d desired %s%s\n", t.ID, c.name(&t), t.SpecVersion, t.DesiredState, extra)
	}
	for _, su := range plan.Services {
		s := c.services[su.ID]
		if s.Version != su.Version {
			fmt.Fprintf(&b, "conflict: service %s at version %d, plan had %d\n", su.ID, s.Version, su.Version)
			continue
		}
		if su.Rollback {
			s.Spec, s.SpecVersion = *s.PreviousSpec, s.PreviousSpecVersion
			s.PreviousSpec, s.PreviousSpecVersion = nil, 0
			fmt.Fprintf(&b, "service %s: rolled back to v%d\n", s.ID, s.SpecVersion)
		}
		s.UpdateStatus = su.UpdateStatus
		s.Version = c.bump()
		if st := su.UpdateStatus; st != nil {
			fmt.Fprintf(&b, "service %s: %s (%s)\n", s.ID, st.State, st.Message)
		}
	}
	return b.String(), !plan.Empty(), plan.Wake
}

// schedule plays the allocator (NEW -> PENDING) and runs the scheduler over the pending tasks, with the tasks
// that hold nodes' resources, mapped as the scheduler's documentation says.
func (c *cluster) schedule() (string, bool) {
	var b strings.Builder
	changed := false
	for _, t := range c.tasks {
		if t.Status.State == TaskStateNew {
			t.Status = TaskStatus{State: TaskStatePending, Timestamp: c.now, Message: "pending task scheduling"}
			t.Version = c.bump()
			changed = true
		}
	}
	toSched := func(t *Task) scheduler.Task {
		return scheduler.Task{ID: t.ID, ServiceID: t.ServiceID, SpecVersion: t.SpecVersion, NodeID: t.NodeID,
			Placement: t.Spec.Placement, Reservations: t.Spec.Reservations, Stopping: t.DesiredState > TaskStateComplete}
	}
	var onNodes, pending []scheduler.Task
	for _, t := range c.tasks {
		switch {
		case t.Status.State >= TaskStateAssigned && t.Status.State <= TaskStateRunning:
			onNodes = append(onNodes, toSched(t))
		case t.Status.State == TaskStatePending && t.DesiredState <= TaskStateComplete:
			pending = append(pending, toSched(t))
		}
	}
	for _, d := range scheduler.Place(c.nodes, onNodes, pending, c.now) {
		t := c.taskByID(d.TaskID)
		if d.Placed() {
			t.NodeID = d.NodeID
			t.Status = TaskStatus{State: TaskStateAssigned, Timestamp: c.now, Message: d.Message}
			fmt.Fprintf(&b, "%s %s: assigned to %s\n", t.ID, c.name(t), d.NodeID)
		} else {
			if t.Status.Err == d.Err {
				continue
			}
			t.Status.Err = d.Err
			fmt.Fprintf(&b, "%s %s: pending: %s\n", t.ID, c.name(t), d.Err)
		}
		t.Version = c.bump()
		changed = true
	}
	return b.String(), changed
}

// agents does on every node that is up what its tasks' desired states ask.
func (c *cluster) agents() (string, bool) {
	var b strings.Builder
	changed := false
	up := map[string]bool{}
	for _, n := range c.nodes {
		up[n.ID] = n.State != placement.NodeStateDown
	}
	set := func(t *Task, s TaskState, msg string) {
		fmt.Fprintf(&b, "%s %s: %s on %s\n", t.ID, c.name(t), s, t.NodeID)
		t.Status = TaskStatus{State: s, Timestamp: c.now, Message: msg}
		if s == TaskStateRunning {
			t.StartedAt = c.now
		}
		t.Version = c.bump()
		changed = true
	}
	for _, t := range c.tasks {
		if t.NodeID == "" || !up[t.NodeID] || t.Status.State < TaskStateAssigned || t.Status.State > TaskStateRunning {
			continue
		}
		switch {
		case t.DesiredState > TaskStateComplete:
			set(t, TaskStateShutdown, "shutdown")
		case t.DesiredState == TaskStateReady && t.Status.State < TaskStateReady:
			set(t, TaskStateReady, "ready")
		case t.DesiredState >= TaskStateRunning && t.Status.State < TaskStateRunning:
			set(t, TaskStateRunning, "started")
		}
	}
	return b.String(), changed
}

// ps lists tasks as `docker service ps` does: per service and slot, the latest task first, then (with all) its
// history, marked \_.
func (c *cluster) ps(services []string, all bool) string {
	var b strings.Builder
	row := func(cols ...any) {
		b.WriteString(strings.TrimRight(fmt.Sprintf("%-4s %-18s %-5s %-9s %-10s %s", cols...), " ") + "\n")
	}
	row("ID", "NAME", "NODE", "DESIRED", "CURRENT", "ERROR")
	groups := map[string][]*Task{}
	var keys []string
	for _, t := range c.tasks {
		if len(services) > 0 && !slices.Contains(services, t.ServiceID) {
			continue
		}
		k := c.name(t)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], t)
	}
	slices.SortFunc(keys, func(a, b string) int {
		sa, na, _ := strings.Cut(a, ".")
		sb, nb, _ := strings.Cut(b, ".")
		if c := cmp.Compare(sa, sb); c != 0 {
			return c
		}
		ia, ea := strconv.Atoi(na)
		ib, eb := strconv.Atoi(nb)
		if ea == nil && eb == nil {
			return cmp.Compare(ia, ib)
		}
		return cmp.Compare(na, nb)
	})
	for _, k := range keys {
		ts := groups[k]
		slices.SortStableFunc(ts, func(a, b *Task) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return cmp.Compare(b.ID, a.ID)
		})
		for i, t := range ts {
			if i > 0 && !all {
				break
			}
			name := k
			if i > 0 {
				name = ` \_ ` + k
			}
			node := t.NodeID
			if node == "" {
				node = "-"
			}
			row(t.ID, name, node, title(t.DesiredState), title(t.Status.State), t.Status.Err)
		}
	}
	return b.String()
}

func title(s TaskState) string {
	n := s.String()
	return strings.ToUpper(n[:1]) + n[1:]
}

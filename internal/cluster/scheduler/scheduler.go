// Package scheduler decides which node each pending task of the swarm runs on, as swarmkit's manager/scheduler
// does: filter the nodes (ready and active, enough unreserved resources, the task's constraints and platforms,
// free host-mode ports, the service's maximum of replicas per node), rank those left (the service's placement
// preferences as a tree of spreads, then the fewest tasks of the service, then the fewest tasks in all) and take
// the best. A task no node takes stays pending with swarmkit's reason, which `docker service ps` shows:
// "no suitable node (scheduling constraints not satisfied on 3 nodes; insufficient resources on 1 node)".
//
// The package is pure: a Scheduler is a synchronous state machine over the nodes and the tasks that hold their
// resources, with the time passed in; it does no I/O and keeps no goroutine. The same input gives the same
// decisions (ties go to the node with the smaller ID). The cluster's shell keeps one Scheduler per leader term,
// tells it what changes in the store and applies its decisions with compare-and-swap:
//
//	s := scheduler.New()
//	s.SetNode(n)                      // every node, then on every node change; RemoveNode when one leaves
//	s.AddTask(t)                      // every task that holds a node's resources (ASSIGNED to RUNNING)
//	ds := s.Schedule(pending, now)    // tasks in PENDING: place them, or say why not
//	// the shell writes each decision; one that fails its compare-and-swap is undone with s.RemoveTask(id)
//	s.RemoveTask(id)                  // a task stopped (past RUNNING) or was deleted
//	s.TaskFailed(id, at)              // one failed or was rejected: five on a node in five minutes push the
//	                                  // service elsewhere
//
// Place does the same for one snapshot. Which of the store's tasks the shell hands over follows swarmkit:
// tasks between ASSIGNED and RUNNING go to AddTask (Stopping when their desired state is past COMPLETE, so they
// hold resources without counting for spread); tasks in PENDING whose desired state is not past COMPLETE go to
// Schedule (with NodeID set when the orchestrator preassigned them, as it does for global services); the others
// hold nothing.
package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berth/berth/internal/cluster/placement"
)

// Task is a task as the scheduler sees it.
type Task struct {
	ID        string
	ServiceID string
	// SpecVersion is the version of the service's spec the task was made from: the pending tasks of one service
	// and one spec version ask the same of a node and are placed together.
	SpecVersion uint64
	// NodeID is the node the task holds resources on, or, for a pending task, the node the orchestrator
	// preassigned it to; empty for a task to place.
	NodeID       string
	Placement    placement.Placement
	Reservations placement.Resources
	// HostPorts are the task's ports published in host mode: no two tasks on a node publish the same one.
	HostPorts []HostPort
	// Stopping marks a task on a node whose desired state is past COMPLETE: it holds the node's resources until
	// it stops, and counts neither for spreading nor against the maximum of replicas per node.
	Stopping bool
}

// HostPort is a port a task publishes on its node (`-p mode=host,published=8080,target=80`).
type HostPort struct {
	Protocol string // tcp, udp or sctp
	Port     uint32
}

// Decision is the scheduler's answer for one pending task.
type Decision struct {
	TaskID string
	// NodeID is the node the task goes to (the task moves to ASSIGNED), or empty when it stays PENDING.
	NodeID string
	// Message is the task's status message when placed: "scheduler assigned task to node", or for a preassigned
	// task "scheduler confirmed task can run on preassigned node".
	Message string
	// Err is why the task stays pending: "no suitable node (…)" for a task to place, the reasons alone for a
	// preassigned one (as swarmkit words them).
	Err string
}

// Placed reports whether the task was given a node.
func (d Decision) Placed() bool { return d.NodeID != "" }

// The messages swarmkit gives placed tasks.
const (
	MessageAssigned    = "scheduler assigned task to node"
	MessagePreassigned = "scheduler confirmed task can run on preassigned node"
)

const (
	// failureWindow and maxFailures are swarmkit's: a node where a service's tasks failed maxFailures times
	// within failureWindow ranks below the nodes where they did not.
	failureWindow = 5 * time.Minute
	maxFailures   = 5
)

// Scheduler holds the nodes and the tasks on them; see the package documentation for its use. It is not safe for
// concurrent use.
type Scheduler struct {
	nodes []nodeInfo       // by slot; a removed node's slot is reused
	hot   []nodeHot        // by slot, beside nodes
	free  []int32          // slots of removed nodes
	byID  map[string]int32 // node ID -> slot
	tasks map[string]taskInfo
	// services counts, per service, its tasks (not stopping) on each node slot that has some.
	services map[string]map[int32]int32

	// Scratch reused from group to group, so that placing a group allocates little.
	svcCount  []int32  // the group's service's tasks on each slot, valid where svcGen[slot] == gen
	svcGen    []uint32 // generation of svcCount's entries
	gen       uint32
	fails     []int32 // recent failures of the group's service version on each slot, when any node has some
	cands     []int32
	mark      []uint32 // a slot is a candidate of the group when mark[slot] == gen
	constrain map[specKey][]placement.Constraint
	// rank orders the node slots by ID, so that ties compare integers; rebuilt when nodes come or go.
	rank      []int32
	rankStale bool
	// spread caches, per spread descriptor, the value each node reads, so that building a group's tree does
	// not read the nodes' labels again.
	spread map[string]*spreadCache
	// failing are the slots with failures recorded.
	failing map[int32]struct{}
}

// spreadCache interns the values one descriptor reads on the nodes.
type spreadCache struct {
	val   []int32 // per slot: the value's index in names, or -1 when not read yet
	names []string
	ids   map[string]int32
}

// spreadCache returns the cache of descriptor d, grown to the number of slots.
func (s *Scheduler) spreadCache(d string) *spreadCache {
	c := s.spread[d]
	if c == nil {
		c = &spreadCache{ids: make(map[string]int32)}
		s.spread[d] = c
	}
	for len(c.val) < len(s.nodes) {
		c.val = append(c.val, -1)
	}
	return c
}

// value is the interned value the cache's descriptor d reads on a node slot.
func (c *spreadCache) value(s *Scheduler, d string, slot int32) int32 {
	if v := c.val[slot]; v >= 0 {
		return v
	}
	name, _ := placement.SpreadValue(d, &s.nodes[slot].node)
	id, ok := c.ids[name]
	if !ok {
		id = int32(len(c.names))
		c.names = append(c.names, name)
		c.ids[name] = id
	}
	c.val[slot] = id
	return id
}

func (s *Scheduler) forgetSpread(slot int32) {
	for _, c := range s.spread {
		if int(slot) < len(c.val) {
			c.val[slot] = -1
		}
	}
}

type nodeInfo struct {
	node     placement.Node
	reserved placement.Resources // reservations of the tasks on the node, stopping ones included
	ports    map[HostPort]int32
	failures map[specKey][]time.Time
}

// nodeHot is what filtering and ranking read of every node for every group, kept small and apart from the
// rest so that a pass over ten thousand nodes stays in the cache.
type nodeHot struct {
	live   bool
	usable bool  // node.Usable()
	active int32 // tasks on the node that are not stopping
	free   placement.Resources
}

type taskInfo struct {
	slot      int32
	service   string
	version   uint64
	res       placement.Resources
	ports     []HostPort
	stopping  bool
	preassign bool // placed by confirming a preassignment: its failures do not count against the node
}

type specKey struct {
	service string
	version uint64
}

// New returns an empty Scheduler.
func New() *Scheduler {
	return &Scheduler{
		byID:      make(map[string]int32),
		tasks:     make(map[string]taskInfo),
		services:  make(map[string]map[int32]int32),
		constrain: make(map[specKey][]placement.Constraint),
		spread:    make(map[string]*spreadCache),
		failing:   make(map[int32]struct{}),
	}
}

// Place is the pure form: it places pending over a snapshot of nodes and of the tasks on them (tasks whose node
// is not among nodes are ignored).
func Place(nodes []placement.Node, onNodes []Task, pending []Task, now time.Time) []Decision {
	s := New()
	for _, n := range nodes {
		s.SetNode(n)
	}
	for _, t := range onNodes {
		s.AddTask(t)
	}
	return s.Schedule(pending, now)
}

// SetNode adds a node or replaces what the scheduler knows of it (its availability, status, labels, resources…);
// the tasks recorded on it stay.
func (s *Scheduler) SetNode(n placement.Node) {
	if slot, ok := s.byID[n.ID]; ok {
		s.nodes[slot].node = n
		s.settleHot(slot)
		s.forgetSpread(slot)
		return
	}
	var slot int32
	if k := len(s.free); k > 0 {
		slot, s.free = s.free[k-1], s.free[:k-1]
		s.nodes[slot] = nodeInfo{node: n}
		s.hot[slot] = nodeHot{live: true}
	} else {
		slot = int32(len(s.nodes))
		s.nodes = append(s.nodes, nodeInfo{node: n})
		s.hot = append(s.hot, nodeHot{live: true})
		s.svcCount = append(s.svcCount, 0)
		s.svcGen = append(s.svcGen, 0)
		s.mark = append(s.mark, 0)
		s.rank = append(s.rank, 0)
	}
	s.settleHot(slot)
	s.byID[n.ID] = slot
	s.rankStale = true
	s.forgetSpread(slot)
}

// settleHot recomputes what the hot array holds of a node from its description and reservations.
func (s *Scheduler) settleHot(slot int32) {
	ni, h := &s.nodes[slot], &s.hot[slot]
	h.usable = ni.node.Usable()
	h.free = placement.Resources{
		NanoCPUs:    ni.node.Resources.NanoCPUs - ni.reserved.NanoCPUs,
		MemoryBytes: ni.node.Resources.MemoryBytes - ni.reserved.MemoryBytes,
	}
}

// ranks orders the live nodes' slots by ID.
func (s *Scheduler) ranks() {
	if !s.rankStale {
		return
	}
	slots := make([]int32, 0, len(s.byID))
	for _, slot := range s.byID {
		slots = append(slots, slot)
	}
	slices.SortFunc(slots, func(a, b int32) int { return strings.Compare(s.nodes[a].node.ID, s.nodes[b].node.ID) })
	for i, slot := range slots {
		s.rank[slot] = int32(i)
	}
	s.rankStale = false
}

// RemoveNode forgets a node and the tasks recorded on it.
func (s *Scheduler) RemoveNode(id string) {
	slot, ok := s.byID[id]
	if !ok {
		return
	}
	for tid, ti := range s.tasks {
		if ti.slot == slot {
			s.RemoveTask(tid)
		}
	}
	delete(s.byID, id)
	s.nodes[slot] = nodeInfo{}
	s.hot[slot] = nodeHot{}
	s.free = append(s.free, slot)
	s.rankStale = true
	s.forgetSpread(slot)
	delete(s.failing, slot)
}

// Node returns what the scheduler knows of a node: its description, the resources the tasks on it reserve and the
// number of its tasks that are not stopping.
func (s *Scheduler) Node(id string) (n placement.Node, reserved placement.Resources, tasks int, ok bool) {
	slot, ok := s.byID[id]
	if !ok {
		return placement.Node{}, placement.Resources{}, 0, false
	}
	ni := &s.nodes[slot]
	return ni.node, ni.reserved, int(s.hot[slot].active), true
}

// AddTask records a task that holds resources on its node (replacing what was recorded under its ID). A task on
// a node the scheduler does not know is ignored, as swarmkit ignores it.
func (s *Scheduler) AddTask(t Task) {
	s.RemoveTask(t.ID)
	slot, ok := s.byID[t.NodeID]
	if !ok || t.NodeID == "" {
		return
	}
	s.add(t.ID, slot, &t, false)
}

func (s *Scheduler) add(id string, slot int32, t *Task, preassigned bool) {
	ni, h := &s.nodes[slot], &s.hot[slot]
	ni.reserved.NanoCPUs += t.Reservations.NanoCPUs
	ni.reserved.MemoryBytes += t.Reservations.MemoryBytes
	h.free.NanoCPUs -= t.Reservations.NanoCPUs
	h.free.MemoryBytes -= t.Reservations.MemoryBytes
	for _, p := range t.HostPorts {
		if p.Port == 0 {
			continue
		}
		if ni.ports == nil {
			ni.ports = make(map[HostPort]int32)
		}
		ni.ports[p]++
	}
	if !t.Stopping {
		h.active++
		m := s.services[t.ServiceID]
		if m == nil {
			m = make(map[int32]int32)
			s.services[t.ServiceID] = m
		}
		m[slot]++
	}
	s.tasks[id] = taskInfo{slot: slot, service: t.ServiceID, version: t.SpecVersion, res: t.Reservations, ports: t.HostPorts,
		stopping: t.Stopping, preassign: preassigned}
}

// RemoveTask forgets a task: it no longer holds its node's resources.
func (s *Scheduler) RemoveTask(id string) {
	ti, ok := s.tasks[id]
	if !ok {
		return
	}
	delete(s.tasks, id)
	ni, h := &s.nodes[ti.slot], &s.hot[ti.slot]
	ni.reserved.NanoCPUs -= ti.res.NanoCPUs
	ni.reserved.MemoryBytes -= ti.res.MemoryBytes
	h.free.NanoCPUs += ti.res.NanoCPUs
	h.free.MemoryBytes += ti.res.MemoryBytes
	for _, p := range ti.ports {
		if p.Port == 0 {
			continue
		}
		if ni.ports[p]--; ni.ports[p] <= 0 {
			delete(ni.ports, p)
		}
	}
	if !ti.stopping {
		h.active--
		if m := s.services[ti.service]; m != nil {
			if m[ti.slot]--; m[ti.slot] <= 0 {
				delete(m, ti.slot)
			}
			if len(m) == 0 {
				delete(s.services, ti.service)
			}
		}
	}
}

// TaskFailed forgets a task that failed or was rejected (its observed state went to FAILED or REJECTED) at a
// time, and counts the failure against its node: a node with maxFailures failures of a service's spec version in
// the last five minutes ranks below the others for it, so that a service failing in a loop on one node moves
// elsewhere. A task placed by confirming a preassignment does not count (the scheduler did not choose its node),
// as swarmkit has it.
func (s *Scheduler) TaskFailed(id string, at time.Time) {
	ti, ok := s.tasks[id]
	if !ok {
		return
	}
	s.RemoveTask(id)
	if !ti.preassign {
		s.recordFailure(ti.slot, specKey{ti.service, ti.version}, at)
	}
}

func (s *Scheduler) recordFailure(slot int32, k specKey, at time.Time) {
	ni := &s.nodes[slot]
	if ni.failures == nil {
		ni.failures = make(map[specKey][]time.Time)
	}
	times := ni.failures[k]
	// Forget failures that left the window, so the list stays short.
	i := 0
	for i < len(times) && at.Sub(times[i]) >= failureWindow {
		i++
	}
	ni.failures[k] = append(times[i:], at)
	s.failing[slot] = struct{}{}
	// Drop other versions' lists that are entirely out of the window.
	for key, ts := range ni.failures {
		if key != k && (len(ts) == 0 || at.Sub(ts[len(ts)-1]) >= failureWindow) {
			delete(ni.failures, key)
		}
	}
}

// recentFailures counts the failures of a service version on a node within the window before now.
func (ni *nodeInfo) recentFailures(k specKey, now time.Time) int32 {
	times := ni.failures[k]
	n := int32(0)
	for i := len(times) - 1; i >= 0 && now.Sub(times[i]) <= failureWindow; i-- {
		n++
	}
	return n
}

// Schedule decides where each pending task goes, in order: the tasks preassigned to a node are checked on it
// first (as swarmkit does, so that global services start before the others take the room), then the others are
// placed in groups of one service and spec version. Every placed task is recorded on its node. The decisions
// come in the order of pending; a preassigned task whose node the scheduler does not know gets none.
func (s *Scheduler) Schedule(pending []Task, now time.Time) []Decision {
	out := make([]Decision, len(pending))
	have := make([]bool, len(pending))
	for i := range pending {
		s.RemoveTask(pending[i].ID)
	}
	// Preassigned tasks first.
	for i := range pending {
		t := &pending[i]
		if t.NodeID == "" {
			continue
		}
		slot, ok := s.byID[t.NodeID]
		if !ok {
			continue
		}
		p := s.pipeline(t)
		have[i] = true
		if f := p.check(s, slot); f != filterNone {
			p.fail[f]++
			out[i] = Decision{TaskID: t.ID, Err: p.explain()}
			continue
		}
		s.add(t.ID, slot, t, true)
		out[i] = Decision{TaskID: t.ID, NodeID: t.NodeID, Message: MessagePreassigned}
	}
	// Then groups of one service and spec version, in the order their first task comes.
	groups := make(map[specKey][]int)
	var order []specKey
	for i := range pending {
		if pending[i].NodeID != "" {
			continue
		}
		k := specKey{pending[i].ServiceID, pending[i].SpecVersion}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		s.placeGroup(pending, groups[k], out, now)
		for _, i := range groups[k] {
			have[i] = true
		}
	}
	// Compact: drop the preassigned tasks whose node is unknown.
	n := 0
	for i := range out {
		if have[i] {
			out[n] = out[i]
			n++
		}
	}
	return out[:n]
}

// placeGroup places the tasks pending[idx...], which share a service and a spec version, and so ask the same.
func (s *Scheduler) placeGroup(pending []Task, idx []int, out []Decision, now time.Time) {
	first := &pending[idx[0]]
	p := s.pipeline(first)
	p.grouped = true
	key := specKey{first.ServiceID, first.SpecVersion}

	// The service's tasks per node, and recent failures when any node has some for this version.
	s.ranks()
	s.gen++
	if s.gen == 0 { // wrapped: clear the generations
		clear(s.svcGen)
		clear(s.mark)
		s.gen = 1
	}
	for slot, c := range s.services[first.ServiceID] {
		s.svcCount[slot], s.svcGen[slot] = c, s.gen
	}
	var fails []int32
	for slot := range s.failing {
		ni := &s.nodes[slot]
		if !s.hot[slot].live || len(ni.failures) == 0 {
			delete(s.failing, slot)
			continue
		}
		if f := ni.recentFailures(key, now); f > 0 {
			if fails == nil {
				if cap(s.fails) < len(s.nodes) {
					s.fails = make([]int32, len(s.nodes))
				}
				fails = s.fails[:len(s.nodes)]
				clear(fails)
			}
			fails[slot] = f
		}
	}
	r := ranker{s: s, fails: fails}

	// Filter.
	cands := s.cands[:0]
	for slot := range s.nodes {
		if !s.hot[slot].live {
			continue
		}
		if f := p.check(s, int32(slot)); f != filterNone {
			p.fail[f]++
			continue
		}
		cands = append(cands, int32(slot))
	}
	s.cands = cands

	// Rank: the preferences' tree (a single leaf without preferences), each leaf a heap of its candidates.
	root := s.buildTree(first, cands, len(idx), &r)

	// Select, one task at a time: down the tree to the branch with the fewest tasks of the service, then the
	// best node of that leaf.
	placed := 0
	for _, i := range idx {
		t := &pending[i]
		slot, ok := root.pick(s, &p, &r, t)
		if !ok {
			break
		}
		out[i] = Decision{TaskID: t.ID, NodeID: s.nodes[slot].node.ID, Message: MessageAssigned}
		placed++
	}
	if placed < len(idx) {
		why := "no suitable node"
		if e := p.explain(); e != "" {
			why += " (" + e + ")"
		}
		for _, i := range idx[placed:] {
			out[i] = Decision{TaskID: pending[i].ID, Err: why}
		}
	}
}

// count is the group's service's tasks on a node slot.
func (s *Scheduler) count(slot int32) int32 {
	if s.svcGen[slot] == s.gen {
		return s.svcCount[slot]
	}
	return 0
}

func (s *Scheduler) bump(slot int32) {
	if s.svcGen[slot] != s.gen {
		s.svcCount[slot], s.svcGen[slot] = 0, s.gen
	}
	s.svcCount[slot]++
}

// ranker orders nodes for a group: best first.
type ranker struct {
	s     *Scheduler
	fails []int32 // nil when no node has recent failures of the group's service version
}

// less is swarmkit's order (a node with maxFailures recent failures loses to one with fewer; then the fewest
// tasks of the service; then the fewest tasks), with the node's ID last so that ties are decided the same way
// every time.
func (r *ranker) less(a, b int32) bool {
	if r.fails != nil {
		fa, fb := r.fails[a], r.fails[b]
		if (fa >= maxFailures || fb >= maxFailures) && fa != fb {
			return fa < fb
		}
	}
	if ca, cb := r.s.count(a), r.s.count(b); ca != cb {
		return ca < cb
	}
	if aa, ab := r.s.hot[a].active, r.s.hot[b].active; aa != ab {
		return aa < ab
	}
	return r.s.rank[a] < r.s.rank[b]
}

// tree is a level of the placement preferences: a branch per value of its descriptor, or, at the bottom, a leaf
// holding its candidate nodes in a heap.
type tree struct {
	value string
	// tasks are the service's tasks on all the nodes under the branch (candidates or not), as swarmkit counts
	// them for spreading.
	tasks int64
	full  bool
	// children sorted by (tasks, value), the full ones taken out; index finds them by value while building.
	children []*tree
	index    []*tree
	// leaf: the candidates, a heap by the ranker's order.
	nodes []int32
	leaf  bool
}

// buildTree arranges the candidates under the preferences' branches. A leaf keeps only its k best candidates (k
// the number of tasks to place): a node past them could only be given a task after each of them was, and there
// are not enough tasks for that (swarmkit keeps as many).
func (s *Scheduler) buildTree(t *Task, cands []int32, k int, r *ranker) *tree {
	var descs []string
	var caches []*spreadCache
	for _, p := range t.Placement.Preferences {
		var probe placement.Node
		if _, ok := placement.SpreadValue(p.Spread, &probe); ok {
			descs = append(descs, p.Spread)
			caches = append(caches, s.spreadCache(p.Spread))
		}
	}
	root := &tree{}
	if len(descs) == 0 {
		root.leaf = true
		root.nodes = make([]int32, 0, min(k, len(cands)))
		for _, c := range cands {
			root.nodes = boundedPush(root.nodes, c, k, r)
		}
		heapInit(root.nodes, r)
		root.full = len(root.nodes) == 0
		return root
	}
	// A branch counts the service's tasks on all its nodes, candidates or not, as swarmkit counts them for
	// spreading; only candidates go into the leaves. Nodes that are neither add nothing and are skipped.
	for _, c := range cands {
		s.mark[c] = s.gen
	}
	leafOf := func(slot int32, tasks int64) *tree {
		cur := root
		cur.tasks += tasks
		for i, d := range descs {
			next := cur.child(caches[i], caches[i].value(s, d, slot))
			next.tasks += tasks
			cur = next
		}
		cur.leaf = true
		return cur
	}
	for _, c := range cands {
		leaf := leafOf(c, int64(s.count(c)))
		leaf.nodes = boundedPush(leaf.nodes, c, k, r)
	}
	for slot, c := range s.services[t.ServiceID] {
		if s.mark[slot] != s.gen && s.hot[slot].live {
			leafOf(slot, int64(c))
		}
	}
	root.settle(r)
	return root
}

// child returns the branch under t of the value interned as v in c, made if need be.
func (t *tree) child(c *spreadCache, v int32) *tree {
	for int(v) >= len(t.index) {
		t.index = append(t.index, nil)
	}
	b := t.index[v]
	if b == nil {
		b = &tree{value: c.names[v]}
		t.index[v] = b
		t.children = append(t.children, b)
	}
	return b
}

// settle turns the leaves' candidates into heaps, takes out what has no candidate, and says if t is full.
func (t *tree) settle(r *ranker) bool {
	if t.leaf {
		heapInit(t.nodes, r)
		t.full = len(t.nodes) == 0
		return t.full
	}
	kids := t.children[:0]
	for _, c := range t.children {
		if !c.settle(r) {
			kids = append(kids, c)
		}
	}
	t.children = kids
	slices.SortFunc(t.children, branchCmp)
	t.full = len(t.children) == 0
	return t.full
}

func branchCmp(a, b *tree) int {
	if c := cmp.Compare(a.tasks, b.tasks); c != 0 {
		return c
	}
	return strings.Compare(a.value, b.value)
}

// pick places task t under this branch: the node it goes to, or false when the branch has no room left.
func (t *tree) pick(s *Scheduler, p *pipeline, r *ranker, task *Task) (int32, bool) {
	for !t.full {
		if t.leaf {
			slot := t.nodes[0]
			s.bump(slot)
			s.add(task.ID, slot, task, false)
			// The node now has one more task: it may have fallen in rank, or have no room left.
			if f := p.checkDynamic(s, slot); f != filterNone {
				p.fail[f]++
				heapPop(&t.nodes, r)
				t.full = len(t.nodes) == 0
			} else {
				heapDown(t.nodes, 0, r)
			}
			t.tasks++
			return slot, true
		}
		// A sorted slice by (tasks, value): the first child is the emptiest branch. The tree is shallow and its
		// branches few, so a sorted slice fixed after each pick serves as the heap.
		c := t.children[0]
		slot, ok := c.pick(s, p, r, task)
		if !ok {
			t.children = t.children[1:]
			t.full = len(t.children) == 0
			continue
		}
		t.tasks++
		if c.full {
			t.children = t.children[1:]
		} else {
			// Move the child right to keep the slice sorted.
			for i := 0; i+1 < len(t.children) && branchCmp(t.children[i], t.children[i+1]) > 0; i++ {
				t.children[i], t.children[i+1] = t.children[i+1], t.children[i]
			}
		}
		t.full = len(t.children) == 0
		return slot, true
	}
	return 0, false
}

// The heap of a leaf: a binary min-heap of node slots by the ranker's order.

func heapInit(h []int32, r *ranker) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		heapDown(h, i, r)
	}
}

func heapDown(h []int32, i int, r *ranker) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if rt := l + 1; rt < n && r.less(h[rt], h[l]) {
			m = rt
		}
		if !r.less(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

// boundedPush keeps in h, a max-heap by the ranker's order (the worst on top), the k best nodes seen.
func boundedPush(h []int32, x int32, k int, r *ranker) []int32 {
	if len(h) < k {
		h = append(h, x)
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if !r.less(h[p], h[i]) {
				break
			}
			h[p], h[i] = h[i], h[p]
			i = p
		}
		return h
	}
	if k == 0 || !r.less(x, h[0]) {
		return h
	}
	h[0] = x
	n := len(h)
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if rt := l + 1; rt < n && r.less(h[l], h[rt]) {
			m = rt
		}
		if !r.less(h[i], h[m]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return h
}

func heapPop(h *[]int32, r *ranker) {
	old := *h
	n := len(old) - 1
	old[0] = old[n]
	*h = old[:n]
	heapDown(*h, 0, r)
}

// The filters, in swarmkit's order: the first a node fails is the one that explains why it was not taken.
type filter int8

const (
	filterNone filter = iota - 1
	filterReady
	filterResources
	filterConstraints
	filterPlatform
	filterHostPort
	filterMaxReplicas
	numFilters
)

// explain words a filter's failures as swarmkit does.
func (f filter) explain(nodes int) string {
	plural := func(one, many string) string {
		if nodes == 1 {
			return one
		}
		return fmt.Sprintf(many, nodes)
	}
	switch f {
	case filterReady:
		return plural("1 node not available for new tasks", "%d nodes not available for new tasks")
	case filterResources:
		return plural("insufficient resources on 1 node", "insufficient resources on %d nodes")
	case filterConstraints:
		return plural("scheduling constraints not satisfied on 1 node", "scheduling constraints not satisfied on %d nodes")
	case filterPlatform:
		return plural("unsupported platform on 1 node", "unsupported platform on %d nodes")
	case filterHostPort:
		return plural("host-mode port already in use on 1 node", "host-mode port already in use on %d nodes")
	case filterMaxReplicas:
		return "max replicas per node limit exceed"
	}
	return ""
}

// pipeline is the filters set up for one task (or a group of tasks asking the same), with the number of nodes
// each filter turned away.
type pipeline struct {
	task        *Task
	constraints []placement.Constraint
	fail        [numFilters]int
	// grouped: the task's service's counts are in the scheduler's scratch (placing a group), not only in its
	// per-service map (checking a preassigned task).
	grouped bool
}

func (s *Scheduler) pipeline(t *Task) pipeline {
	p := pipeline{task: t}
	if len(t.Placement.Constraints) > 0 {
		k := specKey{t.ServiceID, t.SpecVersion}
		cs, ok := s.constrain[k]
		if !ok {
			// Specs were checked when the service was created or updated: one that does not parse now places
			// without its constraints, as swarmkit's.
			cs, _ = placement.Parse(t.Placement.Constraints)
			if len(s.constrain) > 4096 {
				clear(s.constrain)
			}
			s.constrain[k] = cs
		}
		p.constraints = cs
	}
	return p
}

// check runs every filter on a node: the first that turns it away, or filterNone.
func (p *pipeline) check(s *Scheduler, slot int32) filter {
	h := &s.hot[slot]
	if !h.usable {
		return filterReady
	}
	if !p.fitsResources(h) {
		return filterResources
	}
	if len(p.constraints) > 0 && !placement.Match(p.constraints, &s.nodes[slot].node) {
		return filterConstraints
	}
	if len(p.task.Placement.Platforms) > 0 && !placement.PlatformMatch(p.task.Placement.Platforms, s.nodes[slot].node.Platform) {
		return filterPlatform
	}
	if len(p.task.HostPorts) > 0 && !p.portsFree(&s.nodes[slot]) {
		return filterHostPort
	}
	if m := p.task.Placement.MaxReplicas; m > 0 && uint64(p.count(s, slot)) >= m {
		return filterMaxReplicas
	}
	return filterNone
}

// count is the task's service's tasks on a node.
func (p *pipeline) count(s *Scheduler, slot int32) int32 {
	if p.grouped {
		return s.count(slot)
	}
	return s.services[p.task.ServiceID][slot]
}

// checkDynamic runs the filters whose answer changes as tasks are placed on a node.
func (p *pipeline) checkDynamic(s *Scheduler, slot int32) filter {
	if !p.fitsResources(&s.hot[slot]) {
		return filterResources
	}
	if len(p.task.HostPorts) > 0 && !p.portsFree(&s.nodes[slot]) {
		return filterHostPort
	}
	if m := p.task.Placement.MaxReplicas; m > 0 && uint64(p.count(s, slot)) >= m {
		return filterMaxReplicas
	}
	return filterNone
}

func (p *pipeline) fitsResources(h *nodeHot) bool {
	r := &p.task.Reservations
	if r.IsZero() {
		return true
	}
	return r.NanoCPUs <= h.free.NanoCPUs && r.MemoryBytes <= h.free.MemoryBytes
}

func (p *pipeline) portsFree(ni *nodeInfo) bool {
	if len(ni.ports) == 0 {
		return true
	}
	for _, hp := range p.task.HostPorts {
		if hp.Port != 0 && ni.ports[hp] > 0 {
			return false
		}
	}
	return true
}

// explain words why nodes were turned away, the filter that turned most away first (swarmkit's order on ties).
func (p *pipeline) explain() string {
	fs := make([]filter, 0, numFilters)
	for f := range numFilters {
		if p.fail[f] > 0 {
			fs = append(fs, f)
		}
	}
	slices.SortStableFunc(fs, func(a, b filter) int { return cmp.Compare(p.fail[b], p.fail[a]) })
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.explain(p.fail[f])
	}
	return strings.Join(parts, "; ")
}

package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berth/berth/internal/cluster/agent"
	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/ca"
	"github.com/berth/berth/internal/cluster/store"
)

// The scale benchmark of issue 12: a real manager (the Cluster on its embedded etcd, with its leader's
// orchestrator, scheduler and dispatcher) and N simulated nodes, each a real agent whose engine is a fake that
// starts containers at once (loops_test.go's fakeEngine), holding a session with the leader's dispatcher
// in-process (Open/Next/UpdateStatus: the HTTP/2 wire and its TLS aside) and heartbeating through the leader's
// handler. It measures services of T tasks in all from the first create to every task reported RUNNING, the
// process's RSS, and the rescheduling of the tasks of L nodes whose agents and heartbeats stop.
//
// Not part of the unit suite: it runs only with BERTH_SWARM_SCALE=1 (bench/swarm-scale.sh sets it, with
// BERTH_SCALE_NODES, _TASKS, _SERVICES, _LOST, _HEARTBEAT, _RESTART_DELAY, _TIMEOUT). BERTH_SCALE_LOG=FILE takes
// the manager's log at info; BERTH_SCALE_PROFILE=DIR writes there the CPU profiles of placing and rescheduling
// and the heap with every task running.

func scaleEnv(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a count", name, v)
	}
	return n
}

func scaleDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		t.Fatalf("%s=%q: want a duration", name, v)
	}
	return d
}

// procStatus reads a field of /proc/self/status in MiB (VmRSS: resident now, VmHWM: the peak).
func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}

// cpuTime is the CPU time the process has used (user and system, every thread): on a VM shared with other work
// the rates move with the load, the CPU a phase takes much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS makes VmHWM start again from the current RSS (proc(5): clear_refs "5").
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// countingDispatcher is localDispatcher counting the sessions opened.
type countingDispatcher struct {
	localDispatcher
	opened *atomic.Int64
}

func (c countingDispatcher) Session(ctx context.Context) (agent.Session, error) {
	s, err := c.localDispatcher.Session(ctx)
	if err == nil {
		c.opened.Add(1)
	}
	return s, err
}

// startProfile profiles the CPU into BERTH_SCALE_PROFILE/name until the returned function is called (nothing
// without BERTH_SCALE_PROFILE).
func startProfile(t *testing.T, name string) func() {
	t.Helper()
	dir := os.Getenv("BERTH_SCALE_PROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// taskView is what the benchmark follows of a task.
type taskView struct {
	service string
	slot    uint64
	node    string
	state   api.TaskState
	desired api.TaskState
}

func TestSwarmScale(t *testing.T) {
	if os.Getenv("BERTH_SWARM_SCALE") == "" {
		t.Skip("the swarm scale benchmark: set BERTH_SWARM_SCALE=1 (bench/swarm-scale.sh)")
	}
	var (
		nodes    = scaleEnv(t, "BERTH_SCALE_NODES", 10000)
		tasks    = scaleEnv(t, "BERTH_SCALE_TASKS", 100000)
		services = max(1, scaleEnv(t, "BERTH_SCALE_SERVICES", 10))
		lost     = min(scaleEnv(t, "BERTH_SCALE_LOST", 1000), nodes)
		period   = scaleDuration(t, "BERTH_SCALE_HEARTBEAT", api.DefaultHeartbeatPeriod)
		timeout  = scaleDuration(t, "BERTH_SCALE_TIMEOUT", 15*time.Minute)
		// delay is the services' --restart-delay: docker's 5 s unless set (a replacement of a task on a lost
		// node waits it, as swarmkit's restart supervisor does).
		delay = scaleDuration(t, "BERTH_SCALE_RESTART_DELAY", 5*time.Second)
	)
	if period <= 0 || timeout <= 0 {
		t.Fatal("BERTH_SCALE_HEARTBEAT and BERTH_SCALE_TIMEOUT must be positive")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start0 := time.Now()
	out := os.Stdout
	fmt.Fprintf(out, "swarm scale: %d simulated nodes, %d tasks in %d services, %d nodes lost, heartbeat %v, restart delay %v; %d CPUs, load %s\n",
		nodes, tasks, services, lost, period, delay, runtime.NumCPU(), loadAvg())

	// The manager: a Cluster on its own loopback address (the unit tests use 127.0.1.1-9), without an engine
	// (it is drained below: the simulated nodes take every task).
	dir := t.TempDir()
	var logw io.Writer = os.Stderr
	level := slog.LevelWarn
	if path := os.Getenv("BERTH_SCALE_LOG"); path != "" {
		// The manager's log at info: nodes marked down, leadership, each with its time.
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		logw, level = f, slog.LevelInfo
	}
	quiet := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level}))
	c := New(Config{Root: filepath.Join(dir, "swarm"), RunRoot: filepath.Join(dir, "run"), Logger: quiet,
		Describe: func() api.NodeDescription {
			return api.NodeDescription{Hostname: "manager", Platform: api.Platform{OS: "linux", Architecture: "x86_64"}}
		}})
	defer c.Close()
	spec := api.DefaultClusterSpec()
	spec.Dispatcher.HeartbeatPeriod = period
	const mgrAddr = "127.0.1.200"
	if _, err := c.Init(ctx, InitRequest{ListenAddr: mgrAddr + ":2377", AdvertiseAddr: mgrAddr, Spec: spec}); err != nil {
		t.Fatal(err)
	}
	m, err := c.managerStore()
	if err != nil {
		t.Fatal(err)
	}
	st := m.Store()
	must(t, st.Update(ctx, func(tx *store.Tx) error {
		ns, err := store.List[api.Node](ctx, tx)
		if err != nil {
			return err
		}
		for _, n := range ns {
			n.Spec.Availability = api.AvailabilityDrain
			if err := store.Put(tx, n); err != nil {
				return err
			}
		}
		return nil
	}))

	// The simulated nodes: recorded ready (as a join would), heartbeating, each with an agent.
	ids := make([]string, nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("sim%05d", i)
	}
	describe := func(id string) api.NodeDescription {
		return api.NodeDescription{Hostname: id, Platform: api.Platform{OS: "linux", Architecture: "x86_64"}, Resources: api.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30}}
	}
	tNodes := time.Now()
	for i := 0; i < nodes; i += 500 {
		must(t, st.Update(ctx, func(tx *store.Tx) error {
			for _, id := range ids[i:min(i+500, nodes)] {
				n := &api.Node{ID: id, Role: api.RoleWorker,
					Spec:        api.NodeSpec{DesiredRole: api.RoleWorker, Availability: api.AvailabilityActive},
					Description: describe(id),
					Status:      api.NodeStatus{State: api.NodeStateReady}}
				if err := store.Create(tx, n); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	// Heartbeats go through the leader's handler (Cluster.heartbeat, the wire aside): each node every period,
	// spread over it, as real nodes are; a node marked down comes back ready on its next beat.
	var beatMu sync.Mutex
	beating := map[string]bool{}
	for _, id := range ids {
		beating[id] = true
	}
	var beatErrs atomic.Int64
	var lastBeatErr atomic.Value
	beatOne := func(id string) {
		if _, err := c.heartbeat(ctx, ca.Identity{NodeID: id, Role: api.RoleWorker}, nil, heartbeatRequest{Description: describe(id)}); err != nil && ctx.Err() == nil {
			beatErrs.Add(1)
			lastBeatErr.Store(err.Error())
		}
	}
	for _, id := range ids {
		beatOne(id)
	}
	go func() {
		const tick = 50 * time.Millisecond
		per := max(1, int(int64(nodes)*int64(tick)/int64(period)))
		t := time.NewTicker(tick)
		defer t.Stop()
		for next := 0; ; next = (next + per) % nodes {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Each beat on its own, as nodes beat independently: one that waits for its node's write back to
			// ready does not hold up the others.
			for _, id := range ids[next:min(next+per, nodes)] {
				beatMu.Lock()
				live := beating[id]
				beatMu.Unlock()
				if live {
					go beatOne(id)
				}
			}
		}
	}()
	var opened atomic.Int64
	var agentsWG sync.WaitGroup
	defer agentsWG.Wait()
	defer cancel()
	stopAgent := map[string]context.CancelFunc{}
	for _, id := range ids {
		actx, acancel := context.WithCancel(ctx)
		stopAgent[id] = acancel
		a := agent.New(agent.Config{NodeID: id, Backend: newFakeEngine(id), Logger: slog.New(slog.DiscardHandler),
			Dispatcher: countingDispatcher{localDispatcher{d: c.leaderDispatcher, node: id}, &opened},
			Describe:   func() api.NodeDescription { return describe(id) }})
		agentsWG.Add(1)
		go func() { defer agentsWG.Done(); a.Run(actx) }()
	}
	for opened.Load() < int64(nodes) {
		if time.Since(tNodes) > timeout {
			t.Fatalf("%d of %d sessions open after %v", opened.Load(), nodes, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	dNodes := time.Since(tNodes)
	runtime.GC()
	rssIdle := procStatus("VmRSS")
	resetPeakRSS()
	fmt.Fprintf(out, "  %d nodes recorded and their sessions open in %v; RSS %.0f MiB; load %s\n", nodes, dNodes.Round(time.Millisecond), rssIdle, loadAvg())

	// Follow every task from here on.
	v, err := st.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w := st.Watch(ctx, v.Rev(), api.KindTask, api.KindNode)
	view := map[string]*taskView{}
	nodeState := map[string]api.NodeState{}
	deadline := time.After(timeout)
	// follow applies events until done says so.
	onNode := func(string) {}
	downEvents, nodeWrites := 0, 0
	// states is where the tasks are, for progress lines and a timeout.
	states := func() string {
		by := map[string]int{}
		for _, tv := range view {
			by[fmt.Sprintf("%s/%s", tv.desired, tv.state)]++
		}
		down := 0
		for _, st := range nodeState {
			if st == api.NodeStateDown {
				down++
			}
		}
		e, _ := lastBeatErr.Load().(string)
		// Tasks desired running that are not, and how many tasks their slot has desired running.
		slots := map[string]int{}
		for _, tv := range view {
			if tv.desired == api.TaskRunning {
				slots[fmt.Sprintf("%s.%d", tv.service, tv.slot)]++
			}
		}
		var odd []string
		for id, tv := range view {
			if tv.desired == api.TaskRunning && tv.state != api.TaskRunning && len(odd) < 5 {
				odd = append(odd, fmt.Sprintf("%s %s.%d on %s (%s; %d desired running in the slot, node %s)", id, tv.service, tv.slot, tv.node, tv.state, slots[fmt.Sprintf("%s.%d", tv.service, tv.slot)], nodeState[tv.node]))
			}
		}
		if len(odd) > 0 {
			e += fmt.Sprintf("; e.g. %v", odd)
		}
		// Tasks desired shut down whose node has not acknowledged it (observed not yet ended), by whether their
		// node is down (it cannot), and a few on nodes that are up (it should have).
		unackedDown, unackedUp := 0, 0
		var stuck []string
		for id, tv := range view {
			if tv.desired < api.TaskShutdown || tv.state >= api.TaskComplete || tv.node == "" {
				continue
			}
			if nodeState[tv.node] == api.NodeStateDown {
				unackedDown++
				continue
			}
			unackedUp++
			if len(stuck) < 5 {
				stuck = append(stuck, fmt.Sprintf("%s %s.%d on %s (%s)", id, tv.service, tv.slot, tv.node, tv.state))
			}
		}
		e += fmt.Sprintf("; desired shutdown, not ended: %d on nodes down, %d on nodes up %v", unackedDown, unackedUp, stuck)
		return fmt.Sprintf("%d tasks (desired/observed: %v), %d nodes down (%d times marked down, %d node writes), %d heartbeat errors %s", len(view), by, down, downEvents, nodeWrites, beatErrs.Load(), e)
	}
	follow := func(what string, onTask func(id string, old, now *taskView), done func() bool) {
		t.Helper()
		for !done() {
			select {
			case ev, ok := <-w.Events():
				if !ok {
					t.Fatalf("%s: the watch ended: %v", what, w.Err())
				}
				switch ev.Kind {
				case api.KindNode:
					if n, ok := ev.Object.(*api.Node); ok && ev.Action != store.ActionRemove {
						nodeWrites++
						if n.Status.State == api.NodeStateDown && nodeState[n.ID] != api.NodeStateDown {
							downEvents++
						}
						nodeState[n.ID] = n.Status.State
						onNode(n.ID)
					}
				case api.KindTask:
					old := view[ev.ID]
					var now *taskView
					if ev.Action == store.ActionRemove {
						delete(view, ev.ID)
					} else {
						tk := ev.Object.(*api.Task)
						now = &taskView{service: tk.ServiceID, slot: tk.Slot, node: tk.NodeID, state: tk.Status.State, desired: tk.DesiredState}
						view[ev.ID] = now
					}
					onTask(ev.ID, old, now)
				}
			case <-deadline:
				t.Fatalf("%s: not done after %v (load %s): %s", what, timeout, loadAvg(), states())
			}
		}
	}

	// Phase 1: the services, from the first create to every task RUNNING.
	per := tasks / services
	var assigned, running int
	var tAssigned time.Duration
	tStart := time.Now()
	cpuPlace := cpuTime()
	for i := 0; i < services; i++ {
		reps := uint64(per)
		if i < tasks%services {
			reps++
		}
		if reps == 0 {
			continue
		}
		if _, err := c.CreateService(ctx, api.ServiceSpec{Annotations: api.Annotations{Name: fmt.Sprintf("scale%d", i)}, Mode: api.ModeReplicated,
			Replicas: &reps, Task: api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox:latest", Args: []string{"sleep", "3600"}},
				RestartPolicy: &api.RestartPolicy{Condition: api.RestartAny, Delay: &delay}}}, ""); err != nil {
			t.Fatal(err)
		}
	}
	dCreate := time.Since(tStart)
	lastSample := time.Now()
	stopProfile := startProfile(t, "cpu-place.pprof")
	follow("all tasks running", func(_ string, old, now *taskView) {
		if now != nil && now.state >= api.TaskAssigned && (old == nil || old.state < api.TaskAssigned) {
			if assigned++; assigned == tasks {
				tAssigned = time.Since(tStart)
			}
		}
		wasRunning := old != nil && old.state == api.TaskRunning
		isRunning := now != nil && now.state == api.TaskRunning
		if isRunning && !wasRunning {
			running++
		} else if wasRunning && !isRunning {
			running--
		}
		if time.Since(lastSample) >= 10*time.Second {
			lastSample = time.Now()
			fmt.Fprintf(out, "  %.0fs: %d assigned, %d running, RSS %.0f MiB, load %s\n",
				time.Since(tStart).Seconds(), assigned, running, procStatus("VmRSS"), loadAvg())
		}
	}, func() bool { return running >= tasks })
	dRun := time.Since(tStart)
	cpuPlace = cpuTime() - cpuPlace
	rssRun, hwmRun := procStatus("VmRSS"), procStatus("VmHWM")
	loadRun := loadAvg()
	stopProfile()
	fmt.Fprintf(out, "  all running: %s\n", states())
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	goroutines := runtime.NumGoroutine()
	if dir := os.Getenv("BERTH_SCALE_PROFILE"); dir != "" {
		// The heap with every task running: what the manager and the agents hold at full size.
		f, err := os.Create(filepath.Join(dir, "heap-running.pprof"))
		if err != nil {
			t.Fatal(err)
		}
		must(t, pprof.WriteHeapProfile(f))
		must(t, f.Close())
	}

	// Phase 2: L nodes go silent (agents and heartbeats stop); until every task runs again on the others.
	var dDown, dResched, cpuResched time.Duration
	var moved int
	if lost > 0 {
		gone := map[string]bool{}
		for _, id := range ids[:lost] {
			gone[id] = true
		}
		for _, tv := range view {
			if gone[tv.node] && tv.state == api.TaskRunning {
				moved++
			}
		}
		liveRunning := 0
		for _, tv := range view {
			if !gone[tv.node] && tv.state == api.TaskRunning && tv.desired == api.TaskRunning {
				liveRunning++
			}
		}
		live := func(tv *taskView) bool {
			return tv != nil && !gone[tv.node] && tv.state == api.TaskRunning && tv.desired == api.TaskRunning
		}
		downCount := 0
		tLost := time.Now()
		cpuResched = cpuTime()
		beatMu.Lock()
		for id := range gone {
			delete(beating, id)
			stopAgent[id]()
		}
		beatMu.Unlock()
		resetPeakRSS()
		stopProfile = startProfile(t, "cpu-resched.pprof")
		counted := map[string]bool{}
		onNode = func(id string) {
			if gone[id] && nodeState[id] == api.NodeStateDown && !counted[id] {
				counted[id] = true
				if downCount++; downCount == lost {
					dDown = time.Since(tLost)
				}
			}
		}
		follow("the lost nodes' tasks running elsewhere", func(_ string, old, now *taskView) {
			if live(now) && !live(old) {
				liveRunning++
			} else if live(old) && !live(now) {
				liveRunning--
			}
		}, func() bool { return liveRunning >= tasks && dDown > 0 })
		dResched = time.Since(tLost)
		cpuResched = cpuTime() - cpuResched
		stopProfile()
	}
	if lost > 0 {
		fmt.Fprintf(out, "  rescheduled: %s\n", states())
	}
	rssEnd, hwmEnd := procStatus("VmRSS"), procStatus("VmHWM")

	fmt.Fprintf(out, "\n| measure | value |\n|---|---|\n")
	row := func(k, f string, a ...any) { fmt.Fprintf(out, "| %s | %s |\n", k, fmt.Sprintf(f, a...)) }
	row("simulated nodes (agents with sessions)", "%d, ready in %.1f s", nodes, dNodes.Seconds())
	row("tasks, services", "%d in %d", tasks, services)
	row("service creates (API calls)", "%.2f s", dCreate.Seconds())
	row("all tasks assigned", "%.1f s (%.0f tasks/s)", tAssigned.Seconds(), float64(tasks)/tAssigned.Seconds())
	row("all tasks running (placed and acknowledged)", "%.1f s (**%.0f tasks/s**)", dRun.Seconds(), float64(tasks)/dRun.Seconds())
	row("CPU the process (manager and agents) used while placing", "%.1f CPU-seconds (%.2f ms a task; %.2f of the %d CPUs)",
		cpuPlace.Seconds(), cpuPlace.Seconds()*1000/float64(tasks), cpuPlace.Seconds()/dRun.Seconds(), runtime.NumCPU())
	row("RSS with the nodes idle (after GC)", "%.0f MiB", rssIdle)
	row("RSS peak while placing; after all running", "%.0f MiB; %.0f MiB", hwmRun, rssRun)
	row("Go heap in use; goroutine stacks (after all running)", "%.0f MiB; %.0f MiB for %d goroutines (~2 per task are the agents')",
		float64(ms.HeapInuse)/(1<<20), float64(ms.StackInuse)/(1<<20), goroutines)
	if lost > 0 {
		row("lost nodes, their tasks", "%d, %d", lost, moved)
		row("lost nodes marked down", "%.1f s after they went silent (grace %v)", dDown.Seconds(), gracePeriods*period)
		row("their tasks running elsewhere", "%.1f s after silence, %.1f s after down (restart delay %v)", dResched.Seconds(), (dResched - dDown).Seconds(), delay)
		row("CPU the process used while rescheduling", "%.1f CPU-seconds (%.2f of the %d CPUs)",
			cpuResched.Seconds(), cpuResched.Seconds()/dResched.Seconds(), runtime.NumCPU())
		row("RSS peak while rescheduling; after", "%.0f MiB; %.0f MiB", hwmEnd, rssEnd)
	}
	row("load average (after placing; at the end)", "%s; %s", loadRun, loadAvg())
	row("whole run", "%.0f s", time.Since(start0).Seconds())
}

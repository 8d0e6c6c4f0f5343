package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// running dispatcher over a memory store holding nodes node1..nodeN; stop ends its Run and waits for it.
func runningDispatcher(t *testing.T, nodes int) (d *Dispatcher, st *store.Store, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st = store.New(store.NewMemoryBackend())
	err := st.Update(ctx, func(tx *store.Tx) error {
		for n := 1; n <= nodes; n++ {
			if err := store.Create(tx, &api.Node{ID: fmt.Sprintf("node%d", n), Role: api.RoleWorker, Status: api.NodeStatus{State: api.NodeStateReady}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d = New(st, WithLogger(slog.New(slog.DiscardHandler)))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	if err := d.waitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return d, st, stop
}

// sessionLogs are the log subscriptions queued for a session's node, as "ID tasks tail close".
func sessionLogs(d *Dispatcher, s *Session) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, l := range s.logs {
		out = append(out, fmt.Sprintf("%s %v %d %v", l.ID, l.TaskIDs, l.Tail, l.Close))
	}
	return out
}

func putTask(t *testing.T, st *store.Store, id, service, node string, state api.TaskState) {
	t.Helper()
	ctx := context.Background()
	err := st.Update(ctx, func(tx *store.Tx) error {
		tk := &api.Task{ID: id, ServiceID: service, NodeID: node, DesiredState: api.TaskRunning, Status: api.TaskStatus{State: state}}
		if _, err := store.Get[api.Task](ctx, tx, id); errdefs.IsNotFound(err) {
			return store.Create(tx, tk)
		}
		return store.Put(tx, tk)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func eventuallyTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A following subscription of a service asks for the logs of the service's tasks that start after it began,
// each from its node in a request of its own with the whole log, and closes those requests when it ends; a task
// of another service, or one not running yet, is not asked for.
func TestFollowNewTasks(t *testing.T) {
	d, st, _ := runningDispatcher(t, 2)
	putTask(t, st, "t1", "svc", "node1", api.TaskRunning)
	eventuallyTrue(t, "t1 in the view", func() bool { _, ok := d.Task("t1"); return ok })
	ctx := context.Background()
	s1, err := d.Open(ctx, "node1")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := d.Open(ctx, "node2")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := d.SubscribeLogs(sctx, api.LogSubscription{TaskIDs: []string{"t1"}, ServiceID: "svc", Follow: true, Tail: 0, Stdout: true}); err != nil {
		t.Fatal(err)
	}
	first := sessionLogs(d, s1)
	if len(first) != 1 || !strings.HasSuffix(first[0], " [t1] 0 false") {
		t.Fatalf("node1's subscriptions: %q", first)
	}
	subID := strings.TrimSuffix(first[0], " [t1] 0 false")

	putTask(t, st, "other", "svc2", "node2", api.TaskRunning)
	putTask(t, st, "t2", "svc", "node2", api.TaskAssigned)
	putTask(t, st, "t3", "svc", "node2", api.TaskRunning)
	putTask(t, st, "t3", "svc", "node2", api.TaskComplete) // a later change of an asked task asks nothing more
	eventuallyTrue(t, "t3 complete in the view", func() bool { tk, ok := d.Task("t3"); return ok && tk.Status.State == api.TaskComplete })
	if got, want := fmt.Sprint(sessionLogs(d, s2)), fmt.Sprintf("[%s-t3 [t3] -1 false]", subID); got != want {
		t.Fatalf("node2's subscriptions: %s, want %s", got, want)
	}
	putTask(t, st, "t2", "svc", "node2", api.TaskRunning)
	eventuallyTrue(t, "t2 asked for once it runs", func() bool { return len(sessionLogs(d, s2)) == 2 })

	cancel()
	eventuallyTrue(t, "the extra requests closed", func() bool {
		l := sessionLogs(d, s2)
		return len(l) == 4 && l[2] == subID+"-t3 [] 0 true" && l[3] == subID+"-t2 [] 0 true"
	})
	if l := sessionLogs(d, s1); len(l) != 2 || l[1] != subID+" [] 0 true" {
		t.Fatalf("node1's subscriptions after the end: %q", l)
	}
	d.mu.Lock()
	left := len(d.subs)
	d.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d subscriptions left", left)
	}
}

// A dispatcher whose Run ended refuses sessions and subscriptions (unavailable: the node tries another
// manager) rather than keeping a session nothing will ever end or feed.
func TestStoppedDispatcherRefuses(t *testing.T) {
	d, _, stop := runningDispatcher(t, 1)
	s, err := d.Open(context.Background(), "node1")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	select {
	case <-s.Done():
	default:
		t.Fatal("a session outlived its dispatcher")
	}
	if _, err := d.Open(context.Background(), "node1"); !errors.Is(err, ErrStopped) || !errdefs.IsUnavailable(err) {
		t.Fatalf("open on a stopped dispatcher: %v", err)
	}
	if _, err := d.SubscribeLogs(context.Background(), api.LogSubscription{TaskIDs: []string{"t"}, Stdout: true}); !errors.Is(err, ErrStopped) {
		t.Fatalf("subscribe on a stopped dispatcher: %v", err)
	}
}

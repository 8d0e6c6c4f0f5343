package cluster

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// readCounter counts the store reads of keys containing a string (each a round trip to etcd).
type readCounter struct {
	store.Backend
	match string
	reads atomic.Int64
}

func (r *readCounter) Range(ctx context.Context, key string, prefix bool, rev int64) ([]store.KV, int64, error) {
	if !prefix && strings.Contains(key, r.match) {
		r.reads.Add(1)
	}
	return r.Backend.Range(ctx, key, prefix, rev)
}

// The scheduler writes a pending task ASSIGNED from the copy its watch delivered, without reading it back
// (nor depending on the dispatcher's view, which follows the store through a watch of its own).
func TestScheduleWritesWithoutReading(t *testing.T) {
	tests := []struct {
		name  string
		tasks []string
	}{
		{name: "one task", tasks: []string{"task1"}},
		{name: "a burst", tasks: []string{"task1", "task2", "task3", "task4", "task5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			b := &readCounter{Backend: store.NewMemoryBackend(), match: "/tasks/"}
			st := store.New(b)
			n := &api.Node{ID: "n1", Role: api.RoleWorker, Spec: api.NodeSpec{DesiredRole: api.RoleWorker, Availability: api.AvailabilityActive},
				Description: api.NodeDescription{Hostname: "n1", Platform: api.Platform{OS: "linux", Architecture: "x86_64"}},
				Status:      api.NodeStatus{State: api.NodeStateReady}}
			must(t, st.Update(ctx, func(tx *store.Tx) error { return store.Create(tx, n) }))
			sc := newSchedule(st, clockwork.NewFakeClock(), slog.New(slog.DiscardHandler))
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); sc.run(ctx) }()
			t.Cleanup(func() { cancel(); wg.Wait() })
			must(t, st.Update(ctx, func(tx *store.Tx) error {
				for _, id := range tc.tasks {
					task := &api.Task{ID: id, ServiceID: "svc", Slot: 1, DesiredState: api.TaskRunning,
						Spec:   api.TaskSpec{Container: &api.ContainerSpec{Image: "busybox"}},
						Status: api.TaskStatus{State: api.TaskPending}}
					if err := store.CreateFresh(tx, task); err != nil {
						return err
					}
				}
				return nil
			}))
			deadline := time.Now().Add(10 * time.Second)
			for {
				assigned := 0
				ts, err := store.List[api.Task](ctx, st)
				must(t, err)
				for _, tk := range ts {
					if tk.Status.State == api.TaskAssigned && tk.NodeID == "n1" {
						assigned++
					}
				}
				if assigned == len(tc.tasks) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d tasks assigned", assigned, len(tc.tasks))
				}
				time.Sleep(5 * time.Millisecond)
			}
			if got := b.reads.Load(); got != 0 {
				t.Errorf("the scheduler read tasks %d times before writing them", got)
			}
		})
	}
}

package dispatcher

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

func TestDrain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		queued int
		limit  int
		want   int
	}{
		{name: "nothing else queued", queued: 0, limit: 10, want: 1},
		{name: "all that is queued", queued: 5, limit: 10, want: 6},
		{name: "up to the limit", queued: 20, limit: 10, want: 10},
		{name: "the first alone at a limit of one", queued: 3, limit: 1, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := make(chan *pendingBatch, tc.queued)
			for i := range tc.queued {
				ch <- &pendingBatch{node: fmt.Sprint(i)}
			}
			got := drain(ch, []*pendingBatch{{node: "first"}}, tc.limit)
			if len(got) != tc.want {
				t.Fatalf("drained %d batches, want %d", len(got), tc.want)
			}
			if got[0].node != "first" {
				t.Fatalf("the first batch is %q", got[0].node)
			}
			for i, b := range got[1:] {
				if b.node != fmt.Sprint(i) {
					t.Fatalf("batch %d is %q: out of order", i+1, b.node)
				}
			}
			if left := len(ch); left != max(0, tc.queued-(tc.want-1)) {
				t.Fatalf("%d batches left queued", left)
			}
		})
	}
}

// TestUpdateStatusWritten: many nodes' reports, concurrent and in a row, are each in the store when their call
// returns, with no batch window set (the default) and with one; none is lost to another's batch.
func TestUpdateStatusWritten(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []Option
		nodes int
		tasks int // per node
	}{
		{name: "default, one node", nodes: 1, tasks: 8},
		{name: "default, many nodes at once", nodes: 12, tasks: 6},
		{name: "batch interval", opts: []Option{WithBatchInterval(time.Millisecond)}, nodes: 6, tasks: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st := store.New(store.NewMemoryBackend())
			err := st.Update(ctx, func(tx *store.Tx) error {
				for n := range tc.nodes {
					node := &api.Node{ID: fmt.Sprintf("node%d", n), Role: api.RoleWorker, Status: api.NodeStatus{State: api.NodeStateReady}}
					if err := store.Create(tx, node); err != nil {
						return err
					}
					for i := range tc.tasks {
						tk := &api.Task{ID: fmt.Sprintf("task%d-%d", n, i), ServiceID: "svc", Slot: uint64(i + 1), NodeID: node.ID,
							DesiredState: api.TaskRunning, Status: api.TaskStatus{State: api.TaskAssigned}}
						if err := store.Create(tx, tk); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			d := New(st, append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, tc.opts...)...)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); d.Run(ctx) }()
			defer wg.Wait()
			defer cancel()

			states := []api.TaskState{api.TaskAccepted, api.TaskPreparing, api.TaskStarting, api.TaskRunning}
			errs := make(chan error, tc.nodes*tc.tasks*len(states))
			var calls sync.WaitGroup
			for n := range tc.nodes {
				node := fmt.Sprintf("node%d", n)
				s, err := d.Open(ctx, node)
				if err != nil {
					t.Fatal(err)
				}
				for i := range tc.tasks {
					id := fmt.Sprintf("task%d-%d", n, i)
					calls.Add(1)
					go func() {
						defer calls.Done()
						for _, state := range states {
							u := api.StatusUpdate{TaskID: id, Status: api.TaskStatus{State: state, Message: state.String()}}
							if err := d.UpdateStatus(ctx, node, s.ID(), []api.StatusUpdate{u}); err != nil {
								errs <- err
								return
							}
							v, err := st.View(ctx)
							if err != nil {
								errs <- err
								return
							}
							got, err := store.Get[api.Task](ctx, v, id)
							if err != nil {
								errs <- err
								return
							}
							if got.Status.State != state {
								errs <- fmt.Errorf("%s: %s in the store after its %s report returned", id, got.Status.State, state)
								return
							}
						}
					}()
				}
			}
			calls.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

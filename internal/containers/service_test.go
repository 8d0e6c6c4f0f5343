package containers

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth/berth/internal/state"
)

// A listing reads the view store: it returns while a start holds the container's lock across the task's
// creation (which takes the shim's spawn, tens of milliseconds, on a real runtime).
func TestListDoesNotWaitForStart(t *testing.T) {
	ts := newTestService(t)
	ctx := context.Background()
	if _, err := ts.Create(ctx, CreateOptions{Name: "slow", Config: &container.Config{Image: "busybox"}, HostConfig: &container.HostConfig{NetworkMode: "none"}}); err != nil {
		t.Fatal(err)
	}
	gate, entered := make(chan struct{}), make(chan struct{})
	ts.tasks.mu.Lock()
	ts.tasks.gate, ts.tasks.entered = gate, entered
	ts.tasks.mu.Unlock()
	started := make(chan error, 1)
	go func() { started <- ts.Start(ctx, "slow") }()
	<-entered // the start holds the container's lock and waits in the task runtime

	listed := make(chan []container.Summary, 1)
	go func() {
		list, err := ts.List(ctx, ListOptions{All: true})
		if err != nil {
			t.Error(err)
		}
		listed <- list
	}()
	select {
	case list := <-listed:
		if len(list) != 1 || list[0].State != container.StateCreated {
			t.Errorf("listing during the start: %+v", list)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the listing waited for the start")
	}
	close(gate)
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	list, _ := ts.List(ctx, ListOptions{})
	if len(list) != 1 || list[0].State != container.StateRunning {
		t.Errorf("listing after the start: %+v", list)
	}
}

// A watch from a snapshot's revision sees every change after it, in order, with the container's state then.
func TestWatchContainers(t *testing.T) {
	ts := newTestService(t)
	ctx := context.Background()
	snap := ts.Snapshot()
	w := ts.Watch(snap.Rev)
	defer w.Stop()
	if _, err := ts.Create(ctx, CreateOptions{Name: "watched", Config: &container.Config{Image: "busybox"}, HostConfig: &container.HostConfig{NetworkMode: "none"}}); err != nil {
		t.Fatal(err)
	}
	if err := ts.Start(ctx, "watched"); err != nil {
		t.Fatal(err)
	}
	if err := ts.Remove(ctx, "watched", RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	var got []string
	last := snap.Rev
	for len(got) == 0 || got[len(got)-1] != "delete" {
		select {
		case c := <-w.Changes():
			if c.Rev <= last {
				t.Fatalf("revision %d after %d", c.Rev, last)
			}
			last = c.Rev
			if c.Kind == state.Delete {
				got = append(got, "delete")
			} else {
				got = append(got, string(c.Value.State.Status))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("changes so far: %v", got)
		}
	}
	// Every state the container went through is there, in order (a state may be recorded more than once).
	want := []string{"created", "running", "exited", "delete"}
	i := 0
	for _, s := range got {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	if i != len(want) {
		t.Errorf("changes %v, want %v in order", got, want)
	}
}

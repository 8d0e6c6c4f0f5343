package daemon

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/berth/berth/internal/cluster"
	"github.com/berth/berth/internal/cluster/agent"
)

var _ agent.Balancers = swarmExecutor{}

func TestBackendSetWait(t *testing.T) {
	run := func(ids ...string) []cluster.TaskRun {
		var out []cluster.TaskRun
		for _, id := range ids {
			out = append(out, cluster.TaskRun{ID: id, ServiceID: "s", Running: true})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		// before is the set the wait starts on; then each of after is applied in turn.
		before []cluster.TaskRun
		after  [][]cluster.TaskRun
		// want is nil when the wait returns, else the context's error.
		want error
		// wantRev is the revision the wait returns: before is at 10, each of after one more.
		wantRev int64
	}{
		{name: "never a backend: at once", before: run("b"), wantRev: 10},
		{name: "an empty set (no cluster networks): at once", wantRev: 10},
		{name: "dropped by the next view", before: run("a", "b"), after: [][]cluster.TaskRun{run("b")}, wantRev: 11},
		{name: "views that keep it, then one that drops it", before: run("a"), after: [][]cluster.TaskRun{run("a", "c"), run("a"), nil}, wantRev: 13},
		{name: "listed but not running", before: []cluster.TaskRun{{ID: "a"}}, wantRev: 10},
		{name: "still a backend when the wait is given up", before: run("a"), after: [][]cluster.TaskRun{run("a")}, want: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b backendSet
			b.set(10, tc.before)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			var rev int64
			go func() {
				var err error
				rev, err = b.wait(ctx, "a")
				done <- err
			}()
			if b.tasks["a"] { // read before the wait runs
				// The views below must come while the wait blocks on one.
				for !b.waiting() {
					runtime.Gosched()
				}
			}
			for i, v := range tc.after {
				b.set(int64(11+i), v)
			}
			if tc.want != nil {
				cancel()
			}
			if err := <-done; !errors.Is(err, tc.want) {
				t.Fatalf("wait: %v, want %v", err, tc.want)
			}
			if rev != tc.wantRev {
				t.Fatalf("wait returned revision %d, want %d", rev, tc.wantRev)
			}
		})
	}
}

// waiting is whether a wait holds the channel of the next change (has made it; set closes it).
func (b *backendSet) waiting() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed != nil
}

package dispatcher

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestWaitApplied: a wait for a revision returns once every node with a session reported it or a later one;
// until then (and when it gives up) it names the nodes behind. Nodes without a session are not waited for.
func TestWaitApplied(t *testing.T) {
	for _, tc := range []struct {
		name string
		// reports before the wait, as node → revision (node3 has no session)
		before map[string]int64
		// during runs while the wait is under way
		during     func(d *Dispatcher, sessions map[string]*Session)
		stop       bool
		wantBehind []string
		wantErr    error
	}{
		{name: "every node already there", before: map[string]int64{"node1": 7, "node2": 9}},
		{name: "a node without a session is not waited for", before: map[string]int64{"node1": 7, "node2": 7}},
		{name: "a node behind, until the wait gives up", before: map[string]int64{"node1": 7, "node2": 6},
			wantBehind: []string{"node2"}, wantErr: context.DeadlineExceeded},
		{name: "a node that never reported is behind", before: map[string]int64{"node1": 8},
			wantBehind: []string{"node2"}, wantErr: context.DeadlineExceeded},
		{name: "an older report arriving late changes nothing", before: map[string]int64{"node1": 7, "node2": 7},
			during: func(d *Dispatcher, _ map[string]*Session) { d.NoteApplied("node2", 3) }},
		{name: "the late node reports while the wait is under way", before: map[string]int64{"node1": 7},
			during: func(d *Dispatcher, _ map[string]*Session) { d.NoteApplied("node2", 7) }},
		{name: "the late node's session ends: no longer waited for", before: map[string]int64{"node1": 7},
			during: func(_ *Dispatcher, s map[string]*Session) { s["node2"].Close() }},
		{name: "the dispatcher stops", before: map[string]int64{"node1": 7}, stop: true, wantErr: ErrStopped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _, stop := runningDispatcher(t, 3)
			ctx := context.Background()
			sessions := map[string]*Session{}
			for _, n := range []string{"node1", "node2"} {
				s, err := d.Open(ctx, n)
				if err != nil {
					t.Fatal(err)
				}
				sessions[n] = s
			}
			for n, rev := range tc.before {
				d.NoteApplied(n, rev)
			}
			// Long enough for a report made during the wait; short enough to see a wait give up.
			wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if tc.during != nil {
				time.AfterFunc(50*time.Millisecond, func() { tc.during(d, sessions) })
			}
			if tc.stop {
				time.AfterFunc(50*time.Millisecond, stop)
			}
			behind, err := d.WaitApplied(wctx, 7)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("WaitApplied: %v, want %v", err, tc.wantErr)
			}
			if !slices.Equal(behind, tc.wantBehind) {
				t.Fatalf("behind %v, want %v", behind, tc.wantBehind)
			}
		})
	}
}

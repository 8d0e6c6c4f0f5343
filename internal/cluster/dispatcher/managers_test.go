package dispatcher

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// TestManagers: the managers a heartbeat answers with follow the nodes' changes — loaded, promoted, demoted,
// added and removed — without a walk over every node.
func TestManagers(t *testing.T) {
	node := func(id string, role api.NodeRole) *api.Node {
		return &api.Node{ID: id, Role: role, Status: api.NodeStatus{State: api.NodeStateReady}}
	}
	for _, tc := range []struct {
		name   string
		events []store.Event
		want   []string
	}{
		{name: "as loaded", want: []string{"m1", "m2"}},
		{name: "a worker promoted", events: []store.Event{
			{Kind: api.KindNode, ID: "w1", Action: store.ActionUpdate, Object: node("w1", api.RoleManager)},
		}, want: []string{"m1", "m2", "w1"}},
		{name: "a manager demoted", events: []store.Event{
			{Kind: api.KindNode, ID: "m2", Action: store.ActionUpdate, Object: node("m2", api.RoleWorker)},
		}, want: []string{"m1"}},
		{name: "a manager removed", events: []store.Event{
			{Kind: api.KindNode, ID: "m1", Action: store.ActionRemove, Object: node("m1", api.RoleManager)},
		}, want: []string{"m2"}},
		{name: "a manager joins, a worker leaves", events: []store.Event{
			{Kind: api.KindNode, ID: "m0", Action: store.ActionCreate, Object: node("m0", api.RoleManager)},
			{Kind: api.KindNode, ID: "w1", Action: store.ActionRemove, Object: node("w1", api.RoleWorker)},
		}, want: []string{"m0", "m1", "m2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := store.New(store.NewMemoryBackend())
			if err := st.Update(ctx, func(tx *store.Tx) error {
				for _, n := range []*api.Node{node("m2", api.RoleManager), node("w1", api.RoleWorker), node("m1", api.RoleManager)} {
					if err := store.Create(tx, n); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			d := New(st, WithLogger(slog.New(slog.DiscardHandler)))
			if err := d.load(ctx); err != nil {
				t.Fatal(err)
			}
			for _, ev := range tc.events {
				d.apply(ev)
			}
			var got []string
			for _, n := range d.Managers() {
				got = append(got, n.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("managers %v, want %v", got, tc.want)
			}
		})
	}
}

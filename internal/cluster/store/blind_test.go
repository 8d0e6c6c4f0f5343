package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// CreateFresh and PutAt check at commit what Create and Put read first: an ID taken, a version gone stale.
func TestBlindWrites(t *testing.T) {
	backends := []struct {
		name string
		open func(t *testing.T) store.Backend
	}{
		{name: "memory", open: func(*testing.T) store.Backend { return store.NewMemoryBackend() }},
		{name: "etcd", open: func(t *testing.T) store.Backend { return store.NewEtcdBackend(startEtcd(t)) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			s := store.New(b.open(t))
			task := &api.Task{ID: "t1", DesiredState: api.TaskRunning}
			if err := s.Update(ctx, func(tx *store.Tx) error { return store.CreateFresh(tx, task) }); err != nil || task.Version == 0 {
				t.Fatalf("create: %v, version %d", err, task.Version)
			}
			// A second object of the ID conflicts until the function gives up.
			runs := 0
			err := s.Update(ctx, func(tx *store.Tx) error {
				runs++
				if runs > 1 {
					return errors.New("conflicted")
				}
				return store.CreateFresh(tx, &api.Task{ID: "t1"})
			})
			if err == nil || err.Error() != "conflicted" {
				t.Fatalf("creating a taken ID: %v", err)
			}
			got, err := store.Get[api.Task](ctx, s, "t1")
			if err != nil || got.DesiredState != api.TaskRunning {
				t.Fatalf("the first object: %+v, %v", got, err)
			}

			// PutAt at the stored version writes; at an older one it conflicts.
			stale := *got
			got.DesiredState = api.TaskShutdown
			if err := s.Update(ctx, func(tx *store.Tx) error { return store.PutAt(tx, got) }); err != nil {
				t.Fatal(err)
			}
			stale.Status.Message = "late"
			runs = 0
			err = s.Update(ctx, func(tx *store.Tx) error {
				runs++
				if runs > 1 {
					return errors.New("conflicted")
				}
				return store.PutAt(tx, &stale)
			})
			if err == nil || err.Error() != "conflicted" {
				t.Fatalf("a put at a stale version: %v", err)
			}
			after, _ := store.Get[api.Task](ctx, s, "t1")
			if after.DesiredState != api.TaskShutdown || after.Status.Message == "late" || !after.CreatedAt.Equal(task.CreatedAt) {
				t.Fatalf("after the puts: %+v", after)
			}
			if err := s.Update(ctx, func(tx *store.Tx) error { return store.PutAt(tx, &api.Task{ID: "t1"}) }); !errdefs.IsInvalidArgument(err) {
				t.Fatalf("a put without a version: %v", err)
			}
			// DeleteAt at a stale version conflicts; at the stored one it deletes.
			runs = 0
			err = s.Update(ctx, func(tx *store.Tx) error {
				runs++
				if runs > 1 {
					return errors.New("conflicted")
				}
				return store.DeleteAt(tx, api.KindTask, "t1", stale.Version)
			})
			if err == nil || err.Error() != "conflicted" {
				t.Fatalf("a delete at a stale version: %v", err)
			}
			if err := s.Update(ctx, func(tx *store.Tx) error { return store.DeleteAt(tx, api.KindTask, "t1", after.Version) }); err != nil {
				t.Fatal(err)
			}
			if _, err := store.Get[api.Task](ctx, s, "t1"); !errdefs.IsNotFound(err) {
				t.Fatalf("after DeleteAt: %v", err)
			}
		})
	}
}

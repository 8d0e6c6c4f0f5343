package cluster

import (
	"context"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// A network is held by the endpoints of containers and of tasks that are wanted and still running; the tasks of
// a removed service, or ones shutting down, do not hold it (docker stack rm removes networks right after the
// services), as swarmkit's removeNetwork.
func TestRemoveNetworkTaskStates(t *testing.T) {
	for _, tc := range []struct {
		name       string
		service    bool // the task's service still exists
		task       bool // the attachment's task exists
		container  bool // the attachment is a container's, not a task's
		desired    api.TaskState
		state      api.TaskState
		refusedFor bool
	}{
		{name: "running task of a service", service: true, task: true, desired: api.TaskRunning, state: api.TaskRunning, refusedFor: true},
		{name: "starting task", service: true, task: true, desired: api.TaskRunning, state: api.TaskStarting, refusedFor: true},
		{name: "task of a removed service", task: true, desired: api.TaskRunning, state: api.TaskRunning},
		{name: "task told to shut down", service: true, task: true, desired: api.TaskShutdown, state: api.TaskRunning},
		{name: "task that failed", service: true, task: true, desired: api.TaskRunning, state: api.TaskFailed},
		{name: "attachment of a deleted task", service: true},
		{name: "attachable container", container: true, refusedFor: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := netStore(t)
			n, err := createNetwork(ctx, s, spec("ovl", true))
			must(t, err)
			must(t, s.Update(ctx, func(tx *store.Tx) error {
				if tc.service {
					// A service that does not name the network (the service check is another's).
					if err := store.Create(tx, &api.Service{ID: "svc", Spec: api.ServiceSpec{Annotations: api.Annotations{Name: "web"}}}); err != nil {
						return err
					}
				}
				if tc.task {
					if err := store.Create(tx, &api.Task{ID: "task1", ServiceID: "svc", DesiredState: tc.desired, Status: api.TaskStatus{State: tc.state}}); err != nil {
						return err
					}
				}
				a := &api.Attachment{ID: "att1", NetworkID: n.ID, TaskID: "task1", ServiceID: "svc"}
				if tc.container {
					a.TaskID, a.ServiceID, a.ContainerID = "", "", "c1"
				}
				return store.Create(tx, a)
			}))
			_, err = removeNetwork(ctx, s, "ovl")
			if tc.refusedFor {
				if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "is in use by task") {
					t.Fatalf("removed a network in use: %v", err)
				}
				return
			}
			must(t, err)
			// The task's attachment goes with the task, without its network.
			must(t, s.Update(ctx, func(tx *store.Tx) error { return ReleaseTaskAttachments(ctx, tx, "task1") }))
		})
	}
}

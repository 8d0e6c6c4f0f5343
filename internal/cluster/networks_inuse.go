package cluster

import (
	"context"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/store"
)

// taskLeaving reports whether an attachment belongs to a task that no longer holds its network: the task is
// gone, its service is gone (the orchestrator is about to shut it down), or it is neither wanted nor still
// running (swarmkit's removeNetwork: desired and observed state both past RUNNING). `docker stack rm` removes a
// stack's networks right after its services, so their tasks must not hold them. Their attachments are released
// with the tasks (releaseAttachment tolerates the network's absence).
func taskLeaving(ctx context.Context, tx *store.Tx, a *api.Attachment, services []*api.Service) (bool, error) {
	if a.TaskID == "" {
		return false, nil
	}
	t, err := store.Get[api.Task](ctx, tx, a.TaskID)
	if errdefs.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	serviceExists := false
	for _, s := range services {
		if s.ID == t.ServiceID {
			serviceExists = true
			break
		}
	}
	if !serviceExists {
		return true, nil
	}
	return t.DesiredState > api.TaskRunning || t.Status.State > api.TaskRunning, nil
}

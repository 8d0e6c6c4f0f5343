package daemon

import (
	"context"
	"strings"
)

// dropTaskFiles removes a stopped task container's secrets and configs from the node's tmpfs: a task's
// container runs once (a restart is a new task), and dockerd too unmounts a container's secrets when it stops,
// so a secret stays on a node no longer than a running task there uses it.
func (e swarmExecutor) dropTaskFiles(ctx context.Context, id string) {
	c, err := e.d.containers.Inspect(ctx, id, false)
	if err != nil || c.State == nil || c.State.Running || c.State.Restarting {
		return
	}
	e.removeTaskFiles(strings.TrimPrefix(c.Name, "/"))
}

package cluster

import (
	"fmt"

	"github.com/containerd/errdefs"
)

// Docker's words for the node's swarm states (moby's daemon/cluster/errors.go), in Berth's error categories.
var (
	ErrNoSwarm          = errdefs.ErrUnavailable.WithMessage("This node is not part of a swarm")
	ErrSwarmExists      = errdefs.ErrUnavailable.WithMessage(`This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.`)
	ErrSwarmLocked      = errdefs.ErrUnavailable.WithMessage(`Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock" to unlock it.`)
	ErrSwarmNotManager  = errdefs.ErrUnavailable.WithMessage("This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.")
	ErrJoinTimeout      = errdefs.ErrUnavailable.WithMessage(`Timeout was reached before node joined. The attempt to join the swarm will continue in the background. Use the "docker info" command to see the current swarm status of your node.`)
	ErrNotLocked        = errdefs.ErrConflict.WithMessage("swarm is not locked")
	ErrInvalidUnlockKey = errdefs.ErrUnauthenticated.WithMessage("swarm could not be unlocked: invalid key provided")
	ErrLockedLeave      = errdefs.ErrUnavailable.WithMessage("Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore this message.")
	// ErrManagerStarting is a manager whose store member is not serving yet (after a restart, until quorum).
	ErrManagerStarting = errdefs.ErrUnavailable.WithMessage("This node is a manager whose cluster store is starting; try again shortly.")
)

func notFound(kind, ref string) error {
	return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("%s %s not found", kind, ref))
}

func invalid(format string, args ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, args...))
}

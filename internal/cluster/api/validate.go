package api

import (
	"fmt"

	"github.com/containerd/errdefs"
)

// RPCError is an error in the words docker shows for an error of swarmkit's control API ("rpc error: code =
// FailedPrecondition desc = ..."), in the category cat. Users and scripts know these words, so Berth's cluster
// says the same where docker's does.
func RPCError(cat error, code, format string, args ...any) error {
	msg := fmt.Sprintf("rpc error: code = %s desc = %s", code, fmt.Sprintf(format, args...))
	if e, ok := cat.(interface{ WithMessage(string) error }); ok {
		return e.WithMessage(msg)
	}
	return fmt.Errorf("%s: %w", msg, cat)
}

// ValidateClusterSpec checks a cluster spec as swarmkit's control API does (init and update).
func ValidateClusterSpec(s ClusterSpec) error {
	if s.Name != ClusterName {
		return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "modification of cluster name is not allowed")
	}
	if s.CAConfig.NodeCertExpiry != 0 && s.CAConfig.NodeCertExpiry < MinNodeCertExpiry {
		return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "minimum certificate expiry time is: %s", MinNodeCertExpiry)
	}
	if s.Dispatcher.HeartbeatPeriod < 0 {
		return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "heartbeat time period cannot be a negative duration")
	}
	if l := s.Orchestration.TaskHistoryRetentionLimit; l != nil && *l < 0 {
		return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "task history retention limit cannot be negative")
	}
	if s.Raft.ElectionTick != 0 && s.Raft.HeartbeatTick != 0 && s.Raft.ElectionTick <= s.Raft.HeartbeatTick {
		return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "ElectionTick (%d) must be greater than HeartbeatTick (%d)", s.Raft.ElectionTick, s.Raft.HeartbeatTick)
	}
	for _, ca := range s.CAConfig.ExternalCAs {
		if ca.Protocol != "cfssl" {
			return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "unknown external CA protocol %q", ca.Protocol)
		}
	}
	if (s.CAConfig.SigningCACert == "") != (s.CAConfig.SigningCAKey == "") && s.CAConfig.SigningCAKey != "" {
		return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "if a signing CA key is provided, the signing CA cert must also be provided")
	}
	return nil
}

// ValidateNodeSpec checks a node spec as swarmkit's control API does.
func ValidateNodeSpec(s NodeSpec) error {
	switch s.DesiredRole {
	case RoleWorker, RoleManager:
	default:
		return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "invalid role %q", s.DesiredRole)
	}
	switch s.Availability {
	case AvailabilityActive, AvailabilityPause, AvailabilityDrain:
	default:
		return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "invalid availability %q", s.Availability)
	}
	for k := range s.Labels {
		if k == "" {
			return RPCError(errdefs.ErrInvalidArgument, "InvalidArgument", "label key cannot be empty")
		}
	}
	return nil
}

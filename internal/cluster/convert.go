package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/berth/berth/internal/cluster/api"
	"github.com/berth/berth/internal/cluster/orchestrator"
	"github.com/berth/berth/internal/cluster/placement"
	"github.com/berth/berth/internal/cluster/scheduler"
)

// Conversions from the store's objects to the pure cores' types (the orchestrator's and the scheduler's), and
// the digest that tells an out-of-date task.

// specDigest is a service's TaskSpec.Digest: the hash of everything its tasks are made from but what the
// orchestrator compares itself (placement, reservations, restart policy) and the pull credentials (a new
// login alone does not replace tasks, as swarmkit ignores PullOptions).
func specDigest(spec *api.ServiceSpec) string {
	t := spec.Task
	var c *api.ContainerSpec
	if t.Container != nil {
		cc := *t.Container
		cc.PullOptions = nil
		c = &cc
	}
	var limits *api.Resources
	if t.Resources != nil {
		limits = t.Resources.Limits
	}
	b, _ := json.Marshal(struct {
		Container *api.ContainerSpec
		Limits    *api.Resources
		LogDriver *api.Driver
		Networks  []api.NetworkAttachment
		SvcNets   []api.NetworkAttachment
		Endpoint  *api.EndpointSpec
	}{c, limits, t.LogDriver, t.Networks, spec.Networks, spec.Endpoint})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// orchState is an api.TaskState as the orchestrator numbers it.
func orchState(s api.TaskState) orchestrator.TaskState {
	st, _ := orchestrator.ParseTaskState(s.String())
	return st
}

// apiState is an orchestrator state as the store numbers it.
func apiState(s orchestrator.TaskState) api.TaskState {
	st, _ := api.ParseTaskState(s.String())
	return st
}

func toPlacement(p *api.Placement) placement.Placement {
	if p == nil {
		return placement.Placement{}
	}
	out := placement.Placement{Constraints: p.Constraints, MaxReplicas: p.MaxReplicas}
	for _, pr := range p.Preferences {
		out.Preferences = append(out.Preferences, placement.Preference{Spread: pr.SpreadDescriptor})
	}
	for _, pl := range p.Platforms {
		out.Platforms = append(out.Platforms, placement.Platform{OS: pl.OS, Architecture: pl.Architecture})
	}
	return out
}

func reservations(r *api.ResourceRequirements) placement.Resources {
	if r == nil || r.Reservations == nil {
		return placement.Resources{}
	}
	return placement.Resources{NanoCPUs: r.Reservations.NanoCPUs, MemoryBytes: r.Reservations.MemoryBytes}
}

func toRestart(p *api.RestartPolicy) orchestrator.RestartPolicy {
	if p == nil {
		return orchestrator.RestartPolicy{}
	}
	out := orchestrator.RestartPolicy{Condition: orchestrator.RestartCondition(p.Condition), Delay: p.Delay}
	if p.MaxAttempts != nil {
		out.MaxAttempts = *p.MaxAttempts
	}
	if p.Window != nil {
		out.Window = *p.Window
	}
	return out
}

func toOrchTaskSpec(t *api.TaskSpec) orchestrator.TaskSpec {
	return orchestrator.TaskSpec{Digest: t.Digest, ForceUpdate: t.ForceUpdate, Placement: toPlacement(t.Placement),
		Reservations: reservations(t.Resources), Restart: toRestart(t.RestartPolicy)}
}

func toUpdateConfig(u *api.UpdateConfig) *orchestrator.UpdateConfig {
	if u == nil {
		return nil
	}
	return &orchestrator.UpdateConfig{Parallelism: u.Parallelism, Delay: u.Delay, FailureAction: orchestrator.FailureAction(u.FailureAction),
		Monitor: u.Monitor, MaxFailureRatio: u.MaxFailureRatio, Order: orchestrator.UpdateOrder(u.Order)}
}

// toOrchSpec is a service spec as the orchestrator reads it, with docker's job defaults.
func toOrchSpec(s *api.ServiceSpec) orchestrator.ServiceSpec {
	out := orchestrator.ServiceSpec{Task: toOrchTaskSpec(&s.Task), Update: toUpdateConfig(s.Update), Rollback: toUpdateConfig(s.Rollback)}
	switch s.Mode {
	case api.ModeGlobal:
		out.Mode = orchestrator.ModeGlobal
	case api.ModeReplicatedJob:
		out.Mode = orchestrator.ModeReplicatedJob
		out.MaxConcurrent, out.TotalCompletions = jobCounts(s)
	case api.ModeGlobalJob:
		out.Mode = orchestrator.ModeGlobalJob
	default:
		out.Mode = orchestrator.ModeReplicated
		if s.Replicas != nil {
			out.Replicas = *s.Replicas
		}
	}
	return out
}

// jobCounts are a replicated job's MaxConcurrent and TotalCompletions with swarmkit's defaults: one at a
// time, and as many completions as may run at once.
func jobCounts(s *api.ServiceSpec) (maxConcurrent, total uint64) {
	maxConcurrent = 1
	if s.MaxConcurrent != nil && *s.MaxConcurrent > 0 {
		maxConcurrent = *s.MaxConcurrent
	}
	total = maxConcurrent
	if s.TotalCompletions != nil && *s.TotalCompletions > 0 {
		total = *s.TotalCompletions
	}
	return maxConcurrent, total
}

func toOrchService(s *api.Service) orchestrator.Service {
	out := orchestrator.Service{ID: s.ID, Version: s.Version, SpecVersion: s.SpecVersion, Spec: toOrchSpec(&s.Spec),
		JobIteration: s.JobIteration}
	if s.PreviousSpec != nil {
		ps := toOrchSpec(s.PreviousSpec)
		out.PreviousSpec, out.PreviousSpecVersion = &ps, s.PreviousSpecVersion
	}
	if u := s.UpdateStatus; u != nil {
		out.UpdateStatus = &orchestrator.UpdateStatus{State: orchestrator.UpdateState(u.State), StartedAt: u.StartedAt,
			CompletedAt: u.CompletedAt, Message: u.Message}
	}
	return out
}

func toOrchStatus(s api.TaskStatus) orchestrator.TaskStatus {
	return orchestrator.TaskStatus{State: orchState(s.State), Timestamp: s.Timestamp, Message: s.Message, Err: s.Err}
}

func toAPIStatus(s orchestrator.TaskStatus) api.TaskStatus {
	return api.TaskStatus{State: apiState(s.State), Timestamp: s.Timestamp, Message: s.Message, Err: s.Err}
}

func toPlacementNode(n *api.Node) placement.Node {
	d := n.Description
	return placement.Node{ID: n.ID, Hostname: d.Hostname, Role: placement.Role(n.Role),
		Availability: placement.Availability(n.Spec.Availability), State: placement.NodeState(n.Status.State),
		Addr: n.Status.Addr, Labels: n.Spec.Labels, EngineLabels: d.Engine.Labels,
		Platform:  placement.Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture},
		Resources: placement.Resources{NanoCPUs: d.Resources.NanoCPUs, MemoryBytes: d.Resources.MemoryBytes}}
}

// toSchedTask is a task as the scheduler takes it.
func toSchedTask(t *api.Task) scheduler.Task {
	out := scheduler.Task{ID: t.ID, ServiceID: t.ServiceID, SpecVersion: t.SpecVersion, NodeID: t.NodeID,
		Placement: toPlacement(t.Spec.Placement), Reservations: reservations(t.Spec.Resources),
		Stopping: t.DesiredState > api.TaskComplete}
	if ep := t.Endpoint; ep != nil {
		for _, p := range ep.Ports {
			if p.PublishMode == "host" && p.PublishedPort != 0 {
				proto := p.Protocol
				if proto == "" {
					proto = "tcp"
				}
				out.HostPorts = append(out.HostPorts, scheduler.HostPort{Protocol: proto, Port: p.PublishedPort})
			}
		}
	}
	return out
}

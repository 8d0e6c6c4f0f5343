package orchestrator

import (
	"time"

	"github.com/berth/berth/internal/cluster/placement"
)

// TaskState is a task's state, observed (reported by the agent, or set by the scheduler) or desired (set by the
// orchestrator). The values are swarmkit's: states only move forward, so a greater value is a later state.
type TaskState uint16

// The task states, in order.
const (
	TaskStateNew       TaskState = 0
	TaskStatePending   TaskState = 64  // waiting for the scheduler
	TaskStateAssigned  TaskState = 192 // on a node, not yet taken by its agent
	TaskStateAccepted  TaskState = 256
	TaskStatePreparing TaskState = 320
	TaskStateReady     TaskState = 384 // as desired state: prepare, do not start yet (a delayed restart)
	TaskStateStarting  TaskState = 448
	TaskStateRunning   TaskState = 512
	TaskStateComplete  TaskState = 576 // exited 0; the desired state of a job's tasks
	TaskStateShutdown  TaskState = 640 // stopped because the orchestrator asked
	TaskStateFailed    TaskState = 704
	TaskStateRejected  TaskState = 768 // could not run on its node
	TaskStateRemove    TaskState = 800 // desired only: stop, then the task is deleted
	TaskStateOrphaned  TaskState = 832 // its node was down too long
)

var stateNames = map[TaskState]string{
	TaskStateNew: "new", TaskStatePending: "pending", TaskStateAssigned: "assigned", TaskStateAccepted: "accepted",
	TaskStatePreparing: "preparing", TaskStateReady: "ready", TaskStateStarting: "starting",
	TaskStateRunning: "running", TaskStateComplete: "complete", TaskStateShutdown: "shutdown",
	TaskStateFailed: "failed", TaskStateRejected: "rejected", TaskStateRemove: "remove",
	TaskStateOrphaned: "orphaned",
}

// String is the state as docker's API spells it.
func (s TaskState) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return "unknown"
}

// ParseTaskState reads a state as docker's API spells it.
func ParseTaskState(name string) (TaskState, bool) {
	for s, n := range stateNames {
		if n == name {
			return s, true
		}
	}
	return 0, false
}

// Mode is how a service's tasks are counted.
type Mode uint8

// The service modes.
const (
	// ModeReplicated runs Replicas tasks, in slots 1…Replicas.
	ModeReplicated Mode = iota
	// ModeGlobal runs one task on every node that may take it.
	ModeGlobal
	// ModeReplicatedJob runs tasks to completion until TotalCompletions completed, MaxConcurrent at a time.
	ModeReplicatedJob
	// ModeGlobalJob runs one task to completion on every node that may take it.
	ModeGlobalJob
)

func (m Mode) String() string {
	return [...]string{"replicated", "global", "replicated-job", "global-job"}[m]
}

func (m Mode) job() bool    { return m == ModeReplicatedJob || m == ModeGlobalJob }
func (m Mode) global() bool { return m == ModeGlobal || m == ModeGlobalJob }

// RestartCondition says when a task that stopped is replaced (`--restart-condition`).
type RestartCondition string

// The restart conditions; the empty one is RestartAny, docker's default.
const (
	RestartNone      RestartCondition = "none"
	RestartOnFailure RestartCondition = "on-failure"
	RestartAny       RestartCondition = "any"
)

// RestartPolicy is a service's restart policy (`--restart-*`).
type RestartPolicy struct {
	Condition RestartCondition
	// Delay between a task's end and its replacement's start; nil for docker's default, 5s.
	Delay *time.Duration
	// MaxAttempts caps the replacements in a slot (for one version of the spec); 0 for no cap.
	MaxAttempts uint64
	// Window is how far back MaxAttempts counts; 0 for all time.
	Window time.Duration
}

// DefaultRestartDelay is docker's restart delay.
const DefaultRestartDelay = 5 * time.Second

func (p RestartPolicy) condition() RestartCondition {
	if p.Condition == "" {
		return RestartAny
	}
	return p.Condition
}

func (p RestartPolicy) delay() time.Duration {
	if p.Delay == nil {
		return DefaultRestartDelay
	}
	return *p.Delay
}

// FailureAction is what a rolling update does when too many of its tasks fail (`--update-failure-action`).
type FailureAction string

// The failure actions; the empty one is FailurePause, docker's default.
const (
	FailurePause    FailureAction = "pause"
	FailureContinue FailureAction = "continue"
	FailureRollback FailureAction = "rollback"
)

// UpdateOrder is whether an updated task starts before its predecessor stops (`--update-order`).
type UpdateOrder string

// The orders; the empty one is StopFirst, docker's default.
const (
	StopFirst  UpdateOrder = "stop-first"
	StartFirst UpdateOrder = "start-first"
)

// UpdateConfig is how a service's tasks are replaced when its spec changes (`--update-*`), or when it rolls back
// (`--rollback-*`).
type UpdateConfig struct {
	// Parallelism is how many tasks are replaced at once; 0 for all.
	Parallelism uint64
	// Delay is the wait after a batch of tasks is replaced.
	Delay         time.Duration
	FailureAction FailureAction
	// Monitor is how long after its start a task's failure counts against the update; 0 for docker's 5s.
	Monitor time.Duration
	// MaxFailureRatio is the share of the update's tasks that may fail before FailureAction is taken.
	MaxFailureRatio float32
	Order           UpdateOrder
}

// DefaultMonitor is docker's update monitor period.
const DefaultMonitor = 5 * time.Second

// defaultUpdate is swarmkit's update and rollback configuration for a service without one.
var defaultUpdate = UpdateConfig{Parallelism: 1, FailureAction: FailurePause, Monitor: DefaultMonitor, Order: StopFirst}

// TaskSpec is what a service's tasks are made from, as far as the orchestrator reads it.
type TaskSpec struct {
	// Digest stands for everything else tasks are made from (the container spec, networks, the endpoint, log
	// driver…; not the placement, which is below): a task whose Digest differs from its service's is out of
	// date. The shell computes it; the orchestrator only compares it.
	Digest string
	// ForceUpdate is bumped by `service update --force`: every task becomes out of date.
	ForceUpdate  uint64
	Placement    placement.Placement
	Reservations placement.Resources
	Restart      RestartPolicy
}

// ServiceSpec is the part of a service's spec the orchestrator reads.
type ServiceSpec struct {
	Mode Mode
	// Replicas, for ModeReplicated.
	Replicas uint64
	// MaxConcurrent and TotalCompletions, for ModeReplicatedJob (the shell applies docker's defaults).
	MaxConcurrent    uint64
	TotalCompletions uint64
	Task             TaskSpec
	// Update and Rollback configure rolling updates and rollbacks; nil for docker's defaults.
	Update   *UpdateConfig
	Rollback *UpdateConfig
}

// UpdateState is where a service's rolling update stands (UpdateStatus.State in docker's API).
type UpdateState string

// The update states, as docker's API spells them.
const (
	UpdateUpdating          UpdateState = "updating"
	UpdatePaused            UpdateState = "paused"
	UpdateCompleted         UpdateState = "completed"
	UpdateRollbackStarted   UpdateState = "rollback_started"
	UpdateRollbackPaused    UpdateState = "rollback_paused"
	UpdateRollbackCompleted UpdateState = "rollback_completed"
)

// UpdateStatus is a service's rolling update (docker's UpdateStatus). The shell resets it to nil when a user
// updates the service, and sets it to RollbackStarted ("manually requested rollback") on `service rollback`.
type UpdateStatus struct {
	State       UpdateState
	StartedAt   time.Time
	CompletedAt time.Time
	Message     string
}

// Service is a service as the orchestrator reads it.
type Service struct {
	ID string
	// Version is the service object's version in the store, for compare-and-swap.
	Version uint64
	// SpecVersion is the version of Spec: tasks made from it carry it.
	SpecVersion uint64
	Spec        ServiceSpec
	// PreviousSpec and PreviousSpecVersion are the spec before the last update, what a rollback returns to.
	PreviousSpec        *ServiceSpec
	PreviousSpecVersion uint64
	UpdateStatus        *UpdateStatus
	// JobIteration is a job's run: the shell bumps it when a job's spec changes, and tasks of older runs go.
	JobIteration uint64
}

// TaskStatus is a task's observed state.
type TaskStatus struct {
	State     TaskState
	Timestamp time.Time // when the state was reached
	Message   string
	Err       string
}

// Task is a task as the orchestrator reads it.
type Task struct {
	ID string
	// Version is the task object's version in the store, for compare-and-swap.
	Version   uint64
	ServiceID string
	// Slot is a replicated task's slot (1…Replicas; a replicated job's 0…TotalCompletions-1); 0 for global
	// tasks, whose slot is their node.
	Slot   uint64
	NodeID string
	// SpecVersion and Spec are those of the service when the task was made.
	SpecVersion  uint64
	Spec         TaskSpec
	JobIteration uint64
	DesiredState TaskState
	Status       TaskStatus
	// CreatedAt is when the task was made: a slot's history is its tasks in this order.
	CreatedAt time.Time
	// StartedAt is when the task was first reported RUNNING (zero if it never was): a rolling update counts a
	// failure only within its monitor period after the start.
	StartedAt time.Time
	// StartAfter holds a task desired READY (a restart's replacement) until then: its restart delay.
	StartAfter time.Time
}

// Snapshot is what Reconcile reads: the services to reconcile, all their tasks, and every node. A task whose
// service is not among Services belongs to a service that was removed.
type Snapshot struct {
	Services []Service
	Tasks    []Task
	Nodes    []placement.Node
	// TaskHistoryLimit is the cluster's task history retention limit (`swarm update --task-history-limit`,
	// 5 unless changed): how many tasks a slot keeps; 0 keeps only the tasks that still run, negative keeps all.
	TaskHistoryLimit int64
}

// Plan is what the shell applies to the store, each write with compare-and-swap on the version the plan was made
// from: when one fails, the shell reconciles again from a fresh snapshot.
type Plan struct {
	// Create are the tasks to make; their ID and Version are for the shell to fill.
	Create []Task
	// Update are changes to existing tasks.
	Update []TaskUpdate
	// Remove are tasks to delete from the store.
	Remove []TaskRef
	// Services are changes to services: their rolling update's status, or a rollback.
	Services []ServiceUpdate
	// Wake is when to reconcile again if nothing changes before (a restart delay ends, an update's delay or
	// monitor period passes); zero for never.
	Wake time.Time
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	return len(p.Create) == 0 && len(p.Update) == 0 && len(p.Remove) == 0 && len(p.Services) == 0
}

// TaskUpdate changes a task.
type TaskUpdate struct {
	ID      string
	Version uint64
	// DesiredState is the task's desired state (unchanged or later).
	DesiredState TaskState
	// Status, when not nil, is the task's new observed status (a task rejected because its node no longer
	// satisfies its service's constraints).
	Status *TaskStatus
}

// TaskRef names a task at a version.
type TaskRef struct {
	ID      string
	Version uint64
}

// ServiceUpdate changes a service.
type ServiceUpdate struct {
	ID      string
	Version uint64
	// UpdateStatus is the service's new update status.
	UpdateStatus *UpdateStatus
	// Rollback asks for the spec to go back: Spec becomes PreviousSpec and SpecVersion PreviousSpecVersion,
	// and the previous ones are cleared.
	Rollback bool
}

package api

import "time"

// The objects below are the services layer's (services, tasks, secrets, configs, networks). The foundation
// stores them and keeps their names unique; the orchestrator, scheduler, dispatcher and agent give them life.

// Service is a desired set of tasks.
type Service struct {
	ID string `json:"id"`
	Meta
	Spec ServiceSpec `json:"spec"`
	// PreviousSpec is the spec before the last update, for rollback.
	PreviousSpec *ServiceSpec `json:"previousSpec,omitempty"`
	// UpdateStatus is the state of the service's rolling update, if one ran.
	UpdateStatus *UpdateStatus `json:"updateStatus,omitempty"`
	// JobIteration counts the runs of a job service.
	JobIteration uint64 `json:"jobIteration,omitempty"`
	// SpecVersion names Spec: the service's version when its spec was last set (0 for the spec it was
	// created with), which the tasks made from it carry. PreviousSpecVersion names PreviousSpec.
	SpecVersion         uint64 `json:"specVersion,omitempty"`
	PreviousSpecVersion uint64 `json:"previousSpecVersion,omitempty"`
	// LastExecution is when a job's current iteration started.
	LastExecution time.Time `json:"lastExecution,omitempty"`
	// Endpoint is what the cluster allocated to reach the service: its virtual IPs (vip.go).
	Endpoint *Endpoint `json:"endpoint,omitempty"`
}

// Kind is KindService.
func (*Service) Kind() Kind { return KindService }

// GetID is the service's ID.
func (s *Service) GetID() string { return s.ID }

// GetMeta is the service's Meta.
func (s *Service) GetMeta() *Meta { return &s.Meta }

// GetName is the service's name, unique in the cluster.
func (s *Service) GetName() string { return s.Spec.Name }

// ServiceMode says how many tasks a service runs.
type ServiceMode string

// The service modes.
const (
	ModeReplicated    ServiceMode = "replicated"
	ModeGlobal        ServiceMode = "global"
	ModeReplicatedJob ServiceMode = "replicated-job"
	ModeGlobalJob     ServiceMode = "global-job"
)

// ServiceSpec is what a user asks a service to be. Task is opaque to the foundation: the services layer fills
// its shape (container spec, resources, placement, restart policy...).
type ServiceSpec struct {
	Annotations
	Mode     ServiceMode `json:"mode"`
	Replicas *uint64     `json:"replicas,omitempty"`
	// MaxConcurrent and TotalCompletions are a replicated job's.
	MaxConcurrent    *uint64             `json:"maxConcurrent,omitempty"`
	TotalCompletions *uint64             `json:"totalCompletions,omitempty"`
	Task             TaskSpec            `json:"task"`
	Update           *UpdateConfig       `json:"update,omitempty"`
	Rollback         *UpdateConfig       `json:"rollback,omitempty"`
	Networks         []NetworkAttachment `json:"networks,omitempty"`
	Endpoint         *EndpointSpec       `json:"endpoint,omitempty"`
}

// TaskSpec is what each task of a service runs.
type TaskSpec struct {
	// Container is the container each task runs.
	Container *ContainerSpec `json:"container,omitempty"`
	// Digest stands for everything tasks are made from but placement, resources, restart policy and pull
	// options (the container, networks, log driver, force-update counter...), so that the orchestrator tells an
	// out-of-date task by comparing digests; the services layer sets it on every write of a spec.
	Digest        string                `json:"digest,omitempty"`
	Resources     *ResourceRequirements `json:"resources,omitempty"`
	RestartPolicy *RestartPolicy        `json:"restartPolicy,omitempty"`
	Placement     *Placement            `json:"placement,omitempty"`
	ForceUpdate   uint64                `json:"forceUpdate,omitempty"`
	LogDriver     *Driver               `json:"logDriver,omitempty"`
	Networks      []NetworkAttachment   `json:"networks,omitempty"`
}

// ResourceRequirements are a task's limits and reservations.
type ResourceRequirements struct {
	Limits       *Resources `json:"limits,omitempty"`
	Reservations *Resources `json:"reservations,omitempty"`
}

// RestartCondition says when a task is restarted.
type RestartCondition string

// The restart conditions.
const (
	RestartNone      RestartCondition = "none"
	RestartOnFailure RestartCondition = "on-failure"
	RestartAny       RestartCondition = "any"
)

// RestartPolicy is how a service's failed tasks are replaced.
type RestartPolicy struct {
	Condition   RestartCondition `json:"condition,omitempty"`
	Delay       *time.Duration   `json:"delay,omitempty"`
	MaxAttempts *uint64          `json:"maxAttempts,omitempty"`
	Window      *time.Duration   `json:"window,omitempty"`
}

// Placement is where tasks may and should go.
type Placement struct {
	Constraints []string     `json:"constraints,omitempty"`
	Preferences []SpreadOver `json:"preferences,omitempty"`
	MaxReplicas uint64       `json:"maxReplicas,omitempty"`
	Platforms   []Platform   `json:"platforms,omitempty"`
}

// SpreadOver is a placement preference: spread tasks evenly over the values of a node label.
type SpreadOver struct {
	SpreadDescriptor string `json:"spreadDescriptor"`
}

// UpdateConfig is a rolling update's (or rollback's) settings.
type UpdateConfig struct {
	Parallelism     uint64        `json:"parallelism"`
	Delay           time.Duration `json:"delay,omitempty"`
	FailureAction   string        `json:"failureAction,omitempty"`
	Monitor         time.Duration `json:"monitor,omitempty"`
	MaxFailureRatio float32       `json:"maxFailureRatio,omitempty"`
	Order           string        `json:"order,omitempty"`
}

// UpdateStatus is a rolling update's progress.
type UpdateStatus struct {
	State       string    `json:"state,omitempty"`
	StartedAt   time.Time `json:"startedAt,omitempty"`
	CompletedAt time.Time `json:"completedAt,omitempty"`
	Message     string    `json:"message,omitempty"`
}

// NetworkAttachment is a network a service's tasks join, with aliases.
type NetworkAttachment struct {
	Target  string   `json:"target"`
	Aliases []string `json:"aliases,omitempty"`
}

// EndpointSpec is how a service is reached: its mode (vip, dnsrr) and published ports.
type EndpointSpec struct {
	Mode  string     `json:"mode,omitempty"`
	Ports []PortSpec `json:"ports,omitempty"`
}

// PortSpec is one published port.
type PortSpec struct {
	Name          string `json:"name,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
	TargetPort    uint32 `json:"targetPort"`
	PublishedPort uint32 `json:"publishedPort,omitempty"`
	PublishMode   string `json:"publishMode,omitempty"`
}

// TaskState is a task's place in its lifecycle, as swarmkit's; the numbers order the states, so that a task
// only ever moves forward (Before/After compare them).
type TaskState int

// The task states, as swarmkit's api.TaskState.
const (
	TaskNew       TaskState = 0
	TaskPending   TaskState = 64
	TaskAssigned  TaskState = 192
	TaskAccepted  TaskState = 256
	TaskPreparing TaskState = 320
	TaskReady     TaskState = 384
	TaskStarting  TaskState = 512
	TaskRunning   TaskState = 576
	TaskComplete  TaskState = 640
	TaskShutdown  TaskState = 704
	TaskFailed    TaskState = 768
	TaskRejected  TaskState = 800
	TaskRemove    TaskState = 832
	TaskOrphaned  TaskState = 896
)

var taskStateNames = map[TaskState]string{
	TaskNew: "new", TaskPending: "pending", TaskAssigned: "assigned", TaskAccepted: "accepted",
	TaskPreparing: "preparing", TaskReady: "ready", TaskStarting: "starting", TaskRunning: "running",
	TaskComplete: "complete", TaskShutdown: "shutdown", TaskFailed: "failed", TaskRejected: "rejected",
	TaskRemove: "remove", TaskOrphaned: "orphaned",
}

// String is the state's name as docker shows it ("running").
func (s TaskState) String() string {
	if n, ok := taskStateNames[s]; ok {
		return n
	}
	return "unknown"
}

// ParseTaskState is the state of a name ("running"); ok is false for an unknown name.
func ParseTaskState(name string) (TaskState, bool) {
	for s, n := range taskStateNames {
		if n == name {
			return s, true
		}
	}
	return 0, false
}

// Terminal reports whether a task in this state will never run again.
func (s TaskState) Terminal() bool { return s > TaskRunning }

// Task is one instance of a service on one node.
type Task struct {
	ID string `json:"id"`
	Meta
	ServiceID string `json:"serviceID"`
	// Slot numbers a replicated service's tasks (1..replicas); global tasks have none and are keyed by node.
	Slot   uint64 `json:"slot,omitempty"`
	NodeID string `json:"nodeID,omitempty"`
	// Spec is the service's task spec when the task was made; SpecVersion the service version it came from.
	Spec         TaskSpec   `json:"spec"`
	SpecVersion  uint64     `json:"specVersion,omitempty"`
	DesiredState TaskState  `json:"desiredState"`
	Status       TaskStatus `json:"status"`
	JobIteration uint64     `json:"jobIteration,omitempty"`
	// Networks are the task's network attachments with their addresses (the networking layer fills them).
	Networks []TaskNetwork `json:"networks,omitempty"`
	// ServiceAnnotations are the service's name and labels when the task was made (its container's name and
	// labels come from them).
	ServiceAnnotations Annotations `json:"serviceAnnotations,omitempty"`
	// Endpoint is the service's endpoint when the task was made (its host-mode published ports).
	Endpoint *EndpointSpec `json:"endpoint,omitempty"`
	// StartedAt is when the task was first reported running; StartAfter holds a restarted task (desired
	// ready) until its restart delay is over.
	StartedAt  time.Time `json:"startedAt,omitempty"`
	StartAfter time.Time `json:"startAfter,omitempty"`
}

// Kind is KindTask.
func (*Task) Kind() Kind { return KindTask }

// GetID is the task's ID.
func (t *Task) GetID() string { return t.ID }

// GetMeta is the task's Meta.
func (t *Task) GetMeta() *Meta { return &t.Meta }

// TaskStatus is a task's observed state.
type TaskStatus struct {
	Timestamp time.Time `json:"timestamp"`
	State     TaskState `json:"state"`
	Message   string    `json:"message,omitempty"`
	Err       string    `json:"err,omitempty"`
	// ContainerID, PID and ExitCode are the container's, once there is one.
	ContainerID string `json:"containerID,omitempty"`
	PID         int    `json:"pid,omitempty"`
	ExitCode    int    `json:"exitCode,omitempty"`
	// Ports are the ports the task's container publishes on its node (host mode), as bound.
	Ports []PortSpec `json:"ports,omitempty"`
	// Unhealthy is set, with State RUNNING, once the running container has failed its health check: the task
	// is no longer a backend of its service (VIPs, the routing mesh, DNS) while its agent stops it, and ends
	// FAILED. swarmkit's status has no such field (its nodes take the task out of their balancers themselves
	// over gossip); Berth's balancers follow the cluster's state, so the agent says it there.
	Unhealthy bool `json:"unhealthy,omitempty"`
}

// TaskNetwork is a task's attachment to a network.
type TaskNetwork struct {
	NetworkID string   `json:"networkID"`
	Addresses []string `json:"addresses,omitempty"`
	// AttachmentID is the cluster's endpoint the task's container claims on its node; Aliases are the
	// service's for this network.
	AttachmentID string   `json:"attachmentID,omitempty"`
	Aliases      []string `json:"aliases,omitempty"`
}

// Secret is a user's secret, sealed at rest with the cluster's data key.
type Secret struct {
	ID string `json:"id"`
	Meta
	Spec SecretSpec `json:"spec"`
}

// SecretSpec is a secret's name, labels and sealed data.
type SecretSpec struct {
	Annotations
	// DataSealed is the secret's value sealed with the cluster's data key; never stored in the clear.
	DataSealed []byte  `json:"dataSealed,omitempty"`
	Driver     *Driver `json:"driver,omitempty"`
	Templating *Driver `json:"templating,omitempty"`
}

// Kind is KindSecret.
func (*Secret) Kind() Kind { return KindSecret }

// GetID is the secret's ID.
func (s *Secret) GetID() string { return s.ID }

// GetMeta is the secret's Meta.
func (s *Secret) GetMeta() *Meta { return &s.Meta }

// GetName is the secret's name.
func (s *Secret) GetName() string { return s.Spec.Name }

// Config is a user's configuration file for services.
type Config struct {
	ID string `json:"id"`
	Meta
	Spec ConfigSpec `json:"spec"`
}

// ConfigSpec is a config's name, labels and data.
type ConfigSpec struct {
	Annotations
	Data       []byte  `json:"data,omitempty"`
	Templating *Driver `json:"templating,omitempty"`
}

// Kind is KindConfig.
func (*Config) Kind() Kind { return KindConfig }

// GetID is the config's ID.
func (c *Config) GetID() string { return c.ID }

// GetMeta is the config's Meta.
func (c *Config) GetMeta() *Meta { return &c.Meta }

// GetName is the config's name.
func (c *Config) GetName() string { return c.Spec.Name }

// Network is a cluster-scoped network (overlay), for the networking layer.
type Network struct {
	ID string `json:"id"`
	Meta
	Spec NetworkSpec `json:"spec"`
	// DriverState is the driver's allocated state (VXLAN ID...), opaque here.
	DriverState map[string]string `json:"driverState,omitempty"`
	// IPAM is the allocated subnets.
	IPAM []IPAMConfig `json:"ipam,omitempty"`
}

// NetworkSpec is a network's user-set configuration.
type NetworkSpec struct {
	Annotations
	Driver     *Driver      `json:"driver,omitempty"`
	IPv6       bool         `json:"ipv6,omitempty"`
	Internal   bool         `json:"internal,omitempty"`
	Attachable bool         `json:"attachable,omitempty"`
	Ingress    bool         `json:"ingress,omitempty"`
	IPAM       []IPAMConfig `json:"ipamConfig,omitempty"`
}

// IPAMConfig is one subnet of a network.
type IPAMConfig struct {
	Subnet  string `json:"subnet,omitempty"`
	Range   string `json:"range,omitempty"`
	Gateway string `json:"gateway,omitempty"`
}

// Kind is KindNetwork.
func (*Network) Kind() Kind { return KindNetwork }

// GetID is the network's ID.
func (n *Network) GetID() string { return n.ID }

// GetMeta is the network's Meta.
func (n *Network) GetMeta() *Meta { return &n.Meta }

// GetName is the network's name.
func (n *Network) GetName() string { return n.Spec.Name }

var (
	_ Named  = (*Service)(nil)
	_ Named  = (*Secret)(nil)
	_ Named  = (*Config)(nil)
	_ Named  = (*Network)(nil)
	_ Object = (*Task)(nil)
	_ Object = (*Node)(nil)
	_ Object = (*Cluster)(nil)
)

package api

import "time"

// The messages between a node's agent and the leader's dispatcher (swarmkit's dispatcher API in Berth's types):
// the dispatcher streams Assignments down a node's session, the agent sends StatusUpdates back, and the log
// broker asks agents for task logs with LogSubscriptions that they answer with LogMessages.

// AssignmentType says whether an Assignments message is the node's whole set or changes to it.
type AssignmentType string

// The assignment types, as swarmkit's.
const (
	// AssignmentsComplete replaces everything the node was assigned before (a session's first message).
	AssignmentsComplete AssignmentType = "complete"
	// AssignmentsIncremental changes some tasks, secrets or configs and removes others.
	AssignmentsIncremental AssignmentType = "incremental"
)

// Assignments is one message of a node's session: what the node must run and the secrets and configs its
// tasks use, or a log subscription to serve.
type Assignments struct {
	Type AssignmentType `json:"type,omitempty"`
	// SessionID names the session the message belongs to; status updates carry it back.
	SessionID string `json:"sessionID,omitempty"`
	// Tasks are the node's tasks (all of them in a complete message, those that changed in an incremental
	// one), RemoveTasks the IDs of tasks no longer assigned.
	Tasks       []*Task  `json:"tasks,omitempty"`
	RemoveTasks []string `json:"removeTasks,omitempty"`
	// Secrets are the secrets the node's tasks use, with their data in the clear: sent only to nodes running
	// a task that uses them, kept in memory there.
	Secrets       []SecretData `json:"secrets,omitempty"`
	RemoveSecrets []string     `json:"removeSecrets,omitempty"`
	Configs       []*Config    `json:"configs,omitempty"`
	RemoveConfigs []string     `json:"removeConfigs,omitempty"`
	// Logs asks the node to publish the logs of some of its tasks.
	Logs *LogSubscription `json:"logs,omitempty"`
}

// Empty reports whether an incremental message carries nothing.
func (a *Assignments) Empty() bool {
	return len(a.Tasks) == 0 && len(a.RemoveTasks) == 0 && len(a.Secrets) == 0 && len(a.RemoveSecrets) == 0 &&
		len(a.Configs) == 0 && len(a.RemoveConfigs) == 0 && a.Logs == nil
}

// SecretData is a secret as a node receives it.
type SecretData struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// StatusUpdate is a task's status observed by its node's agent.
type StatusUpdate struct {
	TaskID string     `json:"taskID"`
	Status TaskStatus `json:"status"`
}

// StatusUpdates is a batch of status updates of one node's session.
type StatusUpdates struct {
	SessionID string         `json:"sessionID"`
	Updates   []StatusUpdate `json:"updates"`
}

// LogSubscription asks for the logs of tasks (swarmkit's SubscribeLogs).
type LogSubscription struct {
	// ID names the subscription; the agents' messages carry it.
	ID string `json:"id"`
	// TaskIDs are the tasks whose logs are wanted.
	TaskIDs []string `json:"taskIDs"`
	// ServiceID, on a follow subscription, also asks for the logs of the service's tasks that start while it
	// runs (swarmkit's selector by service); the broker reads it, agents need not.
	ServiceID string `json:"serviceID,omitempty"`
	Follow    bool   `json:"follow,omitempty"`
	// Tail is how many lines of each task's log to send before following (negative: all).
	Tail   int64     `json:"tail"`
	Since  time.Time `json:"since,omitempty"`
	Stdout bool      `json:"stdout,omitempty"`
	Stderr bool      `json:"stderr,omitempty"`
	// Close ends a follow subscription (the client went away).
	Close bool `json:"close,omitempty"`
}

// LogMessage is one line of a task's log.
type LogMessage struct {
	NodeID    string    `json:"nodeID"`
	ServiceID string    `json:"serviceID"`
	TaskID    string    `json:"taskID"`
	Timestamp time.Time `json:"timestamp"`
	// Stream is "stdout" or "stderr".
	Stream string `json:"stream"`
	Data   []byte `json:"data"`
	// Attrs are the line's attributes (the log driver's details).
	Attrs map[string]string `json:"attrs,omitempty"`
	// Err, on a message without data, is why a node could not send a task's logs.
	Err string `json:"err,omitempty"`
}

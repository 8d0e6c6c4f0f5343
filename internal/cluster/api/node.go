package api

// NodeRole is what a node does in the cluster.
type NodeRole string

// The node roles.
const (
	RoleWorker  NodeRole = "worker"
	RoleManager NodeRole = "manager"
)

// NodeAvailability is whether the scheduler may place tasks on a node.
type NodeAvailability string

// The availabilities: active takes new tasks, pause keeps its tasks but takes no new ones, drain moves its tasks
// away.
const (
	AvailabilityActive NodeAvailability = "active"
	AvailabilityPause  NodeAvailability = "pause"
	AvailabilityDrain  NodeAvailability = "drain"
)

// NodeState is a node's liveness as the managers see it.
type NodeState string

// The node states: ready while the node heartbeats, down when its heartbeats stopped (or it left).
const (
	NodeStateUnknown      NodeState = "unknown"
	NodeStateDown         NodeState = "down"
	NodeStateReady        NodeState = "ready"
	NodeStateDisconnected NodeState = "disconnected"
)

// Node is one member of the cluster.
type Node struct {
	ID string `json:"id"`
	Meta
	// Spec is what users set (node update, promote, demote).
	Spec NodeSpec `json:"spec"`
	// Description is what the node reports of itself when it joins and at each session.
	Description NodeDescription `json:"description"`
	Status      NodeStatus      `json:"status"`
	// Role is the role the node's current certificate carries; it follows Spec.DesiredRole once the node has
	// renewed its certificate (and, for a manager, joined or left the store's membership).
	Role NodeRole `json:"role"`
	// Manager is set while the node is a manager.
	Manager *ManagerInfo `json:"manager,omitempty"`
	// CertSerial is the serial of the node's current certificate (hex), to tell an old certificate from a
	// renewed one.
	CertSerial string `json:"certSerial,omitempty"`
}

// Kind is KindNode.
func (*Node) Kind() Kind { return KindNode }

// GetID is the node's ID.
func (n *Node) GetID() string { return n.ID }

// GetMeta is the node's Meta.
func (n *Node) GetMeta() *Meta { return &n.Meta }

// NodeSpec is a node's user-set configuration.
type NodeSpec struct {
	Annotations
	DesiredRole  NodeRole         `json:"desiredRole"`
	Availability NodeAvailability `json:"availability"`
}

// NodeDescription is what a node says of itself.
type NodeDescription struct {
	Hostname  string            `json:"hostname"`
	Platform  Platform          `json:"platform"`
	Resources Resources         `json:"resources"`
	Engine    EngineDescription `json:"engine"`
	TLSInfo   TLSInfo           `json:"tlsInfo"`
}

// Platform is an OS and an architecture.
type Platform struct {
	OS           string `json:"os,omitempty"`
	Architecture string `json:"architecture,omitempty"`
}

// Resources are CPU (in billionths of a CPU) and memory (in bytes).
type Resources struct {
	NanoCPUs    int64 `json:"nanoCPUs,omitempty"`
	MemoryBytes int64 `json:"memoryBytes,omitempty"`
	// Pids is a task's limit of processes (limits only).
	Pids int64 `json:"pids,omitempty"`
}

// EngineDescription is the node's engine: its version, labels and plugins (by type: Volume, Network, Log).
type EngineDescription struct {
	EngineVersion string              `json:"engineVersion,omitempty"`
	Labels        map[string]string   `json:"labels,omitempty"`
	Plugins       []PluginDescription `json:"plugins,omitempty"`
}

// PluginDescription is one plugin of an engine.
type PluginDescription struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

// TLSInfo is the trust a certificate chains to: the root CA's PEM, and the issuer of the certificate (its
// subject and public key, DER), which docker compares to see that a node renewed under a rotated root.
type TLSInfo struct {
	TrustRoot           string `json:"trustRoot,omitempty"`
	CertIssuerSubject   []byte `json:"certIssuerSubject,omitempty"`
	CertIssuerPublicKey []byte `json:"certIssuerPublicKey,omitempty"`
}

// NodeStatus is the node's liveness and address.
type NodeStatus struct {
	State   NodeState `json:"state"`
	Message string    `json:"message,omitempty"`
	// Addr is the address the node's heartbeats come from.
	Addr string `json:"addr,omitempty"`
	// DataPathAddr is where the other nodes send its overlay traffic (swarm init/join --data-path-addr); Addr
	// when empty.
	DataPathAddr string `json:"dataPathAddr,omitempty"`
}

// ManagerInfo is a manager's place in the control plane.
type ManagerInfo struct {
	// Addr is the manager's advertised cluster address (host:2377), where nodes join and heartbeat.
	Addr string `json:"addr"`
	// PeerURL is its store member's peer URL (embedded etcd); empty with an external store.
	PeerURL string `json:"peerURL,omitempty"`
	// ClientURL is its store member's client URL.
	ClientURL string `json:"clientURL,omitempty"`
	// MemberID is its store member's ID (etcd's), 0 with an external store.
	MemberID uint64 `json:"memberID,omitempty"`
}

package api

import (
	"net/netip"
	"time"
)

// ClusterName is the one cluster's name, as swarmkit's ("default").
const ClusterName = "default"

// Defaults of a new cluster, as swarmkit's (manager/state/raft and ca defaults).
const (
	DefaultTaskHistoryRetentionLimit = 5
	DefaultSnapshotInterval          = 10000
	DefaultKeepOldSnapshots          = 0
	DefaultLogEntriesForSlowFollower = 500
	DefaultElectionTick              = 10
	DefaultHeartbeatTick             = 1
	DefaultHeartbeatPeriod           = 5 * time.Second
	DefaultNodeCertExpiry            = 90 * 24 * time.Hour
	// MinNodeCertExpiry is the shortest node certificate lifetime a cluster accepts.
	MinNodeCertExpiry = time.Hour
	// DefaultSubnetSize and DefaultAddrPool are the overlay networks' address pool.
	DefaultSubnetSize   = 24
	DefaultDataPathPort = 4789
)

// DefaultAddrPool is the overlay networks' default address pool.
var DefaultAddrPool = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}

// Cluster is the swarm itself: one object, made by swarm init.
type Cluster struct {
	ID string `json:"id"`
	Meta
	Spec ClusterSpec `json:"spec"`
	// RootCA is the cluster's certificate authority and join tokens.
	RootCA RootCA `json:"rootCA"`
	// UnlockKeySealed is the autolock unlock key, sealed with the cluster's data key (empty without autolock).
	UnlockKeySealed []byte `json:"unlockKeySealed,omitempty"`
	// DataKeyID names the cluster's data key (the key that seals secrets in the store), which only managers
	// hold, on their disk: a manager checks that the key it holds is this one.
	DataKeyID       string         `json:"dataKeyID,omitempty"`
	DefaultAddrPool []netip.Prefix `json:"defaultAddrPool,omitempty"`
	SubnetSize      uint32         `json:"subnetSize,omitempty"`
	DataPathPort    uint32         `json:"dataPathPort,omitempty"`
	// RemovedNodes are the nodes removed from the cluster, by ID, with the expiry of their last certificate:
	// their certificates are refused until then.
	RemovedNodes map[string]time.Time `json:"removedNodes,omitempty"`
}

// Kind is KindCluster.
func (*Cluster) Kind() Kind { return KindCluster }

// GetID is the cluster's ID.
func (c *Cluster) GetID() string { return c.ID }

// GetMeta is the cluster's Meta.
func (c *Cluster) GetMeta() *Meta { return &c.Meta }

// ClusterSpec is the cluster's user-set configuration (swarm init and swarm update).
type ClusterSpec struct {
	Annotations
	Orchestration OrchestrationConfig `json:"orchestration"`
	Raft          RaftConfig          `json:"raft"`
	Dispatcher    DispatcherConfig    `json:"dispatcher"`
	CAConfig      CAConfig            `json:"caConfig"`
	TaskDefaults  TaskDefaults        `json:"taskDefaults"`
	Encryption    EncryptionConfig    `json:"encryption"`
}

// OrchestrationConfig: how many old tasks of each slot are kept.
type OrchestrationConfig struct {
	TaskHistoryRetentionLimit *int64 `json:"taskHistoryRetentionLimit,omitempty"`
}

// RaftConfig is swarmkit's raft settings. Berth's store is etcd, which keeps its own equivalents: etcd's
// snapshot count is SnapshotInterval, its election timeout ElectionTick heartbeats of 100 ms, its heartbeat
// interval HeartbeatTick of them. They are kept and shown as set; they apply to a manager's store member when
// it starts.
type RaftConfig struct {
	SnapshotInterval           uint64  `json:"snapshotInterval,omitempty"`
	KeepOldSnapshots           *uint64 `json:"keepOldSnapshots,omitempty"`
	LogEntriesForSlowFollowers uint64  `json:"logEntriesForSlowFollowers,omitempty"`
	ElectionTick               int     `json:"electionTick"`
	HeartbeatTick              int     `json:"heartbeatTick"`
}

// DispatcherConfig: how often nodes heartbeat.
type DispatcherConfig struct {
	HeartbeatPeriod time.Duration `json:"heartbeatPeriod,omitempty"`
}

// CAConfig is the certificate authority's settings.
type CAConfig struct {
	NodeCertExpiry time.Duration `json:"nodeCertExpiry,omitempty"`
	ExternalCAs    []ExternalCA  `json:"externalCAs,omitempty"`
	// SigningCACert and SigningCAKey are a root CA given by the user (swarm ca --rotate --ca-cert --ca-key).
	SigningCACert string `json:"signingCACert,omitempty"`
	SigningCAKey  string `json:"-"`
	// ForceRotate is incremented to rotate the root CA (swarm ca --rotate).
	ForceRotate uint64 `json:"forceRotate,omitempty"`
}

// ExternalCA is an external certificate signer (kept and shown; Berth signs with its own CA).
type ExternalCA struct {
	Protocol string            `json:"protocol"`
	URL      string            `json:"url"`
	Options  map[string]string `json:"options,omitempty"`
	CACert   string            `json:"caCert,omitempty"`
}

// TaskDefaults are the defaults of tasks' settings.
type TaskDefaults struct {
	LogDriver *Driver `json:"logDriver,omitempty"`
}

// Driver is a named driver with options.
type Driver struct {
	Name    string            `json:"name"`
	Options map[string]string `json:"options,omitempty"`
}

// EncryptionConfig: whether managers' key material is locked at rest with the unlock key.
type EncryptionConfig struct {
	AutoLockManagers bool `json:"autoLockManagers"`
}

// RootCA is the cluster's certificate authority.
type RootCA struct {
	// CACert is the PEM of the root certificate nodes trust (during a rotation, also the new root's).
	CACert []byte `json:"caCert"`
	// CAKeySealed is the root's private key, sealed with the cluster's data key.
	CAKeySealed []byte `json:"caKeySealed"`
	// CACertHash is the digest of CACert pinned by the join tokens.
	CACertHash string     `json:"caCertHash"`
	JoinTokens JoinTokens `json:"joinTokens"`
	// Rotation is set while the root CA is being replaced.
	Rotation *RootRotation `json:"rotation,omitempty"`
	// LastForcedRotation is the CAConfig.ForceRotate last acted on.
	LastForcedRotation uint64 `json:"lastForcedRotation,omitempty"`
}

// RootRotation is a root CA replacement in progress: nodes get certificates from the new root, and once all
// have one, the new root replaces the old.
type RootRotation struct {
	CACert      []byte `json:"caCert"`
	CAKeySealed []byte `json:"caKeySealed"`
}

// JoinTokens are the secrets nodes join with, one per role.
type JoinTokens struct {
	Worker  string `json:"worker"`
	Manager string `json:"manager"`
}

// DefaultClusterSpec is the spec of a new cluster.
func DefaultClusterSpec() ClusterSpec {
	limit := int64(DefaultTaskHistoryRetentionLimit)
	keep := uint64(DefaultKeepOldSnapshots)
	return ClusterSpec{
		Annotations:   Annotations{Name: ClusterName},
		Orchestration: OrchestrationConfig{TaskHistoryRetentionLimit: &limit},
		Raft: RaftConfig{SnapshotInterval: DefaultSnapshotInterval, KeepOldSnapshots: &keep,
			LogEntriesForSlowFollowers: DefaultLogEntriesForSlowFollower, ElectionTick: DefaultElectionTick, HeartbeatTick: DefaultHeartbeatTick},
		Dispatcher: DispatcherConfig{HeartbeatPeriod: DefaultHeartbeatPeriod},
		CAConfig:   CAConfig{NodeCertExpiry: DefaultNodeCertExpiry},
	}
}

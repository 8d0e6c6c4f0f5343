package instance

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/berth/berth/internal/vm/secgroup"
)

// State is an instance's state, with EC2's names.
type State string

// An instance's life: pending → running ⇄ (stopping → stopped → pending) … → shutting-down → terminated.
const (
	Pending      State = "pending"
	Running      State = "running"
	Stopping     State = "stopping"
	Stopped      State = "stopped"
	ShuttingDown State = "shutting-down"
	Terminated   State = "terminated"
)

// Code is EC2's numeric state code.
func (s State) Code() int {
	return map[State]int{Pending: 0, Running: 16, ShuttingDown: 32, Terminated: 48, Stopping: 64, Stopped: 80}[s]
}

// Instance is a virtual machine instance.
type Instance struct {
	ID string `json:"id"`
	// Owner is the account the instance belongs to ("" for none: launched with Berth's own API).
	Owner    string `json:"owner,omitempty"`
	Name     string `json:"name,omitempty"`
	ImageID  string `json:"image_id"`
	ImageRef string `json:"image_ref,omitempty"`
	Type     string `json:"type"`
	VCPUs    int    `json:"vcpus"`
	// MemoryMiB and DiskGiB size the machine (from its type).
	MemoryMiB int `json:"memory_mib"`
	DiskGiB   int `json:"disk_gib"`
	// KeyName is the key pair whose public key the instance got ("" when the key came with the request).
	KeyName string `json:"key_name,omitempty"`
	// AuthorizedKeys are the public keys installed for User (default root).
	AuthorizedKeys []string `json:"authorized_keys,omitempty"`
	User           string   `json:"user"`
	// SecurityGroups are group IDs.
	SecurityGroups []string          `json:"security_groups"`
	UserData       []byte            `json:"user_data,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	State          State             `json:"state"`
	// StateReason says why the instance is in its state (a failed boot, an OS-initiated shutdown).
	StateReason string `json:"state_reason,omitempty"`
	Network     string `json:"network"`
	// PrivateIP and MAC are its address on Network, kept across stops and starts.
	PrivateIP netip.Addr `json:"private_ip,omitzero"`
	MAC       string     `json:"mac,omitempty"`
	// Accel is how its guest code runs (kvm, tcg) and AccelReason why.
	Accel       string    `json:"accel,omitempty"`
	AccelReason string    `json:"accel_reason,omitempty"`
	LaunchTime  time.Time `json:"launch_time"`
	// Created is when it was first launched; LaunchTime is its last start.
	Created time.Time `json:"created"`
	// Pid is its qemu's while it runs.
	Pid int `json:"pid,omitempty"`
	// KernelRelease is the guest kernel's `uname -r`, reported at boot.
	KernelRelease string `json:"kernel_release,omitempty"`
	// TerminatedAt is when it was terminated (its record is kept an hour, as EC2 shows terminated instances).
	TerminatedAt time.Time `json:"terminated_at,omitzero"`
	// ReservationID, LaunchIndex and ClientToken say which launch request made the instance (EC2's
	// RunInstances: the instances of one request share a reservation; a retried request with the same client
	// token is answered with them).
	ReservationID string `json:"reservation_id,omitempty"`
	LaunchIndex   int    `json:"launch_index,omitempty"`
	ClientToken   string `json:"client_token,omitempty"`
}

// KeyPair is an SSH key pair: the public half is kept, the private half was given to the user once.
type KeyPair struct {
	ID string `json:"id"`
	// Owner is the account the key pair belongs to ("" for none).
	Owner       string            `json:"owner,omitempty"`
	Name        string            `json:"name"`
	Type        string            `json:"type"` // rsa, ed25519
	Fingerprint string            `json:"fingerprint"`
	PublicKey   string            `json:"public_key"` // authorized_keys format
	Created     time.Time         `json:"created"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// SecurityGroup is a named set of inbound rules.
type SecurityGroup struct {
	ID string `json:"id"`
	// Owner is the account the group belongs to ("" for none).
	Owner       string            `json:"owner,omitempty"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Rules       []secgroup.Rule   `json:"rules"`
	Tags        map[string]string `json:"tags,omitempty"`
	Created     time.Time         `json:"created"`
}

// DefaultGroupName is the group every instance without groups is in; each account has one. As EC2's, it allows
// inbound traffic from its own members only.
const DefaultGroupName = "default"

// newID returns an EC2-style ID: prefix, a dash and 17 hex digits.
func newID(prefix string) string {
	b := make([]byte, 9)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)[:17]
}

var (
	idPattern   = regexp.MustCompile(`^(i|sg|key)-[0-9a-f]{8}([0-9a-f]{9})?$`)
	namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
)

// IsID reports whether s looks like an ID of kind prefix ("i", "sg", "key").
func IsID(prefix, s string) bool {
	return strings.HasPrefix(s, prefix+"-") && idPattern.MatchString(s)
}

// AMIID is the EC2 image ID of a Berth image: "ami-" and the first 17 hex digits of its ID.
func AMIID(imageID string) string {
	h := strings.TrimPrefix(imageID, "sha256:")
	if len(h) > 17 {
		h = h[:17]
	}
	return "ami-" + h
}

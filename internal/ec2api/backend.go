package ec2api

import (
	"context"
	"net/netip"
	"time"
)

// The Backend is what the EC2 API needs of Berth's VM engine (internal/vm/instance), in four roles and tagging.
// Its types are Berth's, not EC2's wire shapes: the API turns them into EC2's XML, resolves AMI IDs to image IDs,
// checks and parses every request before calling a backend, and never holds a backend's lock across calls.
//
// A backend's errors that EC2 names carry EC2's code and words as an *Error (InvalidKeyPair.Duplicate,
// IncorrectInstanceState, …); the API answers them as they are. Anything else is logged and answered as
// InternalError, except errdefs categories the API can name on its own (invalid argument: InvalidParameterValue).
//
// Lifecycle of an instance, as the API drives it:
//
//	inst, warnings, err := b.Run(ctx, RunOptions{ImageID: img.ID, Type: "t2.micro", KeyName: "me"}) // pending
//	list, err := b.Instances(ctx)                        // DescribeInstances polls: pending → running
//	err = b.Stop(ctx, inst.ID, false)                    // may block until stopped; the API answers "stopping"
//	_, err = b.Start(ctx, inst.ID)                       // stopped → pending → running, same disk and address
//	err = b.Terminate(ctx, inst.ID)                      // shutting-down → terminated, listed for a while after
//
// Start, Stop, Reboot and Terminate may block until the transition is done (a guest gets a minute to power
// off): the API runs them detached from the request and answers with the state the instance is in after a short
// wait, as EC2 answers at once with "stopping" or "shutting-down".
type Backend interface {
	KeyPairs
	SecurityGroups
	Images
	Instances
	Tags
}

// KeyPairs manages SSH key pairs.
type KeyPairs interface {
	// CreateKeyPair makes a key pair of keyType ("rsa" or "ed25519"; "" is rsa) and returns its private key in
	// PEM (PKCS#1 for RSA, OpenSSH's format for ED25519), which is not kept.
	CreateKeyPair(ctx context.Context, name, keyType string, tags map[string]string) (KeyPair, []byte, error)
	// ImportKeyPair keeps a public key in authorized_keys format (the API has checked that it parses).
	ImportKeyPair(ctx context.Context, name, publicKey string, tags map[string]string) (KeyPair, error)
	// KeyPairs lists every key pair.
	KeyPairs(ctx context.Context) ([]KeyPair, error)
	// DeleteKeyPair forgets a key pair named by name or ID; InvalidKeyPair.NotFound when there is none.
	DeleteKeyPair(ctx context.Context, ref string) error
}

// SecurityGroups manages security groups and their inbound rules.
type SecurityGroups interface {
	CreateSecurityGroup(ctx context.Context, name, description string, tags map[string]string) (SecurityGroup, error)
	// SecurityGroups lists every group (the default group too).
	SecurityGroups(ctx context.Context) ([]SecurityGroup, error)
	// DeleteSecurityGroup removes a group named by ID or name (DependencyViolation while instances are in it).
	DeleteSecurityGroup(ctx context.Context, ref string) error
	// AuthorizeIngress adds rules to the group ref (ID or name); a rule's Groups may name groups by ID or name.
	// All or nothing: InvalidPermission.Duplicate when the group has one of them already.
	AuthorizeIngress(ctx context.Context, ref string, rules []Rule) (SecurityGroup, error)
	// RevokeIngress removes rules; InvalidPermission.NotFound (and nothing removed) when one is not there.
	RevokeIngress(ctx context.Context, ref string, rules []Rule) (SecurityGroup, error)
}

// Images lists the images instances boot from (Berth's images are the AMIs).
type Images interface {
	Images(ctx context.Context) ([]Image, error)
}

// Instances runs and manages virtual machine instances.
type Instances interface {
	// Run launches one instance and returns it (pending) with warnings (an overcommitted host). On error nothing
	// of it is left.
	Run(ctx context.Context, o RunOptions) (Instance, []string, error)
	// Instances lists the instances, the recently terminated ones too (EC2 lists them for about an hour).
	Instances(ctx context.Context) ([]Instance, error)
	// Start boots a stopped instance; starting a pending or running one is not an error.
	Start(ctx context.Context, id string) ([]string, error)
	// Stop shuts an instance down (force: at once, without the guest's shutdown); stopping a stopped one is not
	// an error. timeout 0 is the backend's default grace.
	Stop(ctx context.Context, id string, force bool, timeout time.Duration) error
	// Reboot restarts a running instance's guest.
	Reboot(ctx context.Context, id string) error
	// Terminate ends an instance for good; terminating a terminated one is not an error.
	Terminate(ctx context.Context, id string) error
	// ConsoleOutput is the latest output of the instance's serial console (EC2: at most the last 64 KiB).
	ConsoleOutput(ctx context.Context, id string) ([]byte, error)
	// InstanceTypes lists the instance types instances may run as.
	InstanceTypes(ctx context.Context) ([]InstanceType, error)
}

// Tags sets and removes the tags of any resource: an instance (i-…), a security group (sg-…), a key pair
// (key-…) or an image (ami-…, by its AMI ID). The API has checked that the resource exists and the tags are
// valid; a backend that cannot tag a kind of resource returns an *Error with code UnsupportedOperation.
type Tags interface {
	CreateTags(ctx context.Context, resourceID string, tags map[string]string) error
	DeleteTags(ctx context.Context, resourceID string, keys []string) error
}

// State is an instance's state, with EC2's names.
type State string

// An instance's life: pending → running ⇄ (stopping → stopped → pending) … → shutting-down → terminated.
const (
	Pending      State = "pending"
	Running      State = "running"
	ShuttingDown State = "shutting-down"
	Terminated   State = "terminated"
	Stopping     State = "stopping"
	Stopped      State = "stopped"
)

// Code is EC2's numeric code of the state (the low byte of instanceState.code).
func (s State) Code() int {
	switch s {
	case Pending:
		return 0
	case Running:
		return 16
	case ShuttingDown:
		return 32
	case Terminated:
		return 48
	case Stopping:
		return 64
	case Stopped:
		return 80
	}
	return 0
}

// KeyPair is an SSH key pair: its public half and metadata. (Its fields are internal/vm/instance.KeyPair's, in
// its order, so an adapter converts one with a type conversion.)
type KeyPair struct {
	ID          string
	Name        string
	Type        string // rsa, ed25519
	Fingerprint string
	PublicKey   string // authorized_keys format
	Created     time.Time
	Tags        map[string]string
}

// SecurityGroup is a named set of inbound rules.
type SecurityGroup struct {
	ID          string
	Name        string
	Description string
	// Rules are the group's inbound rules, one source each (as the engine keeps them) or several.
	Rules   []Rule
	Tags    map[string]string
	Created time.Time
}

// Rule allows inbound traffic of Protocol ("tcp", "udp", "icmp", "-1" for all) to ports FromPort..ToPort (tcp,
// udp), or of ICMP type FromPort and code ToPort (-1: any), from any of CIDRs or from members of any of Groups
// (IDs; names in requests). (Its fields are internal/vm/secgroup.Rule's, in its order.)
type Rule struct {
	Protocol         string
	FromPort, ToPort int
	CIDRs            []netip.Prefix
	Groups           []string
	Description      string
}

// Image is an image instances can boot from.
type Image struct {
	// ID is the image's content ID ("sha256:…"); its AMI ID is "ami-" and the first 17 hex digits of it.
	ID string
	// Names are its repo:tag references; the AMI's name is the first.
	Names   []string
	Created time.Time
	// Architecture is the image's platform architecture (Go's names: amd64, arm64).
	Architecture string
	// Size is its unpacked size in bytes.
	Size int64
	Tags map[string]string
}

// InstanceType is an instance type: its vCPUs, memory and root disk.
type InstanceType struct {
	Name      string
	VCPUs     int
	MemoryMiB int
	DiskGiB   int
}

// RunOptions describe one instance to launch.
type RunOptions struct {
	// ImageID is the image's content ID (the API resolved the AMI ID).
	ImageID string
	// Type is an instance type name; "" is the backend's default.
	Type    string
	KeyName string
	// SecurityGroups are group IDs or names; none is the default group.
	SecurityGroups []string
	UserData       []byte
	Tags           map[string]string
	// DiskGiB overrides the type's root disk size (0: the type's).
	DiskGiB int
	// ReservationID, LaunchIndex and ClientToken say which RunInstances call launched the instance; a backend
	// keeps them with it (DescribeInstances groups instances by reservation, and a retried call with the same
	// client token returns the instances it launched). A backend that cannot keep them leaves them empty in its
	// Instances: each instance is then a reservation of its own, and retries are not recognised.
	ReservationID string
	LaunchIndex   int
	ClientToken   string
}

// Instance is a virtual machine instance.
type Instance struct {
	ID string
	// ImageID is the content ID of the image it was launched from.
	ImageID string
	Type    string
	// KeyName is the key pair it was launched with ("" for none).
	KeyName string
	// SecurityGroups are group IDs.
	SecurityGroups []string
	Tags           map[string]string
	State          State
	// StateReason says why it is in its state: "Code: message" as EC2 words it
	// ("Client.UserInitiatedShutdown: User initiated shutdown"), or "".
	StateReason string
	// PrivateIP is its address on its network; PublicIP the address users reach it at from outside that network
	// (unset when there is none).
	PrivateIP, PublicIP netip.Addr
	// Accel is how its guest code runs: "kvm" or "tcg" (software emulation), "" before its first boot.
	Accel      string
	LaunchTime time.Time
	DiskGiB    int
	// See RunOptions.
	ReservationID string
	LaunchIndex   int
	ClientToken   string
}

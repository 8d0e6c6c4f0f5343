// Package vm holds the wire types of Berth's virtual machine API (/berth/vms, /berth/keypairs,
// /berth/security-groups, /berth/vm-types), shared by the daemon's handlers (internal/server) and the client.
// Field names follow EC2's where EC2 has one; the JSON is Berth's own.
package vm

import "time"

// Instance is a virtual machine instance.
type Instance struct {
	ID string `json:"Id"`
	// Owner is the account the instance belongs to (launched through the cloud endpoint's EC2 API); "" for
	// Berth's own.
	Owner          string            `json:"OwnerId,omitempty"`
	Name           string            `json:"Name,omitempty"`
	Image          string            `json:"Image"`   // as given at launch
	ImageID        string            `json:"ImageId"` // the engine's image ID
	AMI            string            `json:"Ami"`     // the image's EC2 ID (ami-...)
	Type           string            `json:"InstanceType"`
	VCPUs          int               `json:"VCpus"`
	MemoryMiB      int               `json:"MemoryMiB"`
	DiskGiB        int               `json:"DiskGiB"`
	KeyName        string            `json:"KeyName,omitempty"`
	User           string            `json:"User"`
	SecurityGroups []GroupRef        `json:"SecurityGroups"`
	Tags           map[string]string `json:"Tags,omitempty"`
	State          string            `json:"State"`
	StateCode      int               `json:"StateCode"`
	StateReason    string            `json:"StateReason,omitempty"`
	Network        string            `json:"Network"`
	PrivateIP      string            `json:"PrivateIpAddress,omitempty"`
	MAC            string            `json:"MacAddress,omitempty"`
	// Accel is how the guest's code runs: "kvm" or "tcg" (software emulation); AccelReason says why.
	Accel         string    `json:"Accel,omitempty"`
	AccelReason   string    `json:"AccelReason,omitempty"`
	KernelRelease string    `json:"KernelRelease,omitempty"`
	LaunchTime    time.Time `json:"LaunchTime"`
	Created       time.Time `json:"Created"`
	Pid           int       `json:"Pid,omitempty"`
}

// GroupRef names a security group.
type GroupRef struct {
	ID   string `json:"GroupId"`
	Name string `json:"GroupName"`
}

// RunRequest launches an instance (POST /berth/vms).
type RunRequest struct {
	Image          string            `json:"Image"`
	Name           string            `json:"Name,omitempty"`
	Type           string            `json:"InstanceType,omitempty"`
	KeyName        string            `json:"KeyName,omitempty"`
	PublicKeys     []string          `json:"PublicKeys,omitempty"`
	User           string            `json:"User,omitempty"`
	SecurityGroups []string          `json:"SecurityGroups,omitempty"`
	UserData       []byte            `json:"UserData,omitempty"`
	Tags           map[string]string `json:"Tags,omitempty"`
	Network        string            `json:"Network,omitempty"`
	DiskGiB        int               `json:"DiskGiB,omitempty"`
}

// RunResponse is the launched instance (pending) and what the daemon warns about (an overcommitted host).
type RunResponse struct {
	Instance Instance `json:"Instance"`
	Warnings []string `json:"Warnings"`
}

// StartResponse answers POST /berth/vms/{id}/start.
type StartResponse struct {
	Warnings []string `json:"Warnings"`
}

// KeyPair is an SSH key pair (the public half).
type KeyPair struct {
	ID string `json:"KeyPairId"`
	// Owner is the account the key pair belongs to; "" for Berth's own.
	Owner       string            `json:"OwnerId,omitempty"`
	Name        string            `json:"KeyName"`
	Type        string            `json:"KeyType"`
	Fingerprint string            `json:"KeyFingerprint"`
	PublicKey   string            `json:"PublicKey"`
	Created     time.Time         `json:"CreateTime"`
	Tags        map[string]string `json:"Tags,omitempty"`
}

// KeyPairRequest creates a key pair (POST /berth/keypairs), or imports one when PublicKey is set.
type KeyPairRequest struct {
	Name      string            `json:"KeyName"`
	Type      string            `json:"KeyType,omitempty"`
	PublicKey string            `json:"PublicKey,omitempty"`
	Tags      map[string]string `json:"Tags,omitempty"`
}

// KeyPairResponse is a created key pair with its private key, shown this once ("" for an imported one).
type KeyPairResponse struct {
	KeyPair    KeyPair `json:"KeyPair"`
	PrivateKey string  `json:"KeyMaterial,omitempty"`
}

// SecurityGroup is a set of inbound rules.
type SecurityGroup struct {
	ID string `json:"GroupId"`
	// Owner is the account the group belongs to; "" for Berth's own.
	Owner       string            `json:"OwnerId,omitempty"`
	Name        string            `json:"GroupName"`
	Description string            `json:"Description"`
	Rules       []Rule            `json:"IpPermissions"`
	Tags        map[string]string `json:"Tags,omitempty"`
	Created     time.Time         `json:"Created"`
	// Instances are the IDs of the (not terminated) instances in the group.
	Instances []string `json:"Instances"`
}

// Rule allows inbound traffic: Protocol ("tcp", "udp", "icmp", "-1" for all) to ports FromPort..ToPort (ICMP:
// type and code, -1 for any), from CIDRs or members of Groups (IDs or names).
type Rule struct {
	Protocol    string   `json:"IpProtocol"`
	FromPort    int      `json:"FromPort"`
	ToPort      int      `json:"ToPort"`
	CIDRs       []string `json:"CidrIps,omitempty"`
	Groups      []string `json:"GroupIds,omitempty"`
	Description string   `json:"Description,omitempty"`
}

// GroupRequest creates a security group (POST /berth/security-groups).
type GroupRequest struct {
	Name        string            `json:"GroupName"`
	Description string            `json:"Description,omitempty"`
	Tags        map[string]string `json:"Tags,omitempty"`
}

// RulesRequest authorizes or revokes rules (POST /berth/security-groups/{id}/authorize, .../revoke).
type RulesRequest struct {
	Rules []Rule `json:"IpPermissions"`
}

// InstanceType is an instance type (GET /berth/vm-types).
type InstanceType struct {
	Name      string `json:"InstanceType"`
	VCPUs     int    `json:"VCpus"`
	MemoryMiB int    `json:"MemoryMiB"`
	DiskGiB   int    `json:"DiskGiB"`
}

package formatter

import (
	"sort"
	"strconv"
	"strings"

	"github.com/berth/berth/api/vm"
)

// VMHeader titles the instance fields.
var VMHeader = Header{
	"ID":         "VM ID",
	"Name":       "NAME",
	"Image":      "IMAGE",
	"Type":       "TYPE",
	"State":      "STATE",
	"IP":         "IP ADDRESS",
	"Accel":      "ACCEL",
	"Launched":   "LAUNCHED",
	"KeyName":    "KEY",
	"Groups":     "SECURITY GROUPS",
	"Kernel":     "KERNEL",
	"User":       "USER",
	"Network":    "NETWORK",
	"CreatedAt":  "CREATED AT",
	"LaunchedAt": "LAUNCHED AT",
	"Owner":      "OWNER",
}

const defaultVMTableFormat = "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Type}}\t{{.State}}\t{{.IP}}\t{{.Accel}}\t{{.Launched}}"

// NewVMFormat resolves `vm ls`' --format; -q prints IDs.
func NewVMFormat(source string, quiet bool) Format {
	switch source {
	case "", TableFormatKey:
		if quiet {
			return DefaultQuietFormat
		}
		return defaultVMTableFormat
	}
	return Format(source)
}

// WithOwnerColumn adds an OWNER column to a table when owned: when any row belongs to an account (made through
// the cloud endpoint's EC2 API). Berth's own resources belong to none, and a table of only those keeps its
// usual columns.
func WithOwnerColumn(f Format, owned bool) Format {
	if !owned || !f.IsTable() || f.Contains(".Owner") {
		return f
	}
	return f + "\t{{.Owner}}"
}

// VMRow is one instance as `vm ls` templates see it.
type VMRow struct{ V vm.Instance }

// VMRows wraps a list for Context.Write.
func VMRows(list []vm.Instance) []any {
	rows := make([]any, len(list))
	for i := range list {
		rows[i] = &VMRow{V: list[i]}
	}
	return rows
}

// MarshalJSON encodes the row's fields.
func (r *VMRow) MarshalJSON() ([]byte, error) { return MarshalJSON(r) }

// ID is the instance ID (i-...).
func (r *VMRow) ID() string { return r.V.ID }

// Name is the instance's name.
func (r *VMRow) Name() string { return r.V.Name }

// Image is the image it was launched from, as given.
func (r *VMRow) Image() string { return r.V.Image }

// Type is its instance type.
func (r *VMRow) Type() string { return r.V.Type }

// State is its state (pending, running, stopping, stopped, shutting-down, terminated).
func (r *VMRow) State() string { return r.V.State }

// IP is its private address.
func (r *VMRow) IP() string { return r.V.PrivateIP }

// Accel is how its guest runs: kvm, or tcg (software emulation).
func (r *VMRow) Accel() string { return r.V.Accel }

// Launched is how long ago it last started ("5 minutes ago").
func (r *VMRow) Launched() string { return Ago(r.V.LaunchTime) }

// LaunchedAt is when it last started.
func (r *VMRow) LaunchedAt() string { return r.V.LaunchTime.String() }

// CreatedAt is when it was first launched.
func (r *VMRow) CreatedAt() string { return r.V.Created.String() }

// KeyName is its key pair's name.
func (r *VMRow) KeyName() string { return r.V.KeyName }

// User is the user its SSH keys belong to.
func (r *VMRow) User() string { return r.V.User }

// Network is the network it is attached to.
func (r *VMRow) Network() string { return r.V.Network }

// Kernel is its guest kernel's release.
func (r *VMRow) Kernel() string { return r.V.KernelRelease }

// Owner is the account it belongs to ("" for Berth's own).
func (r *VMRow) Owner() string { return r.V.Owner }

// Groups are its security groups' names.
func (r *VMRow) Groups() string {
	var names []string
	for _, g := range r.V.SecurityGroups {
		names = append(names, g.Name)
	}
	return strings.Join(names, ",")
}

// Tag returns one tag's value.
func (r *VMRow) Tag(key string) string { return r.V.Tags[key] }

// KeyPairHeader titles the key pair fields.
var KeyPairHeader = Header{"Name": "NAME", "ID": "KEY PAIR ID", "Type": "TYPE", "Fingerprint": "FINGERPRINT", "CreatedAt": "CREATED AT", "Owner": "OWNER"}

// DefaultKeyPairTableFormat is `vm keypair ls`' table.
const DefaultKeyPairTableFormat = "table {{.Name}}\t{{.Type}}\t{{.Fingerprint}}"

// KeyPairRow is one key pair as `vm keypair ls` templates see it.
type KeyPairRow struct{ K vm.KeyPair }

// KeyPairRows wraps a list for Context.Write.
func KeyPairRows(list []vm.KeyPair) []any {
	rows := make([]any, len(list))
	for i := range list {
		rows[i] = &KeyPairRow{K: list[i]}
	}
	return rows
}

// MarshalJSON encodes the row's fields.
func (r *KeyPairRow) MarshalJSON() ([]byte, error) { return MarshalJSON(r) }

// Name is the key pair's name.
func (r *KeyPairRow) Name() string { return r.K.Name }

// ID is its ID (key-...).
func (r *KeyPairRow) ID() string { return r.K.ID }

// Type is rsa or ed25519.
func (r *KeyPairRow) Type() string { return r.K.Type }

// Fingerprint is its fingerprint, as EC2 computes it.
func (r *KeyPairRow) Fingerprint() string { return r.K.Fingerprint }

// Owner is the account it belongs to ("" for Berth's own).
func (r *KeyPairRow) Owner() string { return r.K.Owner }

// CreatedAt is when it was made.
func (r *KeyPairRow) CreatedAt() string { return r.K.Created.String() }

// GroupHeader titles the security group fields.
var GroupHeader = Header{"ID": "GROUP ID", "Name": "NAME", "Rules": "INBOUND RULES", "Instances": "VMS", "Description": "DESCRIPTION", "Owner": "OWNER"}

// DefaultGroupTableFormat is `vm sg ls`' table.
const DefaultGroupTableFormat = "table {{.ID}}\t{{.Name}}\t{{.Rules}}\t{{.Instances}}\t{{.Description}}"

// GroupRow is one security group as `vm sg ls` templates see it.
type GroupRow struct {
	G     vm.SecurityGroup
	names map[string]string // group IDs to names, for rule sources
}

// GroupRows wraps a list for Context.Write.
func GroupRows(list []vm.SecurityGroup) []any {
	names := map[string]string{}
	for _, g := range list {
		names[g.ID] = g.Name
	}
	rows := make([]any, len(list))
	for i := range list {
		rows[i] = &GroupRow{G: list[i], names: names}
	}
	return rows
}

// MarshalJSON encodes the row's fields.
func (r *GroupRow) MarshalJSON() ([]byte, error) { return MarshalJSON(r) }

// ID is the group's ID (sg-...).
func (r *GroupRow) ID() string { return r.G.ID }

// Name is its name.
func (r *GroupRow) Name() string { return r.G.Name }

// Owner is the account it belongs to ("" for Berth's own).
func (r *GroupRow) Owner() string { return r.G.Owner }

// Description is its description.
func (r *GroupRow) Description() string { return r.G.Description }

// Instances counts the VMs in it.
func (r *GroupRow) Instances() string { return strconv.Itoa(len(r.G.Instances)) }

// Rules lists its inbound rules, e.g. "22/tcp from 0.0.0.0/0, all from default".
func (r *GroupRow) Rules() string {
	var out []string
	for _, rule := range r.G.Rules {
		out = append(out, RuleString(rule, r.names))
	}
	if len(out) == 0 {
		return "(none: inbound denied)"
	}
	return strings.Join(out, ", ")
}

// RuleString renders a rule as `vm sg allow` takes it: "22/tcp from 0.0.0.0/0"; names maps group IDs to names.
func RuleString(r vm.Rule, names map[string]string) string {
	var what string
	switch r.Protocol {
	case "-1":
		what = "all"
	case "icmp":
		what = "icmp"
		if r.FromPort >= 0 {
			what += "/" + strconv.Itoa(r.FromPort)
		}
	default:
		what = strconv.Itoa(r.FromPort)
		if r.ToPort != r.FromPort {
			what += "-" + strconv.Itoa(r.ToPort)
		}
		what += "/" + r.Protocol
	}
	var src []string
	src = append(src, r.CIDRs...)
	for _, g := range r.Groups {
		if n := names[g]; n != "" {
			src = append(src, n)
		} else {
			src = append(src, g)
		}
	}
	sort.Strings(src)
	return what + " from " + strings.Join(src, ",")
}

// TypeHeader titles the instance type fields.
var TypeHeader = Header{"Name": "TYPE", "VCPUs": "VCPUS", "Memory": "MEMORY", "Disk": "DISK"}

// DefaultTypeTableFormat is `vm types`' table.
const DefaultTypeTableFormat = "table {{.Name}}\t{{.VCPUs}}\t{{.Memory}}\t{{.Disk}}"

// TypeRow is one instance type.
type TypeRow struct{ T vm.InstanceType }

// TypeRows wraps a list for Context.Write.
func TypeRows(list []vm.InstanceType) []any {
	rows := make([]any, len(list))
	for i := range list {
		rows[i] = &TypeRow{T: list[i]}
	}
	return rows
}

// MarshalJSON encodes the row's fields.
func (r *TypeRow) MarshalJSON() ([]byte, error) { return MarshalJSON(r) }

// Name is the type's name.
func (r *TypeRow) Name() string { return r.T.Name }

// VCPUs is its number of virtual CPUs.
func (r *TypeRow) VCPUs() string { return strconv.Itoa(r.T.VCPUs) }

// Memory is its memory, "1GiB" or "512MiB".
func (r *TypeRow) Memory() string {
	if r.T.MemoryMiB%1024 == 0 {
		return strconv.Itoa(r.T.MemoryMiB/1024) + "GiB"
	}
	return strconv.Itoa(r.T.MemoryMiB) + "MiB"
}

// Disk is its default root disk's size.
func (r *TypeRow) Disk() string { return strconv.Itoa(r.T.DiskGiB) + "GiB" }

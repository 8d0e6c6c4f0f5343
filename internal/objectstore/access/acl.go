package access

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Permission is an access control list permission.
type Permission string

// The ACL permissions.
const (
	Read        Permission = "READ"
	Write       Permission = "WRITE"
	ReadACP     Permission = "READ_ACP"
	WriteACP    Permission = "WRITE_ACP"
	FullControl Permission = "FULL_CONTROL"
)

// ValidPermission reports whether p is one of the five permissions.
func ValidPermission(p Permission) bool {
	switch p {
	case Read, Write, ReadACP, WriteACP, FullControl:
		return true
	}
	return false
}

// Grantee types, as the ACL XML's xsi:type names them.
const (
	TypeCanonicalUser = "CanonicalUser"
	TypeGroup         = "Group"
	TypeEmail         = "AmazonCustomerByEmail"
)

// The predefined groups.
const (
	AllUsers           = "http://acs.amazonaws.com/groups/global/AllUsers"
	AuthenticatedUsers = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
	LogDelivery        = "http://acs.amazonaws.com/groups/s3/LogDelivery"
)

// Owner is an account as ACLs name it: its canonical user ID (and display name).
type Owner struct {
	ID          string `json:"id"`
	DisplayName string `json:"name,omitempty"`
}

// Grantee is who a grant is for: an account (by canonical ID), a group (by URI) or an e-mail address.
type Grantee struct {
	Type         string `json:"type"`
	ID           string `json:"id,omitempty"`
	DisplayName  string `json:"name,omitempty"`
	URI          string `json:"uri,omitempty"`
	EmailAddress string `json:"email,omitempty"`
}

// Grant gives a grantee a permission.
type Grant struct {
	Grantee    Grantee    `json:"grantee"`
	Permission Permission `json:"permission"`
}

// ACL is a bucket's or an object's access control list.
type ACL struct {
	Owner  Owner   `json:"owner"`
	Grants []Grant `json:"grants"`
}

// Private is the ACL every bucket and object starts with: its owner has full control.
func Private(owner Owner) ACL {
	return ACL{Owner: owner, Grants: []Grant{{Grantee: ownerGrantee(owner), Permission: FullControl}}}
}

func ownerGrantee(o Owner) Grantee {
	return Grantee{Type: TypeCanonicalUser, ID: o.ID, DisplayName: o.DisplayName}
}

func group(uri string) Grantee { return Grantee{Type: TypeGroup, URI: uri} }

// CannedACLs are the canned ACL names S3 accepts, in its documentation's order.
var CannedACLs = []string{"private", "public-read", "public-read-write", "aws-exec-read", "authenticated-read",
	"bucket-owner-read", "bucket-owner-full-control", "log-delivery-write"}

// Canned returns the ACL a canned ACL name stands for, for a resource owned by owner in a bucket owned by
// bucketOwner (the same for a bucket). As S3 does, bucket-owner-read and bucket-owner-full-control on a bucket
// are private, and aws-exec-read grants the owner alone (Berth has no EC2 reader to grant). ok is false for a name
// that is not a canned ACL.
func Canned(name string, owner, bucketOwner Owner) (ACL, bool) {
	acl := Private(owner)
	add := func(g Grantee, p Permission) { acl.Grants = append(acl.Grants, Grant{Grantee: g, Permission: p}) }
	switch name {
	case "private", "aws-exec-read":
	case "public-read":
		add(group(AllUsers), Read)
	case "public-read-write":
		add(group(AllUsers), Read)
		add(group(AllUsers), Write)
	case "authenticated-read":
		add(group(AuthenticatedUsers), Read)
	case "bucket-owner-read":
		if bucketOwner.ID != owner.ID {
			add(ownerGrantee(bucketOwner), Read)
		}
	case "bucket-owner-full-control":
		if bucketOwner.ID != owner.ID {
			add(ownerGrantee(bucketOwner), FullControl)
		}
	case "log-delivery-write":
		add(group(LogDelivery), Write)
		add(group(LogDelivery), ReadACP)
	default:
		return ACL{}, false
	}
	return acl, true
}

// IsPublic reports whether the ACL grants anything to everyone or to every authenticated caller: what S3's Block
// Public Access calls a public ACL.
func (a ACL) IsPublic() bool {
	for _, g := range a.Grants {
		if isPublicGrantee(g.Grantee) {
			return true
		}
	}
	return false
}

func isPublicGrantee(g Grantee) bool {
	return g.Type == TypeGroup && (g.URI == AllUsers || g.URI == AuthenticatedUsers)
}

// OnlyOwnerFullControl reports whether the ACL grants nothing but full control to owner: the only ACL a bucket
// with ACLs disabled (BucketOwnerEnforced) accepts.
func (a ACL) OnlyOwnerFullControl(owner Owner) bool {
	for _, g := range a.Grants {
		if g.Grantee.Type != TypeCanonicalUser || !strings.EqualFold(g.Grantee.ID, owner.ID) || g.Permission != FullControl {
			return false
		}
	}
	return true
}

// allows reports whether the ACL gives the caller perm (or full control). ignorePublic drops the grants to
// AllUsers and AuthenticatedUsers (Block Public Access's IgnorePublicAcls). direct reports whether the grant is to
// a group rather than the caller's account: for a user of the resource owner's account, a grant to its account
// does not stand in for the user's own permissions, a grant to everyone does.
func (a ACL) allows(c Caller, perm Permission, ignorePublic bool) (allowed, toGroup bool) {
	for _, g := range a.Grants {
		if g.Permission != perm && g.Permission != FullControl {
			continue
		}
		gr := g.Grantee
		switch {
		case gr.Type == TypeGroup && gr.URI == AllUsers:
			if !ignorePublic {
				return true, true
			}
		case gr.Type == TypeGroup && gr.URI == AuthenticatedUsers:
			if !ignorePublic && !c.Anonymous {
				return true, true
			}
		case gr.Type == TypeCanonicalUser:
			if !c.Anonymous && c.CanonicalID != "" && strings.EqualFold(gr.ID, c.CanonicalID) {
				allowed = true
			}
		}
	}
	return allowed, false
}

// Encode writes the ACL as the store keeps it.
func (a ACL) Encode() []byte {
	b, _ := json.Marshal(a) // strings and slices only
	return b
}

// DecodeACL reads what Encode wrote.
func DecodeACL(doc []byte) (ACL, error) {
	var a ACL
	if err := json.Unmarshal(doc, &a); err != nil {
		return a, fmt.Errorf("access control list: %w", err)
	}
	return a, nil
}

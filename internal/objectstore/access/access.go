// Package access decides whether a caller may perform an S3 action, as S3 authorizes requests: identity policies
// of IAM users, the bucket policy, bucket and object ACLs, Object Ownership (which can turn ACLs off) and Block
// Public Access. It is pure: the S3 API gathers the documents and the request's condition keys, Decide answers.
//
// How a request is decided, following "How Amazon S3 authorizes a request" and the IAM policy evaluation logic:
//
//  1. An explicit Deny in an identity policy or in the bucket policy refuses the request (the bucket owner's root
//     may still read, write and delete the bucket policy, so a policy cannot lock its owner out).
//  2. The resource owner is the bucket owner, or for an operation on an existing object in a bucket with ACLs
//     enabled, the object's owner (an object another account wrote under ObjectWriter). The bucket policy grants
//     only what the bucket owner owns; the object's ACL grants what its owner owns.
//  3. A caller of the resource owner's account: its root may do anything; an IAM user needs an Allow from its
//     identity policies, or from the bucket policy naming the user (or everyone), or an ACL grant to everyone. A
//     grant to the account itself is delegated to the account, whose users still need their own policies.
//  4. A caller of another account needs the resource owner's grant (bucket policy or ACL) and, for an IAM user,
//     an Allow from its own identity policies too.
//  5. An anonymous caller needs a grant to everyone: a bucket policy with Principal "*" or a public ACL.
//
// Block Public Access's IgnorePublicAcls drops ACL grants to AllUsers and AuthenticatedUsers; RestrictPublicBuckets
// limits a public bucket policy to callers of the bucket owner's account. Its Block… flags refuse writes and are
// the S3 API's to apply.
package access

import (
	"strings"

	"github.com/berth/berth/internal/cloud/policy"
)

// ObjectOwnership is a bucket's Object Ownership setting.
type ObjectOwnership string

// The Object Ownership settings.
const (
	// BucketOwnerEnforced: ACLs are disabled; the bucket owner owns every object.
	BucketOwnerEnforced ObjectOwnership = "BucketOwnerEnforced"
	// BucketOwnerPreferred: the bucket owner owns objects written with the bucket-owner-full-control canned ACL;
	// the writer owns the others.
	BucketOwnerPreferred ObjectOwnership = "BucketOwnerPreferred"
	// ObjectWriter: the account that writes an object owns it.
	ObjectWriter ObjectOwnership = "ObjectWriter"
)

// Valid reports whether o is one of the three settings.
func (o ObjectOwnership) Valid() bool {
	return o == BucketOwnerEnforced || o == BucketOwnerPreferred || o == ObjectWriter
}

// ACLsEnabled reports whether ACLs affect permissions under o.
func (o ObjectOwnership) ACLsEnabled() bool { return o != BucketOwnerEnforced }

// PublicAccessBlock is a bucket's Block Public Access configuration.
type PublicAccessBlock struct {
	BlockPublicAcls       bool `json:"blockPublicAcls"`
	IgnorePublicAcls      bool `json:"ignorePublicAcls"`
	BlockPublicPolicy     bool `json:"blockPublicPolicy"`
	RestrictPublicBuckets bool `json:"restrictPublicBuckets"`
}

// Caller is who makes a request.
type Caller struct {
	Anonymous bool
	// AccountID and CanonicalID name the caller's account.
	AccountID   string
	CanonicalID string
	// ARN is arn:aws:iam::ACCOUNT:root or arn:aws:iam::ACCOUNT:user/NAME.
	ARN string
	// UserName is the IAM user's name; empty for the account's root.
	UserName string
}

// Root reports whether the caller is an account's root user.
func (c Caller) Root() bool { return !c.Anonymous && c.UserName == "" }

// Account is a resource owner: an account by ID and canonical user ID.
type Account struct {
	ID          string
	CanonicalID string
}

// Request is one authorization question.
type Request struct {
	Caller Caller
	// Action is the IAM action ("s3:GetObject").
	Action string
	// Resource is the ARN acted on ("arn:aws:s3:::bucket/key", "arn:aws:s3:::bucket", or "*").
	Resource string
	// Context holds the request's condition keys (aws:SourceIp, s3:prefix, …).
	Context map[string][]string

	// IdentityPolicies are the caller's identity policies (IAM users only).
	IdentityPolicies []*policy.Policy

	// BucketOwner owns the bucket; zero for ListBuckets and CreateBucket, which act on no bucket's resources.
	BucketOwner Account
	// BucketPolicy is the bucket's policy (nil when it has none); PolicyPublic says whether it is public.
	BucketPolicy *policy.Policy
	PolicyPublic bool
	// BucketACL is the bucket's ACL (nil: private to the bucket owner).
	BucketACL *ACL
	Ownership ObjectOwnership
	Block     PublicAccessBlock

	// ObjectOwner owns the existing object acted on when it is not the bucket owner's (ACLs enabled, an object
	// another account wrote); zero otherwise. ObjectACL is the object's ACL (nil: private to its owner).
	ObjectOwner Account
	ObjectACL   *ACL
}

// Reason says why a request was refused, for S3's detailed AccessDenied messages.
type Reason int

// The reasons.
const (
	// Allowed: not refused.
	Allowed Reason = iota
	// ExplicitDenyIdentity: a Deny in one of the caller's identity policies.
	ExplicitDenyIdentity
	// ExplicitDenyResource: a Deny in the bucket policy.
	ExplicitDenyResource
	// NoIdentityAllow: the caller is an IAM user and nothing that speaks for it allows the action.
	NoIdentityAllow
	// NoResourceAllow: nothing the resource owner wrote grants the action to the caller.
	NoResourceAllow
)

// Decision is Decide's answer.
type Decision struct {
	Allowed bool
	Reason  Reason
}

// policyAdminActions are what the bucket owner's root may always do, whatever the bucket policy denies.
var policyAdminActions = map[string]bool{
	"s3:getbucketpolicy": true, "s3:putbucketpolicy": true, "s3:deletebucketpolicy": true,
}

// Decide decides a request (see the package documentation).
func Decide(r *Request) Decision {
	c := r.Caller
	action := strings.ToLower(r.Action)
	deny := func(why Reason) Decision { return Decision{Reason: why} }
	allow := Decision{Allowed: true}

	principal := policy.Principal{Anonymous: c.Anonymous, AccountID: c.AccountID, ARN: c.ARN, CanonicalID: c.CanonicalID}
	preq := policy.Request{Principal: principal, Action: r.Action, Resource: r.Resource, Context: r.Context}

	identity := policy.NotApplicable
	if !c.Anonymous && !c.Root() {
		for _, p := range r.IdentityPolicies {
			identity = policy.Combine(identity, p.Evaluate(preq))
			if identity == policy.Deny {
				return deny(ExplicitDenyIdentity)
			}
		}
	}

	// Requests that act on no bucket (ListBuckets, CreateBucket) are the caller's account's business.
	if r.BucketOwner.ID == "" {
		switch {
		case c.Anonymous:
			return deny(NoResourceAllow)
		case c.Root(), identity == policy.Allow:
			return allow
		}
		return deny(NoIdentityAllow)
	}

	bucketOwner := r.BucketOwner
	resourceOwner := bucketOwner
	objectOwned := r.ObjectOwner.ID != "" && r.ObjectOwner.ID != bucketOwner.ID && r.Ownership.ACLsEnabled()
	if objectOwned {
		resourceOwner = r.ObjectOwner
	}

	resource := policy.NotApplicable
	direct := false // the bucket policy's Allow names the caller itself (or everyone), not only its account
	if r.BucketPolicy != nil {
		resource = r.BucketPolicy.Evaluate(preq)
		if resource == policy.Deny {
			if !(c.Root() && c.AccountID == bucketOwner.ID && policyAdminActions[action]) {
				return deny(ExplicitDenyResource)
			}
			resource = policy.NotApplicable
		}
		if resource == policy.Allow {
			direct = c.Anonymous || c.Root() || r.BucketPolicy.Evaluate(userOnly(preq, c)) == policy.Allow
		}
		// RestrictPublicBuckets: a public policy grants nothing outside the bucket owner's account.
		if resource == policy.Allow && r.PolicyPublic && r.Block.RestrictPublicBuckets && (c.Anonymous || c.AccountID != bucketOwner.ID) {
			resource = policy.NotApplicable
		}
		// The bucket policy grants only what the bucket owner owns.
		if resource == policy.Allow && objectOwned {
			resource = policy.NotApplicable
		}
	}

	aclAllow, aclToGroup := false, false
	if r.Ownership.ACLsEnabled() {
		if perm, objectLevel, ok := aclPermission(action, c.AccountID == bucketOwner.ID); ok {
			acl := r.BucketACL
			owner := bucketOwner
			if objectLevel {
				acl, owner = r.ObjectACL, resourceOwner
			}
			if acl == nil {
				private := Private(Owner{ID: owner.CanonicalID})
				acl = &private
			}
			aclAllow, aclToGroup = acl.allows(c, perm, r.Block.IgnorePublicAcls)
		}
	}

	switch {
	case c.Anonymous:
		if resource == policy.Allow || aclAllow {
			return allow
		}
		return deny(NoResourceAllow)
	case c.AccountID == resourceOwner.ID:
		if c.Root() || identity == policy.Allow || resource == policy.Allow && direct || aclAllow && aclToGroup {
			return allow
		}
		return deny(NoIdentityAllow)
	}
	// Another account: the resource owner must grant, and an IAM user's own account must allow too.
	if !c.Root() && identity != policy.Allow {
		return deny(NoIdentityAllow)
	}
	if resource == policy.Allow || aclAllow {
		return allow
	}
	return deny(NoResourceAllow)
}

// userOnly is req with a principal that only the user's own ARN (or "*") matches: it tells a statement naming the
// user from one naming its whole account. The keys derived from the principal keep their real values.
func userOnly(req policy.Request, c Caller) policy.Request {
	ctx := make(map[string][]string, len(req.Context)+4)
	for k, v := range req.Context {
		ctx[k] = v
	}
	set := func(k, v string) {
		if _, ok := ctx[k]; !ok && v != "" {
			ctx[k] = []string{v}
		}
	}
	set("aws:PrincipalAccount", c.AccountID)
	set("aws:PrincipalArn", c.ARN)
	set("aws:PrincipalType", "User")
	set("aws:username", c.UserName)
	req.Principal = policy.Principal{ARN: c.ARN}
	req.Context = ctx
	return req
}

// aclPermission maps an action to the ACL permission that grants it ("Mapping of ACL permissions and access
// policy permissions" in the S3 User Guide), and says whether the object's ACL (not the bucket's) decides.
// ownerAccount is whether the caller is of the bucket owner's account: a bucket WRITE grant to the bucket owner
// also allows s3:DeleteObjectVersion.
func aclPermission(action string, ownerAccount bool) (Permission, bool, bool) {
	switch action {
	case "s3:listbucket", "s3:listbucketversions", "s3:listbucketmultipartuploads":
		return Read, false, true
	case "s3:putobject", "s3:deleteobject", "s3:abortmultipartupload", "s3:listmultipartuploadparts":
		return Write, false, true
	case "s3:deleteobjectversion":
		return Write, false, ownerAccount
	case "s3:getbucketacl":
		return ReadACP, false, true
	case "s3:putbucketacl":
		return WriteACP, false, true
	case "s3:getobject", "s3:getobjectversion", "s3:getobjecttorrent", "s3:getobjectversiontorrent":
		return Read, true, true
	case "s3:getobjectacl", "s3:getobjectversionacl":
		return ReadACP, true, true
	case "s3:putobjectacl", "s3:putobjectversionacl":
		return WriteACP, true, true
	}
	return "", false, false
}

// ObjectContext reports whether an action acts on an existing object, so that the object's owner and ACL take
// part in deciding it (in a bucket with ACLs enabled).
func ObjectContext(action string) bool {
	switch strings.ToLower(action) {
	case "s3:putobject", "s3:deleteobject", "s3:deleteobjectversion", "s3:abortmultipartupload",
		"s3:listmultipartuploadparts":
		return false
	}
	a := strings.ToLower(action)
	return strings.Contains(a, "object") && !strings.HasPrefix(a, "s3:list")
}

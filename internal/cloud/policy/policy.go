// Package policy evaluates AWS IAM policy documents: bucket policies (resource-based, with a Principal) and the
// identity-based policies of IAM users. It is pure: no I/O, no clock except what a Request carries.
//
// A policy's lifecycle:
//
//	p, err := policy.Parse(doc, policy.Resource)   // a *MalformedError in S3's (or IAM's) words when invalid
//	err = p.ValidateBucketPolicy("bucket")         // S3's extra checks before PutBucketPolicy stores it
//	public := p.IsPublic()                         // Block Public Access: BlockPublicPolicy, RestrictPublicBuckets
//	d := p.Evaluate(policy.Request{Principal: ..., Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: ...})
//	// d is Deny (an explicit deny: wins over everything), Allow, or NotApplicable (no statement matched)
//
// Combine decisions with Combine: an explicit Deny from any policy wins, then any Allow, else an implicit deny
// (NotApplicable). The language is the one AWS documents in the IAM JSON policy reference: Version, Id, Statement,
// Sid, Effect, Principal/NotPrincipal, Action/NotAction, Resource/NotResource, Condition with every condition
// operator, the …IfExists suffix, the ForAllValues:/ForAnyValue: set qualifiers, and policy variables.
package policy

// Kind says which kind of policy a document is; it decides whether Principal is required or forbidden, and whose
// words a rejection uses (S3's MalformedPolicy for resource policies, IAM's MalformedPolicyDocument for identity
// policies).
type Kind int

const (
	// Resource is a resource-based policy (a bucket policy): every statement needs Principal or NotPrincipal.
	Resource Kind = iota
	// Identity is an identity-based policy (an IAM user's): statements must not name a Principal.
	Identity
)

// Decision is the outcome of evaluating policies for one request.
type Decision int

const (
	// NotApplicable: no statement matched (an implicit deny unless something else allows).
	NotApplicable Decision = iota
	// Allow: a statement allowed the request and none denied it.
	Allow
	// Deny: a statement explicitly denied the request.
	Deny
)

// Principal is who makes a request, as policy Principal elements match it.
type Principal struct {
	// Anonymous matches only "*" (and {"AWS": "*"}).
	Anonymous bool
	// AccountID is the caller's 12-digit account.
	AccountID string
	// ARN is the caller's ARN (arn:aws:iam::ACCOUNT:root or …:user/NAME).
	ARN string
	// CanonicalID is the caller's canonical user ID ({"CanonicalUser": "…"}).
	CanonicalID string
	// Service is the service principal making the request on its own behalf ("logging.s3.amazonaws.com"),
	// matched by {"Service": "…"}; empty for users and accounts.
	Service string
}

// Request is one authorization question.
type Request struct {
	Principal Principal
	// Action is "service:Operation", e.g. "s3:GetObject"; matched case-insensitively, with * and ? wildcards.
	Action string
	// Resource is the ARN acted on, e.g. "arn:aws:s3:::bucket/key" or "arn:aws:s3:::bucket".
	Resource string
	// Context holds the condition keys and their values: "aws:SourceIp", "aws:SecureTransport" ("true"/"false"),
	// "aws:PrincipalAccount", "aws:username", "aws:userid", "aws:CurrentTime", "s3:prefix", "s3:delimiter",
	// "s3:max-keys", "s3:x-amz-acl", "s3:ExistingObjectTag/<key>", … Keys are case-insensitive, values
	// case-sensitive (as AWS does). A key missing from the map, or mapped to no values, is "absent" for Null and
	// the …IfExists operators. aws:PrincipalAccount, aws:PrincipalArn, aws:PrincipalType, aws:username (for a
	// user), aws:userid (for an account's root), aws:PrincipalIsAWSService and aws:PrincipalServiceName are
	// derived from Principal when Context does not set them.
	Context map[string][]string
}

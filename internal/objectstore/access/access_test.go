package access

import (
	"strings"
	"testing"

	"github.com/berth/berth/internal/cloud/policy"
)

var (
	acctA = Account{ID: "111111111111", CanonicalID: strings.Repeat("a", 64)}
	acctB = Account{ID: "222222222222", CanonicalID: strings.Repeat("b", 64)}

	rootA  = Caller{AccountID: acctA.ID, CanonicalID: acctA.CanonicalID, ARN: "arn:aws:iam::111111111111:root"}
	userA  = Caller{AccountID: acctA.ID, CanonicalID: acctA.CanonicalID, ARN: "arn:aws:iam::111111111111:user/ann", UserName: "ann"}
	rootB  = Caller{AccountID: acctB.ID, CanonicalID: acctB.CanonicalID, ARN: "arn:aws:iam::222222222222:root"}
	userB  = Caller{AccountID: acctB.ID, CanonicalID: acctB.CanonicalID, ARN: "arn:aws:iam::222222222222:user/bea", UserName: "bea"}
	anyone = Caller{Anonymous: true}
)

func mustPolicy(t *testing.T, kind policy.Kind, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse([]byte(doc), kind)
	if err != nil {
		t.Fatalf("policy %s: %v", doc, err)
	}
	return p
}

const (
	readOnly = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}]}`
	fullS3   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`
	denyGet  = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]}`
)

func bucketPolicy(principal, effect, action, resource, condition string) string {
	if condition != "" {
		condition = `,"Condition":` + condition
	}
	return `{"Version":"2012-10-17","Statement":[{"Effect":"` + effect + `","Principal":` + principal + `,"Action":"` + action +
		`","Resource":"` + resource + `"` + condition + `}]}`
}

func TestDecide(t *testing.T) {
	publicRead := bucketPolicy(`"*"`, "Allow", "s3:GetObject", "arn:aws:s3:::bkt/*", "")
	toAccountB := bucketPolicy(`{"AWS":"222222222222"}`, "Allow", "s3:GetObject", "arn:aws:s3:::bkt/*", "")
	toUserA := bucketPolicy(`{"AWS":"arn:aws:iam::111111111111:user/ann"}`, "Allow", "s3:GetObject", "arn:aws:s3:::bkt/*", "")
	toAccountA := bucketPolicy(`{"AWS":"111111111111"}`, "Allow", "s3:GetObject", "arn:aws:s3:::bkt/*", "")
	denyAllHTTP := bucketPolicy(`"*"`, "Deny", "s3:*", "arn:aws:s3:::bkt/*", `{"Bool":{"aws:SecureTransport":"false"}}`)
	denyPolicyAdmin := bucketPolicy(`"*"`, "Deny", "s3:*", "arn:aws:s3:::bkt", "")

	acl := func(grants ...Grant) *ACL {
		a := Private(Owner{ID: acctA.CanonicalID})
		a.Grants = append(a.Grants, grants...)
		return &a
	}
	grantTo := func(g Grantee, p Permission) Grant { return Grant{Grantee: g, Permission: p} }
	canonB := Grantee{Type: TypeCanonicalUser, ID: acctB.CanonicalID}
	canonA := Grantee{Type: TypeCanonicalUser, ID: acctA.CanonicalID}

	type req struct {
		caller    Caller
		action    string
		resource  string
		identity  []string
		policy    string
		acl       *ACL
		objOwner  Account
		objACL    *ACL
		ownership ObjectOwnership
		block     PublicAccessBlock
		ctx       map[string][]string
	}
	obj := "arn:aws:s3:::bkt/k"
	for _, tc := range []struct {
		name string
		req  req
		want Reason
	}{
		// The bucket owner's account.
		{"owner root may do anything", req{caller: rootA, action: "s3:PutObject", resource: obj}, Allowed},
		{"user without policies may do nothing", req{caller: userA, action: "s3:GetObject", resource: obj}, NoIdentityAllow},
		{"user reads with a read-only policy", req{caller: userA, action: "s3:GetObject", resource: obj, identity: []string{readOnly}}, Allowed},
		{"user cannot write with a read-only policy", req{caller: userA, action: "s3:PutObject", resource: obj, identity: []string{readOnly}}, NoIdentityAllow},
		{"bucket policy naming the user is enough", req{caller: userA, action: "s3:GetObject", resource: obj, policy: toUserA}, Allowed},
		{"bucket policy naming the account delegates to the account", req{caller: userA, action: "s3:GetObject", resource: obj, policy: toAccountA}, NoIdentityAllow},
		{"public policy reaches the owner's users", req{caller: userA, action: "s3:GetObject", resource: obj, policy: publicRead}, Allowed},
		{"identity deny wins over allow", req{caller: userA, action: "s3:GetObject", resource: obj, identity: []string{fullS3, denyGet}}, ExplicitDenyIdentity},
		{"bucket policy deny binds the owner root", req{caller: rootA, action: "s3:GetObject", resource: obj, policy: denyAllHTTP,
			ctx: map[string][]string{"aws:SecureTransport": {"false"}}}, ExplicitDenyResource},
		{"deny on a condition that does not hold", req{caller: rootA, action: "s3:GetObject", resource: obj, policy: denyAllHTTP,
			ctx: map[string][]string{"aws:SecureTransport": {"true"}}}, Allowed},
		{"owner root keeps the bucket policy", req{caller: rootA, action: "s3:PutBucketPolicy", resource: "arn:aws:s3:::bkt", policy: denyPolicyAdmin}, Allowed},
		{"owner user does not keep the bucket policy", req{caller: userA, action: "s3:PutBucketPolicy", resource: "arn:aws:s3:::bkt", policy: denyPolicyAdmin, identity: []string{fullS3}}, ExplicitDenyResource},
		{"owner root is denied other actions", req{caller: rootA, action: "s3:ListBucket", resource: "arn:aws:s3:::bkt", policy: denyPolicyAdmin}, ExplicitDenyResource},

		// Anonymous callers.
		{"anonymous is denied by default", req{caller: anyone, action: "s3:GetObject", resource: obj}, NoResourceAllow},
		{"anonymous reads with a public policy", req{caller: anyone, action: "s3:GetObject", resource: obj, policy: publicRead}, Allowed},
		{"public policy grants only its actions", req{caller: anyone, action: "s3:PutObject", resource: obj, policy: publicRead}, NoResourceAllow},
		{"restrict public buckets", req{caller: anyone, action: "s3:GetObject", resource: obj, policy: publicRead,
			block: PublicAccessBlock{RestrictPublicBuckets: true}}, NoResourceAllow},
		{"restrict public buckets spares the owner's account", req{caller: userA, action: "s3:GetObject", resource: obj, policy: publicRead,
			block: PublicAccessBlock{RestrictPublicBuckets: true}}, Allowed},
		{"anonymous reads a public-read bucket listing", req{caller: anyone, action: "s3:ListBucket", resource: "arn:aws:s3:::bkt",
			acl: acl(grantTo(group(AllUsers), Read)), ownership: ObjectWriter}, Allowed},
		{"public ACL ignored", req{caller: anyone, action: "s3:ListBucket", resource: "arn:aws:s3:::bkt",
			acl: acl(grantTo(group(AllUsers), Read)), ownership: ObjectWriter, block: PublicAccessBlock{IgnorePublicAcls: true}}, NoResourceAllow},
		{"ACLs disabled by BucketOwnerEnforced", req{caller: anyone, action: "s3:ListBucket", resource: "arn:aws:s3:::bkt",
			acl: acl(grantTo(group(AllUsers), Read)), ownership: BucketOwnerEnforced}, NoResourceAllow},
		{"authenticated-read excludes anonymous", req{caller: anyone, action: "s3:GetObject", resource: obj,
			objACL: acl(grantTo(group(AuthenticatedUsers), Read)), ownership: ObjectWriter}, NoResourceAllow},
		{"anonymous write needs WRITE on the bucket", req{caller: anyone, action: "s3:PutObject", resource: obj,
			acl: acl(grantTo(group(AllUsers), Write)), ownership: ObjectWriter}, Allowed},

		// Another account.
		{"other account denied by default", req{caller: rootB, action: "s3:GetObject", resource: obj}, NoResourceAllow},
		{"other account granted by policy", req{caller: rootB, action: "s3:GetObject", resource: obj, policy: toAccountB}, Allowed},
		{"other account's user needs its own policy", req{caller: userB, action: "s3:GetObject", resource: obj, policy: toAccountB}, NoIdentityAllow},
		{"other account's user with both", req{caller: userB, action: "s3:GetObject", resource: obj, policy: toAccountB, identity: []string{readOnly}}, Allowed},
		{"other account's user with identity only", req{caller: userB, action: "s3:GetObject", resource: obj, identity: []string{fullS3}}, NoResourceAllow},
		{"other account granted by bucket ACL", req{caller: rootB, action: "s3:ListBucket", resource: "arn:aws:s3:::bkt",
			acl: acl(grantTo(canonB, Read)), ownership: ObjectWriter}, Allowed},
		{"grant of READ is not WRITE", req{caller: rootB, action: "s3:PutObject", resource: obj,
			acl: acl(grantTo(canonB, Read)), ownership: ObjectWriter}, NoResourceAllow},
		{"FULL_CONTROL covers everything", req{caller: rootB, action: "s3:PutBucketAcl", resource: "arn:aws:s3:::bkt",
			acl: acl(grantTo(canonB, FullControl)), ownership: BucketOwnerPreferred}, Allowed},
		{"authenticated-read includes another account", req{caller: rootB, action: "s3:GetObject", resource: obj,
			objACL: acl(grantTo(group(AuthenticatedUsers), Read)), ownership: ObjectWriter}, Allowed},
		{"other account's public policy grant is public", req{caller: rootB, action: "s3:GetObject", resource: obj, policy: publicRead}, Allowed},
		{"restricted public policy refuses other accounts", req{caller: rootB, action: "s3:GetObject", resource: obj, policy: publicRead,
			block: PublicAccessBlock{RestrictPublicBuckets: true}}, NoResourceAllow},

		// An object another account wrote into a bucket with ACLs enabled belongs to its writer.
		{"bucket owner cannot read another account's object", req{caller: rootA, action: "s3:GetObject", resource: obj,
			objOwner: acctB, objACL: &ACL{Owner: Owner{ID: acctB.CanonicalID}, Grants: []Grant{grantTo(canonB, FullControl)}}, ownership: ObjectWriter}, NoResourceAllow},
		{"bucket-owner-full-control lets the bucket owner read", req{caller: rootA, action: "s3:GetObject", resource: obj,
			objOwner: acctB, objACL: &ACL{Owner: Owner{ID: acctB.CanonicalID}, Grants: []Grant{grantTo(canonB, FullControl), grantTo(canonA, FullControl)}}, ownership: ObjectWriter}, Allowed},
		{"the writer reads its own object", req{caller: rootB, action: "s3:GetObject", resource: obj,
			objOwner: acctB, objACL: &ACL{Owner: Owner{ID: acctB.CanonicalID}, Grants: []Grant{grantTo(canonB, FullControl)}}, ownership: ObjectWriter}, Allowed},
		{"the bucket policy grants nothing on another account's object", req{caller: anyone, action: "s3:GetObject", resource: obj, policy: publicRead,
			objOwner: acctB, objACL: &ACL{Owner: Owner{ID: acctB.CanonicalID}, Grants: []Grant{grantTo(canonB, FullControl)}}, ownership: ObjectWriter}, NoResourceAllow},
		{"the bucket owner may delete any object", req{caller: rootA, action: "s3:DeleteObject", resource: obj, ownership: ObjectWriter}, Allowed},

		// Requests on no bucket.
		{"anonymous cannot list buckets", req{caller: anyone, action: "s3:ListAllMyBuckets", resource: "*"}, NoResourceAllow},
		{"a user lists buckets with a policy", req{caller: userA, action: "s3:ListAllMyBuckets", resource: "*", identity: []string{readOnly}}, Allowed},
		{"a user without one cannot create buckets", req{caller: userA, action: "s3:CreateBucket", resource: "arn:aws:s3:::new", identity: []string{readOnly}}, NoIdentityAllow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{Caller: tc.req.caller, Action: tc.req.action, Resource: tc.req.resource, Context: tc.req.ctx,
				BucketACL: tc.req.acl, ObjectOwner: tc.req.objOwner, ObjectACL: tc.req.objACL, Ownership: tc.req.ownership, Block: tc.req.block}
			if r.Ownership == "" {
				r.Ownership = BucketOwnerEnforced
			}
			if tc.req.resource != "*" && !strings.HasPrefix(tc.req.resource, "arn:aws:s3:::new") {
				r.BucketOwner = acctA
			}
			for _, d := range tc.req.identity {
				r.IdentityPolicies = append(r.IdentityPolicies, mustPolicy(t, policy.Identity, d))
			}
			if tc.req.policy != "" {
				r.BucketPolicy = mustPolicy(t, policy.Resource, tc.req.policy)
				r.PolicyPublic = r.BucketPolicy.IsPublic()
			}
			got := Decide(r)
			if got.Reason != tc.want || got.Allowed != (tc.want == Allowed) {
				t.Fatalf("Decide = %+v, want reason %d", got, tc.want)
			}
		})
	}
}

func TestCanned(t *testing.T) {
	owner := Owner{ID: acctB.CanonicalID}
	bucketOwner := Owner{ID: acctA.CanonicalID}
	for _, tc := range []struct {
		name   string
		grants string
		public bool
	}{
		{"private", "B:FULL_CONTROL", false},
		{"public-read", "B:FULL_CONTROL AllUsers:READ", true},
		{"public-read-write", "B:FULL_CONTROL AllUsers:READ AllUsers:WRITE", true},
		{"authenticated-read", "B:FULL_CONTROL AuthenticatedUsers:READ", true},
		{"bucket-owner-read", "B:FULL_CONTROL A:READ", false},
		{"bucket-owner-full-control", "B:FULL_CONTROL A:FULL_CONTROL", false},
		{"log-delivery-write", "B:FULL_CONTROL LogDelivery:WRITE LogDelivery:READ_ACP", false},
		{"aws-exec-read", "B:FULL_CONTROL", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acl, ok := Canned(tc.name, owner, bucketOwner)
			if !ok {
				t.Fatal("not a canned ACL")
			}
			var got []string
			for _, g := range acl.Grants {
				who := g.Grantee.URI[strings.LastIndexByte(g.Grantee.URI, '/')+1:]
				switch g.Grantee.ID {
				case acctA.CanonicalID:
					who = "A"
				case acctB.CanonicalID:
					who = "B"
				}
				got = append(got, who+":"+string(g.Permission))
			}
			if strings.Join(got, " ") != tc.grants || acl.IsPublic() != tc.public {
				t.Fatalf("grants %v public %v", got, acl.IsPublic())
			}
			back, err := DecodeACL(acl.Encode())
			if err != nil || len(back.Grants) != len(acl.Grants) || back.Owner != acl.Owner {
				t.Fatalf("round trip: %+v %v", back, err)
			}
		})
	}
	if _, ok := Canned("public", owner, bucketOwner); ok {
		t.Fatal("an unknown canned ACL was accepted")
	}
	// On a bucket (owner and bucket owner alike) the bucket-owner ACLs are private.
	if acl, _ := Canned("bucket-owner-full-control", bucketOwner, bucketOwner); len(acl.Grants) != 1 {
		t.Fatalf("bucket-owner-full-control on a bucket: %+v", acl)
	}
	if !Private(owner).OnlyOwnerFullControl(owner) {
		t.Fatal("private is not owner-only")
	}
	if acl, _ := Canned("public-read", owner, owner); acl.OnlyOwnerFullControl(owner) {
		t.Fatal("public-read is owner-only")
	}
}

func TestObjectContext(t *testing.T) {
	for action, want := range map[string]bool{
		"s3:GetObject": true, "s3:GetObjectAcl": true, "s3:PutObjectAcl": true, "s3:GetObjectTagging": true,
		"s3:GetObjectAttributes": true, "s3:PutObject": false, "s3:DeleteObject": false, "s3:ListBucket": false,
		"s3:GetBucketAcl": false, "s3:ListMultipartUploadParts": false, "s3:AbortMultipartUpload": false,
	} {
		if ObjectContext(action) != want {
			t.Errorf("ObjectContext(%s) = %v", action, !want)
		}
	}
}

package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestValidateBucketPolicy checks S3's PutBucketPolicy checks of a policy against its bucket: the resources it may
// name, the S3 actions that exist, and that each action applies to a resource of its statement. The messages are
// S3's ("Policy has invalid resource", "Policy has invalid action", "Action does not apply to any resource(s) in
// statement"); the accepted policies include the S3 User Guide's "Bucket policy examples".
func TestValidateBucketPolicy(t *testing.T) {
	const bucket = "DOC-EXAMPLE-BUCKET"
	doc := func(action, resource string) string {
		return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":%s,"Resource":%s}]}`, action, resource)
	}
	const (
		bucketRes = `"arn:aws:s3:::DOC-EXAMPLE-BUCKET"`
		objectRes = `"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"`
		bothRes   = `["arn:aws:s3:::DOC-EXAMPLE-BUCKET", "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"]`
	)
	tests := []struct {
		name string
		doc  string
		want string // "" for accepted
	}{
		// Accepted.
		{name: "documented: require SSE-KMS", doc: docRequireSSEKMS},
		{name: "documented: IP deny on bucket and objects", doc: docDenyOutsideIP},
		{name: "documented: home folder", doc: docHomeFolder},
		{name: "documented: MFA", doc: docMFA},
		{name: "documented: referer", doc: docReferer},
		{name: "bucket actions on the bucket", doc: doc(`["s3:DeleteBucket", "s3:GetBucketAcl"]`, bucketRes)},
		{name: "s3:* on both", doc: doc(`"s3:*"`, bothRes)},
		{name: "* on both", doc: doc(`"*"`, bothRes)},
		{name: "Resource *", doc: doc(`"s3:GetObject"`, `"*"`)},
		{name: "mixed actions on both", doc: doc(`["s3:PutBucketVersioning", "s3:ListMultipartUploadParts", "s3:ListBucket"]`, bothRes)},
		{name: "s3:Get* on objects", doc: doc(`"s3:Get*"`, objectRes)},
		{name: "s3:Get* on the bucket", doc: doc(`"s3:Get*"`, bucketRes)},
		{name: "actions are case-insensitive", doc: doc(`"S3:getobject"`, objectRes)},
		{name: "any-character wildcard", doc: doc(`"s3:GetObjec?"`, objectRes)},
		{name: "a key prefix", doc: doc(`"s3:GetObject"`, `"arn:aws:s3:::DOC-EXAMPLE-BUCKET/home/*/docs/*"`)},
		{name: "a duplicated resource", doc: doc(`"s3:*"`, `["arn:aws:s3:::DOC-EXAMPLE-BUCKET", "arn:aws:s3:::DOC-EXAMPLE-BUCKET"]`)},
		{name: "NotAction of S3 actions", doc: `{"Statement":[{"Effect":"Deny","Principal":"*","NotAction":["s3:GetObject","s3:ListBucket"],"Resource":` + bothRes + `}]}`},
		{name: "NotResource inside the bucket", doc: `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/public/*"}]}`},

		// Resources outside the bucket.
		{name: "another bucket", doc: doc(`"s3:*"`, `"arn:aws:s3:::other-bucket/*"`), want: MsgInvalidResource},
		{name: "a bucket whose name starts with this one", doc: doc(`"s3:*"`, `"arn:aws:s3:::DOC-EXAMPLE-BUCKET-2"`), want: MsgInvalidResource},
		{name: "a prefixed bucket name", doc: doc(`"s3:*"`, `"arn:aws:s3:::prefix-DOC-EXAMPLE-BUCKET"`), want: MsgInvalidResource},
		{name: "a starting slash", doc: doc(`"s3:*"`, `"arn:aws:s3:::/DOC-EXAMPLE-BUCKET"`), want: MsgInvalidResource},
		{name: "another service", doc: doc(`"s3:*"`, `"arn:aws:iam:::DOC-EXAMPLE-BUCKET"`), want: MsgInvalidResource},
		{name: "every bucket", doc: doc(`"s3:*"`, `"arn:aws:s3:::*"`), want: MsgInvalidResource},
		{name: "NotResource of another bucket", doc: `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::other/*"}]}`, want: MsgInvalidResource},

		// Actions S3 does not have.
		{name: "only the prefix", doc: doc(`"s3:"`, bothRes), want: MsgInvalidAction},
		{name: "another service's action", doc: doc(`"iam:CreateUser"`, bothRes), want: MsgInvalidAction},
		{name: "a misspelt vendor", doc: doc(`"s4:GetObject"`, bothRes), want: MsgInvalidAction},
		{name: "a longer vendor", doc: doc(`"ss3:ListBucket"`, bothRes), want: MsgInvalidAction},
		{name: "a dash", doc: doc(`"s3:Put-Object"`, bothRes), want: MsgInvalidAction},
		{name: "parentheses", doc: doc(`"s3:Put(Object)"`, bothRes), want: MsgInvalidAction},
		{name: "wildcards matching nothing", doc: doc(`"s3:*Obj??ect*"`, bothRes), want: MsgInvalidAction},
		{name: "four characters", doc: doc(`"s3:????"`, bothRes), want: MsgInvalidAction},
		{name: "Abort and one more character", doc: doc(`"s3:Abort?"`, bothRes), want: MsgInvalidAction},
		{name: "two characters before Abort", doc: doc(`"s3:??Abort*"`, bothRes), want: MsgInvalidAction},
		{name: "an unknown NotAction", doc: `{"Statement":[{"Effect":"Deny","Principal":"*","NotAction":"s3:Fly","Resource":` + bothRes + `}]}`, want: MsgInvalidAction},

		// Actions that do not apply to the statement's resources.
		{name: "GetObject on the bucket", doc: doc(`"s3:GetObject"`, bucketRes), want: MsgActionMismatch},
		{name: "PutObjectTagging on the bucket", doc: doc(`"s3:PutObjectTagging"`, bucketRes), want: MsgActionMismatch},
		{name: "GetObjec? on the bucket", doc: doc(`"s3:GetObjec?"`, bucketRes), want: MsgActionMismatch},
		{name: "Abort* on the bucket", doc: doc(`"s3:Abort*"`, bucketRes), want: MsgActionMismatch},
		{name: "???Object on the bucket", doc: doc(`"s3:???Object"`, bucketRes), want: MsgActionMismatch},
		{name: "ListBucket on objects", doc: doc(`"s3:ListBucket"`, objectRes), want: MsgActionMismatch},
		{name: "GetBucketTagging on objects", doc: doc(`"s3:GetBucketTagging"`, objectRes), want: MsgActionMismatch},
		{name: "???BucketVersioning on objects", doc: doc(`"s3:???BucketVersioning"`, objectRes), want: MsgActionMismatch},
		{name: "GetBucket* on objects", doc: doc(`"s3:GetBucket*"`, objectRes), want: MsgActionMismatch},
		{name: "one good action and one that applies to nothing", doc: doc(`["s3:GetObject", "s3:ListBucket"]`, objectRes), want: MsgActionMismatch},
		{name: "an account action", doc: doc(`"s3:ListAllMyBuckets"`, bothRes), want: MsgActionMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.doc, Resource)
			name := bucket
			if strings.Contains(tc.doc, "DOC-EXAMPLE-BUCKET1") {
				name = "DOC-EXAMPLE-BUCKET1"
			}
			err := p.ValidateBucketPolicy(name)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ValidateBucketPolicy: %v", err)
				}
				return
			}
			var me *MalformedError
			if !errors.As(err, &me) || me.Code != "MalformedPolicy" || me.Message != tc.want {
				t.Errorf("ValidateBucketPolicy = %v, want MalformedPolicy: %s", err, tc.want)
			}
		})
	}
}

// TestS3ActionsCatalog checks that the S3 actions Berth's object store authorizes are all known, so that a policy
// naming them is never refused as "Policy has invalid action".
func TestS3ActionsCatalog(t *testing.T) {
	used := []struct {
		name  string
		scope s3Scope
	}{
		{"s3:GetObject", scopeObject}, {"s3:PutObject", scopeObject}, {"s3:DeleteObject", scopeObject},
		{"s3:GetObjectVersion", scopeObject}, {"s3:DeleteObjectVersion", scopeObject}, {"s3:GetObjectAcl", scopeObject},
		{"s3:PutObjectAcl", scopeObject}, {"s3:GetObjectVersionAcl", scopeObject}, {"s3:PutObjectVersionAcl", scopeObject},
		{"s3:GetObjectTagging", scopeObject}, {"s3:PutObjectTagging", scopeObject}, {"s3:DeleteObjectTagging", scopeObject},
		{"s3:GetObjectAttributes", scopeObject}, {"s3:AbortMultipartUpload", scopeObject}, {"s3:ListMultipartUploadParts", scopeObject},
		{"s3:CreateBucket", scopeBucket}, {"s3:DeleteBucket", scopeBucket}, {"s3:ListBucket", scopeBucket},
		{"s3:ListBucketVersions", scopeBucket}, {"s3:ListBucketMultipartUploads", scopeBucket}, {"s3:GetBucketLocation", scopeBucket},
		{"s3:GetBucketAcl", scopeBucket}, {"s3:PutBucketAcl", scopeBucket}, {"s3:GetBucketPolicy", scopeBucket},
		{"s3:PutBucketPolicy", scopeBucket}, {"s3:DeleteBucketPolicy", scopeBucket}, {"s3:GetBucketPolicyStatus", scopeBucket},
		{"s3:GetBucketVersioning", scopeBucket}, {"s3:PutBucketVersioning", scopeBucket}, {"s3:GetBucketCORS", scopeBucket},
		{"s3:PutBucketCORS", scopeBucket}, {"s3:GetBucketTagging", scopeBucket}, {"s3:PutBucketTagging", scopeBucket},
		{"s3:GetLifecycleConfiguration", scopeBucket}, {"s3:PutLifecycleConfiguration", scopeBucket},
		{"s3:GetBucketPublicAccessBlock", scopeBucket}, {"s3:PutBucketPublicAccessBlock", scopeBucket},
		{"s3:ListAllMyBuckets", scopeOther},
	}
	for _, a := range used {
		t.Run(a.name, func(t *testing.T) {
			scope, ok := s3Actions[strings.ToLower(a.name)]
			if !ok || scope != a.scope {
				t.Errorf("s3Actions[%q] = %v, %v; want %v, true", a.name, scope, ok, a.scope)
			}
		})
	}
}

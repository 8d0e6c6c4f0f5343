package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// stmt builds a one-statement document from a statement body, for the rejection tables.
func stmt(body string) string {
	return `{"Version":"2012-10-17","Statement":[{` + body + `}]}`
}

const (
	okPrincipal = `"Principal":"*",`
	okRest      = `"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"`
)

// TestParseRejectsBucketPolicy checks the MalformedPolicy answers S3 gives PutBucketPolicy. The texts for the first
// byte, invalid JSON, a missing or empty Statement, a missing Principal, the version, Effect, principals, actions
// and resources are S3's (as S3 answers them to the aws CLI); the condition texts are Berth's.
func TestParseRejectsBucketPolicy(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{name: "JSON false", doc: `false`, want: "Policies must be valid JSON and the first byte must be '{'"},
		{name: "not JSON", doc: `invalid_json`, want: "Policies must be valid JSON and the first byte must be '{'"},
		{name: "no opening brace", doc: `"Statement": []}`, want: "Policies must be valid JSON and the first byte must be '{'"},
		{name: "empty document", doc: ``, want: "Policies must be valid JSON and the first byte must be '{'"},
		{name: "brace then garbage", doc: `{true}`, want: "This policy contains invalid Json"},
		{name: "unterminated", doc: `{asdfsdaf`, want: "This policy contains invalid Json"},
		{name: "unterminated object", doc: `{"Principal": "*" `, want: "This policy contains invalid Json"},
		{name: "trailing content", doc: stmt(okPrincipal+okRest) + `{}`, want: "This policy contains invalid Json"},
		{name: "duplicate member", doc: stmt(okPrincipal + `"Effect":"Deny",` + okRest), want: "This policy contains invalid Json"},
		{name: "no Statement", doc: `{}`, want: "Missing required field Statement"},
		{name: "empty Statement", doc: `{"Statement": []}`, want: "Could not parse the policy: Statement is empty!"},
		{name: "Statement is a string", doc: `{"Statement": "x"}`, want: "This policy contains invalid Json"},
		{name: "statement is not an object", doc: `{"Statement": ["x"]}`, want: "This policy contains invalid Json"},
		{name: "empty version", doc: `{"Version":"","Statement":[{` + okPrincipal + okRest + `}]}`, want: "The policy must contain a valid version string"},
		{name: "invalid version", doc: `{"Version":"invalid","Statement":[{` + okPrincipal + okRest + `}]}`, want: "The policy must contain a valid version string"},
		{name: "version 2000-10-17", doc: `{"Version":"2000-10-17","Statement":[{` + okPrincipal + okRest + `}]}`, want: "The policy must contain a valid version string"},
		{name: "version 2012-10-16", doc: `{"Version":"2012-10-16","Statement":[{` + okPrincipal + okRest + `}]}`, want: "The policy must contain a valid version string"},
		{name: "version as a number", doc: `{"Version":2012,"Statement":[{` + okPrincipal + okRest + `}]}`, want: "The policy must contain a valid version string"},
		{name: "Id not a string", doc: `{"Id":1,"Statement":[{` + okPrincipal + okRest + `}]}`, want: "This policy contains invalid Json"},
		{name: "unknown top-level field", doc: `{"Foo":"x","Statement":[{` + okPrincipal + okRest + `}]}`, want: "Unknown field Foo"},
		{name: "unknown statement field", doc: stmt(`"Principals":"*",` + okRest), want: "Unknown field Principals"},
		{name: "field names are case-sensitive", doc: stmt(okPrincipal + `"effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"`), want: "Unknown field effect"},
		{name: "no Effect", doc: stmt(okPrincipal + `"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"`), want: "Missing required field Effect"},
		{name: "invalid Effect", doc: stmt(okPrincipal + `"Effect":"invalid_effect","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"`), want: "Invalid effect: invalid_effect"},
		{name: "Effect in lower case", doc: stmt(okPrincipal + `"Effect":"allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"`), want: "Invalid effect: allow"},
		{name: "no Principal", doc: stmt(okRest), want: "Missing required field Principal"},
		{name: "empty principal string", doc: stmt(`"Principal":"",` + okRest), want: "Invalid principal in policy"},
		{name: "principal string other than *", doc: stmt(`"Principal":"123456789012",` + okRest), want: "Invalid principal in policy"},
		{name: "empty principal array", doc: stmt(`"Principal":[],` + okRest), want: "Invalid principal in policy"},
		{name: "principal array", doc: stmt(`"Principal":["*"],` + okRest), want: "Invalid principal in policy"},
		{name: "empty principal map", doc: stmt(`"Principal":{},` + okRest), want: "Invalid principal in policy"},
		{name: "AWS empty string", doc: stmt(`"Principal":{"AWS":""},` + okRest), want: "Invalid principal in policy"},
		{name: "AWS empty array", doc: stmt(`"Principal":{"AWS":[]},` + okRest), want: "Invalid principal in policy"},
		{name: "AWS neither account nor ARN", doc: stmt(`"Principal":{"AWS":["*", "grt1"]},` + okRest), want: "Invalid principal in policy"},
		{name: "AWS 11-digit account", doc: stmt(`"Principal":{"AWS":"12345678901"},` + okRest), want: "Invalid principal in policy"},
		{name: "AWS wildcard in an ARN", doc: stmt(`"Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},` + okRest), want: "Invalid principal in policy"},
		{name: "AWS group is no principal", doc: stmt(`"Principal":{"AWS":"arn:aws:iam::111122223333:group/Admins"},` + okRest), want: "Invalid principal in policy"},
		{name: "AWS ARN of another service", doc: stmt(`"Principal":{"AWS":"arn:aws:s3:::bucket"},` + okRest), want: "Invalid principal in policy"},
		{name: "unknown principal type", doc: stmt(`"Principal":{"Users":"x"},` + okRest), want: "Invalid principal in policy"},
		{name: "canonical user not 64 hex digits", doc: stmt(`"Principal":{"CanonicalUser":"abc"},` + okRest), want: "Invalid principal in policy"},
		{name: "service wildcard", doc: stmt(`"Principal":{"Service":"*"},` + okRest), want: "Invalid principal in policy"},
		{name: "Principal and NotPrincipal", doc: stmt(`"Principal":"*","NotPrincipal":{"AWS":"111122223333"},` + okRest), want: "Invalid principal in policy"},
		{name: "no Action", doc: stmt(okPrincipal + `"Effect":"Allow","Resource":"arn:aws:s3:::b/*"`), want: "Missing required field Action"},
		{name: "empty Action", doc: stmt(okPrincipal + `"Effect":"Allow","Action":"","Resource":"arn:aws:s3:::b/*"`), want: "Policy has invalid action"},
		{name: "empty Action array", doc: stmt(okPrincipal + `"Effect":"Allow","Action":[],"Resource":"arn:aws:s3:::b/*"`), want: "Policy has invalid action"},
		{name: "empty string in Action array", doc: stmt(okPrincipal + `"Effect":"Allow","Action":["s3:GetObject",""],"Resource":"arn:aws:s3:::b/*"`), want: "Policy has invalid action"},
		{name: "action without vendor", doc: stmt(okPrincipal + `"Effect":"Allow","Action":"invalid_action","Resource":"arn:aws:s3:::b/*"`), want: "Policy has invalid action"},
		{name: "action with two colons", doc: stmt(okPrincipal + `"Effect":"Allow","Action":"s3::GetObject","Resource":"arn:aws:s3:::b/*"`), want: "Policy has invalid action"},
		{name: "action with empty vendor", doc: stmt(okPrincipal + `"Effect":"Allow","Action":":GetObject","Resource":"arn:aws:s3:::b/*"`), want: "Policy has invalid action"},
		{name: "Action not a string", doc: stmt(okPrincipal + `"Effect":"Allow","Action":7,"Resource":"arn:aws:s3:::b/*"`), want: "This policy contains invalid Json"},
		{name: "Action and NotAction", doc: stmt(okPrincipal + `"Effect":"Allow","Action":"s3:*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::b/*"`), want: "Statement cannot contain both Action and NotAction"},
		{name: "no Resource", doc: stmt(okPrincipal + `"Effect":"Allow","Action":"s3:GetObject"`), want: "Missing required field Resource"},
		{name: "empty Resource", doc: stmt(okPrincipal + `"Effect":"Allow","Action":"s3:GetObject","Resource":""`), want: "Policy has invalid resource"},
		{name: "empty Resource array", doc: stmt(okPrincipal + `"Effect":"Allow","Action":"s3:GetObject","Resource":[]`), want: "Policy has invalid resource"},
		{name: "Resource not an ARN", doc: stmt(okPrincipal + `"Effect":"Allow","Action":"s3:GetObject","Resource":"bucket/*"`), want: "Policy has invalid resource"},
		{name: "Resource and NotResource", doc: stmt(okPrincipal + `"Effect":"Allow","Action":"s3:GetObject","Resource":"*","NotResource":"arn:aws:s3:::b"`), want: "Statement cannot contain both Resource and NotResource"},
		{name: "duplicate Sid", doc: `{"Statement":[{"Sid":"A",` + okPrincipal + okRest + `},{"Sid":"A",` + okPrincipal + okRest + `}]}`,
			want: "Statement IDs (SID) in a single policy must be unique."},
		{name: "Sid not a string", doc: stmt(`"Sid":1,` + okPrincipal + okRest), want: "This policy contains invalid Json"},
		{name: "unknown condition operator", doc: stmt(okPrincipal + okRest + `,"Condition":{"StringEqualz":{"s3:prefix":"a"}}`),
			want: "Policy has an invalid condition operator: StringEqualz"},
		{name: "Null has no IfExists", doc: stmt(okPrincipal + okRest + `,"Condition":{"NullIfExists":{"s3:prefix":"true"}}`),
			want: "Policy has an invalid condition operator: NullIfExists"},
		{name: "operators are case-sensitive", doc: stmt(okPrincipal + okRest + `,"Condition":{"stringequals":{"s3:prefix":"a"}}`),
			want: "Policy has an invalid condition operator: stringequals"},
		{name: "unknown set qualifier", doc: stmt(okPrincipal + okRest + `,"Condition":{"ForSomeValues:StringEquals":{"s3:prefix":"a"}}`),
			want: "Policy has an invalid condition operator: ForSomeValues:StringEquals"},
		{name: "condition key without vendor", doc: stmt(okPrincipal + okRest + `,"Condition":{"StringEquals":{"prefix":"a"}}`),
			want: "Policy has an invalid condition key"},
		{name: "numeric value not a number", doc: stmt(okPrincipal + okRest + `,"Condition":{"NumericLessThan":{"s3:max-keys":"ten"}}`),
			want: "Policy has an invalid condition value: ten"},
		{name: "numeric value with a huge exponent", doc: stmt(okPrincipal + okRest + `,"Condition":{"NumericLessThan":{"s3:max-keys":"1e1000000000"}}`),
			want: "Policy has an invalid condition value: 1e1000000000"},
		{name: "IP address with wildcards", doc: stmt(okPrincipal + okRest + `,"Condition":{"IpAddress":{"aws:SourceIp":"10.207.*.*"}}`),
			want: "Policy has an invalid condition value: 10.207.*.*"},
		{name: "IPv4 prefix too long", doc: stmt(okPrincipal + okRest + `,"Condition":{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/33"}}`),
			want: "Policy has an invalid condition value: 192.0.2.0/33"},
		{name: "date not a date", doc: stmt(okPrincipal + okRest + `,"Condition":{"DateGreaterThan":{"aws:CurrentTime":"yesterday"}}`),
			want: "Policy has an invalid condition value: yesterday"},
		{name: "date with a variable", doc: stmt(okPrincipal + okRest + `,"Condition":{"DateGreaterThan":{"aws:CurrentTime":"${aws:TokenIssueTime}"}}`),
			want: "Policy has an invalid condition value: ${aws:TokenIssueTime}"},
		{name: "Bool value not a boolean", doc: stmt(okPrincipal + okRest + `,"Condition":{"Bool":{"aws:SecureTransport":"yes"}}`),
			want: "Policy has an invalid condition value: yes"},
		{name: "Null value not a boolean", doc: stmt(okPrincipal + okRest + `,"Condition":{"Null":{"aws:TokenIssueTime":"maybe"}}`),
			want: "Policy has an invalid condition value: maybe"},
		{name: "binary value not base64", doc: stmt(okPrincipal + okRest + `,"Condition":{"BinaryEquals":{"svc:key":"not base64!"}}`),
			want: "Policy has an invalid condition value: not base64!"},
		{name: "empty value list", doc: stmt(okPrincipal + okRest + `,"Condition":{"StringEquals":{"s3:prefix":[]}}`),
			want: "Policy has an invalid condition value: StringEquals s3:prefix"},
		{name: "Condition not an object", doc: stmt(okPrincipal + okRest + `,"Condition":"x"`), want: "This policy contains invalid Json"},
		{name: "operator block not an object", doc: stmt(okPrincipal + okRest + `,"Condition":{"StringEquals":"x"}`), want: "This policy contains invalid Json"},
		{name: "condition value null", doc: stmt(okPrincipal + okRest + `,"Condition":{"StringEquals":{"s3:prefix":null}}`), want: "This policy contains invalid Json"},
		{name: "condition value object", doc: stmt(okPrincipal + okRest + `,"Condition":{"StringEquals":{"s3:prefix":{"a":"b"}}}`), want: "This policy contains invalid Json"},
		{name: "deep nesting", doc: `{"Statement":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, want: "This policy contains invalid Json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.doc), Resource)
			if err == nil {
				t.Fatalf("Parse accepted %s (%d statements)", tc.doc, len(p.statements))
			}
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is no *MalformedError", err)
			}
			if me.Code != "MalformedPolicy" || me.Message != tc.want {
				t.Errorf("got %s: %q, want MalformedPolicy: %q", me.Code, me.Message, tc.want)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("%v is not an invalid-argument error", err)
			}
		})
	}
}

// TestParseRejectsIdentityPolicy checks the MalformedPolicyDocument answers of IAM (CreatePolicy, PutUserPolicy),
// as IAM words them.
func TestParseRejectsIdentityPolicy(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{name: "not JSON", doc: `nope`, want: "Syntax errors in policy."},
		{name: "invalid JSON", doc: `{"Statement":`, want: "Syntax errors in policy."},
		{name: "no Statement", doc: `{"Version":"2012-10-17"}`, want: "Syntax errors in policy."},
		{name: "unknown field", doc: stmt(`"Effect":"Allow","Action":"s3:*","Resource":"*","Foo":1`), want: "Syntax errors in policy."},
		{name: "invalid version", doc: `{"Version":"2012-01-01","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`, want: "Syntax errors in policy."},
		{name: "Principal", doc: stmt(`"Principal":"*","Effect":"Allow","Action":"s3:*","Resource":"*"`), want: "Policy document should not specify a principal."},
		{name: "NotPrincipal", doc: stmt(`"NotPrincipal":{"AWS":"111122223333"},"Effect":"Deny","Action":"s3:*","Resource":"*"`), want: "Policy document should not specify a principal."},
		{name: "no Effect", doc: stmt(`"Action":"s3:*","Resource":"*"`), want: "Syntax errors in policy."},
		{name: "Effect in lower case", doc: stmt(`"Effect":"allow","Action":"s3:*","Resource":"*"`), want: "The policy failed legacy parsing"},
		{name: "invalid Effect", doc: stmt(`"Effect":"Permit","Action":"s3:*","Resource":"*"`), want: "Syntax errors in policy."},
		{name: "no Action", doc: stmt(`"Effect":"Allow","Resource":"*"`), want: "Policy statement must contain actions."},
		{name: "empty Action array", doc: stmt(`"Effect":"Allow","Action":[],"Resource":"*"`), want: "Policy statement must contain actions."},
		{name: "no Resource", doc: stmt(`"Effect":"Allow","Action":"s3:*"`), want: "Policy statement must contain resources."},
		{name: "empty NotResource array", doc: stmt(`"Effect":"Allow","Action":"s3:*","NotResource":[]`), want: "Policy statement must contain resources."},
		{name: "Resource not an ARN", doc: stmt(`"Effect":"Allow","Action":"s3:*","Resource":"mybucket"`), want: `Resource mybucket must be in ARN format or "*".`},
		{name: "action without vendor", doc: stmt(`"Effect":"Allow","Action":"GetObject","Resource":"*"`), want: "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."},
		{name: "action with two colons", doc: stmt(`"Effect":"Allow","Action":"s3:Get:Object","Resource":"*"`), want: "Actions/Condition can contain only one colon."},
		{name: "invalid vendor", doc: stmt(`"Effect":"Allow","Action":"s_3:GetObject","Resource":"*"`), want: "Vendor s_3 is not valid"},
		{name: "Sid not alphanumeric", doc: stmt(`"Sid":"my statement","Effect":"Allow","Action":"s3:*","Resource":"*"`),
			want: "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"},
		{name: "duplicate Sid", doc: `{"Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:*","Resource":"*"},{"Sid":"A","Effect":"Deny","Action":"s3:*","Resource":"*"}]}`,
			want: "Statement IDs (SID) in a single policy must be unique."},
		{name: "condition key without vendor", doc: stmt(`"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"username":"a"}}`),
			want: "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."},
		{name: "unknown condition operator", doc: stmt(`"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"StringEqualz":{"aws:username":"a"}}`),
			want: "Syntax errors in policy."},
		{name: "invalid date", doc: stmt(`"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2020-13-01"}}`),
			want: "The policy failed legacy parsing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), Identity)
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("Parse(%s) = %v, want a *MalformedError", tc.doc, err)
			}
			if me.Code != "MalformedPolicyDocument" || me.Message != tc.want {
				t.Errorf("got %s: %q, want MalformedPolicyDocument: %q", me.Code, me.Message, tc.want)
			}
		})
	}
}

// TestParseAccepts parses the documented examples and the forms the grammar allows
// (reference_policies_grammar.html, reference_policies_elements_principal.html).
func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		doc  string
	}{
		{name: "require SSE-KMS", doc: docRequireSSEKMS},
		{name: "require a KMS key", doc: docRequireKMSKey},
		{name: "public-read canned ACL", doc: docPublicReadCannedACL},
		{name: "object tags", doc: docExistingObjectTag},
		{name: "tag keys", doc: docRequestObjectTagKeys},
		{name: "server access logs", doc: docServerAccessLogs},
		{name: "organization", doc: docOrgOnly},
		{name: "IP deny", doc: docDenyOutsideIP},
		{name: "IP mix", doc: docIPMix},
		{name: "TLS only", doc: docTLSOnly},
		{name: "referer: Sid and Id with spaces and dots", doc: docReferer},
		{name: "home folder", doc: docHomeFolder},
		{name: "inventory report", doc: docInventoryReport},
		{name: "MFA: repeated empty Sids, JSON true and numbers", doc: docMFA},
		{name: "prefix", doc: docPrefixProjects},
		{name: "explicit deny", doc: docDaveExplicitDeny},
		{name: "max keys", doc: docMaxKeys},
		{name: "TLS version", doc: docTLSVersion},
		{name: "Carlos's bucket", doc: docCarlosBucket},
		{name: "NotPrincipal", doc: docNotPrincipalBob},
		{name: "Carlos's identity policy", kind: Identity, doc: docCarlosIdentity},
		{name: "Get and List", kind: Identity, doc: docAllowGetListDenyReports},
		{name: "home directory variables", kind: Identity, doc: docHomeDirectoryVariables},
		{name: "variable default", kind: Identity, doc: docTeamDefault},
		{name: "NotAction", kind: Identity, doc: docNotActionAllow},
		{name: "NotAction MFA", kind: Identity, doc: docNotActionMFA},
		{name: "NotResource", kind: Identity, doc: docNotResource},
		{name: "dates", kind: Identity, doc: docDates},
		{name: "ForAllValues", kind: Identity, doc: docDynamoForAllValues},
		{name: "ForAnyValue", kind: Identity, doc: docDynamoForAnyValueDeny},
		{name: "principal kinds together", doc: `{"Statement":{"Effect":"Allow","Principal":{
			"AWS":["arn:aws:iam::123456789012:root","999999999999","arn:aws:iam::123456789012:role/r",
			       "arn:aws:sts::123456789012:assumed-role/r/session","arn:aws:sts::123456789012:federated-user/u",
			       "arn:aws:iam::123456789012:user/division_abc/subdivision_xyz/Bob"],
			"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
			"Service":["ecs.amazonaws.com","elasticloadbalancing.amazonaws.com"],
			"Federated":"cognito-identity.amazonaws.com"},
			"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}`},
		{name: "CloudFront origin access identity", doc: `{"Version":"2012-10-17","Id":"PolicyForCloudFrontPrivateContent","Statement":[{
			"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity EH1HDMB1FH2TC"},
			"Action":"s3:GetObject","Resource":"arn:aws:s3:::DOC-EXAMPLE-BUCKET/*"}]}`},
		{name: "leading white space", doc: "\n  " + stmt(okPrincipal+okRest)},
		{name: "no Version", doc: `{"Statement":{` + okPrincipal + okRest + `}}`},
		{name: "Version 2008-10-17", doc: `{"Version":"2008-10-17","Statement":{` + okPrincipal + okRest + `}}`},
		{name: "empty Condition", doc: stmt(okPrincipal + okRest + `,"Condition":{}`)},
		{name: "every operator", kind: Identity, doc: stmt(`"Effect":"Allow","Action":"*","Resource":"*","Condition":{
			"StringEquals":{"a:k":"v"},"StringNotEquals":{"a:k":"v"},"StringEqualsIgnoreCase":{"a:k":"v"},
			"StringNotEqualsIgnoreCase":{"a:k":"v"},"StringLike":{"a:k":"v*"},"StringNotLike":{"a:k":"v?"},
			"NumericEquals":{"a:n":"1"},"NumericNotEquals":{"a:n":"1"},"NumericLessThan":{"a:n":"1"},
			"NumericLessThanEquals":{"a:n":"1.5"},"NumericGreaterThan":{"a:n":"-1"},"NumericGreaterThanEquals":{"a:n":1},
			"DateEquals":{"a:d":"2020-01-01"},"DateNotEquals":{"a:d":"2020-01-01T00:00:00Z"},"DateLessThan":{"a:d":"1577836800"},
			"DateLessThanEquals":{"a:d":"2020-01-01T00:00Z"},"DateGreaterThan":{"a:d":"2020-01-01T00:00:00.123+01:00"},
			"DateGreaterThanEquals":{"a:d":"2020-01"},"Bool":{"a:b":"true"},"BinaryEquals":{"a:x":"AAEC"},
			"IpAddress":{"a:ip":["10.0.0.0/8","::1"]},"NotIpAddress":{"a:ip":"2001:db8::/32"},"ArnEquals":{"a:arn":"arn:aws:s3:::b"},
			"ArnLike":{"a:arn":"arn:aws:s3:::*"},"ArnNotEquals":{"a:arn":"arn:aws:s3:::b"},"ArnNotLike":{"a:arn":"arn:aws:s3:::c*"},
			"Null":{"a:k":"true"},"StringLikeIfExists":{"a:k":"x"},"ForAllValues:StringEquals":{"a:k":"x"},
			"ForAnyValue:StringLike":{"a:k":"x*"},"ForAnyValue:NumericLessThanIfExists":{"a:n":"3"},
			"ForAllValues:ArnLikeIfExists":{"a:arn":"arn:aws:s3:::*"}}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.doc), tc.kind)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Kind() != tc.kind {
				t.Errorf("Kind = %v, want %v", p.Kind(), tc.kind)
			}
		})
	}
}

// TestPrincipals checks the list a caller verifies against its accounts and users.
func TestPrincipals(t *testing.T) {
	p := mustParse(t, `{"Statement":[
		{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:root","arn:aws:iam::444455556666:user/Bob"]},
		 "Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
		{"Effect":"Deny","NotPrincipal":{"CanonicalUser":"79A59DF900B949E55D96A1E698FBACEDFD6E09D98EACF8F8D5218E7CD47EF2BE","Service":"logging.s3.amazonaws.com"},
		 "Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`, Resource)
	got := p.Principals()
	want := PrincipalSet{
		Accounts:       []string{"111122223333"},
		ARNs:           []string{"arn:aws:iam::444455556666:user/Bob"},
		CanonicalUsers: []string{"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},
		Services:       []string{"logging.s3.amazonaws.com"},
	}
	if strings.Join(got.Accounts, ",") != strings.Join(want.Accounts, ",") ||
		strings.Join(got.ARNs, ",") != strings.Join(want.ARNs, ",") ||
		strings.Join(got.CanonicalUsers, ",") != strings.Join(want.CanonicalUsers, ",") ||
		strings.Join(got.Services, ",") != strings.Join(want.Services, ",") ||
		len(got.Federated) != 0 || len(got.Others) != 0 {
		t.Errorf("Principals() = %+v, want %+v", got, want)
	}
	if p.Version() != "" || p.ID() != "" {
		t.Errorf("Version, ID = %q, %q; want empty", p.Version(), p.ID())
	}
}

// TestMalformed checks the error a caller builds for its own checks, and how a MalformedError prints.
func TestMalformed(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		want string
	}{
		{name: "bucket policy", kind: Resource, want: "MalformedPolicy: Invalid principal in policy"},
		{name: "IAM policy", kind: Identity, want: "MalformedPolicyDocument: Invalid principal in policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Malformed(tc.kind, MsgInvalidPrincipal)
			if err.Error() != tc.want || !errdefs.IsInvalidArgument(err) {
				t.Errorf("Malformed = %q (invalid argument: %v), want %q", err.Error(), errdefs.IsInvalidArgument(err), tc.want)
			}
		})
	}
}

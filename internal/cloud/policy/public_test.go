package policy

import "testing"

// TestIsPublic follows "Blocking public access to your Amazon S3 storage", section "The meaning of public"
// (access-control-block-public-access.html#access-control-block-public-access-policy-status): its example public
// policies, its non-public rewrite, its mixed public and non-public example, and the listed condition keys.
func TestIsPublic(t *testing.T) {
	one := func(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }
	tests := []struct {
		name string
		doc  string
		want bool
	}{
		// The page's examples.
		{name: "Federated principal", want: true,
			doc: one(`{"Principal": {"Federated": "graph.facebook.com"}, "Resource": "*", "Action": "s3:PutObject", "Effect": "Allow"}`)},
		{name: "Principal *", want: true,
			doc: one(`{"Principal": "*", "Resource": "*", "Action": "s3:PutObject", "Effect": "Allow"}`)},
		{name: "Principal * with a wildcard aws:SourceVpc", want: true,
			doc: one(`{"Principal": "*", "Resource": "*", "Action": "s3:PutObject", "Effect": "Allow", "Condition": {"StringLike": {"aws:SourceVpc": "vpc-*"}}}`)},
		{name: "Principal * with a fixed aws:SourceVpc", want: false,
			doc: one(`{"Principal": "*", "Resource": "*", "Action": "s3:PutObject", "Effect": "Allow", "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-91237329"}}}`)},
		{name: "service, another account and the public: public", want: true, doc: one(`
			{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"},
			{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
			{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`)},
		{name: "service and another account: not public", want: false, doc: one(`
			{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"},
			{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`)},

		// Fixed principals.
		{name: "a user ARN", want: false,
			doc: one(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/Ana"},"Action":"s3:*","Resource":"*"}`)},
		{name: "a canonical user", want: false,
			doc: one(`{"Effect":"Allow","Principal":{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"},"Action":"s3:*","Resource":"*"}`)},
		{name: "AWS * among fixed accounts", want: true,
			doc: one(`{"Effect":"Allow","Principal":{"AWS":["111122223333","*"]},"Action":"s3:GetObject","Resource":"*"}`)},
		{name: "NotPrincipal with Allow grants to everyone else", want: true,
			doc: one(`{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"Action":"s3:GetObject","Resource":"*"}`)},
		{name: "Deny to everyone is not public", want: false,
			doc: one(`{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}`)},

		// The condition keys, fixed and not.
		{name: "aws:PrincipalOrgID fixed", want: false, doc: docOrgOnly},
		{name: "aws:PrincipalAccount fixed", want: false,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}}`)},
		{name: "aws:SourceArn fixed with ArnLike", want: false,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::source"}}}`)},
		{name: "aws:SourceArn with a wildcard", want: true,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::source-*"}}}`)},
		{name: "aws:SourceAccount from a policy variable", want: true,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"${aws:PrincipalAccount}"}}}`)},
		{name: "aws:SourceVpce case-insensitive key", want: false,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"AWS:sourcevpce":"vpce-1a2b3c4d"}}}`)},
		{name: "aws:SourceOwner fixed", want: false,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceOwner":"111122223333"}}}`)},
		{name: "KMS key id fixed", want: false,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"*","Condition":{"StringEquals":{"s3:x-amz-server-side-encryption-aws-kms-key-id":"arn:aws:kms:us-east-1:111122223333:key/k"}}}`)},
		{name: "aws:userid fixed", want: false,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:userid":"AIDAJQABLZS4A3QDU576Q"}}}`)},
		{name: "aws:userid in the pattern AROLEID:*", want: true,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringLike":{"aws:userid":"AROAEXAMPLEID:*"}}}`)},
		{name: "s3:DataAccessPointArn with a wildcard name and a fixed account", want: false,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringLike":{"s3:DataAccessPointArn":"arn:aws:s3:us-west-2:123456789012:accesspoint/*"}}}`)},
		{name: "s3:DataAccessPointArn with a wildcard account", want: true,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringLike":{"s3:DataAccessPointArn":"arn:aws:s3:us-west-2:*:accesspoint/*"}}}`)},
		{name: "s3:DataAccessPointAccount fixed", want: false,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"s3:DataAccessPointAccount":"123456789012"}}}`)},
		{name: "unrelated key (aws:Referer) does not restrict", want: true, doc: docReferer},
		{name: "negated operator does not restrict", want: true,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpc":"vpc-91237329"}}}`)},
		{name: "IfExists does not restrict", want: true,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEqualsIfExists":{"aws:SourceVpc":"vpc-91237329"}}}`)},
		{name: "ForAllValues does not restrict", want: true,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"ForAllValues:StringEquals":{"aws:SourceVpce":"vpce-1"}}}`)},
		{name: "ForAnyValue restricts", want: false,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:SourceVpce":"vpce-1"}}}`)},
		{name: "one restricting key among others is enough", want: false,
			doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringLike":{"aws:Referer":"*"},"StringEquals":{"aws:SourceVpc":"vpc-1"}}}`)},

		// aws:SourceIp: no broader than /8 (IPv4) or /32 (IPv6).
		{name: "aws:SourceIp /24", want: false, doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}`)},
		{name: "aws:SourceIp IPv4 and IPv6 example", want: false, doc: docIPMix},
		{name: "aws:SourceIp /8", want: false, doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`)},
		{name: "aws:SourceIp /7", want: true, doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/7"}}}`)},
		{name: "aws:SourceIp 0.0.0.0/1", want: true, doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/1"}}}`)},
		{name: "aws:SourceIp one broad CIDR among narrow ones", want: true, doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","0.0.0.0/0"]}}}`)},
		{name: "aws:SourceIp IPv6 /32", want: false, doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}}`)},
		{name: "aws:SourceIp IPv6 /31", want: true, doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"2001:db8::/31"}}}`)},
		{name: "NotIpAddress does not restrict", want: true, doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}`)},
		{name: "aws:SourceIp with a string operator does not restrict", want: true, doc: one(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceIp":"192.0.2.1"}}}`)},

		// Other documented examples.
		{name: "MFA example grants GetObject to everyone", want: true, doc: docMFA},
		{name: "TLS-only example only denies", want: false, doc: docTLSOnly},
		{name: "server access logs example", want: false, doc: docServerAccessLogs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParse(t, tc.doc, Resource).IsPublic(); got != tc.want {
				t.Errorf("IsPublic = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("an identity policy is never public", func(t *testing.T) {
		if mustParse(t, docNotActionAllow, Identity).IsPublic() {
			t.Error("IsPublic = true for an identity policy")
		}
	})
}

package policy

import "testing"

// TestConditions checks each condition operator, from the IAM User Guide's "IAM JSON policy elements: Condition
// operators" (reference_policies_elements_condition_operators.html), "Condition" and "Creating a condition with
// multiple keys or values" (reference_policies_multi-value-conditions.html) pages: the condition block is put in
// an Allow statement and holds when the statement allows.
func TestConditions(t *testing.T) {
	tests := []struct {
		name      string
		condition string
		context   map[string][]string
		want      bool
	}{
		// String operators.
		{name: "StringEquals exact", condition: `{"StringEquals": {"aws:username": "johndoe"}}`,
			context: ctx("aws:username", "johndoe"), want: true},
		{name: "StringEquals is case-sensitive", condition: `{"StringEquals": {"aws:username": "johndoe"}}`,
			context: ctx("aws:username", "JohnDoe"), want: false},
		{name: "StringEqualsIgnoreCase ignores case", condition: `{"StringEqualsIgnoreCase": {"aws:username": "johndoe"}}`,
			context: ctx("aws:username", "JohnDoe"), want: true},
		{name: "StringNotEqualsIgnoreCase", condition: `{"StringNotEqualsIgnoreCase": {"aws:username": "johndoe"}}`,
			context: ctx("aws:username", "JOHNDOE"), want: false},
		{name: "StringEquals on an absent key is false", condition: `{"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}`,
			want: false},
		{name: "StringNotEquals on an absent key is true", condition: `{"StringNotEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}`,
			want: true},
		{name: "values of one key OR", condition: `{"StringEqualsIgnoreCase": {"aws:PrincipalTag/department": ["finance", "hr", "legal"]}}`,
			context: ctx("aws:PrincipalTag/department", "HR"), want: true},
		{name: "keys of one operator AND: both match",
			condition: `{"StringEqualsIgnoreCase": {"aws:PrincipalTag/department": ["finance", "hr", "legal"], "aws:PrincipalTag/role": ["audit", "security"]}, "StringEquals": {"aws:PrincipalAccount": "123456789012"}}`,
			context:   ctx("aws:PrincipalTag/department", "legal", "aws:PrincipalTag/role", "audit", "aws:PrincipalAccount", "123456789012"), want: true},
		{name: "keys of one operator AND: one fails",
			condition: `{"StringEqualsIgnoreCase": {"aws:PrincipalTag/department": ["finance", "hr", "legal"], "aws:PrincipalTag/role": ["audit", "security"]}, "StringEquals": {"aws:PrincipalAccount": "123456789012"}}`,
			context:   ctx("aws:PrincipalTag/department", "legal", "aws:PrincipalTag/role", "sales", "aws:PrincipalAccount", "123456789012"), want: false},
		{name: "StringNotEquals with several values ANDs the negation",
			condition: `{"StringNotEquals": {"aws:PrincipalAccount": ["111111111111", "222222222222"]}}`,
			context:   ctx("aws:PrincipalAccount", "222222222222"), want: false},
		{name: "StringNotEquals with several values: none match",
			condition: `{"StringNotEquals": {"aws:PrincipalAccount": ["111111111111", "222222222222"]}}`,
			context:   ctx("aws:PrincipalAccount", "333333333333"), want: true},
		{name: "StringLike with * and ?", condition: `{"StringLike": {"s3:prefix": ["home/?ob/*"]}}`,
			context: ctx("s3:prefix", "home/Bob/docs/a"), want: true},
		{name: "StringLike ? is one character", condition: `{"StringLike": {"s3:prefix": ["home/?ob/*"]}}`,
			context: ctx("s3:prefix", "home/Blob/docs/a"), want: false},
		{name: "StringLike without a wildcard is exact", condition: `{"StringLike": {"s3:prefix": ["projects"]}}`,
			context: ctx("s3:prefix", "projects/x"), want: false},
		{name: "StringLike empty string", condition: `{"StringLike": {"s3:prefix": [""]}}`,
			context: ctx("s3:prefix", ""), want: true},
		{name: "StringNotLike", condition: `{"StringNotLike": {"s3:prefix": ["secret/*"]}}`,
			context: ctx("s3:prefix", "public/x"), want: true},
		{name: "StringNotLike matching", condition: `{"StringNotLike": {"s3:prefix": ["secret/*"]}}`,
			context: ctx("s3:prefix", "secret/x"), want: false},
		{name: "StringEquals reads * literally", condition: `{"StringEquals": {"s3:prefix": "a*"}}`,
			context: ctx("s3:prefix", "abc"), want: false},
		{name: "StringEquals with a JSON number value", condition: `{"StringEquals": {"s3:max-keys": 10}}`,
			context: ctx("s3:max-keys", "10"), want: true},

		// Numeric.
		{name: "NumericEquals", condition: `{"NumericEquals": {"s3:max-keys": "10"}}`, context: ctx("s3:max-keys", "10.0"), want: true},
		{name: "NumericNotEquals", condition: `{"NumericNotEquals": {"s3:max-keys": "10"}}`, context: ctx("s3:max-keys", "11"), want: true},
		{name: "NumericLessThan below", condition: `{"NumericLessThan": {"s3:max-keys": "10"}}`, context: ctx("s3:max-keys", "9"), want: true},
		{name: "NumericLessThan equal", condition: `{"NumericLessThan": {"s3:max-keys": "10"}}`, context: ctx("s3:max-keys", "10"), want: false},
		{name: "NumericLessThanEquals equal", condition: `{"NumericLessThanEquals": {"s3:max-keys": "10"}}`, context: ctx("s3:max-keys", "10"), want: true},
		{name: "NumericGreaterThan", condition: `{"NumericGreaterThan": {"aws:MultiFactorAuthAge": 3600}}`, context: ctx("aws:MultiFactorAuthAge", "3601"), want: true},
		{name: "NumericGreaterThanEquals", condition: `{"NumericGreaterThanEquals": {"s3:TlsVersion": 1.2}}`, context: ctx("s3:TlsVersion", "1.2"), want: true},
		{name: "request number with a huge exponent is no number", condition: `{"NumericGreaterThan": {"s3:max-keys": "10"}}`,
			context: ctx("s3:max-keys", "1e1000000000"), want: false},
		{name: "NumericLessThan on an absent key is false", condition: `{"NumericLessThan": {"s3:max-keys": "10"}}`, want: false},
		{name: "NumericLessThanIfExists on an absent key is true", condition: `{"NumericLessThanIfExists": {"s3:max-keys": "10"}}`, want: true},
		{name: "NumericLessThanIfExists on a present key still compares", condition: `{"NumericLessThanIfExists": {"s3:max-keys": "10"}}`,
			context: ctx("s3:max-keys", "1000"), want: false},

		// Dates.
		{name: "DateGreaterThan", condition: `{"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}`,
			context: ctx("aws:TokenIssueTime", "2020-03-01T10:00:00Z"), want: true},
		{name: "DateGreaterThan on an absent key is false", condition: `{"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}`,
			want: false},
		{name: "DateLessThan with a zone offset", condition: `{"DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}}`,
			context: ctx("aws:CurrentTime", "2020-07-01T01:00:00+02:00"), want: true},
		{name: "DateEquals a date", condition: `{"DateEquals": {"aws:CurrentTime": "2020-06-30"}}`,
			context: ctx("aws:CurrentTime", "2020-06-30T00:00:00Z"), want: true},
		{name: "DateNotEquals", condition: `{"DateNotEquals": {"aws:CurrentTime": "2020-06-30"}}`,
			context: ctx("aws:CurrentTime", "2020-06-30T00:00:01Z"), want: true},
		{name: "DateLessThanEquals with epoch seconds in the policy", condition: `{"DateLessThanEquals": {"aws:EpochTime": "1593561599"}}`,
			context: ctx("aws:EpochTime", "1593561599"), want: true},
		{name: "DateGreaterThanEquals mixing epoch and ISO", condition: `{"DateGreaterThanEquals": {"aws:CurrentTime": 1593561600}}`,
			context: ctx("aws:CurrentTime", "2020-07-01T00:00:00Z"), want: true},

		// Bool and binary.
		{name: "Bool true", condition: `{"Bool": {"aws:SecureTransport": "true"}}`, context: ctx("aws:SecureTransport", "true"), want: true},
		{name: "Bool with a JSON boolean", condition: `{"Bool": {"aws:SecureTransport": true}}`, context: ctx("aws:SecureTransport", "true"), want: true},
		{name: "Bool false against true", condition: `{"Bool": {"aws:SecureTransport": "false"}}`, context: ctx("aws:SecureTransport", "true"), want: false},
		{name: "Bool on an absent key is false", condition: `{"Bool": {"aws:MultiFactorAuthPresent": "false"}}`, want: false},
		{name: "BoolIfExists on an absent key is true", condition: `{"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}`, want: true},
		// The page's example names its key just "key"; a real key has a vendor prefix ("Actions/Conditions must be
		// prefaced by a vendor").
		{name: "BinaryEquals", condition: `{"BinaryEquals": {"svc:key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}`,
			context: ctx("svc:key", "BinaryValueInBase64"), want: true},
		{name: "BinaryEquals other bytes", condition: `{"BinaryEquals": {"svc:key": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}`,
			context: ctx("svc:key", "BinaryValueInBase65"), want: false},

		// IP addresses.
		{name: "IpAddress in range", condition: `{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, context: ctx("aws:SourceIp", "203.0.113.200"), want: true},
		{name: "IpAddress out of range", condition: `{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, context: ctx("aws:SourceIp", "203.0.114.1"), want: false},
		{name: "IpAddress without a prefix is /32", condition: `{"IpAddress": {"aws:SourceIp": "203.0.113.5"}}`, context: ctx("aws:SourceIp", "203.0.113.6"), want: false},
		{name: "IpAddress IPv6 /64", condition: `{"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}`,
			context: ctx("aws:SourceIp", "2001:db8:1234:5678:ffff::1"), want: true},
		{name: "IpAddress on an absent key is false", condition: `{"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}`, want: false},
		{name: "NotIpAddress on an absent key is true", condition: `{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, want: true},
		{name: "NotIpAddress outside", condition: `{"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}`, context: ctx("aws:SourceIp", "198.51.100.1"), want: true},

		// ARNs: each colon-separated part on its own.
		{name: "StringLike spans colons", condition: `{"StringLike": {"aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"}}`,
			context: ctx("aws:SourceArn", "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"), want: true},
		{name: "ArnLike does not span colons", condition: `{"ArnLike": {"aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"}}`,
			context: ctx("aws:SourceArn", "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"), want: false},
		{name: "ArnLike part by part", condition: `{"ArnLike": {"aws:SourceArn": "arn:aws:someservice:*:111122223333:finance/*"}}`,
			context: ctx("aws:SourceArn", "arn:aws:someservice:us-east-2:111122223333:finance/document.txt"), want: true},
		{name: "ArnEquals behaves as ArnLike", condition: `{"ArnEquals": {"aws:SourceArn": "arn:aws:sns:*:123456789012:TOPIC-ID"}}`,
			context: ctx("aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:TOPIC-ID"), want: true},
		{name: "ArnNotEquals", condition: `{"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/Ana"}}`,
			context: ctx("aws:PrincipalArn", "arn:aws:iam::111122223333:user/Bob"), want: true},
		{name: "ArnNotLike matching", condition: `{"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/*"}}`,
			context: ctx("aws:PrincipalArn", "arn:aws:iam::111122223333:user/Bob"), want: false},
		{name: "ArnLike value that is no ARN", condition: `{"ArnLike": {"aws:SourceArn": "arn:aws:s3:::bucket"}}`,
			context: ctx("aws:SourceArn", "bucket"), want: false},

		// Null.
		{name: "Null true on an absent key", condition: `{"Null": {"aws:TokenIssueTime": "true"}}`, want: true},
		{name: "Null true on a present key", condition: `{"Null": {"aws:TokenIssueTime": "true"}}`, context: ctx("aws:TokenIssueTime", "2020-01-01T00:00:00Z"), want: false},
		{name: "Null false on a present key", condition: `{"Null": {"aws:TokenIssueTime": false}}`, context: ctx("aws:TokenIssueTime", "2020-01-01T00:00:00Z"), want: true},
		{name: "Null false on an absent key", condition: `{"Null": {"aws:TokenIssueTime": "false"}}`, want: false},

		// Set qualifiers.
		{name: "ForAllValues every value allowed", condition: `{"ForAllValues:StringEquals": {"aws:TagKeys": ["Owner", "Project"]}}`,
			context: map[string][]string{"aws:TagKeys": {"Project", "Owner"}}, want: true},
		{name: "ForAllValues one value not allowed", condition: `{"ForAllValues:StringEquals": {"aws:TagKeys": ["Owner", "Project"]}}`,
			context: map[string][]string{"aws:TagKeys": {"Project", "Cost"}}, want: false},
		{name: "ForAllValues absent key is true", condition: `{"ForAllValues:StringEquals": {"aws:TagKeys": ["Owner"]}}`, want: true},
		{name: "ForAllValues empty set is true", condition: `{"ForAllValues:StringEquals": {"aws:TagKeys": ["Owner"]}}`,
			context: map[string][]string{"aws:TagKeys": {}}, want: true},
		{name: "ForAnyValue absent key is false", condition: `{"ForAnyValue:StringEquals": {"aws:TagKeys": ["Owner"]}}`, want: false},
		{name: "ForAnyValue empty set is false", condition: `{"ForAnyValue:StringEquals": {"aws:TagKeys": ["Owner"]}}`,
			context: map[string][]string{"aws:TagKeys": {}}, want: false},
		{name: "ForAnyValue one match", condition: `{"ForAnyValue:StringLike": {"aws:TagKeys": ["Own*"]}}`,
			context: map[string][]string{"aws:TagKeys": {"Project", "Owner"}}, want: true},
		{name: "ForAllValues:StringNotEquals: no value in the list", condition: `{"ForAllValues:StringNotEquals": {"aws:TagKeys": ["Secret"]}}`,
			context: map[string][]string{"aws:TagKeys": {"Project", "Owner"}}, want: true},
		{name: "ForAllValues:StringNotEquals: one value in the list", condition: `{"ForAllValues:StringNotEquals": {"aws:TagKeys": ["Secret"]}}`,
			context: map[string][]string{"aws:TagKeys": {"Project", "Secret"}}, want: false},
		{name: "ForAnyValue:StringNotEquals: one value outside the list", condition: `{"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["Owner"]}}`,
			context: map[string][]string{"aws:TagKeys": {"Owner", "Cost"}}, want: true},
		{name: "ForAnyValue:StringNotEquals: all values in the list", condition: `{"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["Owner"]}}`,
			context: map[string][]string{"aws:TagKeys": {"Owner"}}, want: false},
		{name: "ForAnyValue:StringEqualsIfExists on an absent key is true", condition: `{"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["Owner"]}}`,
			want: true},
		{name: "single-valued operator with several request values: any matches",
			condition: `{"StringEquals": {"aws:TagKeys": "Owner"}}`, context: map[string][]string{"aws:TagKeys": {"Cost", "Owner"}}, want: true},
		{name: "negated single-valued operator with several request values: none may match",
			condition: `{"StringNotEquals": {"aws:TagKeys": "Owner"}}`, context: map[string][]string{"aws:TagKeys": {"Cost", "Owner"}}, want: false},

		// IfExists on String and Arn operators.
		{name: "StringLikeIfExists absent", condition: `{"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}`, want: true},
		{name: "StringLikeIfExists matching", condition: `{"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}`,
			context: ctx("ec2:InstanceType", "t2.micro"), want: true},
		{name: "StringLikeIfExists not matching", condition: `{"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}`,
			context: ctx("ec2:InstanceType", "c5.large"), want: false},
		{name: "StringNotEqualsIfExists absent", condition: `{"StringNotEqualsIfExists": {"s3:ExistingObjectTag/Team": "x"}}`, want: true},

		// Variables in condition values.
		{name: "variable with no value: StringEquals does not match", condition: `{"StringEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}}`,
			context: ctx("s3:ExistingObjectTag/Team", ""), want: false},
		{name: "variable with no value: StringNotEquals matches", condition: `{"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}}`,
			context: ctx("s3:ExistingObjectTag/Team", "red"), want: true},
		{name: "variable resolved: StringNotEquals", condition: `{"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}}`,
			context: ctx("s3:ExistingObjectTag/Team", "red", "aws:PrincipalTag/Team", "red"), want: false},
		{name: "variable in ArnLike", condition: `{"ArnLike": {"aws:SourceArn": "arn:aws:s3:::home-${aws:username}"}}`,
			context: ctx("aws:SourceArn", "arn:aws:s3:::home-bob", "aws:username", "bob"), want: true},
		{name: "variable with a default", condition: `{"StringEquals": {"s3:prefix": "${aws:PrincipalTag/team, 'shared'}/"}}`,
			context: ctx("s3:prefix", "shared/"), want: true},
		{name: "multi-valued key is no variable", condition: `{"StringEquals": {"s3:prefix": "${aws:TagKeys}"}}`,
			context: map[string][]string{"s3:prefix": {"a"}, "aws:TagKeys": {"a", "b"}}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":` + tc.condition + `}}`
			p := mustParse(t, doc, Identity)
			got := p.Evaluate(Request{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: tc.context}) == Allow
			if got != tc.want {
				t.Errorf("condition %s with %v: holds = %v, want %v", tc.condition, tc.context, got, tc.want)
			}
		})
	}
}

// TestGlobMatch checks wildcard matching on its own: * spans any characters including '/' and ':' (the IAM
// Resource page: "You can use wildcard characters (* and ?) within any ARN segment"; S3 resources match across
// segments, as AWS's policy simulator shows), ? is exactly one character.
func TestGlobMatch(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		s       string
		want    bool
	}{
		{name: "literal", pattern: "abc", s: "abc", want: true},
		{name: "literal differs", pattern: "abc", s: "abd", want: false},
		{name: "star empty", pattern: "a*", s: "a", want: true},
		{name: "star spans slashes", pattern: "arn:aws:s3:::my-bucket/foo/*/bar", s: "arn:aws:s3:::my-bucket/foo/1/2/bar", want: true},
		{name: "star in the middle", pattern: "arn:aws:s3:::*log*", s: "arn:aws:s3:::carlossalazar-logs/x", want: true},
		{name: "backtracking", pattern: "*ab*ab", s: "xabyabzab", want: true},
		{name: "backtracking fails", pattern: "*ab*abc", s: "xabyabzab", want: false},
		{name: "question mark one rune", pattern: "m?-obj", s: "mé-obj", want: true},
		{name: "question mark not zero", pattern: "m?-obj", s: "m-obj", want: false},
		{name: "question mark not two", pattern: "m?-obj", s: "myy-obj", want: false},
		{name: "only stars", pattern: "***", s: "", want: true},
		{name: "trailing text after star", pattern: "*.jpg", s: "a.jpg.png", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := compilePattern(tc.pattern, false, 0)
			if got := globMatch(p.toks, tc.s); got != tc.want {
				t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
		})
	}
}

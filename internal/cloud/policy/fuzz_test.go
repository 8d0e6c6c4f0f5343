package policy

import (
	"errors"
	"testing"
)

// FuzzParse feeds Parse arbitrary documents: it must never panic, must reject with a *MalformedError, and a
// document it accepts must evaluate, be classified and be validated without panicking. The seeds (AWS's examples
// and broken variants of them) run in every `go test`; `go test -fuzz FuzzParse` explores further.
func FuzzParse(f *testing.F) {
	for _, doc := range []string{
		docRequireSSEKMS, docRequireKMSKey, docPublicReadCannedACL, docExistingObjectTag, docRequestObjectTagKeys,
		docServerAccessLogs, docOrgOnly, docDenyOutsideIP, docIPMix, docTLSOnly, docReferer, docHomeFolder,
		docInventoryReport, docMFA, docPrefixProjects, docDaveExplicitDeny, docMaxKeys, docTLSVersion,
		docCarlosIdentity, docCarlosBucket, docAllowGetListDenyReports, docHomeDirectoryVariables, docTeamDefault,
		docNotActionAllow, docNotActionMFA, docNotResource, docNotPrincipalBob, docNotPrincipalUserOnly, docDates,
		docDynamoForAllValues, docDynamoForAnyValueDeny,
		``, `{`, `{}`, `[]`, `null`, `{"Statement":[]}`, `{"Statement":{}}`, `{"Statement":[{}]}`,
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:s3:::b/${x, 'd'}${"}}`,
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"ArnLike":{"a:b":"arn:${a:b}:*:::"}}}}`,
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/"},"Action":"s3:*","Resource":"*"}}`,
		`{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"a:b":"T"}}}}`,
		`{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"IpAddress":{"a:b":"::ffff:1.2.3.4/100"}}}}`,
		"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:?\xff*\",\"Resource\":\"*\"}}",
	} {
		f.Add([]byte(doc))
	}
	requests := []Request{
		{Principal: anonymous, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k", Context: ctx("aws:SourceIp", "192.0.2.1", "aws:SecureTransport", "false")},
		{Principal: johnDoe, Action: "s3:ListBucket", Resource: "arn:aws:s3:::b", Context: ctx("s3:prefix", "home/", "s3:max-keys", "10", "aws:CurrentTime", "2020-05-01T00:00:00Z", "x", "${*}")},
		{Principal: logging, Action: "iam:Get\xffUser", Resource: "", Context: map[string][]string{"aws:TagKeys": {}, "a:b": {"arn:aws:s3:::b", "::1"}}},
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, kind := range []Kind{Resource, Identity} {
			p, err := Parse(doc, kind)
			if err != nil {
				var me *MalformedError
				if !errors.As(err, &me) || me.Message == "" {
					t.Fatalf("Parse(%q) error %v is no *MalformedError", doc, err)
				}
				continue
			}
			for _, req := range requests {
				switch d := p.Evaluate(req); d {
				case Allow, Deny, NotApplicable:
				default:
					t.Fatalf("Evaluate returned %d", d)
				}
			}
			_ = p.IsPublic()
			_ = p.ValidateBucketPolicy("b")
			_ = p.Principals()
		}
	})
}

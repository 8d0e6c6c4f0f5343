package s3api

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestConfigDocuments: the bucket policy, public access block and ownership controls documents, and S3's error
// for each way they can be wrong. A refused document changes nothing.
func TestConfigDocuments(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mustCreate(t, e.alice(), "docs")
	if _, err := e.alice().DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("docs")}); err != nil {
		t.Fatal(err)
	}
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }
	for _, tc := range []struct {
		name, path, body string
		status           int
		code, message    string
	}{
		// Bucket policies, refused with MalformedPolicy in the policy package's words.
		{"policy not json", "/docs?policy", `Allow everyone`, 400, "MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'"},
		{"policy empty", "/docs?policy", ``, 400, "MalformedPolicy", ""},
		{"policy no statement", "/docs?policy", `{"Version":"2012-10-17"}`, 400, "MalformedPolicy", "Missing required field Statement"},
		{"policy no principal", "/docs?policy", stmt(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/*"}`), 400, "MalformedPolicy", "Missing required field Principal"},
		{"policy another bucket", "/docs?policy", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}`), 400, "MalformedPolicy", "Policy has invalid resource"},
		{"policy action on the wrong resource", "/docs?policy", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::docs/*"}`), 400, "MalformedPolicy", "Action does not apply to any resource(s) in statement"},
		{"policy not s3", "/docs?policy", stmt(`{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"arn:aws:s3:::docs/*"}`), 400, "MalformedPolicy", "Policy has invalid action"},
		{"policy too large", "/docs?policy", stmt(`{"Sid":"` + strings.Repeat("x", 21<<10) + `","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/*"}`), 400, "MalformedPolicy", "Policy exceeds the maximum allowed document size."},
		{"policy fine", "/docs?policy", stmt(`{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::docs/*"}`), 204, "", ""},

		// Public access blocks: absent flags are false.
		{"block not xml", "/docs?publicAccessBlock", `true`, 400, "MalformedXML", ""},
		{"block flag not boolean", "/docs?publicAccessBlock", `<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>`, 400, "MalformedXML", ""},
		{"block empty body", "/docs?publicAccessBlock", ``, 400, "MissingRequestBodyError", ""},
		{"block one flag", "/docs?publicAccessBlock", `<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><BlockPublicPolicy>true</BlockPublicPolicy></PublicAccessBlockConfiguration>`, 200, "", ""},

		// Ownership controls: one rule, one of three values.
		{"ownership unknown value", "/docs?ownershipControls", `<OwnershipControls><Rule><ObjectOwnership>Nobody</ObjectOwnership></Rule></OwnershipControls>`, 400, "MalformedXML", ""},
		{"ownership two rules", "/docs?ownershipControls", `<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>`, 400, "MalformedXML", ""},
		{"ownership preferred", "/docs?ownershipControls", `<OwnershipControls xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ObjectOwnership>BucketOwnerPreferred</ObjectOwnership></Rule></OwnershipControls>`, 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(t, "PUT", tc.path, nil, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tc.code == "" {
				return
			}
			var doc errorDoc
			if err := xml.Unmarshal([]byte(body), &doc); err != nil || doc.Code != tc.code || (tc.message != "" && doc.Message != tc.message) {
				t.Fatalf("body %s", body)
			}
		})
	}
	// What the accepted documents say.
	pab, err := e.alice().GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("docs")})
	if c := pab.PublicAccessBlockConfiguration; err != nil || *c.BlockPublicAcls || *c.IgnorePublicAcls || !*c.BlockPublicPolicy || *c.RestrictPublicBuckets {
		t.Fatalf("public access block %+v %v", c, err)
	}
	own, err := e.alice().GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: aws.String("docs")})
	if err != nil || own.OwnershipControls.Rules[0].ObjectOwnership != "BucketOwnerPreferred" {
		t.Fatalf("ownership %v", err)
	}
	pol, err := e.alice().GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("docs")})
	if err != nil || !strings.Contains(*pol.Policy, `"s3:DeleteObject"`) {
		t.Fatalf("policy %v", err)
	}
}

package s3api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	iamsdk "github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/berth/berth/internal/objectstore"
)

// apiMessage is an error's message as the SDK read it from S3's document.
func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// iamClient is an IAM client of the endpoint, signed with key/secret.
func (e *env) iamClient(key, secret string) *iamsdk.Client {
	return iamsdk.New(iamsdk.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(e.srv.URL), HTTPClient: e.httpClient(), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
	})
}

// newUser creates an IAM user of the account whose root keys are given, through the IAM API, with the managed
// policies and inline documents given, and returns an S3 client signed with the user's new key.
func (e *env) newUser(t *testing.T, rootKey, rootSecret, name string, managed []string, inline ...string) *s3.Client {
	t.Helper()
	ctx := context.Background()
	c := e.iamClient(rootKey, rootSecret)
	if _, err := c.CreateUser(ctx, &iamsdk.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	for _, m := range managed {
		if _, err := c.AttachUserPolicy(ctx, &iamsdk.AttachUserPolicyInput{UserName: aws.String(name), PolicyArn: aws.String("arn:aws:iam::aws:policy/" + m)}); err != nil {
			t.Fatal(err)
		}
	}
	for i, doc := range inline {
		if _, err := c.PutUserPolicy(ctx, &iamsdk.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(name + string(rune('a'+i))), PolicyDocument: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	k, err := c.CreateAccessKey(ctx, &iamsdk.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return e.client(*k.AccessKey.AccessKeyId, *k.AccessKey.SecretAccessKey, true)
}

func putString(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

func getString(c *s3.Client, bucket, key string) (string, error) {
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if apiCode(err) != code {
		t.Fatalf("%s: got %v, want %s", what, err, code)
	}
}

// TestPolicyLab is the lab S3 users learn with: objects are private by default; a bucket policy with Principal
// "*" and s3:GetObject makes them readable by anyone, once Block Public Access lets it; RestrictPublicBuckets
// takes that back.
func TestPolicyLab(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, anon := e.alice(), e.anon()
	mustCreate(t, alice, "photos")
	putString(t, alice, "photos", "cat.jpg", "meow")

	_, err := getString(anon, "photos", "cat.jpg")
	wantCode(t, "anonymous get of a private object", err, "AccessDenied")
	if httpStatus(err) != http.StatusForbidden || apiMessage(err) != "Access Denied" {
		t.Fatalf("anonymous refusal: %d %q", httpStatus(err), apiMessage(err))
	}
	_, err = anon.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("photos")})
	wantCode(t, "anonymous list", err, "AccessDenied")

	// A new bucket has S3's current defaults: ACLs disabled, public access blocked, no policy.
	own, err := alice.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: aws.String("photos")})
	if err != nil || own.OwnershipControls.Rules[0].ObjectOwnership != types.ObjectOwnershipBucketOwnerEnforced {
		t.Fatalf("ownership controls: %+v %v", own, err)
	}
	pab, err := alice.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("photos")})
	if err != nil {
		t.Fatal(err)
	}
	if c := pab.PublicAccessBlockConfiguration; !*c.BlockPublicAcls || !*c.IgnorePublicAcls || !*c.BlockPublicPolicy || !*c.RestrictPublicBuckets {
		t.Fatalf("public access block: %+v", c)
	}
	_, err = alice.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: aws.String("photos")})
	wantCode(t, "policy status without a policy", err, "NoSuchBucketPolicy")
	_, err = alice.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("photos")})
	wantCode(t, "policy of a bucket without one", err, "NoSuchBucketPolicy")

	public := `{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}]}`
	_, err = alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("photos"), Policy: aws.String(public)})
	wantCode(t, "public policy under BlockPublicPolicy", err, "AccessDenied")
	if !strings.Contains(apiMessage(err), "because public policies are blocked by the BlockPublicPolicy block public access setting") {
		t.Fatalf("message %q", apiMessage(err))
	}
	if _, err := alice.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("photos")}); apiCode(err) != "NoSuchBucketPolicy" {
		t.Fatalf("a refused policy was stored: %v", err)
	}

	// Lift Block Public Access, and the policy is accepted and public.
	if _, err := alice.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("photos"), Policy: aws.String(public)}); err != nil {
		t.Fatal(err)
	}
	got, err := alice.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("photos")})
	if err != nil || *got.Policy != public {
		t.Fatalf("policy read back: %v %v", got, err)
	}
	status, err := alice.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: aws.String("photos")})
	if err != nil || !*status.PolicyStatus.IsPublic {
		t.Fatalf("policy status: %+v %v", status, err)
	}
	if body, err := getString(anon, "photos", "cat.jpg"); err != nil || body != "meow" {
		t.Fatalf("anonymous get with a public policy: %q %v", body, err)
	}
	// Only what the policy grants: no listing, no writing.
	_, err = anon.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("photos")})
	wantCode(t, "anonymous list with a GetObject policy", err, "AccessDenied")
	_, err = anon.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("x"), Body: strings.NewReader("x")})
	wantCode(t, "anonymous put", err, "AccessDenied")
	// Another account reads it too: the policy is public.
	if body, err := getString(e.bob(), "photos", "cat.jpg"); err != nil || body != "meow" {
		t.Fatalf("bob's get with a public policy: %q %v", body, err)
	}

	// RestrictPublicBuckets keeps the policy but limits it to the owner's account.
	restrict := &types.PublicAccessBlockConfiguration{RestrictPublicBuckets: aws.Bool(true)}
	if _, err := alice.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("photos"), PublicAccessBlockConfiguration: restrict}); err != nil {
		t.Fatal(err)
	}
	_, err = getString(anon, "photos", "cat.jpg")
	wantCode(t, "anonymous get of a restricted public bucket", err, "AccessDenied")
	_, err = getString(e.bob(), "photos", "cat.jpg")
	wantCode(t, "bob's get of a restricted public bucket", err, "AccessDenied")
	if body, err := getString(alice, "photos", "cat.jpg"); err != nil || body != "meow" {
		t.Fatalf("owner's get: %q %v", body, err)
	}

	// The policy goes, and the object is private again.
	if _, err := alice.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	_, err = getString(anon, "photos", "cat.jpg")
	wantCode(t, "anonymous get after the policy is deleted", err, "AccessDenied")
}

// TestCrossAccount grants another account access by bucket policy, then one of its users, who also needs its own
// account's permission.
func TestCrossAccount(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob := e.alice(), e.bob()
	mustCreate(t, alice, "shared")
	putString(t, alice, "shared", "report.csv", "a,b")

	_, err := getString(bob, "shared", "report.csv")
	wantCode(t, "bob before any grant", err, "AccessDenied")
	if apiMessage(err) != "Access Denied" {
		t.Fatalf("another account's refusal says %q", apiMessage(err))
	}

	bobAccount := strings.TrimPrefix(strings.TrimSuffix(e.callerARN(t, e.bobKey, e.bobSecret), ":root"), "arn:aws:iam::")
	grant := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + bobAccount + `:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"},
		{"Effect":"Allow","Principal":{"AWS":"` + bobAccount + `"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared"}]}`
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("shared"), Policy: aws.String(grant)}); err != nil {
		t.Fatal(err)
	}
	if body, err := getString(bob, "shared", "report.csv"); err != nil || body != "a,b" {
		t.Fatalf("bob with a grant: %q %v", body, err)
	}
	if out, err := bob.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("shared")}); err != nil || len(out.Contents) != 1 {
		t.Fatalf("bob lists: %v", err)
	}
	_, err = bob.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("x"), Body: strings.NewReader("x")})
	wantCode(t, "bob writes without a grant", err, "AccessDenied")
	// A granted non-public policy is not public.
	if st, err := alice.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: aws.String("shared")}); err != nil || *st.PolicyStatus.IsPublic {
		t.Fatalf("policy status: %v", err)
	}

	// Bob's IAM user needs bob's permission as well as alice's grant to bob's account.
	clerk := e.newUser(t, e.bobKey, e.bobSecret, "clerk", nil)
	_, err = getString(clerk, "shared", "report.csv")
	wantCode(t, "bob's user without its own policy", err, "AccessDenied")
	reader := e.newUser(t, e.bobKey, e.bobSecret, "reader", []string{"AmazonS3ReadOnlyAccess"})
	if body, err := getString(reader, "shared", "report.csv"); err != nil || body != "a,b" {
		t.Fatalf("bob's reader: %q %v", body, err)
	}

	// A policy naming an account or a user that does not exist is refused.
	for name, principal := range map[string]string{
		"unknown account":        `{"AWS":"999999999999"}`,
		"unknown user":           `{"AWS":"arn:aws:iam::` + bobAccount + `:user/nobody"}`,
		"a role":                 `{"AWS":"arn:aws:iam::` + bobAccount + `:role/admin"}`,
		"unknown canonical user": `{"CanonicalUser":"` + strings.Repeat("0", 64) + `"}`,
	} {
		doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":` + principal + `,"Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}]}`
		_, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("shared"), Policy: aws.String(doc)})
		if apiCode(err) != "MalformedPolicy" || apiMessage(err) != "Invalid principal in policy" {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Naming bob's user directly works.
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + bobAccount + `:user/clerk"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}]}`
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("shared"), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
}

// callerARN asks STS-less: the ARN of a key's identity, from the IAM store.
func (e *env) callerARN(t *testing.T, key, _ string) string {
	t.Helper()
	id, _, err := e.ids.Lookup(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return id.ARN
}

// TestIAMUserReadOnly: a user of the bucket owner's account with AmazonS3ReadOnlyAccess reads but cannot write,
// and is told why in S3's words.
func TestIAMUserReadOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.alice()
	mustCreate(t, alice, "data")
	putString(t, alice, "data", "k", "v")
	reader := e.newUser(t, aliceKey, aliceSecret, "reader", []string{"AmazonS3ReadOnlyAccess"})
	if body, err := getString(reader, "data", "k"); err != nil || body != "v" {
		t.Fatalf("reader get: %q %v", body, err)
	}
	buckets, err := reader.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(buckets.Buckets) != 1 || *buckets.Buckets[0].Name != "data" {
		t.Fatalf("reader lists buckets: %+v %v", buckets, err)
	}
	_, err = reader.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String("k"), Body: strings.NewReader("changed")})
	wantCode(t, "reader put", err, "AccessDenied")
	arn := e.callerARN(t, aliceKey, "")
	want := "User: " + strings.TrimSuffix(arn, "root") + "user/reader is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::data/k\" because no identity-based policy allows the s3:PutObject action"
	if apiMessage(err) != want {
		t.Fatalf("message\n got %q\nwant %q", apiMessage(err), want)
	}
	_, err = reader.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("data"), Key: aws.String("k")})
	wantCode(t, "reader delete", err, "AccessDenied")
	_, err = reader.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("readers-own")})
	wantCode(t, "reader create bucket", err, "AccessDenied")
	if body, _ := getString(alice, "data", "k"); body != "v" {
		t.Fatalf("the object changed: %q", body)
	}

	// A user without policies may do nothing, not even list buckets.
	nobody := e.newUser(t, aliceKey, aliceSecret, "nobody", nil)
	_, err = nobody.ListBuckets(ctx, &s3.ListBucketsInput{})
	wantCode(t, "list buckets without a policy", err, "AccessDenied")
	_, err = getString(nobody, "data", "k")
	wantCode(t, "get without a policy", err, "AccessDenied")

	// An inline policy with an explicit deny wins over the managed allow.
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}]}`
	denied := e.newUser(t, aliceKey, aliceSecret, "denied", []string{"AmazonS3FullAccess"}, deny)
	_, err = getString(denied, "data", "k")
	wantCode(t, "explicit identity deny", err, "AccessDenied")
	if !strings.HasSuffix(apiMessage(err), "with an explicit deny in an identity-based policy") {
		t.Fatalf("message %q", apiMessage(err))
	}
	putString(t, denied, "data", "other", "allowed")
}

// TestSecureTransportDeny: a bucket policy denying requests over plain HTTP (aws:SecureTransport false) denies
// them, the owner included, but never locks the owner out of the policy itself.
func TestSecureTransportDeny(t *testing.T) {
	deny := `{"Version":"2012-10-17","Statement":[{"Sid":"TLSOnly","Effect":"Deny","Principal":"*","Action":"s3:*",
		"Resource":["arn:aws:s3:::tls","arn:aws:s3:::tls/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	ctx := context.Background()

	plain := newEnv(t)
	alice := plain.alice()
	mustCreate(t, alice, "tls")
	putString(t, alice, "tls", "k", "v")
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("tls"), Policy: aws.String(deny)}); err != nil {
		t.Fatal(err)
	}
	_, err := getString(alice, "tls", "k")
	wantCode(t, "get over http", err, "AccessDenied")
	if !strings.HasSuffix(apiMessage(err), "with an explicit deny in a resource-based policy") {
		t.Fatalf("message %q", apiMessage(err))
	}
	_, err = alice.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("tls")})
	wantCode(t, "list over http", err, "AccessDenied")
	// The owner's root can still read and remove the policy.
	if _, err := alice.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("tls")}); err != nil {
		t.Fatalf("get policy: %v", err)
	}
	if _, err := alice.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("tls")}); err != nil {
		t.Fatalf("delete policy: %v", err)
	}
	if body, err := getString(alice, "tls", "k"); err != nil || body != "v" {
		t.Fatalf("get after the policy went: %q %v", body, err)
	}

	secure := newEnvWith(t, true)
	alice = secure.alice()
	mustCreate(t, alice, "tls")
	putString(t, alice, "tls", "k", "v")
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("tls"), Policy: aws.String(deny)}); err != nil {
		t.Fatal(err)
	}
	if body, err := getString(alice, "tls", "k"); err != nil || body != "v" {
		t.Fatalf("get over https: %q %v", body, err)
	}
}

// TestListBucketsOwnOnly: ListBuckets shows the caller's account's buckets; anonymous callers may not list.
func TestListBucketsOwnOnly(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mustCreate(t, e.alice(), "alices")
	mustCreate(t, e.bob(), "bobs")
	out, err := e.bob().ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(out.Buckets) != 1 || *out.Buckets[0].Name != "bobs" {
		t.Fatalf("bob's buckets: %+v %v", out, err)
	}
	_, err = e.anon().ListBuckets(ctx, &s3.ListBucketsInput{})
	wantCode(t, "anonymous ListBuckets", err, "AccessDenied")
}

// TestAnonymousRefusals: what S3 refuses anonymous callers whatever a policy grants, in its words, and what it
// answers them otherwise.
func TestAnonymousRefusals(t *testing.T) {
	e := newEnv(t, WithLegacyBucketDefaults())
	ctx := context.Background()
	alice, anon := e.alice(), e.anon()
	mustCreate(t, alice, "open")
	all := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::open","arn:aws:s3:::open/*"]}]}`
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("open"), Policy: aws.String(all)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		msg  string
	}{
		{"create bucket", func() error {
			_, err := anon.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("anon-bucket")})
			return err
		}, "Anonymous users cannot invoke this API. Please authenticate."},
		{"put bucket acl", func() error {
			_, err := anon.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("open"), ACL: types.BucketCannedACLPublicRead})
			return err
		}, "Anonymous users cannot invoke this API. Please authenticate."},
		{"get ownership controls", func() error {
			_, err := anon.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: aws.String("open")})
			return err
		}, "s3:GetBucketOwnershipControls does not support Anonymous requests!"},
		{"put ownership controls", func() error {
			_, err := anon.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: aws.String("open"),
				OwnershipControls: &types.OwnershipControls{Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipObjectWriter}}}})
			return err
		}, "s3:PutBucketOwnershipControls does not support Anonymous requests!"},
		{"copy", func() error {
			_, err := anon.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("open"), Key: aws.String("b"), CopySource: aws.String("open/a")})
			return err
		}, "Anonymous users cannot copy objects. Please authenticate."},
		{"multipart", func() error {
			_, err := anon.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("open"), Key: aws.String("m")})
			return err
		}, "Anonymous users cannot initiate multipart uploads. Please authenticate."},
		{"part copy into another's upload", func() error {
			putString(t, alice, "open", "src", "alice's")
			defer alice.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("open"), Key: aws.String("src")})
			up, err := alice.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("open"), Key: aws.String("p")})
			if err != nil {
				return err
			}
			_, err = anon.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("open"), Key: aws.String("p"), UploadId: up.UploadId,
				PartNumber: aws.Int32(1), CopySource: aws.String("open/src")})
			return err
		}, "Anonymous users cannot copy objects. Please authenticate."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if apiCode(err) != "AccessDenied" || apiMessage(err) != tc.msg {
				t.Fatalf("got %v", err)
			}
		})
	}
	// What the policy grants, an anonymous caller may do.
	putString(t, anon, "open", "a", "anon")
	if out, err := anon.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("open")}); err != nil || len(out.Contents) != 1 {
		t.Fatalf("anonymous list: %v", err)
	}
	// A private bucket's ACL is not theirs to read; a missing bucket is missing for everyone.
	mustCreate(t, alice, "closed")
	_, err := anon.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("closed")})
	wantCode(t, "anonymous GetBucketAcl", err, "AccessDenied")
	_, err = anon.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("missing")})
	wantCode(t, "anonymous GetBucketAcl of a missing bucket", err, "NoSuchBucket")
}

// TestMissingKeyWithoutList: a caller who may read objects but not list the bucket gets 403 for a key that does
// not exist, as S3 answers; with s3:ListBucket, 404.
func TestMissingKeyWithoutList(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.alice()
	mustCreate(t, alice, "nolist")
	bobAccount := strings.TrimPrefix(strings.TrimSuffix(e.callerARN(t, e.bobKey, ""), ":root"), "arn:aws:iam::")
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + bobAccount + `"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::nolist/*"}]}`
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("nolist"), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	_, err := getString(e.bob(), "nolist", "missing")
	wantCode(t, "missing key without ListBucket", err, "AccessDenied")
	_, err = getString(alice, "nolist", "missing")
	wantCode(t, "missing key for the owner", err, "NoSuchKey")
}

// TestConditionKeys: conditions on what the request says (s3:prefix) and on the object's tags
// (s3:ExistingObjectTag/<key>).
func TestConditionKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob := e.alice(), e.bob()
	mustCreate(t, alice, "cond")
	bobAccount := strings.TrimPrefix(strings.TrimSuffix(e.callerARN(t, e.bobKey, ""), ":root"), "arn:aws:iam::")
	doc := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"` + bobAccount + `"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::cond","Condition":{"StringEquals":{"s3:prefix":"public/"}}},
		{"Effect":"Allow","Principal":{"AWS":"` + bobAccount + `"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::cond/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/share":"yes"}}},
		{"Effect":"Allow","Principal":{"AWS":"` + bobAccount + `"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::cond","Condition":{"NumericLessThanEquals":{"s3:max-keys":"10"},"StringEquals":{"s3:prefix":"small/"}}}]}`
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("cond"), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cond"), Prefix: aws.String("public/")}); err != nil {
		t.Fatalf("list public/: %v", err)
	}
	_, err := bob.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cond"), Prefix: aws.String("private/")})
	wantCode(t, "list private/", err, "AccessDenied")
	_, err = bob.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cond")})
	wantCode(t, "list without a prefix", err, "AccessDenied")
	if _, err := bob.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cond"), Prefix: aws.String("small/"), MaxKeys: aws.Int32(5)}); err != nil {
		t.Fatalf("list small/ with max-keys 5: %v", err)
	}
	_, err = bob.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("cond"), Prefix: aws.String("small/"), MaxKeys: aws.Int32(50)})
	wantCode(t, "list small/ with max-keys 50", err, "AccessDenied")

	if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cond"), Key: aws.String("shared"), Body: strings.NewReader("s"), Tagging: aws.String("share=yes")}); err != nil {
		t.Fatal(err)
	}
	putString(t, alice, "cond", "secret", "x")
	if body, err := getString(bob, "cond", "shared"); err != nil || body != "s" {
		t.Fatalf("get of a shared object: %q %v", body, err)
	}
	_, err = getString(bob, "cond", "secret")
	wantCode(t, "get of an untagged object", err, "AccessDenied")
	// Tagging the object shares it.
	if _, err := alice.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("cond"), Key: aws.String("secret"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("share"), Value: aws.String("yes")}}}}); err != nil {
		t.Fatal(err)
	}
	if body, err := getString(bob, "cond", "secret"); err != nil || body != "x" {
		t.Fatalf("get after tagging: %q %v", body, err)
	}
}

// TestBucketPolicyOnlyByTheOwnersAccount: S3 lets only the bucket owner's account read, replace or delete a
// bucket policy. Another account granted "s3:*" on the bucket (a common cross-account grant) gets 405
// MethodNotAllowed, as S3 answers it, and the policy stays as the owner wrote it: otherwise the grantee could
// rewrite the owner's policy (grant itself more, lift the owner's Deny statements).
func TestBucketPolicyOnlyByTheOwnersAccount(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob := e.alice(), e.bob()
	mustCreate(t, alice, "shared")
	bobAccount := strings.TrimPrefix(strings.TrimSuffix(e.callerARN(t, e.bobKey, e.bobSecret), ":root"), "arn:aws:iam::")
	doc := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"` + bobAccount + `"},"Action":"s3:*","Resource":["arn:aws:s3:::shared","arn:aws:s3:::shared/*"]},
		{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::shared/*"}]}`
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("shared"), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	// The grant works for what it is meant for.
	putString(t, bob, "shared", "k", "from bob")

	mine := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + bobAccount + `"},"Action":"s3:*","Resource":["arn:aws:s3:::shared","arn:aws:s3:::shared/*"]}]}`
	tests := []struct {
		name string
		call func() error
	}{
		{name: "PutBucketPolicy", call: func() error {
			_, err := bob.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("shared"), Policy: aws.String(mine)})
			return err
		}},
		{name: "GetBucketPolicy", call: func() error {
			_, err := bob.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("shared")})
			return err
		}},
		{name: "DeleteBucketPolicy", call: func() error {
			_, err := bob.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("shared")})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if apiCode(err) != "MethodNotAllowed" || httpStatus(err) != http.StatusMethodNotAllowed {
				t.Fatalf("another account's %s: %v, want 405 MethodNotAllowed", tc.name, err)
			}
			got, err := alice.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("shared")})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(got.Policy) != doc {
				t.Fatalf("the owner's policy was changed to %s", aws.ToString(got.Policy))
			}
		})
	}
}

// TestAnonymousUploadCannotPublish: a drop box (a bucket with ACLs on whose policy lets anyone upload, and only
// upload) stays one. An anonymous upload that sets an ACL is refused, as S3 refuses anonymous callers
// s3:PutObjectAcl: otherwise anyone could make what they drop publicly readable and serve it from the bucket.
func TestAnonymousUploadCannotPublish(t *testing.T) {
	e := newEnv(t, WithLegacyBucketDefaults())
	ctx := context.Background()
	alice, anon := e.alice(), e.anon()
	mustCreate(t, alice, "dropbox")
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::dropbox/in/*"}]}`
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("dropbox"), Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		in       s3.PutObjectInput
		wantCode string // "" for success
	}{
		{name: "canned public-read", in: s3.PutObjectInput{ACL: types.ObjectCannedACLPublicRead}, wantCode: "AccessDenied"},
		{name: "a grant to everyone", in: s3.PutObjectInput{GrantRead: aws.String(`uri="http://acs.amazonaws.com/groups/global/AllUsers"`)}, wantCode: "AccessDenied"},
		{name: "no ACL", wantCode: ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "in/" + string(rune('a'+i))
			in := tc.in
			in.Bucket, in.Key, in.Body = aws.String("dropbox"), aws.String(key), strings.NewReader("dropped")
			_, err := anon.PutObject(ctx, &in)
			wantCode(t, "anonymous upload", err, tc.wantCode)
			// Nobody but the bucket's owner reads what was dropped.
			_, err = getString(anon, "dropbox", key)
			wantCode(t, "anonymous read", err, "AccessDenied")
			got, err := getString(alice, "dropbox", key)
			if tc.wantCode != "" {
				wantCode(t, "the owner's read of a refused upload", err, "NoSuchKey")
				return
			}
			if err != nil || got != "dropped" {
				t.Fatalf("the owner reads %q, %v", got, err)
			}
		})
	}
}

// racingAuthorizer is S3's own authorizer with a write slipped in right after a decision: what a client overwriting
// the object at that moment would do.
type racingAuthorizer struct {
	inner  Authorizer
	action string
	race   func()
}

func (r *racingAuthorizer) Authorize(ctx context.Context, req AccessRequest) error {
	err := r.inner.Authorize(ctx, req)
	if race := r.race; req.Action == r.action && race != nil {
		r.race = nil // the race's own requests run through here too
		race()
	}
	return err
}

// TestReadsTheVersionAuthorized: a read returns the version its caller was authorized for. A policy that denies
// reading objects tagged secret=true must hold even when the object is overwritten with a secret version between
// the decision and the read: the read answers the version that was decided on, or nothing.
func TestReadsTheVersionAuthorized(t *testing.T) {
	ctx := context.Background()
	racing := &racingAuthorizer{action: "s3:GetObject"}
	e := newEnv(t, func(s *Server) { racing.inner = policyAuthorizer{s}; s.authz = racing })
	alice := e.alice()
	mustCreate(t, alice, "docs")
	reader := e.newUser(t, aliceKey, aliceSecret, "reader", nil, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/*"},
		{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/secret":"true"}}}]}`)
	tests := []struct {
		name string
		get  func(key string) (string, error)
	}{
		{name: "GET", get: func(key string) (string, error) { return getString(reader, "docs", key) }},
		{name: "ranged GET", get: func(key string) (string, error) {
			out, err := reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("docs"), Key: aws.String(key), Range: aws.String("bytes=0-99")})
			if err != nil {
				return "", err
			}
			defer out.Body.Close()
			b, err := io.ReadAll(out.Body)
			return string(b), err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "report-" + strings.ReplaceAll(tc.name, " ", "-")
			putString(t, alice, "docs", key, "public summary")
			racing.race = func() {
				_, err := e.store.PutObject(ctx, objectstore.PutObjectInput{Bucket: "docs", Key: key, Body: strings.NewReader("SECRET figures"), Size: 14,
					Owner: e.aliceOwner, Subresources: map[string][]byte{objectstore.SubresourceTagging: objectstore.EncodeTags([]objectstore.Tag{{Key: "secret", Value: "true"}})}})
				if err != nil {
					t.Error(err)
				}
			}
			got, err := tc.get(key)
			if err == nil && got != "public summary" {
				t.Fatalf("the reader got %q, a version its policy denies", got)
			}
			if err != nil && apiCode(err) != "AccessDenied" {
				t.Fatal(err)
			}
			// Afterwards the secret version is the object, and it is denied.
			_, err = tc.get(key)
			wantCode(t, "read of the secret version", err, "AccessDenied")
		})
	}
}

// TestCopiesTheVersionAuthorized: a copy's read of its source is decided on the version the copy opened, as a
// GET is: a source overwritten with a version the caller may not read, between the request's authorization and
// the copy, is refused, not copied where the caller can read it.
func TestCopiesTheVersionAuthorized(t *testing.T) {
	ctx := context.Background()
	racing := &racingAuthorizer{action: "s3:GetObject"}
	e := newEnv(t, func(s *Server) { racing.inner = policyAuthorizer{s}; s.authz = racing })
	alice := e.alice()
	mustCreate(t, alice, "docs")
	copier := e.newUser(t, aliceKey, aliceSecret, "copier", nil, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::docs/*"},
		{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/secret":"true"}}}]}`)
	tests := []struct {
		name string
		copy func(src, dst string) error
	}{
		{name: "CopyObject", copy: func(src, dst string) error {
			_, err := copier.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("docs"), Key: aws.String(dst), CopySource: aws.String("docs/" + src),
				TaggingDirective: types.TaggingDirectiveReplace})
			return err
		}},
		{name: "UploadPartCopy", copy: func(src, dst string) error {
			up, err := copier.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("docs"), Key: aws.String(dst)})
			if err != nil {
				return err
			}
			part, err := copier.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("docs"), Key: aws.String(dst), UploadId: up.UploadId,
				PartNumber: aws.Int32(1), CopySource: aws.String("docs/" + src)})
			if err != nil {
				return err
			}
			_, err = copier.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("docs"), Key: aws.String(dst), UploadId: up.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.CopyPartResult.ETag}}}})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := "src-"+tc.name, "dst-"+tc.name
			putString(t, alice, "docs", src, "public summary")
			racing.race = func() {
				_, err := e.store.PutObject(ctx, objectstore.PutObjectInput{Bucket: "docs", Key: src, Body: strings.NewReader("SECRET figures"), Size: 14,
					Owner: e.aliceOwner, Subresources: map[string][]byte{objectstore.SubresourceTagging: objectstore.EncodeTags([]objectstore.Tag{{Key: "secret", Value: "true"}})}})
				if err != nil {
					t.Error(err)
				}
			}
			err := tc.copy(src, dst)
			if got, gerr := getString(copier, "docs", dst); gerr == nil && got != "public summary" {
				t.Fatalf("the copier copied and reads %q, a version its policy denies (copy: %v)", got, err)
			}
			if err != nil && apiCode(err) != "AccessDenied" {
				t.Fatal(err)
			}
		})
	}
}

// TestMissingKeyWithListGrant: whoever may list the bucket learns that a key does not exist (404 NoSuchKey), by an
// ACL grant as by a policy, anonymous or not; whoever may not gets 403, and so does a caller a policy explicitly
// denies s3:GetObject (ceph/s3-tests test_object_raw_get_object_gone, test_cors_origin_response).
func TestMissingKeyWithListGrant(t *testing.T) {
	e := newEnv(t, WithLegacyBucketDefaults())
	ctx := context.Background()
	alice := e.alice()
	for name, acl := range map[string]types.BucketCannedACL{"pub": types.BucketCannedACLPublicRead, "priv": types.BucketCannedACLPrivate,
		"denied": types.BucketCannedACLPublicRead, "authread": types.BucketCannedACLAuthenticatedRead} {
		if _, err := alice.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name), ACL: acl}); err != nil {
			t.Fatal(err)
		}
		if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String("private"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::denied/gone*"}]}`
	if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("denied"), Policy: aws.String(deny)}); err != nil {
		t.Fatal(err)
	}
	// A key that was there and was deleted, as the suite does it.
	if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pub"), Key: aws.String("gone"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("pub"), Key: aws.String("gone")}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		c           *s3.Client
		bucket, key string
		code        string
		status      int
	}{
		{name: "anonymous, public-read bucket, deleted key", c: e.anon(), bucket: "pub", key: "gone", code: "NoSuchKey", status: 404},
		{name: "anonymous, public-read bucket, never there", c: e.anon(), bucket: "pub", key: "never", code: "NoSuchKey", status: 404},
		{name: "anonymous, public-read bucket, private object", c: e.anon(), bucket: "pub", key: "private", code: "AccessDenied", status: 403},
		{name: "other account, public-read bucket", c: e.bob(), bucket: "pub", key: "never", code: "NoSuchKey", status: 404},
		{name: "other account, authenticated-read bucket", c: e.bob(), bucket: "authread", key: "never", code: "NoSuchKey", status: 404},
		{name: "anonymous, authenticated-read bucket", c: e.anon(), bucket: "authread", key: "never", code: "AccessDenied", status: 403},
		{name: "anonymous, private bucket", c: e.anon(), bucket: "priv", key: "never", code: "AccessDenied", status: 403},
		{name: "other account, private bucket", c: e.bob(), bucket: "priv", key: "never", code: "AccessDenied", status: 403},
		{name: "explicit deny of GetObject", c: e.anon(), bucket: "denied", key: "gone", code: "AccessDenied", status: 403},
		{name: "no deny on this key", c: e.anon(), bucket: "denied", key: "never", code: "NoSuchKey", status: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := getString(tc.c, tc.bucket, tc.key)
			if apiCode(err) != tc.code || httpStatus(err) != tc.status {
				t.Errorf("GET: %v, want %d %s", err, tc.status, tc.code)
			}
			_, err = tc.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(tc.bucket), Key: aws.String(tc.key)})
			if httpStatus(err) != tc.status {
				t.Errorf("HEAD: %v, want %d", err, tc.status)
			}
		})
	}
}

// blobFiles counts the blob files of the store: what an upload left on disk.
func (e *env) blobFiles(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.dir, "content", "blobs", "sha256"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(entries)
}

// TestWritesBoundToTheBucketAuthorized: a write lands in the bucket it was authorized on, or nowhere. When the
// bucket is deleted and its name taken by another account while the write is under way (between the decision and
// the commit: a long upload), the write is NoSuchBucket and the new owner's bucket stays as it was: no object of
// alice's in bob's bucket, no object of bob's deleted by alice, no blob left on disk.
func TestWritesBoundToTheBucketAuthorized(t *testing.T) {
	ctx := context.Background()
	racing := &racingAuthorizer{}
	e := newEnv(t, func(s *Server) { racing.inner = policyAuthorizer{s}; s.authz = racing })
	alice, bob := e.alice(), e.bob()
	mustCreate(t, alice, "sources")
	putString(t, alice, "sources", "big", strings.Repeat("s", 300<<10))
	big := strings.Repeat("b", 300<<10) // a blob, not inline in the index
	// removeDocs empties the bucket "docs" and deletes it.
	removeDocs := func() {
		out, err := e.store.ListObjects(ctx, "docs", objectstore.ListObjectsInput{})
		if err != nil {
			t.Error(err)
			return
		}
		for _, o := range out.Objects {
			if _, err := e.store.DeleteObject(ctx, objectstore.DeleteObjectInput{Bucket: "docs", Key: o.Key}); err != nil {
				t.Error(err)
			}
		}
		if err := e.store.DeleteBucket(ctx, "docs"); err != nil {
			t.Error(err)
		}
	}
	// takeOver deletes alice's bucket "docs" and makes it bob's, with bob's object "mine".
	takeOver := func() {
		removeDocs()
		if _, err := bob.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("docs")}); err != nil {
			t.Error(err)
		}
		putString(t, bob, "docs", "mine", "bob's")
	}
	tests := []struct {
		name   string
		action string
		// setup runs before the race is armed; write is the request the race interrupts.
		setup func(t *testing.T) func() error
	}{
		{name: "PutObject", action: "s3:PutObject", setup: func(t *testing.T) func() error {
			return func() error {
				_, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("docs"), Key: aws.String("new"), Body: strings.NewReader(big)})
				return err
			}
		}},
		{name: "CopyObject", action: "s3:PutObject", setup: func(t *testing.T) func() error {
			return func() error {
				_, err := alice.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("docs"), Key: aws.String("new"), CopySource: aws.String("sources/big")})
				return err
			}
		}},
		{name: "CompleteMultipartUpload", action: "s3:PutObject", setup: func(t *testing.T) func() error {
			up, parts := uploadOf(t, alice, "docs", "new", "", "", []byte(big))
			return func() error {
				_, err := alice.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("docs"), Key: aws.String("new"),
					UploadId: up, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
				return err
			}
		}},
		{name: "DeleteObject", action: "s3:DeleteObject", setup: func(t *testing.T) func() error {
			return func() error {
				_, err := alice.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("docs"), Key: aws.String("mine")})
				return err
			}
		}},
		{name: "DeleteObjects", action: "s3:DeleteObject", setup: func(t *testing.T) func() error {
			return func() error {
				out, err := alice.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("docs"),
					Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("mine")}}}})
				if err == nil && len(out.Errors) == 1 {
					return &smithy.GenericAPIError{Code: aws.ToString(out.Errors[0].Code)}
				}
				if err == nil {
					return errors.New("DeleteObjects reported no error")
				}
				return err
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustCreate(t, alice, "docs")
			t.Cleanup(removeDocs)
			putString(t, alice, "docs", "mine", "alice's")
			write := tc.setup(t)
			blobs := e.blobFiles(t)
			racing.action, racing.race = tc.action, takeOver
			err := write()
			racing.race = nil
			wantCode(t, tc.name+" into a bucket taken over", err, "NoSuchBucket")
			out, lerr := bob.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("docs")})
			if lerr != nil {
				t.Fatal(lerr)
			}
			if keys := objectKeys(out.Contents); len(keys) != 1 || keys[0] != "mine" {
				t.Fatalf("bob's bucket holds %v, want only his object", keys)
			}
			if got, err := getString(bob, "docs", "mine"); err != nil || got != "bob's" {
				t.Fatalf("bob's object reads %q, %v", got, err)
			}
			// Alice's uploaded part went with her bucket; what the write itself stored must be gone too.
			if n := e.blobFiles(t); n > blobs {
				t.Fatalf("%d blob files after the refused write, %d before", n, blobs)
			}
		})
	}
}

// TestSubresourcesOfTheVersionAuthorized: a request about an object's tags, ACL or attributes is decided on the
// version it reads or changes. A user whose policy keeps it away from objects tagged secret=true must not read
// the tags, ACL or attributes of a secret version, nor re-tag it, strip its tags or make it public, when the
// object is overwritten with that secret version between the decision and the read or change.
func TestSubresourcesOfTheVersionAuthorized(t *testing.T) {
	ctx := context.Background()
	racing := &racingAuthorizer{}
	e := newEnv(t, WithLegacyBucketDefaults(), func(s *Server) { racing.inner = policyAuthorizer{s}; s.authz = racing })
	alice := e.alice()
	mustCreate(t, alice, "docs")
	actions := `["s3:GetObject","s3:GetObjectAttributes","s3:GetObjectTagging","s3:PutObjectTagging","s3:DeleteObjectTagging","s3:GetObjectAcl","s3:PutObjectAcl"]`
	user := e.newUser(t, aliceKey, aliceSecret, "tagger", nil, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":`+actions+`,"Resource":"arn:aws:s3:::docs/*"},
		{"Effect":"Deny","Action":`+actions+`,"Resource":"arn:aws:s3:::docs/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/secret":"true"}}}]}`)
	const public, secret = "public summary", "SECRET figures, not for the tagger"
	// check looks at the secret version afterwards, as alice sees it.
	secretTags := func(t *testing.T, key string) {
		t.Helper()
		out, err := alice.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("docs"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if got := tagsOf(out.TagSet); got != "secret=true" {
			t.Fatalf("the secret version's tags are %q now", got)
		}
	}
	tests := []struct {
		name   string
		action string
		// call is the user's request; it returns what the request showed of the object ("" for a change).
		call  func(key string) (string, error)
		after func(t *testing.T, key string)
	}{
		{name: "GetObjectTagging", action: "s3:GetObjectTagging", call: func(key string) (string, error) {
			out, err := user.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("docs"), Key: aws.String(key)})
			if err != nil {
				return "", err
			}
			return tagsOf(out.TagSet), nil
		}},
		{name: "PutObjectTagging", action: "s3:PutObjectTagging", call: func(key string) (string, error) {
			_, err := user.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("docs"), Key: aws.String(key),
				Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("secret"), Value: aws.String("false")}}}})
			return "", err
		}, after: secretTags},
		{name: "DeleteObjectTagging", action: "s3:DeleteObjectTagging", call: func(key string) (string, error) {
			_, err := user.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: aws.String("docs"), Key: aws.String(key)})
			return "", err
		}, after: secretTags},
		{name: "GetObjectAcl", action: "s3:GetObjectAcl", call: func(key string) (string, error) {
			out, err := user.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("docs"), Key: aws.String(key)})
			if err != nil {
				return "", err
			}
			return strings.Join(grantList(out.Grants), ","), nil
		}},
		{name: "PutObjectAcl", action: "s3:PutObjectAcl", call: func(key string) (string, error) {
			_, err := user.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("docs"), Key: aws.String(key), ACL: types.ObjectCannedACLPublicRead})
			return "", err
		}, after: func(t *testing.T, key string) {
			if _, err := getString(e.anon(), "docs", key); apiCode(err) != "AccessDenied" {
				t.Fatalf("anonymous read of the secret version: %v, want AccessDenied", err)
			}
		}},
		{name: "GetObjectAttributes", action: "s3:GetObject", call: func(key string) (string, error) {
			out, err := user.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String("docs"), Key: aws.String(key),
				ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesObjectSize}})
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%s %d", aws.ToString(out.ETag), aws.ToInt64(out.ObjectSize)), nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "report-" + tc.name
			if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("docs"), Key: aws.String(key), Body: strings.NewReader(public),
				Tagging: aws.String("label=summary"), ACL: types.ObjectCannedACLAuthenticatedRead}); err != nil {
				t.Fatal(err)
			}
			shown, err := tc.call(key) // the answer about the public version, for comparison
			if err != nil {
				t.Fatal(err)
			}
			if tc.after != nil { // a change: put the public version back as it was
				if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("docs"), Key: aws.String(key), Body: strings.NewReader(public),
					Tagging: aws.String("label=summary"), ACL: types.ObjectCannedACLAuthenticatedRead}); err != nil {
					t.Fatal(err)
				}
			}
			racing.action, racing.race = tc.action, func() {
				_, err := e.store.PutObject(ctx, objectstore.PutObjectInput{Bucket: "docs", Key: key, Body: strings.NewReader(secret), Size: int64(len(secret)),
					Owner: e.aliceOwner, Subresources: map[string][]byte{objectstore.SubresourceTagging: objectstore.EncodeTags([]objectstore.Tag{{Key: "secret", Value: "true"}})}})
				if err != nil {
					t.Error(err)
				}
			}
			got, err := tc.call(key)
			racing.race = nil
			switch {
			case err != nil && apiCode(err) != "AccessDenied":
				t.Fatal(err)
			case err == nil && got != shown:
				t.Fatalf("the user was shown %q of a version its policy denies (the public one shows %q)", got, shown)
			}
			if tc.after != nil {
				if err == nil {
					t.Fatal("the change was made: on the secret version, or on the public one after it was replaced")
				}
				tc.after(t, key)
			}
		})
	}
}

// TestTaggingTheVersionThereIsNow: a change decided on a version that a write replaces before the change is made is
// decided again on the new version, and made there when allowed: the caller's tags end up on the object as it is.
func TestTaggingTheVersionThereIsNow(t *testing.T) {
	ctx := context.Background()
	racing := &racingAuthorizer{action: "s3:PutObjectTagging"}
	e := newEnv(t, func(s *Server) { racing.inner = policyAuthorizer{s}; s.authz = racing })
	alice := e.alice()
	mustCreate(t, alice, "docs")
	putString(t, alice, "docs", "k", "first")
	racing.race = func() {
		if _, err := e.store.PutObject(ctx, objectstore.PutObjectInput{Bucket: "docs", Key: "k", Body: strings.NewReader("second"), Size: 6, Owner: e.aliceOwner}); err != nil {
			t.Error(err)
		}
	}
	if _, err := alice.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("docs"), Key: aws.String("k"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := getString(alice, "docs", "k"); got != "second" {
		t.Fatalf("object %q, want the version the race wrote", got)
	}
	out, err := alice.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("docs"), Key: aws.String("k")})
	if err != nil || tagsOf(out.TagSet) != "a=b" {
		t.Fatalf("tags of the current version: %v, %v", out, err)
	}
}

// TestConditionalWritePolicies: a bucket policy can require conditional writes with the s3:if-none-match and
// s3:if-match condition keys, exempting the multipart requests that cannot carry the headers with
// s3:ObjectCreationOperation, as AWS's "Enforce conditional writes on Amazon S3 buckets" shows: a write without
// the header is AccessDenied, one with it is decided on its condition (412 when the key exists), and an upload's
// Create and UploadPart go through while its Complete needs the header.
func TestConditionalWritePolicies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.alice()
	mustCreate(t, alice, "once")
	mustCreate(t, alice, "matched")
	for bucket, cond := range map[string]string{
		// Deny object-creating writes that do not say If-None-Match: *, and anything else carrying it.
		"once": `{"Null":{"s3:if-none-match":"true"},"Bool":{"s3:ObjectCreationOperation":"true"}}`,
		// Deny overwrites that do not name the ETag of the version they replace (new keys need If-None-Match).
		"matched": `{"Null":{"s3:if-match":"true","s3:if-none-match":"true"},"Bool":{"s3:ObjectCreationOperation":"true"}}`,
	} {
		doc := `{"Version":"2012-10-17","Statement":[{"Sid":"RequireConditionalWrites","Effect":"Deny","Principal":"*","Action":"s3:PutObject",
			"Resource":"arn:aws:s3:::` + bucket + `/*","Condition":` + cond + `}]}`
		if _, err := alice.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(bucket, key string, ifMatch, ifNoneMatch *string) error {
		_, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(key),
			IfMatch: ifMatch, IfNoneMatch: ifNoneMatch})
		return err
	}
	star := aws.String("*")
	wantCode(t, "PUT without If-None-Match", put("once", "a", nil, nil), "AccessDenied")
	if err := put("once", "a", nil, star); err != nil {
		t.Fatalf("PUT with If-None-Match: %v", err)
	}
	wantCode(t, "PUT with If-None-Match over an existing key", put("once", "a", nil, star), "PreconditionFailed")
	_, err := alice.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("once"), Key: aws.String("b"), CopySource: aws.String("once/a")})
	wantCode(t, "CopyObject without If-None-Match", err, "AccessDenied")

	// A multipart upload: Create and UploadPart are exempt (s3:ObjectCreationOperation is false for them), the
	// Complete that makes the object is not.
	up, parts := uploadOf(t, alice, "once", "big", "", "", []byte("part one"))
	complete := func(ifNoneMatch *string) error {
		_, err := alice.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("once"), Key: aws.String("big"), UploadId: up,
			IfNoneMatch: ifNoneMatch, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		return err
	}
	wantCode(t, "Complete without If-None-Match", complete(nil), "AccessDenied")
	if err := complete(star); err != nil {
		t.Fatalf("Complete with If-None-Match: %v", err)
	}

	if err := put("matched", "k", nil, star); err != nil {
		t.Fatalf("a new key with If-None-Match: %v", err)
	}
	head, err := alice.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("matched"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "an overwrite without If-Match", put("matched", "k", nil, nil), "AccessDenied")
	wantCode(t, "an overwrite with another ETag", put("matched", "k", aws.String(`"0123456789abcdef0123456789abcdef"`), nil), "PreconditionFailed")
	if err := put("matched", "k", head.ETag, nil); err != nil {
		t.Fatalf("an overwrite with its ETag: %v", err)
	}
}

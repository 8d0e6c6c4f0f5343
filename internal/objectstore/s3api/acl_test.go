package s3api

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func (e *env) canonicalID(t *testing.T, key string) string {
	t.Helper()
	id, _, err := e.ids.Lookup(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return id.CanonicalID
}

func grantList(out []types.Grant) []string {
	var got []string
	for _, g := range out {
		who := string(g.Grantee.Type) + ":"
		switch {
		case g.Grantee.URI != nil:
			who += (*g.Grantee.URI)[strings.LastIndexByte(*g.Grantee.URI, '/')+1:]
		case g.Grantee.ID != nil:
			who += (*g.Grantee.ID)[:8]
		}
		got = append(got, who+"="+string(g.Permission))
	}
	return got
}

// TestACLsDisabled: under S3's current default, Object Ownership BucketOwnerEnforced, ACLs grant nothing, only an
// ACL giving the bucket owner full control is accepted, and reads of ACLs show the owner's full control.
func TestACLsDisabled(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.alice()
	mustCreate(t, alice, "enforced")
	aliceID := e.canonicalID(t, aliceKey)

	acl, err := alice.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("enforced")})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(grantList(acl.Grants), " "); got != "CanonicalUser:"+aliceID[:8]+"=FULL_CONTROL" || *acl.Owner.ID != aliceID {
		t.Fatalf("bucket ACL %s, owner %v", got, *acl.Owner.ID)
	}
	_, err = alice.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("enforced"), ACL: types.BucketCannedACLPublicRead})
	wantCode(t, "public-read bucket ACL", err, "AccessControlListNotSupported")
	if _, err := alice.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("enforced"), ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Fatalf("private bucket ACL: %v", err)
	}
	_, err = alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enforced"), Key: aws.String("k"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead})
	wantCode(t, "public-read object", err, "AccessControlListNotSupported")
	if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enforced"), Key: aws.String("k"), Body: strings.NewReader("x"),
		ACL: types.ObjectCannedACLBucketOwnerFullControl}); err != nil {
		t.Fatalf("bucket-owner-full-control object: %v", err)
	}
	oacl, err := alice.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("enforced"), Key: aws.String("k")})
	if err != nil || strings.Join(grantList(oacl.Grants), " ") != "CanonicalUser:"+aliceID[:8]+"=FULL_CONTROL" {
		t.Fatalf("object ACL %v %v", grantList(oacl.Grants), err)
	}
	_, err = alice.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("with-acl"), ACL: types.BucketCannedACLPublicRead})
	wantCode(t, "create with a public ACL", err, "InvalidBucketAclWithObjectOwnership")
	if _, err := alice.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("with-acl")}); err == nil {
		t.Fatal("a refused bucket was created")
	}
}

// TestACLsEnabled: a bucket with Object Ownership ObjectWriter; grants to another account by ACL, objects another
// account writes belong to it until it gives the bucket owner full control, and ACLs cannot be turned off while
// the bucket ACL grants someone else.
func TestACLsEnabled(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob := e.alice(), e.bob()
	bobID := e.canonicalID(t, e.bobKey)
	aliceID := e.canonicalID(t, aliceKey)
	if _, err := alice.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("writer"), ObjectOwnership: types.ObjectOwnershipObjectWriter}); err != nil {
		t.Fatal(err)
	}
	own, err := alice.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: aws.String("writer")})
	if err != nil || own.OwnershipControls.Rules[0].ObjectOwnership != types.ObjectOwnershipObjectWriter {
		t.Fatalf("ownership: %v", err)
	}
	_, err = bob.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("writer")})
	wantCode(t, "bob lists before a grant", err, "AccessDenied")
	if _, err := alice.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("writer"), GrantRead: aws.String(`id="` + bobID + `"`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("writer")}); err != nil {
		t.Fatalf("bob lists with a READ grant: %v", err)
	}
	acl, err := alice.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("writer")})
	if err != nil || strings.Join(grantList(acl.Grants), " ") != "CanonicalUser:"+bobID[:8]+"=READ" || *acl.Grants[0].Grantee.DisplayName != "bob" {
		t.Fatalf("bucket ACL %v %v", grantList(acl.Grants), err)
	}
	// Block Public Access (on by default) refuses a public ACL.
	_, err = alice.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("writer"), ACL: types.BucketCannedACLPublicRead})
	wantCode(t, "public ACL under BlockPublicAcls", err, "AccessDenied")

	// An object ACL grants bob that object only.
	if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("writer"), Key: aws.String("for-bob"), Body: strings.NewReader("hi bob"),
		GrantRead: aws.String(`id="` + bobID + `"`)}); err != nil {
		t.Fatal(err)
	}
	putString(t, alice, "writer", "not-for-bob", "secret")
	if body, err := getString(bob, "writer", "for-bob"); err != nil || body != "hi bob" {
		t.Fatalf("bob reads his object: %q %v", body, err)
	}
	_, err = getString(bob, "writer", "not-for-bob")
	wantCode(t, "bob reads another object", err, "AccessDenied")

	// Bob may write (bucket WRITE); what he writes is his.
	if _, err := alice.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("writer"), GrantRead: aws.String(`id="` + bobID + `"`),
		GrantWrite: aws.String(`id="` + bobID + `"`), GrantFullControl: aws.String(`id="` + aliceID + `"`)}); err != nil {
		t.Fatal(err)
	}
	putString(t, bob, "writer", "bobs", "bob's data")
	_, err = getString(alice, "writer", "bobs")
	wantCode(t, "the bucket owner reads bob's object", err, "AccessDenied")
	if _, err := bob.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("writer"), Key: aws.String("shared"), Body: strings.NewReader("for alice"),
		ACL: types.ObjectCannedACLBucketOwnerFullControl}); err != nil {
		t.Fatal(err)
	}
	if body, err := getString(alice, "writer", "shared"); err != nil || body != "for alice" {
		t.Fatalf("the bucket owner reads what bob shared: %q %v", body, err)
	}
	oacl, err := bob.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("writer"), Key: aws.String("shared")})
	if err != nil || *oacl.Owner.ID != bobID || len(oacl.Grants) != 2 {
		t.Fatalf("bob's object ACL: %+v %v", grantList(oacl.Grants), err)
	}
	// The bucket owner may still delete what bob wrote.
	if _, err := alice.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("writer"), Key: aws.String("bobs")}); err != nil {
		t.Fatalf("owner deletes bob's object: %v", err)
	}

	// ACLs cannot be disabled while the bucket ACL grants bob.
	enforce := &types.OwnershipControls{Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}}}
	_, err = alice.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: aws.String("writer"), OwnershipControls: enforce})
	wantCode(t, "enforce with a bucket ACL granting bob", err, "InvalidBucketAclWithObjectOwnership")
	if _, err := alice.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("writer"), ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: aws.String("writer"), OwnershipControls: enforce}); err != nil {
		t.Fatal(err)
	}
	// Now the bucket owner owns everything, what bob shared and what he kept alike, and object ACLs grant nothing.
	if body, err := getString(alice, "writer", "shared"); err != nil || body != "for alice" {
		t.Fatalf("owner reads after enforcing: %q %v", body, err)
	}
	_, err = getString(bob, "writer", "for-bob")
	wantCode(t, "bob's object grant after enforcing", err, "AccessDenied")
	if _, err := alice.DeleteBucketOwnershipControls(ctx, &s3.DeleteBucketOwnershipControlsInput{Bucket: aws.String("writer")}); err != nil {
		t.Fatal(err)
	}
	_, err = alice.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: aws.String("writer")})
	wantCode(t, "ownership controls deleted", err, "OwnershipControlsNotFoundError")
	if body, err := getString(bob, "writer", "for-bob"); err != nil || body != "hi bob" {
		t.Fatalf("bob's object grant counts again: %q %v", body, err)
	}
}

// TestLegacyDefaults: with WithLegacyBucketDefaults a new bucket has ACLs enabled and no Block Public Access, as
// S3 buckets made before April 2023 (and ceph/s3-tests) expect: canned ACLs make buckets and objects public.
func TestLegacyDefaults(t *testing.T) {
	e := newEnv(t, WithLegacyBucketDefaults())
	ctx := context.Background()
	alice, bob, anon := e.alice(), e.bob(), e.anon()
	if _, err := alice.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("old"), ACL: types.BucketCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	_, err := alice.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: aws.String("old")})
	wantCode(t, "ownership controls of a legacy bucket", err, "OwnershipControlsNotFoundError")
	_, err = alice.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: aws.String("old")})
	wantCode(t, "public access block of a legacy bucket", err, "NoSuchPublicAccessBlockConfiguration")

	putString(t, alice, "old", "private", "p")
	for key, canned := range map[string]types.ObjectCannedACL{"public": types.ObjectCannedACLPublicRead, "members": types.ObjectCannedACLAuthenticatedRead} {
		if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("old"), Key: aws.String(key), Body: strings.NewReader(key), ACL: canned}); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := anon.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("old")}); err != nil || len(out.Contents) != 3 {
		t.Fatalf("anonymous list of a public-read bucket: %v", err)
	}
	for _, tc := range []struct {
		client *s3.Client
		who    string
		key    string
		want   string
	}{
		{anon, "anonymous", "public", ""},
		{anon, "anonymous", "members", "AccessDenied"},
		{anon, "anonymous", "private", "AccessDenied"},
		{bob, "bob", "members", ""},
		{bob, "bob", "private", "AccessDenied"},
	} {
		_, err := getString(tc.client, "old", tc.key)
		if apiCode(err) != tc.want {
			t.Errorf("%s reads %s: %v", tc.who, tc.key, err)
		}
	}
	oacl, err := alice.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: aws.String("old"), Key: aws.String("public")})
	if err != nil || strings.Join(grantList(oacl.Grants), " ") != "CanonicalUser:"+e.canonicalID(t, aliceKey)[:8]+"=FULL_CONTROL Group:AllUsers=READ" {
		t.Fatalf("public-read object ACL: %v %v", grantList(oacl.Grants), err)
	}
	// IgnorePublicAcls takes the public grants away without changing them.
	if _, err := alice.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("old"),
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{IgnorePublicAcls: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	_, err = getString(anon, "old", "public")
	wantCode(t, "anonymous read under IgnorePublicAcls", err, "AccessDenied")
	_, err = anon.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("old")})
	wantCode(t, "anonymous list under IgnorePublicAcls", err, "AccessDenied")
	// Public ACLs can still be set (BlockPublicAcls is off).
	if _, err := alice.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: aws.String("old"), Key: aws.String("private"), ACL: types.ObjectCannedACLPublicReadWrite}); err != nil {
		t.Fatal(err)
	}
}

// TestACLDocuments: the ways a PUT ?acl sets an ACL, and S3's errors for each way it can be wrong.
func TestACLDocuments(t *testing.T) {
	e := newEnv(t, WithLegacyBucketDefaults())
	ctx := context.Background()
	mustCreate(t, e.alice(), "acls")
	aliceID, bobID := e.canonicalID(t, aliceKey), e.canonicalID(t, e.bobKey)
	policy := func(owner string, grants ...string) string {
		return `<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>` + owner + `</ID></Owner><AccessControlList>` +
			strings.Join(grants, "") + `</AccessControlList></AccessControlPolicy>`
	}
	grant := func(grantee, perm string) string {
		return `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ` + grantee + `</Grantee><Permission>` + perm + `</Permission></Grant>`
	}
	user := func(id string) string { return `xsi:type="CanonicalUser"><ID>` + id + `</ID>` }
	group := func(uri string) string { return `xsi:type="Group"><URI>` + uri + `</URI>` }
	for _, tc := range []struct {
		name   string
		header http.Header
		body   string
		code   string
		grants string
	}{
		{name: "body with a user and a group", body: policy(aliceID, grant(user(aliceID), "FULL_CONTROL"), grant(user(bobID), "READ"),
			grant(group("http://acs.amazonaws.com/groups/s3/LogDelivery"), "WRITE")),
			grants: "alice:FULL_CONTROL bob:READ LogDelivery:WRITE"},
		{name: "another namespace prefix", body: `<AccessControlPolicy><Owner><ID>` + aliceID + `</ID></Owner><AccessControlList><Grant><Grantee xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="CanonicalUser"><ID>` + bobID + `</ID></Grantee><Permission>WRITE_ACP</Permission></Grant></AccessControlList></AccessControlPolicy>`,
			grants: "bob:WRITE_ACP"},
		{name: "canned", header: http.Header{"X-Amz-Acl": {"authenticated-read"}}, grants: "alice:FULL_CONTROL AuthenticatedUsers:READ"},
		{name: "grant headers", header: http.Header{"X-Amz-Grant-Read": {`id="` + bobID + `", uri="http://acs.amazonaws.com/groups/global/AllUsers"`},
			"X-Amz-Grant-Full-Control": {`id=` + aliceID}}, grants: "bob:READ AllUsers:READ alice:FULL_CONTROL"},
		{name: "not xml", body: "grant bob", code: "MalformedACLError"},
		{name: "unknown permission", body: policy(aliceID, grant(user(bobID), "EVERYTHING")), code: "MalformedACLError"},
		{name: "grantee without a type", body: policy(aliceID, `<Grant><Grantee><ID>`+bobID+`</ID></Grantee><Permission>READ</Permission></Grant>`), code: "MalformedACLError"},
		{name: "unknown user", body: policy(aliceID, grant(user(strings.Repeat("0", 64)), "READ")), code: "InvalidArgument"},
		{name: "unknown group", body: policy(aliceID, grant(group("http://acs.amazonaws.com/groups/global/Everyone"), "READ")), code: "InvalidArgument"},
		{name: "email grantee", body: policy(aliceID, grant(`xsi:type="AmazonCustomerByEmail"><EmailAddress>bob@example.com</EmailAddress>`, "READ")), code: "UnresolvableGrantByEmailAddress"},
		{name: "email in a header", header: http.Header{"X-Amz-Grant-Read": {`emailAddress="bob@example.com"`}}, code: "UnresolvableGrantByEmailAddress"},
		{name: "another owner", body: policy(bobID, grant(user(bobID), "FULL_CONTROL")), code: "AccessDenied"},
		{name: "canned and grants", header: http.Header{"X-Amz-Acl": {"private"}, "X-Amz-Grant-Read": {`id="` + bobID + `"`}}, code: "InvalidRequest"},
		{name: "unknown canned ACL", header: http.Header{"X-Amz-Acl": {"public"}}, code: "InvalidArgument"},
		{name: "bad grant header", header: http.Header{"X-Amz-Grant-Read": {`name="bob"`}}, code: "InvalidArgument"},
		{name: "headers and a body", header: http.Header{"X-Amz-Acl": {"private"}}, body: policy(aliceID), code: "UnexpectedContent"},
		{name: "nothing", code: "MissingSecurityHeader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(t, "PUT", "/acls?acl", tc.header, tc.body)
			if tc.code != "" {
				var doc errorDoc
				xml.Unmarshal([]byte(body), &doc)
				if doc.Code != tc.code || resp.StatusCode/100 != 4 {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			out, err := e.alice().GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("acls")})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range out.Grants {
				who := ""
				switch {
				case g.Grantee.URI != nil:
					who = (*g.Grantee.URI)[strings.LastIndexByte(*g.Grantee.URI, '/')+1:]
				case *g.Grantee.ID == aliceID:
					who = "alice"
				case *g.Grantee.ID == bobID:
					who = "bob"
				}
				got = append(got, who+":"+string(g.Permission))
			}
			if strings.Join(got, " ") != tc.grants {
				t.Fatalf("grants %v, want %s", got, tc.grants)
			}
		})
	}
}

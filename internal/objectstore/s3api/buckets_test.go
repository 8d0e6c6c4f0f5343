package s3api

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func nowUTC() time.Time { return time.Now().UTC() }

func TestBuckets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice, bob := e.alice(), e.bob()
	if _, err := alice.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bobs")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client *s3.Client
		in     s3.CreateBucketInput
		code   string
		status int
	}{
		{name: "owned by you", client: alice, in: s3.CreateBucketInput{Bucket: aws.String("photos")}, code: "BucketAlreadyOwnedByYou", status: 409},
		{name: "owned by another", client: bob, in: s3.CreateBucketInput{Bucket: aws.String("photos")}, code: "BucketAlreadyExists", status: 409},
		{name: "invalid name", client: alice, in: s3.CreateBucketInput{Bucket: aws.String("Not_Valid")}, code: "InvalidBucketName", status: 400},
		{name: "ip address", client: alice, in: s3.CreateBucketInput{Bucket: aws.String("10.0.0.1")}, code: "InvalidBucketName", status: 400},
		{name: "us-east-1 named explicitly", client: alice, in: s3.CreateBucketInput{Bucket: aws.String("explicit"),
			CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "us-east-1"}}, code: "InvalidLocationConstraint", status: 400},
		{name: "another region", client: alice, in: s3.CreateBucketInput{Bucket: aws.String("elsewhere"),
			CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "eu-west-1"}}, code: "IllegalLocationConstraintException", status: 400},
		{name: "anonymous", client: e.anon(), in: s3.CreateBucketInput{Bucket: aws.String("anon")}, code: "AccessDenied", status: 403},
		{name: "object lock", client: alice, in: s3.CreateBucketInput{Bucket: aws.String("locked"), ObjectLockEnabledForBucket: aws.Bool(true)}, code: "NotImplemented", status: 501},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.CreateBucket(ctx, &tc.in)
			if apiCode(err) != tc.code || httpStatus(err) != tc.status {
				t.Fatalf("err %v (status %d), want %s %d", err, httpStatus(err), tc.code, tc.status)
			}
		})
	}

	list, err := alice.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Buckets) != 1 || aws.ToString(list.Buckets[0].Name) != "photos" || list.Owner == nil || aws.ToString(list.Owner.ID) != e.aliceOwner.ID {
		t.Fatalf("alice's buckets %+v owner %+v", list.Buckets, list.Owner)
	}
	if c := list.Buckets[0].CreationDate; c == nil || time.Since(*c) > time.Minute {
		t.Errorf("creation date %v", c)
	}
	if _, err := e.anon().ListBuckets(ctx, &s3.ListBucketsInput{}); apiCode(err) != "AccessDenied" {
		t.Errorf("anonymous list: %v", err)
	}

	if _, err := alice.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Errorf("head: %v", err)
	}
	if _, err := alice.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nope")}); httpStatus(err) != 404 {
		t.Errorf("head missing: %v", err)
	}
	if _, err := bob.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")}); httpStatus(err) != 403 {
		t.Errorf("head of another's bucket: %v", err)
	}
	loc, err := alice.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("photos")})
	if err != nil || loc.LocationConstraint != "" {
		t.Errorf("location %q %v", loc.LocationConstraint, err)
	}

	if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); apiCode(err) != "BucketNotEmpty" || httpStatus(err) != 409 {
		t.Fatalf("delete non-empty: %v", err)
	}
	if _, err := bob.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); apiCode(err) != "AccessDenied" {
		t.Fatalf("bob deletes alice's bucket: %v", err)
	}
	if _, err := alice.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); apiCode(err) != "NoSuchBucket" || httpStatus(err) != 404 {
		t.Fatalf("delete missing: %v", err)
	}
}

func TestBucketVersioningConfig(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("bkt")})
	if err != nil || got.Status != "" {
		t.Fatalf("new bucket: %q %v", got.Status, err)
	}
	for _, st := range []types.BucketVersioningStatus{types.BucketVersioningStatusEnabled, types.BucketVersioningStatusSuspended} {
		if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("bkt"),
			VersioningConfiguration: &types.VersioningConfiguration{Status: st}}); err != nil {
			t.Fatal(err)
		}
		got, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("bkt")})
		if err != nil || got.Status != st {
			t.Fatalf("after %s: %q %v", st, got.Status, err)
		}
	}
	resp, body := e.raw(t, "PUT", "/bkt?versioning", http.Header{}, `<VersioningConfiguration><Status>Sometimes</Status></VersioningConfiguration>`)
	var doc errorDoc
	xml.Unmarshal([]byte(body), &doc)
	if resp.StatusCode != 400 || doc.Code != "MalformedXML" {
		t.Fatalf("bad status: %d %s", resp.StatusCode, body)
	}
	resp, body = e.raw(t, "PUT", "/bkt?versioning", http.Header{}, `<VersioningConfiguration`)
	if resp.StatusCode != 400 || !strings.Contains(body, "<Code>MalformedXML</Code>") {
		t.Fatalf("broken XML: %d %s", resp.StatusCode, body)
	}
}

// TestErrorShape checks S3's error document: code, message, the extra elements, resource and request ID (the
// one sent in x-amz-request-id).
func TestErrorShape(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.alice().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path string
		status             int
		code, message      string
		key, bucket        string
	}{
		{name: "no such key", method: "GET", path: "/bkt/dir/missing.txt", status: 404, code: "NoSuchKey", message: "The specified key does not exist.", key: "dir/missing.txt"},
		{name: "no such bucket", method: "GET", path: "/nope/k", status: 404, code: "NoSuchBucket", message: "The specified bucket does not exist", bucket: "nope"},
		{name: "unknown sub-resource", method: "GET", path: "/bkt?website", status: 501, code: "NotImplemented"},
		{name: "object lock not served", method: "PUT", path: "/bkt/k?retention", status: 501, code: "NotImplemented"},
		{name: "method", method: "POST", path: "/bkt/k", status: 405, code: "MethodNotAllowed"},
		{name: "no such upload", method: "GET", path: "/bkt/k?uploadId=abc", status: 404, code: "NoSuchUpload"},
		{name: "bad version id", method: "GET", path: "/bkt/k?versionId=%21%21", status: 400, code: "InvalidArgument"},
		{name: "bad max-keys", method: "GET", path: "/bkt?max-keys=ten", status: 400, code: "InvalidArgument"},
		{name: "bad encoding type", method: "GET", path: "/bkt?encoding-type=base64", status: 400, code: "InvalidArgument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(t, tc.method, tc.path, nil, "")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/xml" {
				t.Errorf("content type %q", ct)
			}
			var doc errorDoc
			if err := xml.Unmarshal([]byte(body), &doc); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if doc.Code != tc.code || (tc.message != "" && doc.Message != tc.message) || doc.Message == "" {
				t.Errorf("code %q message %q", doc.Code, doc.Message)
			}
			if doc.RequestID == "" || doc.RequestID != resp.Header.Get("x-amz-request-id") || doc.HostID == "" {
				t.Errorf("request id %q, header %q", doc.RequestID, resp.Header.Get("x-amz-request-id"))
			}
			if doc.Resource == "" || doc.Key != tc.key || doc.Bucket != tc.bucket {
				t.Errorf("resource %q key %q bucket %q", doc.Resource, doc.Key, doc.Bucket)
			}
			if !strings.HasPrefix(body, "<?xml") || strings.Contains(body, "xmlns") {
				t.Errorf("document %s", body)
			}
		})
	}
}

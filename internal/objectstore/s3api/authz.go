package s3api

import (
	"context"
	"net/http"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/objectstore"
)

// AccessRequest is one authorization question: may the caller perform Action on Bucket (and Key)?
type AccessRequest struct {
	// Info is who asks, from where, how (cloud.InfoFrom of the request).
	Info cloud.RequestInfo
	// Action is the IAM action, "s3:GetObject", "s3:ListBucket", … (as a bucket policy names it).
	Action string
	// Bucket is the bucket acted on; nil for ListBuckets and CreateBucket.
	Bucket *objectstore.Bucket
	// Key and VersionID name the object acted on ("" for a bucket action).
	Key       string
	VersionID string
	// Request is the HTTP request, for condition keys (s3:prefix, s3:x-amz-acl, headers).
	Request *http.Request
}

// Resource is the ARN the request acts on: arn:aws:s3:::bucket, arn:aws:s3:::bucket/key, or "*".
func (a AccessRequest) Resource() string {
	switch {
	case a.Bucket == nil:
		return "*"
	case a.Key == "":
		return "arn:aws:s3:::" + a.Bucket.Name
	}
	return "arn:aws:s3:::" + a.Bucket.Name + "/" + a.Key
}

// Authorizer decides whether a request may proceed: nil allows it, an error (AccessDenied) refuses it. It is
// asked once per action, after the bucket is known to exist (S3 answers NoSuchBucket before AccessDenied) and
// before anything is read or written; a copy asks for s3:GetObject on its source and s3:PutObject on its target.
//
// Access control (ACLs, bucket policies, identity policies, Public Access Block) is an Authorizer: it can read
// what it needs from the engine (BucketConfig for a policy, an object's Subresources for its ACL).
type Authorizer interface {
	Authorize(ctx context.Context, req AccessRequest) error
}

// OwnerOnly is the default Authorizer: a bucket's owner account (its root and its IAM users) may do anything with
// the bucket and its objects, any signed caller may list its own buckets and create buckets, anonymous callers
// may do nothing.
type OwnerOnly struct{}

// Authorize implements Authorizer.
func (OwnerOnly) Authorize(ctx context.Context, req AccessRequest) error {
	id := req.Info.Identity
	if id.Anonymous || id.AccountID == "" {
		return errAccessDenied
	}
	if req.Bucket != nil && req.Bucket.Owner.AccountID != id.AccountID {
		return errAccessDenied
	}
	return nil
}

var errAccessDenied = s3Error("AccessDenied", "")

// authorize asks the Authorizer about an action of this request.
func (s *Server) authorize(rq *request, action string, b *objectstore.Bucket, key, versionID string) error {
	return s.authz.Authorize(rq.ctx, AccessRequest{Info: rq.info, Action: action, Bucket: b, Key: key, VersionID: versionID, Request: rq.r})
}

// bucketFor looks the request's bucket up and authorizes action on it (and key).
func (s *Server) bucketFor(rq *request, action, key, versionID string) (*objectstore.Bucket, error) {
	b, err := s.store.Bucket(rq.ctx, rq.bucket)
	if err != nil {
		return nil, err
	}
	// x-amz-expected-bucket-owner guards a client against writing to a bucket someone else owns.
	if want := rq.r.Header.Get("X-Amz-Expected-Bucket-Owner"); want != "" && want != b.Owner.AccountID {
		return nil, errAccessDenied
	}
	if err := s.authorize(rq, action, &b, key, versionID); err != nil {
		return nil, err
	}
	return &b, nil
}

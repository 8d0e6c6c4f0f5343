// Package cloud is Berth's AWS-style endpoint: one HTTP endpoint that serves S3, IAM and EC2 (later ELB, ECS and
// ECR), driven unchanged by the aws CLI (--endpoint-url), the SDKs, s3cmd and boto3.
//
// The endpoint owns what every AWS-style service shares and nothing of their semantics:
//
//   - authentication: SigV4 in the Authorization header and in the query (presigned URLs, expiry enforced),
//     streaming chunked payloads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, each chunk's signature verified as it is
//     read), UNSIGNED-PAYLOAD, a signed payload hash checked against the body, SigV2 (header and query) where s3cmd
//     uses it, and a clock skew limit of 15 minutes (RequestTimeTooSkewed);
//   - routing: by the service named in the SigV4 credential scope (…/us-east-1/s3/aws4_request), by Host for
//     virtual-host-style buckets (BUCKET.s3.localhost:PORT), anonymous and SigV2 requests to S3 but those of the
//     query protocol (Action=… in a form or the query), which go, anonymous, to the query service they name;
//   - the caller's identity, carried to the service in the request's context (IdentityFrom).
//
// A request's lifecycle:
//
//	ep := cloud.NewEndpoint(creds)            // creds resolves access key IDs to identities and secrets
//	ep.Register("s3", s3Service)              // a Service renders its own errors (S3 XML, EC2 XML, IAM XML)
//	http.ListenAndServe(addr, ep)             // authenticate, route, then s3Service.ServeHTTP(w, r)
//	id := cloud.IdentityFrom(r.Context())     // inside the service: who signed it (Anonymous when nobody did)
//
// A request that fails authentication never reaches the service's handler: the endpoint calls the service's
// WriteError with an *Error (SignatureDoesNotMatch, InvalidAccessKeyId, …). The body a service reads has been
// verified as it streams (chunk signatures, x-amz-content-sha256): a mismatch surfaces as a read error wrapping an
// *Error, so a service that fails on a body read error never commits tampered content.
package cloud

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
)

// Identity is the principal that made a request.
type Identity struct {
	// Anonymous marks an unsigned request; the other fields are empty.
	Anonymous bool
	// AccountID is the 12-digit account the principal belongs to.
	AccountID string
	// CanonicalID is the account's 64-hex-digit canonical user ID (S3's Owner ID and ACL grantee ID).
	CanonicalID string
	// DisplayName is the account's display name (S3's Owner DisplayName).
	DisplayName string
	// UserName is the IAM user's name; empty for the account's root.
	UserName string
	// UserID is the IAM user's unique ID (AIDA…), or the account ID for the root (aws:userid).
	UserID string
	// ARN is arn:aws:iam::ACCOUNT:root or arn:aws:iam::ACCOUNT:user/NAME.
	ARN string
	// AccessKeyID is the key that signed the request.
	AccessKeyID string
	// Policies are the identity-based policy documents (JSON) that apply to an IAM user; the root needs none.
	Policies [][]byte
}

// Root reports whether the identity is an account's root user.
func (id Identity) Root() bool { return !id.Anonymous && id.UserName == "" }

// RequestInfo is what the endpoint learned about a request, for the service's authorization decisions.
type RequestInfo struct {
	Identity Identity
	// Service is the routed service name ("s3", "iam", "ec2").
	Service string
	// Region is the credential scope's region ("us-east-1" when unsigned or SigV2).
	Region string
	// SourceIP is the client's address (aws:SourceIp).
	SourceIP netip.Addr
	// SecureTransport is true when the request came over TLS (aws:SecureTransport).
	SecureTransport bool
	// Bucket is the bucket named by a virtual-host-style Host header ("" for path-style requests).
	Bucket string
	// Presigned marks a request authenticated by query parameters.
	Presigned bool
	// SignatureVersion is "AWS4-HMAC-SHA256" (SigV4), "AWS" (SigV2), or "" for an anonymous request
	// (s3:signatureversion).
	SignatureVersion string
	// RequestID is the request's ID, sent as x-amz-request-id (and x-amzn-RequestId by the query services);
	// services put it in their error bodies (<RequestId>).
	RequestID string
	// HostID is the request's x-amz-id-2 (S3's <HostId>).
	HostID string
}

type infoKey struct{}

// WithInfo returns ctx carrying info. The endpoint calls it; tests of a service call it to fake a caller.
func WithInfo(ctx context.Context, info RequestInfo) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// InfoFrom returns the request information the endpoint attached to ctx; an anonymous caller when there is none.
func InfoFrom(ctx context.Context) RequestInfo {
	if info, ok := ctx.Value(infoKey{}).(RequestInfo); ok {
		return info
	}
	return RequestInfo{Identity: Identity{Anonymous: true}, Region: DefaultRegion}
}

// IdentityFrom returns the identity of the request whose context is ctx.
func IdentityFrom(ctx context.Context) Identity { return InfoFrom(ctx).Identity }

// DefaultRegion is the region reported and expected when a client names none.
const DefaultRegion = "us-east-1"

// Error is an AWS-style error: a code such as "NoSuchBucket", its message, and the HTTP status AWS answers it
// with. Each service renders it in its own shape.
type Error struct {
	Code    string
	Message string
	Status  int
	// Resource optionally names what the error is about (S3's <Resource>).
	Resource string
	// Extra holds service-specific elements rendered after the standard ones (S3's <BucketName>, <Key>,
	// <StringToSign> …), in order.
	Extra [][2]string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// AsError returns err's *Error, or an InternalError wrapping nothing of err's text (internal details are logged by
// the caller, never sent to a client).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: "InternalError", Message: "We encountered an internal error. Please try again.", Status: http.StatusInternalServerError}
}

// Service is one AWS-style API behind the endpoint.
type Service interface {
	// ServeHTTP serves an authenticated (or anonymous) request; InfoFrom(r.Context()) describes the caller.
	http.Handler
	// WriteError renders err (an *Error, or anything else as InternalError) in the service's error shape.
	WriteError(w http.ResponseWriter, r *http.Request, err error)
}

// Credentials resolves an access key ID to the identity it belongs to and its secret key, for signature checks.
// An unknown or inactive key returns an error wrapping errdefs.ErrNotFound.
type Credentials interface {
	Lookup(ctx context.Context, accessKeyID string) (Identity, string, error)
}

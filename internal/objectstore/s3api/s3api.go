// Package s3api serves the S3 REST API over the object store's engine: it parses requests (path-style and
// virtual-host-style addressing, S3's headers and query parameters), asks its Authorizer whether the caller may
// act, calls the engine, and answers with S3's headers and XML, errors included. It is a cloud.Service: the cloud
// endpoint authenticates a request and routes it here, with the caller in the request's context.
//
// A request's path through the package:
//
//	srv := s3api.New(store)                       // store: the engine (objectstore.Backend)
//	ep.Register("s3", srv)                        // the endpoint authenticates, then srv.ServeHTTP(w, r)
//	// ServeHTTP: target (bucket, key) -> route (method, level, sub-resource) -> handler
//	// handler: authorize(ctx, action, bucket, key) -> engine call -> headers and XML
//	// failure: WriteError renders <Error><Code><Message>…<Resource><RequestId><HostId>
package s3api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/objectstore"
)

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the structured logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithAuthorizer replaces the default authorization (S3's: identity policies, bucket policies, ACLs, Object
// Ownership and Block Public Access) with a.
func WithAuthorizer(a Authorizer) Option { return func(s *Server) { s.authz = a } }

// WithPrincipals lets the API check that the accounts and users a bucket policy or an ACL grant names exist, as S3
// does (an *iam.Store is one). Without it any well-formed principal is accepted.
func WithPrincipals(p Principals) Option { return func(s *Server) { s.principals = p } }

// WithLegacyBucketDefaults makes new buckets as S3 made them before April 2023: ACLs enabled (no Object Ownership
// setting, which behaves as ObjectWriter) and no Block Public Access. By default a new bucket has Object
// Ownership BucketOwnerEnforced (ACLs disabled) and all four Block Public Access settings on, as S3 creates them
// today. Test suites written for the old defaults (ceph/s3-tests) and old tutorials need this.
func WithLegacyBucketDefaults() Option { return func(s *Server) { s.legacyDefaults = true } }

// WithClock sets the clock of aws:CurrentTime and of x-amz-expiration; the default is time.Now.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// Server is the S3 API over an engine.
type Server struct {
	store          objectstore.Backend
	log            *slog.Logger
	authz          Authorizer
	principals     Principals
	legacyDefaults bool
	now            func() time.Time
	states         stateCache
	policies       policyCache
}

var _ cloud.Service = (*Server)(nil)

// New returns the S3 API over store.
func New(store objectstore.Backend, opts ...Option) *Server {
	s := &Server{store: store, log: slog.Default(), now: time.Now}
	s.authz = policyAuthorizer{s}
	for _, o := range opts {
		o(s)
	}
	return s
}

// level is what a request addresses.
type level int

const (
	serviceLevel level = iota // GET / (ListBuckets)
	bucketLevel
	objectLevel
)

// request is one S3 request being served.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context
	q      url.Values
	info   cloud.RequestInfo
	bucket string
	key    string
}

// owner is the caller's account as the engine records owners.
func (rq *request) owner() objectstore.Owner {
	id := rq.info.Identity
	return objectstore.Owner{AccountID: id.AccountID, ID: id.CanonicalID, DisplayName: id.DisplayName}
}

// resource is the request's path, as S3 names it in <Resource>.
func (rq *request) resource() string {
	switch {
	case rq.bucket == "":
		return "/"
	case rq.key == "":
		return "/" + rq.bucket
	}
	return "/" + rq.bucket + "/" + rq.key
}

// route is one S3 operation: the method, what it addresses, the sub-resource query parameter that selects it
// ("" when none does) and its handler. New features (ACLs, tagging, CORS, …) add rows to routes.
type route struct {
	method  string
	level   level
	sub     string
	handler func(*Server, *request) error
}

// subresources are the query parameters that select an operation; one the routes do not serve is NotImplemented.
var subresources = []string{
	"accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption", "intelligent-tiering",
	"inventory", "legal-hold", "lifecycle", "location", "logging", "metadataTable", "metrics", "notification",
	"object-lock", "ownershipControls", "partNumber", "policy", "policyStatus", "publicAccessBlock", "renameObject",
	"replication", "requestPayment", "restore", "retention", "select", "session", "tagging", "torrent", "uploadId",
	"uploads", "versioning", "versions", "website",
}

// routes lists the operations served. A route with a sub-resource matches when that parameter is present; one
// without matches when no sub-resource is (partNumber alone is a GetObject parameter, not an operation).
var routes = []route{
	{http.MethodGet, serviceLevel, "", (*Server).listBuckets},

	{http.MethodGet, bucketLevel, "acl", (*Server).getBucketACL},
	{http.MethodPut, bucketLevel, "acl", (*Server).putBucketACL},
	{http.MethodGet, bucketLevel, "policy", (*Server).getBucketPolicy},
	{http.MethodPut, bucketLevel, "policy", (*Server).putBucketPolicy},
	{http.MethodDelete, bucketLevel, "policy", (*Server).deleteBucketPolicy},
	{http.MethodGet, bucketLevel, "policyStatus", (*Server).getBucketPolicyStatus},
	{http.MethodGet, bucketLevel, "publicAccessBlock", (*Server).getPublicAccessBlock},
	{http.MethodPut, bucketLevel, "publicAccessBlock", (*Server).putPublicAccessBlock},
	{http.MethodDelete, bucketLevel, "publicAccessBlock", (*Server).deletePublicAccessBlock},
	{http.MethodGet, bucketLevel, "ownershipControls", (*Server).getOwnershipControls},
	{http.MethodPut, bucketLevel, "ownershipControls", (*Server).putOwnershipControls},
	{http.MethodDelete, bucketLevel, "ownershipControls", (*Server).deleteOwnershipControls},
	{http.MethodGet, bucketLevel, "cors", (*Server).getBucketCORS},
	{http.MethodPut, bucketLevel, "cors", (*Server).putBucketCORS},
	{http.MethodDelete, bucketLevel, "cors", (*Server).deleteBucketCORS},
	{http.MethodGet, bucketLevel, "tagging", (*Server).getBucketTagging},
	{http.MethodPut, bucketLevel, "tagging", (*Server).putBucketTagging},
	{http.MethodDelete, bucketLevel, "tagging", (*Server).deleteBucketTagging},
	{http.MethodGet, bucketLevel, "lifecycle", (*Server).getBucketLifecycle},
	{http.MethodPut, bucketLevel, "lifecycle", (*Server).putBucketLifecycle},
	{http.MethodDelete, bucketLevel, "lifecycle", (*Server).deleteBucketLifecycle},
	{http.MethodGet, bucketLevel, "location", (*Server).getBucketLocation},
	{http.MethodGet, bucketLevel, "versioning", (*Server).getBucketVersioning},
	{http.MethodGet, bucketLevel, "versions", (*Server).listObjectVersions},
	{http.MethodGet, bucketLevel, "uploads", (*Server).listMultipartUploads},
	{http.MethodGet, bucketLevel, "", (*Server).listObjects},
	{http.MethodHead, bucketLevel, "", (*Server).headBucket},
	{http.MethodPut, bucketLevel, "versioning", (*Server).putBucketVersioning},
	{http.MethodPut, bucketLevel, "", (*Server).createBucket},
	{http.MethodDelete, bucketLevel, "", (*Server).deleteBucket},
	{http.MethodPost, bucketLevel, "delete", (*Server).deleteObjects},

	{http.MethodGet, objectLevel, "acl", (*Server).getObjectACL},
	{http.MethodPut, objectLevel, "acl", (*Server).putObjectACL},
	{http.MethodGet, objectLevel, "tagging", (*Server).getObjectTagging},
	{http.MethodPut, objectLevel, "tagging", (*Server).putObjectTagging},
	{http.MethodDelete, objectLevel, "tagging", (*Server).deleteObjectTagging},
	{http.MethodGet, objectLevel, "attributes", (*Server).getObjectAttributes},
	{http.MethodGet, objectLevel, "uploadId", (*Server).listParts},
	{http.MethodGet, objectLevel, "", (*Server).getObject},
	{http.MethodHead, objectLevel, "", (*Server).headObject},
	{http.MethodPut, objectLevel, "uploadId", (*Server).uploadPart},
	{http.MethodPut, objectLevel, "", (*Server).putObject},
	{http.MethodDelete, objectLevel, "uploadId", (*Server).abortMultipartUpload},
	{http.MethodDelete, objectLevel, "", (*Server).deleteObject},
	{http.MethodPost, objectLevel, "uploads", (*Server).createMultipartUpload},
	{http.MethodPost, objectLevel, "uploadId", (*Server).completeMultipartUpload},
}

// plainParams are sub-resource-looking parameters that are plain parameters at a level (GetObject?partNumber).
var plainParams = map[level]map[string]bool{
	objectLevel: {"partNumber": true},
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rq := &request{w: w, r: r, ctx: r.Context(), q: r.URL.Query(), info: cloud.InfoFrom(r.Context())}
	if rq.info.RequestID == "" {
		// Served without the endpoint (tests): give the request its own IDs.
		rq.info.RequestID, rq.info.HostID = newRequestID()
		w.Header().Set("x-amz-request-id", rq.info.RequestID)
		w.Header().Set("x-amz-id-2", rq.info.HostID)
		rq.r = r.WithContext(cloud.WithInfo(r.Context(), rq.info))
		rq.ctx = rq.r.Context()
	}
	rq.bucket, rq.key = target(r, rq.info)
	lvl := serviceLevel
	switch {
	case rq.key != "":
		lvl = objectLevel
	case rq.bucket != "":
		lvl = bucketLevel
	}
	if r.Method == http.MethodOptions && lvl != serviceLevel {
		// A CORS preflight, whatever the query (a presigned URL's parameters included).
		if err := s.preflight(rq); err != nil {
			s.writeError(rq, err)
		}
		return
	}
	if lvl != serviceLevel && r.Header.Get("Origin") != "" {
		s.corsHeaders(rq)
	}
	h, err := s.match(r.Method, lvl, rq.q)
	if err == nil {
		err = h(s, rq)
	}
	if err != nil {
		s.writeError(rq, err)
	}
}

// target returns the bucket and key a request addresses: the bucket from a virtual-host-style Host (the endpoint
// found it) or the path's first segment, the key from the rest of the path.
func target(r *http.Request, info cloud.RequestInfo) (string, string) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	if info.Bucket != "" {
		return info.Bucket, p
	}
	bucket, key, _ := strings.Cut(p, "/")
	return bucket, key
}

// match finds the route of a request.
func (s *Server) match(method string, lvl level, q url.Values) (func(*Server, *request) error, error) {
	present := ""
	for _, sub := range subresources {
		if _, ok := q[sub]; ok && !plainParams[lvl][sub] {
			present = sub
			break
		}
	}
	allowed := false
	for _, rt := range routes {
		if rt.level != lvl {
			continue
		}
		if rt.sub != "" {
			if _, ok := q[rt.sub]; !ok {
				continue
			}
		} else if present != "" {
			continue
		}
		if rt.method == method {
			return rt.handler, nil
		}
		allowed = true
	}
	if present != "" {
		return nil, errNotImplemented
	}
	if allowed || lvl == serviceLevel {
		return nil, objectstore.ErrMethodNotAllowed.With("The specified method is not allowed against this resource.").
			WithExtra("Method", method).WithExtra("ResourceType", resourceType(lvl))
	}
	return nil, errNotImplemented
}

func resourceType(lvl level) string {
	switch lvl {
	case serviceLevel:
		return "SERVICE"
	case bucketLevel:
		return "BUCKET"
	}
	return "OBJECT"
}

// WriteError implements cloud.Service: it renders err as S3's <Error> document with S3's status for its code.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	info := cloud.InfoFrom(r.Context())
	rq := &request{w: w, r: r, ctx: r.Context(), info: info}
	rq.bucket, rq.key = target(r, info)
	s.writeError(rq, err)
}

func (s *Server) writeError(rq *request, err error) {
	e := toCloudError(err)
	if e.Code == "InternalError" {
		s.log.ErrorContext(rq.ctx, "s3 request failed", "method", rq.r.Method, "bucket", rq.bucket, "key", rq.key,
			"request_id", rq.info.RequestID, "error", err)
	}
	if e.Resource == "" {
		e.Resource = rq.resource()
	}
	h := rq.w.Header()
	// A GET of a delete marker says so, with the marker's version.
	if info, ok := objectstore.ObjectInfoOf(err); ok {
		if info.DeleteMarker {
			h.Set("x-amz-delete-marker", "true")
			h.Set("x-amz-version-id", info.VersionID)
			if e.Status == http.StatusMethodNotAllowed {
				h.Set("Last-Modified", httpTime(info.LastModified))
				h.Set("Allow", "DELETE")
			}
		}
		if e.Status == http.StatusNotModified {
			h.Set("ETag", quoteETag(info.ETag))
			h.Set("Last-Modified", httpTime(info.LastModified))
			rq.w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	writeErrorDoc(rq.w, rq.r.Method == http.MethodHead, e, rq.info.RequestID, rq.info.HostID)
}

// errors shared by the handlers
var (
	errNotImplemented = &cloud.Error{Code: "NotImplemented", Status: http.StatusNotImplemented,
		Message: "A header you provided implies functionality that is not implemented"}
)

func isCode(err error, code *objectstore.Error) bool { return errors.Is(err, code) }

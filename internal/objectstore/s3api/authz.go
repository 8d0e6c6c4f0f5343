package s3api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/cloud/policy"
	"github.com/berth/berth/internal/objectstore"
	"github.com/berth/berth/internal/objectstore/access"
)

// AccessRequest is one authorization question: may the caller perform Action on Bucket (and Key)?
type AccessRequest struct {
	// Info is who asks, from where, how (cloud.InfoFrom of the request).
	Info cloud.RequestInfo
	// Action is the IAM action, "s3:GetObject", "s3:ListBucket", … (as a bucket policy names it).
	Action string
	// Bucket is the bucket acted on; nil for ListBuckets and CreateBucket.
	Bucket *objectstore.Bucket
	// BucketName is the bucket CreateBucket creates (Bucket is nil then).
	BucketName string
	// Key and VersionID name the object acted on ("" for a bucket action).
	Key       string
	VersionID string
	// Object is the version acted on when the handler has already opened it (a read): the decision is about that
	// version, its owner, ACL and tags, not about whatever is current by the time it is looked up again.
	Object *objectstore.ObjectInfo
	// Request is the HTTP request, for condition keys (s3:prefix, s3:x-amz-acl, headers).
	Request *http.Request
	// Context holds condition keys the handler knows and the request's headers do not show (the tags of a
	// PutObjectTagging body: s3:RequestObjectTag/<key>). They are added to those derived from Request.
	Context map[string][]string
}

// Resource is the ARN the request acts on: arn:aws:s3:::bucket, arn:aws:s3:::bucket/key, or "*".
func (a AccessRequest) Resource() string {
	name := a.BucketName
	if a.Bucket != nil {
		name = a.Bucket.Name
	}
	switch {
	case name == "":
		return "*"
	case a.Key == "":
		return "arn:aws:s3:::" + name
	}
	return "arn:aws:s3:::" + name + "/" + a.Key
}

// Authorizer decides whether a request may proceed: nil allows it, an error (AccessDenied) refuses it. It is
// asked once per action, after the bucket is known to exist (S3 answers NoSuchBucket before AccessDenied) and
// before anything is written or sent; a request about an existing version (GET, HEAD, GetObjectAttributes, the
// object's tags and ACL) is asked about the version it opened (AccessRequest.Object), so what it returns or
// changes is what was decided on. A copy asks for s3:GetObject on its source (again about the source
// version it opened) and s3:PutObject on its target.
type Authorizer interface {
	Authorize(ctx context.Context, req AccessRequest) error
}

// OwnerOnly is an Authorizer that ignores policies and ACLs: a bucket's owner account (its root and its IAM users)
// may do anything with the bucket and its objects, any signed caller may list its own buckets and create buckets,
// anonymous callers may do nothing.
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

// anonymousRefused are actions S3 refuses every anonymous caller, whatever a bucket policy or ACL grants, with
// its own words.
var anonymousRefused = map[string]string{
	"s3:CreateBucket":               "Anonymous users cannot invoke this API. Please authenticate.",
	"s3:PutBucketAcl":               "Anonymous users cannot invoke this API. Please authenticate.",
	"s3:PutObjectAcl":               "Anonymous users cannot invoke this API. Please authenticate.",
	"s3:PutObjectVersionAcl":        "Anonymous users cannot invoke this API. Please authenticate.",
	"s3:GetBucketOwnershipControls": "s3:GetBucketOwnershipControls does not support Anonymous requests!",
	"s3:PutBucketOwnershipControls": "s3:PutBucketOwnershipControls does not support Anonymous requests!",
}

// policyAuthorizer is the default Authorizer: S3's authorization (package access) over the bucket's policy, ACL,
// Object Ownership and Block Public Access, the object's owner and ACL, and the caller's identity policies.
type policyAuthorizer struct{ s *Server }

// Authorize implements Authorizer.
func (a policyAuthorizer) Authorize(ctx context.Context, req AccessRequest) error {
	s := a.s
	id := req.Info.Identity
	anonymous := id.Anonymous || id.AccountID == ""
	if msg, ok := anonymousRefused[req.Action]; ok && anonymous {
		return s3Error("AccessDenied", msg)
	}
	r := &access.Request{
		Caller:   access.Caller{Anonymous: anonymous, AccountID: id.AccountID, CanonicalID: id.CanonicalID, ARN: id.ARN, UserName: id.UserName},
		Action:   req.Action,
		Resource: req.Resource(),
		Context:  s.conditionKeys(req),
	}
	mentionsExistingTags := false
	if !anonymous && !r.Caller.Root() {
		for _, doc := range id.Policies {
			r.IdentityPolicies = append(r.IdentityPolicies, s.policies.parse(doc))
			mentionsExistingTags = mentionsExistingTags || containsFold(doc, "s3:ExistingObjectTag")
		}
	}
	if req.Bucket != nil {
		st, err := s.state(ctx, *req.Bucket)
		if err != nil {
			return err
		}
		b := st.bucket
		r.BucketOwner = access.Account{ID: b.Owner.AccountID, CanonicalID: b.Owner.ID}
		r.BucketPolicy, r.PolicyPublic, r.BucketACL = st.policy, st.policyPublic, st.acl
		r.Ownership, r.Block = st.ownership, st.block
		if r.Context["s3:ResourceAccount"] == nil {
			r.Context["s3:ResourceAccount"] = []string{b.Owner.AccountID}
		}
		mentionsExistingTags = mentionsExistingTags || containsFold(st.docs[objectstore.ConfigPolicy], "s3:ExistingObjectTag")
		// An action on an existing object looks at the object's owner and ACL (when ACLs count) and its tags
		// (when a policy asks about them).
		if req.Key != "" && access.ObjectContext(req.Action) && (st.ownership.ACLsEnabled() || mentionsExistingTags) {
			var info objectstore.ObjectInfo
			var err error
			if req.Object != nil {
				info = *req.Object
			} else {
				info, err = s.store.StatObject(ctx, b.Name, req.Key, objectstore.GetOptions{VersionID: req.VersionID})
			}
			if err == nil {
				if st.ownership.ACLsEnabled() {
					if info.Owner.ID != "" && info.Owner.ID != b.Owner.ID {
						r.ObjectOwner = access.Account{ID: info.Owner.AccountID, CanonicalID: info.Owner.ID}
					}
					if doc := info.Subresources[objectstore.SubresourceACL]; doc != nil {
						if acl, err := access.DecodeACL(doc); err == nil {
							r.ObjectACL = &acl
						}
					}
				}
				for k, v := range info.TagMap() {
					r.Context["s3:ExistingObjectTag/"+k] = []string{v}
				}
			}
		}
	}
	d := access.Decide(r)
	if d.Allowed {
		return nil
	}
	return accessDenied(req, d.Reason)
}

// refusal is an AccessDenied that says whether a policy's explicit Deny made it: a refusal for want of an Allow
// can still become a 404 for a key that does not exist (see readObject), an explicit Deny cannot.
type refusal struct {
	err      *cloud.Error
	explicit bool
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// explicitlyDenied reports whether err is a refusal by an explicit Deny.
func explicitlyDenied(err error) bool {
	var r *refusal
	return errors.As(err, &r) && r.explicit
}

// accessDenied words a refusal as S3 does: with the principal, the action, the resource and the reason for a
// caller of the resource owner's account, a plain "Access Denied" for anyone else.
func accessDenied(req AccessRequest, why access.Reason) error {
	return &refusal{err: accessDeniedError(req, why), explicit: why == access.ExplicitDenyIdentity || why == access.ExplicitDenyResource}
}

func accessDeniedError(req AccessRequest, why access.Reason) *cloud.Error {
	id := req.Info.Identity
	if id.Anonymous || id.ARN == "" || req.Bucket != nil && req.Bucket.Owner.AccountID != id.AccountID {
		return errAccessDenied
	}
	msg := "User: " + id.ARN + " is not authorized to perform: " + req.Action + " on resource: \"" + req.Resource() + "\" "
	switch why {
	case access.ExplicitDenyIdentity:
		msg += "with an explicit deny in an identity-based policy"
	case access.ExplicitDenyResource:
		msg += "with an explicit deny in a resource-based policy"
	default:
		msg += "because no identity-based policy allows the " + req.Action + " action"
	}
	return s3Error("AccessDenied", msg)
}

func containsFold(doc []byte, s string) bool {
	return strings.Contains(strings.ToLower(string(doc)), strings.ToLower(s))
}

// conditionKeys are the condition keys of a request, as S3 sets them for its actions.
func (s *Server) conditionKeys(req AccessRequest) map[string][]string {
	info := req.Info
	ctx := map[string][]string{}
	set := func(k, v string) { ctx[k] = []string{v} }
	if info.SourceIP.IsValid() {
		set("aws:SourceIp", info.SourceIP.String())
	}
	set("aws:SecureTransport", strconv.FormatBool(info.SecureTransport))
	now := s.now().UTC()
	set("aws:CurrentTime", now.Format(time.RFC3339))
	set("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
	if id := info.Identity; !id.Anonymous && id.AccountID != "" {
		if id.UserID != "" {
			set("aws:userid", id.UserID)
		}
		if id.UserName != "" {
			set("aws:username", id.UserName)
		}
	}
	switch {
	case info.SignatureVersion == "":
	case info.Presigned:
		set("s3:authType", "REST-QUERY-STRING")
	default:
		set("s3:authType", "REST-HEADER")
	}
	if info.SignatureVersion != "" {
		set("s3:signatureversion", info.SignatureVersion)
	}
	if r := req.Request; r != nil {
		h := r.Header
		if v := h.Get("Referer"); v != "" {
			set("aws:Referer", v)
		}
		if v := h.Get("User-Agent"); v != "" {
			set("aws:UserAgent", v)
		}
		for _, name := range []string{"x-amz-acl", "x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp",
			"x-amz-grant-write-acp", "x-amz-grant-full-control", "x-amz-copy-source", "x-amz-metadata-directive",
			"x-amz-storage-class", "x-amz-content-sha256", "x-amz-object-ownership", "x-amz-server-side-encryption",
			"x-amz-server-side-encryption-aws-kms-key-id"} {
			if v := h.Get(name); v != "" {
				set("s3:"+name, v)
			}
		}
		q := r.URL.Query()
		if strings.EqualFold(req.Action, "s3:PutObject") {
			// Conditional writes: a bucket policy can require If-None-Match or If-Match of the requests that make
			// an object (PutObject, CopyObject, CompleteMultipartUpload: s3:ObjectCreationOperation true), and
			// exempt those of a multipart upload that cannot carry them (Create, UploadPart, UploadPartCopy).
			_, part := q["partNumber"]
			_, create := q["uploads"]
			set("s3:ObjectCreationOperation", strconv.FormatBool(!part && !create))
			for _, name := range []string{"If-Match", "If-None-Match"} {
				if v := h.Get(name); v != "" {
					set("s3:"+strings.ToLower(name), v)
				}
			}
		}
		switch req.Action {
		case "s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads":
			for _, name := range []string{"prefix", "delimiter", "max-keys"} {
				if v, ok := q[name]; ok && len(v) > 0 {
					set("s3:"+name, v[0])
				}
			}
		}
		if v := q.Get("versionId"); v != "" && req.VersionID != "" {
			set("s3:VersionId", v)
		}
		if t := h.Get("X-Amz-Tagging"); t != "" && req.Key != "" {
			if tags, err := url.ParseQuery(t); err == nil {
				keys := make([]string, 0, len(tags))
				for k, v := range tags {
					keys = append(keys, k)
					if len(v) > 0 {
						set("s3:RequestObjectTag/"+k, v[0])
					}
				}
				ctx["s3:RequestObjectTagKeys"] = keys
			}
		}
	}
	for k, v := range req.Context {
		ctx[k] = v
	}
	return ctx
}

// authorize asks the Authorizer about an action of this request.
func (s *Server) authorize(rq *request, action string, b *objectstore.Bucket, key, versionID string) error {
	return s.authorizeWith(rq, action, b, key, versionID, nil)
}

// authorizeWith asks the Authorizer with condition keys the handler adds.
func (s *Server) authorizeWith(rq *request, action string, b *objectstore.Bucket, key, versionID string, extra map[string][]string) error {
	return s.authz.Authorize(rq.ctx, AccessRequest{Info: rq.info, Action: action, Bucket: b, Key: key, VersionID: versionID,
		Request: rq.r, Context: extra})
}

// maxVersionAttempts bounds how often a change to a version is tried again when writes keep replacing it.
const maxVersionAttempts = 4

// onVersion serves a request about one version of the request's key, decided on exactly that version: stat
// describes the version the request names, decide is asked about it, and act answers (or changes the version,
// bound to it with SubresourceInput.Of). When stat fails, decide is asked without a version first, so that a
// caller who may not act learns nothing from the failure. When act finds the version replaced since stat
// described it (objectstore.ErrVersionChanged: a write to the key in between), the request is decided and served
// again on the version there is now.
func (s *Server) onVersion(stat func() (objectstore.ObjectInfo, error), decide func(*objectstore.ObjectInfo) error,
	act func(objectstore.ObjectInfo) error) error {
	for attempt := 1; ; attempt++ {
		info, err := stat()
		if err != nil {
			if aerr := decide(nil); aerr != nil {
				return aerr
			}
			return err
		}
		if err := decide(&info); err != nil {
			return err
		}
		err = act(info)
		if !errors.Is(err, objectstore.ErrVersionChanged) || attempt == maxVersionAttempts {
			return err
		}
	}
}

// statOf describes the version of the request's key that opts names.
func (s *Server) statOf(rq *request, b *objectstore.Bucket, opts objectstore.GetOptions) func() (objectstore.ObjectInfo, error) {
	return func() (objectstore.ObjectInfo, error) { return s.store.StatObject(rq.ctx, b.Name, rq.key, opts) }
}

// decider asks the Authorizer about action on the version of the request's key it is given (nil when none could
// be described), with the condition keys in extra.
func (s *Server) decider(rq *request, action string, b *objectstore.Bucket, versionID string, extra map[string][]string) func(*objectstore.ObjectInfo) error {
	return func(info *objectstore.ObjectInfo) error {
		return s.authz.Authorize(rq.ctx, AccessRequest{Info: rq.info, Action: action, Bucket: b, Key: rq.key, VersionID: versionID,
			Object: info, Request: rq.r, Context: extra})
	}
}

// lookupBucket looks the request's bucket up, checking x-amz-expected-bucket-owner.
func (s *Server) lookupBucket(rq *request) (*objectstore.Bucket, error) {
	b, err := s.store.Bucket(rq.ctx, rq.bucket)
	if err != nil {
		return nil, err
	}
	// x-amz-expected-bucket-owner guards a client against acting on a bucket someone else owns.
	if want := rq.r.Header.Get("X-Amz-Expected-Bucket-Owner"); want != "" && want != b.Owner.AccountID {
		return nil, errAccessDenied
	}
	return &b, nil
}

// bucketFor looks the request's bucket up and authorizes action on it (and key).
func (s *Server) bucketFor(rq *request, action, key, versionID string) (*objectstore.Bucket, error) {
	b, err := s.lookupBucket(rq)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(rq, action, b, key, versionID); err != nil {
		return nil, err
	}
	return b, nil
}

// bucketState looks the request's bucket up and reads what its configuration says.
func (s *Server) bucketState(rq *request, b *objectstore.Bucket) (*bucketState, error) {
	return s.state(rq.ctx, *b)
}

var _ Authorizer = policyAuthorizer{}

// denyAll stands for an identity policy that no longer parses: it may have denied something.
var denyAll, _ = policy.Parse([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`), policy.Identity)

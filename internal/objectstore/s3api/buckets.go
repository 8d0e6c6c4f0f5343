package s3api

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/objectstore"
	"github.com/berth/berth/internal/objectstore/access"
)

// listBuckets is GET /: the caller's account's buckets, by name (prefix, max-buckets and continuation-token as
// S3 pages them).
func (s *Server) listBuckets(rq *request) error {
	if err := s.authorize(rq, "s3:ListAllMyBuckets", nil, "", ""); err != nil {
		return err
	}
	max := 10000
	if v := rq.q.Get("max-buckets"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return invalidArgument("Argument max-buckets must be an integer between 1 and 10000", "max-buckets", v)
		}
		max = n
	}
	after := ""
	if tok := rq.q.Get("continuation-token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return invalidArgument("The continuation token provided is incorrect", "continuation-token", tok)
		}
		after = string(b)
	}
	prefix, region := rq.q.Get("prefix"), rq.q.Get("bucket-region")
	all, err := s.store.ListBuckets(rq.ctx)
	if err != nil {
		return err
	}
	out := listAllMyBucketsResult{Owner: ownerOf(rq.owner()), Prefix: prefix, Buckets: []bucketXML{}}
	for _, b := range all {
		if b.Owner.AccountID != rq.info.Identity.AccountID || b.Name <= after || !strings.HasPrefix(b.Name, prefix) ||
			(region != "" && bucketRegion(b) != region) {
			continue
		}
		if len(out.Buckets) == max {
			out.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(out.Buckets[max-1].Name))
			break
		}
		out.Buckets = append(out.Buckets, bucketXML{Name: b.Name, CreationDate: isoTime(b.CreatedAt), BucketRegion: bucketRegion(b)})
	}
	return writeXML(rq.w, out)
}

func bucketRegion(b objectstore.Bucket) string {
	if b.Region == "" {
		return cloud.DefaultRegion
	}
	return b.Region
}

// createBucket is PUT /bucket, with an optional CreateBucketConfiguration naming the region, a canned ACL or
// grants, and x-amz-object-ownership. A new bucket gets the server's defaults (see WithLegacyBucketDefaults),
// stored with it.
func (s *Server) createBucket(rq *request) error {
	if err := objectstore.ValidateBucketName(rq.bucket); err != nil {
		return err
	}
	authorize := func(action string) error {
		return s.authz.Authorize(rq.ctx, AccessRequest{Info: rq.info, Action: action, BucketName: rq.bucket, Request: rq.r})
	}
	if err := authorize("s3:CreateBucket"); err != nil {
		return err
	}
	h := rq.r.Header
	if strings.EqualFold(h.Get("X-Amz-Bucket-Object-Lock-Enabled"), "true") {
		return errNotImplemented
	}
	if err := unsupportedHeaders(h); err != nil {
		return err
	}
	ownership := access.BucketOwnerEnforced
	if v := h.Get("X-Amz-Object-Ownership"); v != "" {
		if !access.ObjectOwnership(v).Valid() {
			return invalidArgument("Invalid x-amz-object-ownership header: "+v, "x-amz-object-ownership", v)
		}
		if err := authorize("s3:PutBucketOwnershipControls"); err != nil {
			return err
		}
		ownership = access.ObjectOwnership(v)
	} else if s.legacyDefaults {
		ownership = access.ObjectWriter
	}
	var cfg createBucketConfiguration
	if rq.r.ContentLength != 0 {
		body, err := readBody(rq.r, maxSmallXMLBody)
		if err != nil {
			return err
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := decodeXML(body, &cfg); err != nil {
				return err
			}
		}
	}
	region := rq.info.Region
	if region == "" {
		region = cloud.DefaultRegion
	}
	switch lc := cfg.LocationConstraint; {
	case lc == "" && region == cloud.DefaultRegion:
	case lc == "":
		return s3Error("IllegalLocationConstraintException", "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to.")
	case lc == cloud.DefaultRegion:
		// S3 refuses to be told us-east-1, its default, explicitly.
		return s3Error("InvalidLocationConstraint", "The specified location-constraint is not valid", [2]string{"LocationConstraint", lc})
	case lc != region:
		return s3Error("IllegalLocationConstraintException", "The "+lc+" location constraint is incompatible for the region specific endpoint this request was sent to.")
	}
	owner := rq.owner()
	configs := map[string][]byte{}
	if h.Get("X-Amz-Object-Ownership") != "" || !s.legacyDefaults {
		configs[objectstore.ConfigOwnership] = []byte(ownership)
	}
	var block access.PublicAccessBlock
	if !s.legacyDefaults {
		block = access.PublicAccessBlock{BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true}
		configs[objectstore.ConfigPublicAccessBlock] = encodeBlock(block)
	}
	if hasACLHeaders(h) {
		if err := authorize("s3:PutBucketAcl"); err != nil {
			return err
		}
		acl, _, err := s.aclFromHeaders(rq.ctx, h, aclOwner(owner), aclOwner(owner))
		if err != nil {
			return err
		}
		switch {
		case !ownership.ACLsEnabled() && !acl.OnlyOwnerFullControl(aclOwner(owner)):
			return errBucketACLWithOwnership()
		case block.BlockPublicAcls && acl.IsPublic():
			return errAccessDenied
		case ownership.ACLsEnabled():
			configs[objectstore.ConfigACL] = acl.Encode()
		}
	}
	if _, err := s.store.CreateBucket(rq.ctx, objectstore.CreateBucketInput{Name: rq.bucket, Owner: owner, Region: region, Configs: configs}); err != nil {
		return err
	}
	rq.w.Header().Set("Location", "/"+rq.bucket)
	rq.w.Header().Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// headBucket is HEAD /bucket.
func (s *Server) headBucket(rq *request) error {
	b, err := s.bucketFor(rq, "s3:ListBucket", "", "")
	if err != nil {
		return err
	}
	rq.w.Header().Set("x-amz-bucket-region", bucketRegion(*b))
	rq.w.Header().Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// deleteBucket is DELETE /bucket.
func (s *Server) deleteBucket(rq *request) error {
	if _, err := s.bucketFor(rq, "s3:DeleteBucket", "", ""); err != nil {
		return err
	}
	if err := s.store.DeleteBucket(rq.ctx, rq.bucket); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// getBucketLocation is GET /bucket?location: empty for us-east-1, as S3 answers.
func (s *Server) getBucketLocation(rq *request) error {
	b, err := s.bucketFor(rq, "s3:GetBucketLocation", "", "")
	if err != nil {
		return err
	}
	loc := b.Region
	if loc == cloud.DefaultRegion {
		loc = ""
	}
	return writeXML(rq.w, locationConstraint{Location: loc})
}

// getBucketVersioning is GET /bucket?versioning: no Status until versioning was first enabled.
func (s *Server) getBucketVersioning(rq *request) error {
	b, err := s.bucketFor(rq, "s3:GetBucketVersioning", "", "")
	if err != nil {
		return err
	}
	return writeXML(rq.w, versioningConfiguration{Status: string(b.Versioning)})
}

// putBucketVersioning is PUT /bucket?versioning.
func (s *Server) putBucketVersioning(rq *request) error {
	if _, err := s.bucketFor(rq, "s3:PutBucketVersioning", "", ""); err != nil {
		return err
	}
	body, err := readBody(rq.r, maxSmallXMLBody)
	if err != nil {
		return err
	}
	var cfg versioningConfiguration
	if err := decodeXML(body, &cfg); err != nil {
		return err
	}
	if cfg.MfaDelete == "Enabled" {
		return s3Error("InvalidRequest", "MFA delete is not supported here.")
	} else if cfg.MfaDelete != "" && cfg.MfaDelete != "Disabled" {
		return malformedXML()
	}
	switch objectstore.Versioning(cfg.Status) {
	case objectstore.VersioningEnabled, objectstore.VersioningSuspended:
	case "":
		return s3Error("IllegalVersioningConfigurationException", "The Versioning element must be specified")
	default:
		return malformedXML()
	}
	if err := s.store.SetVersioning(rq.ctx, rq.bucket, objectstore.Versioning(cfg.Status)); err != nil {
		return err
	}
	rq.w.Header().Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

package s3api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/objectstore"
)

// versionParam reads ?versionId ("" when absent; an empty value is refused as S3 does).
func versionParam(rq *request) (string, error) {
	v, ok := rq.q["versionId"]
	if !ok {
		return "", nil
	}
	if len(v) == 0 || v[0] == "" {
		return "", invalidArgument("Version id cannot be the empty string", "versionId", "")
	}
	return v[0], nil
}

// writeVersionID sets x-amz-version-id when the bucket has (or had) versioning, as S3 does.
func writeVersionID(h http.Header, b *objectstore.Bucket, id string) {
	if b.Versioning != objectstore.Unversioned && id != "" {
		h.Set("x-amz-version-id", id)
	}
}

// writeNewVersionID sets x-amz-version-id on the answer to a write (PUT, copy, completed upload): as
// writeVersionID, except that a write to a versioning-suspended bucket, which makes the null version, answers
// without the header, as S3 does (its PutObject reference shows none in the suspended example); a GET or HEAD
// of that version says "null".
func writeNewVersionID(h http.Header, b *objectstore.Bucket, id string) {
	if id != objectstore.NullVersion {
		writeVersionID(h, b, id)
	}
}

// writeConditions reads If-Match / If-None-Match of a conditional write; S3 supports only "*" for If-None-Match.
func writeConditions(h http.Header) (objectstore.WriteConditions, error) {
	c := objectstore.WriteConditions{IfMatch: h.Get("If-Match"), IfNoneMatch: h.Get("If-None-Match")}
	if c.IfNoneMatch != "" && strings.TrimSpace(c.IfNoneMatch) != "*" {
		return c, errNotImplemented
	}
	return c, nil
}

// bodySize is the length of an upload's body: Content-Length (the endpoint sets it to the decoded length of an
// aws-chunked body). S3 needs it.
func bodySize(r *http.Request) (int64, error) {
	if r.ContentLength < 0 {
		return 0, s3Error("MissingContentLength", "")
	}
	if r.ContentLength > objectstore.MaxObjectSize {
		return 0, s3Error("EntityTooLarge", "", [2]string{"ProposedSize", strconv.FormatInt(r.ContentLength, 10)},
			[2]string{"MaxSizeAllowed", strconv.FormatInt(objectstore.MaxObjectSize, 10)})
	}
	return r.ContentLength, nil
}

// putObject is PUT /bucket/key (or a copy, with x-amz-copy-source).
func (s *Server) putObject(rq *request) error {
	h := rq.r.Header
	if h.Get("X-Amz-Copy-Source") != "" {
		return s.copyObject(rq)
	}
	if err := objectstore.ValidateKey(rq.key); err != nil {
		return err
	}
	b, err := s.bucketFor(rq, "s3:PutObject", rq.key, "")
	if err != nil {
		return err
	}
	if err := unsupportedHeaders(h); err != nil {
		return err
	}
	if err := checkStorageClass(h); err != nil {
		return err
	}
	st, owner, sub, err := s.writeAccess(rq, b)
	if err != nil {
		return err
	}
	size, err := bodySize(rq.r)
	if err != nil {
		return err
	}
	meta, err := readMetadata(h)
	if err != nil {
		return err
	}
	md5sum, err := readContentMD5(h)
	if err != nil {
		return err
	}
	ck, err := readChecksum(rq.r)
	if err != nil {
		return err
	}
	cond, err := writeConditions(h)
	if err != nil {
		return err
	}
	info, err := s.store.PutObject(rq.ctx, objectstore.PutObjectInput{
		Bucket: rq.bucket, BucketID: b.ID, Key: rq.key, Body: rq.r.Body, Size: size, Metadata: meta, ContentMD5: md5sum,
		Checksum: ck, PayloadSHA256: payloadCheck(rq), Conditions: cond, Owner: owner, Subresources: sub,
	})
	if err != nil {
		return err
	}
	out := rq.w.Header()
	out.Set("ETag", quoteETag(info.ETag))
	writeNewVersionID(out, b, info.VersionID)
	writeChecksum(out, info.Checksum)
	writeExpiration(out, st, info)
	out.Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// payloadCheck takes over the endpoint's check of a signed payload's SHA-256 (cloud.PayloadSHA256) for a body
// the store is about to read: the store computes the SHA-256 of what it stores anyway, so the body is hashed once
// instead of twice. Nil when the payload is not signed that way (or the body was read from already).
func payloadCheck(rq *request) *[32]byte {
	p, ok := rq.r.Body.(cloud.PayloadSHA256)
	if !ok {
		return nil
	}
	want, ok := p.TakeSHA256Check()
	if !ok {
		return nil
	}
	return &want
}

// responseOverrides are the GET parameters that replace response headers (signed requests only).
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

func (s *Server) getObject(rq *request) error  { return s.readObject(rq, false) }
func (s *Server) headObject(rq *request) error { return s.readObject(rq, true) }

// readObject is GET or HEAD /bucket/key: by version, by part number or range, under conditions.
func (s *Server) readObject(rq *request, head bool) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	action := "s3:GetObject"
	if versionID != "" {
		action = "s3:GetObjectVersion"
	}
	b, err := s.lookupBucket(rq)
	if err != nil {
		return err
	}
	// The caller is authorized for the version the read opened (its blobs pinned), not for whatever was current
	// a moment before: an overwrite in between would otherwise hand out a version nobody decided on (one its
	// tags or ACL deny). Anything that fails before a version is open is decided first, so that a caller who
	// may not read learns nothing from the failure.
	decide := func(info *objectstore.ObjectInfo) error {
		return s.authz.Authorize(rq.ctx, AccessRequest{Info: rq.info, Action: action, Bucket: b, Key: rq.key, VersionID: versionID,
			Object: info, Request: rq.r})
	}
	opts := objectstore.GetOptions{VersionID: versionID, Conditions: readConditions(rq.r.Header, "")}
	if v := rq.q.Get("partNumber"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > objectstore.MaxParts {
			if err := decide(nil); err != nil {
				return err
			}
			return invalidArgument("Part number must be an integer between 1 and 10000, inclusive", "partNumber", v)
		}
		opts.PartNumber = n
	}
	if rg := rq.r.Header.Get("Range"); rg != "" {
		opts.Range = parseRange(rg)
	}
	for p := range responseOverrides {
		if rq.q.Get(p) != "" && rq.info.Identity.Anonymous {
			if err := decide(nil); err != nil {
				return err
			}
			return s3Error("InvalidRequest", "Request specific response headers cannot be used for anonymous GET requests.")
		}
	}
	var info objectstore.ObjectInfo
	var obj *objectstore.Object
	start, length, partial := int64(0), int64(0), false
	if head && opts.PartNumber == 0 && opts.Range == nil {
		info, err = s.store.StatObject(rq.ctx, rq.bucket, rq.key, opts)
		length = info.Size
	} else {
		obj, err = s.store.GetObject(rq.ctx, rq.bucket, rq.key, opts)
		if err == nil {
			defer obj.Close()
			info, start, length, partial = obj.Info, obj.Start, obj.Length, obj.Partial
		}
	}
	if err == nil {
		err = decide(&info)
		if err != nil {
			return err
		}
	} else if aerr := decide(nil); aerr != nil {
		// Whoever may list the bucket may learn that a key does not exist, whatever grants reading it (an
		// object's ACL cannot, when there is no object): S3 answers 404 then, 403 to anyone else.
		if versionID == "" && isCode(err, objectstore.ErrNoSuchKey) && !explicitlyDenied(aerr) && s.authorize(rq, "s3:ListBucket", b, "", "") == nil {
			return s3Error("NoSuchKey", "", [2]string{"Key", rq.key})
		}
		return aerr
	}
	if err != nil {
		if isCode(err, objectstore.ErrInvalidRange) {
			return invalidRange(err, rq.r.Header.Get("Range"))
		}
		// A caller who may not list the bucket learns nothing of which keys exist: S3 answers 403, not 404.
		if _, marker := objectstore.ObjectInfoOf(err); isCode(err, objectstore.ErrNoSuchKey) && !marker {
			if s.authorize(rq, "s3:ListBucket", b, "", "") != nil {
				return errAccessDenied
			}
		}
		return err
	}
	if obj != nil && !head {
		// A corrupt first block can still be answered with an error instead of a cut response.
		if err := obj.Prefetch(); err != nil {
			return err
		}
	}
	h := rq.w.Header()
	writeMetadata(h, info.Metadata)
	h.Set("ETag", quoteETag(info.ETag))
	h.Set("Last-Modified", httpTime(info.LastModified))
	h.Set("Accept-Ranges", "bytes")
	writeVersionID(h, b, info.VersionID)
	writeTaggingCount(h, info)
	if st, err := s.bucketState(rq, b); err == nil {
		writeExpiration(h, st, info)
	}
	if opts.PartNumber > 0 && info.PartsCount > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(info.PartsCount))
	}
	if strings.EqualFold(rq.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		switch {
		case !partial:
			writeChecksum(h, info.Checksum)
		case opts.PartNumber > 0 && info.PartsCount > 0:
			// A part of a multipart object comes with that part's checksum, and the object's checksum type (how
			// the parts' checksums make the object's).
			if parts := obj.Parts(); opts.PartNumber <= len(parts) {
				ck := parts[opts.PartNumber-1].Checksum
				ck.Type = info.Checksum.Type
				writeChecksum(h, ck)
			}
		}
	}
	for p, name := range responseOverrides {
		if v := rq.q.Get(p); v != "" {
			h.Set(name, v)
		}
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(start+length-1, 10)+"/"+strconv.FormatInt(info.Size, 10))
	}
	rq.w.WriteHeader(status)
	if head || length == 0 {
		return nil
	}
	if _, err := obj.WriteTo(rq.w); err != nil {
		// The status and length are sent: the only way left to tell the client is to cut the response short.
		if errors.Is(err, objectstore.ErrCorrupt) {
			s.log.ErrorContext(rq.ctx, "object data failed verification; aborting the response", "bucket", rq.bucket, "key", rq.key,
				"version", info.VersionID, "request_id", rq.info.RequestID, "error", err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

// invalidRange is S3's 416, with the range asked for and the object's size.
func invalidRange(err error, requested string) error {
	info, _ := objectstore.ObjectInfoOf(err)
	return s3Error("InvalidRange", "", [2]string{"RangeRequested", requested},
		[2]string{"ActualObjectSize", strconv.FormatInt(info.Size, 10)})
}

// deleteConditions reads a conditional delete's If-Match, x-amz-if-match-last-modified-time and
// x-amz-if-match-size.
func deleteConditions(h http.Header) (objectstore.DeleteConditions, error) {
	c := objectstore.DeleteConditions{IfMatch: h.Get("If-Match")}
	if v := h.Get("X-Amz-If-Match-Last-Modified-Time"); v != "" {
		t, ok := parseHTTPTime(v)
		if !ok {
			return c, invalidArgument("Invalid date in x-amz-if-match-last-modified-time", "x-amz-if-match-last-modified-time", v)
		}
		c.LastModified = t
	}
	if v := h.Get("X-Amz-If-Match-Size"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return c, invalidArgument("x-amz-if-match-size must be a non-negative integer", "x-amz-if-match-size", v)
		}
		c.Size = &n
	}
	return c, nil
}

// authorizeDeleteConditions asks for s3:GetObject (or s3:GetObjectVersion) besides the delete when If-Match names
// an ETag: comparing it tells the caller something of the object, so S3 requires both permissions ("*" only asks
// whether there is one).
func (s *Server) authorizeDeleteConditions(rq *request, b *objectstore.Bucket, key, versionID string, c objectstore.DeleteConditions) error {
	if strings.Trim(c.IfMatch, " \t*,") == "" {
		return nil
	}
	action := "s3:GetObject"
	if versionID != "" {
		action = "s3:GetObjectVersion"
	}
	return s.authorize(rq, action, b, key, versionID)
}

// deleteObject is DELETE /bucket/key, conditional with If-Match, x-amz-if-match-last-modified-time or
// x-amz-if-match-size.
func (s *Server) deleteObject(rq *request) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	action := "s3:DeleteObject"
	if versionID != "" {
		action = "s3:DeleteObjectVersion"
	}
	b, err := s.bucketFor(rq, action, rq.key, versionID)
	if err != nil {
		return err
	}
	cond, err := deleteConditions(rq.r.Header)
	if err != nil {
		return err
	}
	if err := s.authorizeDeleteConditions(rq, b, rq.key, versionID, cond); err != nil {
		return err
	}
	out, err := s.store.DeleteObject(rq.ctx, objectstore.DeleteObjectInput{Bucket: rq.bucket, BucketID: b.ID, Key: rq.key, VersionID: versionID, Owner: rq.owner(),
		Conditions: cond})
	if err != nil {
		return err
	}
	h := rq.w.Header()
	if out.DeleteMarker {
		h.Set("x-amz-delete-marker", "true")
	}
	if out.VersionID != "" && (b.Versioning != objectstore.Unversioned || versionID != "") {
		h.Set("x-amz-version-id", out.VersionID)
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxDeleteObjects is how many keys one DeleteObjects may name.
const maxDeleteObjects = 1000

// deleteObjects is POST /bucket?delete: up to 1,000 keys, each deleted (or refused) on its own.
func (s *Server) deleteObjects(rq *request) error {
	bp, err := s.lookupBucket(rq)
	if err != nil {
		return err
	}
	b := *bp
	h := rq.r.Header
	hasChecksum := h.Get("Content-Md5") != "" || h.Get("X-Amz-Trailer") != ""
	for _, a := range objectstore.ChecksumAlgorithms {
		hasChecksum = hasChecksum || h.Get(a.HeaderName()) != ""
	}
	if !hasChecksum {
		return s3Error("InvalidRequest", "Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
	}
	body, err := readBody(rq.r, maxXMLBody)
	if err != nil {
		return err
	}
	var req deleteRequest
	if err := decodeXML(body, &req); err != nil {
		return err
	}
	if len(req.Objects) == 0 || len(req.Objects) > maxDeleteObjects {
		return malformedXML()
	}
	conds := make([]objectstore.DeleteConditions, len(req.Objects))
	for i, o := range req.Objects {
		conds[i] = objectstore.DeleteConditions{IfMatch: o.ETag, Size: o.Size}
		if o.LastModifiedTime != "" {
			t, ok := parseHTTPTime(o.LastModifiedTime)
			if !ok {
				return malformedXML()
			}
			conds[i].LastModified = t
		}
	}
	out := deleteResult{}
	for i, o := range req.Objects {
		fail := func(err error) {
			e := toCloudError(err)
			if e.Code == "InternalError" {
				s.log.ErrorContext(rq.ctx, "delete of one key failed", "bucket", rq.bucket, "key", o.Key, "error", err)
			}
			out.Errors = append(out.Errors, deleteErrorXML{Key: o.Key, VersionID: o.VersionID, Code: e.Code, Message: e.Message})
		}
		action := "s3:DeleteObject"
		if o.VersionID != "" {
			action = "s3:DeleteObjectVersion"
		}
		if err := s.authorize(rq, action, &b, o.Key, o.VersionID); err != nil {
			fail(err)
			continue
		}
		if err := s.authorizeDeleteConditions(rq, &b, o.Key, o.VersionID, conds[i]); err != nil {
			fail(err)
			continue
		}
		res, err := s.store.DeleteObject(rq.ctx, objectstore.DeleteObjectInput{Bucket: rq.bucket, BucketID: b.ID, Key: o.Key, VersionID: o.VersionID, Owner: rq.owner(),
			Conditions: conds[i]})
		if err != nil {
			if isCode(err, objectstore.ErrInvalidArgument) && o.VersionID != "" {
				err = s3Error("NoSuchVersion", "The specified version does not exist.")
			}
			fail(err)
			continue
		}
		if req.Quiet {
			continue
		}
		d := deletedXML{Key: o.Key, VersionID: o.VersionID}
		if res.DeleteMarker {
			d.DeleteMarker = true
			d.DeleteMarkerVersionID = res.VersionID
		}
		out.Deleted = append(out.Deleted, d)
	}
	return writeXML(rq.w, out)
}

// copyObject is PUT /bucket/key with x-amz-copy-source.
func (s *Server) copyObject(rq *request) error {
	h := rq.r.Header
	if rq.info.Identity.Anonymous {
		return s3Error("AccessDenied", "Anonymous users cannot copy objects. Please authenticate.")
	}
	srcBucket, srcKey, srcVersion, err := parseCopySource(h.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	if err := objectstore.ValidateKey(rq.key); err != nil {
		return err
	}
	sb, err := s.sourceBucket(rq, srcBucket)
	if err != nil {
		return err
	}
	srcAction := "s3:GetObject"
	if srcVersion != "" {
		srcAction = "s3:GetObjectVersion"
	}
	if err := s.authorize(rq, srcAction, &sb, srcKey, srcVersion); err != nil {
		return err
	}
	b, err := s.bucketFor(rq, "s3:PutObject", rq.key, "")
	if err != nil {
		return err
	}
	if err := unsupportedHeaders(h); err != nil {
		return err
	}
	if err := checkStorageClass(h); err != nil {
		return err
	}
	// The copy gets the ACL its request sets (never the source's) and the source's tags, or with the tagging
	// directive REPLACE the tags of x-amz-tagging.
	replaceTags := false
	switch d := h.Get("X-Amz-Tagging-Directive"); d {
	case "", "COPY":
	case "REPLACE":
		replaceTags = true
	default:
		return invalidArgument("Unknown tagging directive.", "x-amz-tagging-directive", d)
	}
	st, owner, aclSub, err := s.writeACLAccess(rq, b)
	if err != nil {
		return err
	}
	var tagSub map[string][]byte
	if replaceTags {
		if tagSub, err = s.writeTags(rq, b); err != nil {
			return err
		}
	}
	in := objectstore.CopyObjectInput{
		SrcBucket: srcBucket, SrcKey: srcKey, SrcVersionID: srcVersion,
		SrcConditions: readConditions(h, "X-Amz-Copy-Source-"),
		CheckSource:   s.copySourceCheck(rq, srcAction, &sb, srcKey, srcVersion),
		Bucket:        rq.bucket, BucketID: b.ID, Key: rq.key, Owner: owner,
		Subresources: func(src objectstore.ObjectInfo) map[string][]byte {
			if !replaceTags {
				if doc := src.Subresources[objectstore.SubresourceTagging]; doc != nil {
					return mergeSub(aclSub, map[string][]byte{objectstore.SubresourceTagging: doc})
				}
			}
			return mergeSub(aclSub, tagSub)
		},
	}
	switch d := h.Get("X-Amz-Metadata-Directive"); d {
	case "", "COPY":
	case "REPLACE":
		in.ReplaceMetadata = true
		if in.Metadata, err = readMetadata(h); err != nil {
			return err
		}
	default:
		return invalidArgument("Unknown metadata directive.", "x-amz-metadata-directive", d)
	}
	if v := h.Get("X-Amz-Checksum-Algorithm"); v != "" {
		a, ok := objectstore.ParseChecksumAlgorithm(v)
		if !ok {
			return invalidArgument("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]", "x-amz-checksum-algorithm", v)
		}
		in.ChecksumAlgorithm = a
	}
	if in.Conditions, err = writeConditions(h); err != nil {
		return err
	}
	out, err := s.store.CopyObject(rq.ctx, in)
	if err != nil {
		return err
	}
	hh := rq.w.Header()
	writeNewVersionID(hh, b, out.Object.VersionID)
	writeExpiration(hh, st, out.Object)
	if sb.Versioning != objectstore.Unversioned {
		hh.Set("x-amz-copy-source-version-id", out.Source.VersionID)
	}
	res := copyObjectResult{LastModified: isoTime(out.Object.LastModified), ETag: quoteETag(out.Object.ETag), checksumsXML: checksumValues(out.Object.Checksum)}
	if out.Object.Checksum.Algorithm != "" {
		res.ChecksumType = string(out.Object.Checksum.Type)
	}
	return writeXML(rq.w, res)
}

// copySourceCheck decides a copy's read of its source again on the version the copy opened, as a GET is
// decided: the source may have been overwritten since the request was first authorized.
func (s *Server) copySourceCheck(rq *request, action string, sb *objectstore.Bucket, key, versionID string) func(objectstore.ObjectInfo) error {
	return func(src objectstore.ObjectInfo) error {
		return s.authz.Authorize(rq.ctx, AccessRequest{Info: rq.info, Action: action, Bucket: sb, Key: key, VersionID: versionID,
			Object: &src, Request: rq.r})
	}
}

// sourceBucket looks up a copy's source bucket, checking x-amz-source-expected-bucket-owner.
func (s *Server) sourceBucket(rq *request, name string) (objectstore.Bucket, error) {
	b, err := s.store.Bucket(rq.ctx, name)
	if err != nil {
		return b, err
	}
	if want := rq.r.Header.Get("X-Amz-Source-Expected-Bucket-Owner"); want != "" && want != b.Owner.AccountID {
		return b, errAccessDenied
	}
	return b, nil
}

// writeACLAccess decides who owns an object a request writes and the ACL sub-resource it stores, after checking
// the caller may set that ACL (s3:PutObjectAcl) and the bucket accepts it.
func (s *Server) writeACLAccess(rq *request, b *objectstore.Bucket) (*bucketState, objectstore.Owner, map[string][]byte, error) {
	st, err := s.bucketState(rq, b)
	if err != nil {
		return nil, objectstore.Owner{}, nil, err
	}
	owner := objectOwner(st, rq.owner(), rq.r.Header)
	// An IAM user of the bucket owner's account setting an ACL needs s3:PutObjectAcl too. A caller of another
	// account sets the ACL of what it will own, as the bucket's grants to it allow. An anonymous caller is asked
	// too, and refused as S3 refuses it s3:PutObjectAcl: a grant to upload must not let anyone publish.
	if id := rq.info.Identity; hasACLHeaders(rq.r.Header) && st.ownership.ACLsEnabled() &&
		(id.Anonymous || id.AccountID == "" || !id.Root() && id.AccountID == b.Owner.AccountID) {
		if err := s.authorize(rq, "s3:PutObjectAcl", b, rq.key, ""); err != nil {
			return nil, objectstore.Owner{}, nil, err
		}
	}
	sub, err := s.writeACL(rq, st, owner)
	if err != nil {
		return nil, objectstore.Owner{}, nil, err
	}
	return st, owner, sub, nil
}

// writeAccess is writeACLAccess and the tags of x-amz-tagging, for a new object.
func (s *Server) writeAccess(rq *request, b *objectstore.Bucket) (*bucketState, objectstore.Owner, map[string][]byte, error) {
	st, owner, aclSub, err := s.writeACLAccess(rq, b)
	if err != nil {
		return nil, objectstore.Owner{}, nil, err
	}
	tagSub, err := s.writeTags(rq, b)
	if err != nil {
		return nil, objectstore.Owner{}, nil, err
	}
	return st, owner, mergeSub(aclSub, tagSub), nil
}

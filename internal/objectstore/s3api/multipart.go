package s3api

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth/berth/internal/objectstore"
)

// createMultipartUpload is POST /bucket/key?uploads.
func (s *Server) createMultipartUpload(rq *request) error {
	if err := objectstore.ValidateKey(rq.key); err != nil {
		return err
	}
	if rq.info.Identity.Anonymous {
		return s3Error("AccessDenied", "Anonymous users cannot initiate multipart uploads. Please authenticate.")
	}
	b, err := s.bucketFor(rq, "s3:PutObject", rq.key, "")
	if err != nil {
		return err
	}
	h := rq.r.Header
	if err := unsupportedHeaders(h); err != nil {
		return err
	}
	if err := checkStorageClass(h); err != nil {
		return err
	}
	meta, err := readMetadata(h)
	if err != nil {
		return err
	}
	_, owner, sub, err := s.writeAccess(rq, b)
	if err != nil {
		return err
	}
	in := objectstore.CreateUploadInput{Bucket: rq.bucket, BucketID: b.ID, Key: rq.key, Metadata: meta, Owner: owner, Subresources: sub}
	if v := h.Get("X-Amz-Checksum-Algorithm"); v != "" {
		a, ok := objectstore.ParseChecksumAlgorithm(v)
		if !ok {
			return invalidArgument("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]", "x-amz-checksum-algorithm", v)
		}
		in.ChecksumAlgorithm = a
	}
	if v := h.Get("X-Amz-Checksum-Type"); v != "" {
		in.ChecksumType = objectstore.ChecksumType(strings.ToUpper(v))
	}
	up, err := s.store.CreateMultipartUpload(rq.ctx, in)
	if err != nil {
		return err
	}
	if up.ChecksumAlgorithm != "" {
		rq.w.Header().Set("x-amz-checksum-algorithm", string(up.ChecksumAlgorithm))
		rq.w.Header().Set("x-amz-checksum-type", string(up.ChecksumType))
	}
	return writeXML(rq.w, initiateMultipartUploadResult{Bucket: rq.bucket, Key: rq.key, UploadID: up.UploadID})
}

// partNumberParam reads ?partNumber of an upload request.
func partNumberParam(rq *request) (int, error) {
	v := rq.q.Get("partNumber")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > objectstore.MaxParts {
		return 0, invalidArgument("Part number must be an integer between 1 and 10000, inclusive", "partNumber", v)
	}
	return n, nil
}

// uploadPart is PUT /bucket/key?partNumber=N&uploadId=ID (UploadPartCopy with x-amz-copy-source).
func (s *Server) uploadPart(rq *request) error {
	if _, err := s.bucketFor(rq, "s3:PutObject", rq.key, ""); err != nil {
		return err
	}
	n, err := partNumberParam(rq)
	if err != nil {
		return err
	}
	uploadID := rq.q.Get("uploadId")
	h := rq.r.Header
	if h.Get("X-Amz-Copy-Source") != "" {
		return s.uploadPartCopy(rq, n, uploadID)
	}
	size, err := bodySize(rq.r)
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
	part, err := s.store.UploadPart(rq.ctx, objectstore.UploadPartInput{
		Bucket: rq.bucket, Key: rq.key, UploadID: uploadID, PartNumber: n, Body: rq.r.Body, Size: size,
		ContentMD5: md5sum, Checksum: ck, PayloadSHA256: payloadCheck(rq),
	})
	if err != nil {
		return err
	}
	out := rq.w.Header()
	out.Set("ETag", quoteETag(part.ETag))
	if part.Checksum.Algorithm != "" && part.Checksum.Value != "" {
		out.Set(part.Checksum.Algorithm.HeaderName(), part.Checksum.Value)
	}
	out.Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// uploadPartCopy is an UploadPart whose content comes from x-amz-copy-source (x-amz-copy-source-range).
func (s *Server) uploadPartCopy(rq *request, n int, uploadID string) error {
	h := rq.r.Header
	if rq.info.Identity.Anonymous {
		return s3Error("AccessDenied", "Anonymous users cannot copy objects. Please authenticate.")
	}
	srcBucket, srcKey, srcVersion, err := parseCopySource(h.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	sb, err := s.sourceBucket(rq, srcBucket)
	if err != nil {
		return err
	}
	action := "s3:GetObject"
	if srcVersion != "" {
		action = "s3:GetObjectVersion"
	}
	if err := s.authorize(rq, action, &sb, srcKey, srcVersion); err != nil {
		return err
	}
	in := objectstore.UploadPartCopyInput{
		Bucket: rq.bucket, Key: rq.key, UploadID: uploadID, PartNumber: n,
		SrcBucket: srcBucket, SrcKey: srcKey, SrcVersionID: srcVersion, SrcConditions: readConditions(h, "X-Amz-Copy-Source-"),
		CheckSource: s.copySourceCheck(rq, action, &sb, srcKey, srcVersion),
	}
	if v := h.Get("X-Amz-Copy-Source-Range"); v != "" {
		r := parseRange(v)
		if r == nil || r.Suffix || r.End < 0 {
			return invalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy", "x-amz-copy-source-range", v)
		}
		in.SrcRange = r
	}
	out, err := s.store.UploadPartCopy(rq.ctx, in)
	if err != nil {
		return err
	}
	if sb.Versioning != objectstore.Unversioned {
		rq.w.Header().Set("x-amz-copy-source-version-id", out.Source.VersionID)
	}
	return writeXML(rq.w, copyPartResult{LastModified: isoTime(out.Part.LastModified), ETag: quoteETag(out.Part.ETag), checksumsXML: checksumValues(out.Part.Checksum)})
}

// completeMultipartUpload is POST /bucket/key?uploadId=ID.
func (s *Server) completeMultipartUpload(rq *request) error {
	b, err := s.bucketFor(rq, "s3:PutObject", rq.key, "")
	if err != nil {
		return err
	}
	h := rq.r.Header
	cond, err := writeConditions(h)
	if err != nil {
		return err
	}
	// The object's checksum (full-object or composite) comes in a header of the Complete request; it is not the
	// body's checksum, so the body is read without it. The engine checks it against the parts.
	var whole objectstore.ChecksumInput
	for _, a := range objectstore.ChecksumAlgorithms {
		if v := h.Get(a.HeaderName()); v != "" {
			if whole.Algorithm != "" {
				return s3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
			}
			whole = objectstore.ChecksumInput{Algorithm: a, Value: v}
			h.Del(a.HeaderName())
		}
	}
	var objectSize *int64
	if v := h.Get("X-Amz-Mp-Object-Size"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return invalidArgument("The x-amz-mp-object-size header must be a non-negative integer", "x-amz-mp-object-size", v)
		}
		objectSize = &n
	}
	body, err := readBody(rq.r, maxXMLBody)
	if err != nil {
		return err
	}
	// The parts list is required: S3 answers a Complete without one (no body at all included) MalformedXML.
	if len(bytes.TrimSpace(body)) == 0 {
		return malformedXML()
	}
	var req completeMultipartUpload
	if err := decodeXML(body, &req); err != nil {
		return err
	}
	in := objectstore.CompleteUploadInput{Bucket: rq.bucket, BucketID: b.ID, Key: rq.key, UploadID: rq.q.Get("uploadId"), Checksum: whole,
		ChecksumType: objectstore.ChecksumType(strings.ToUpper(h.Get("X-Amz-Checksum-Type"))), ObjectSize: objectSize, Conditions: cond}
	for _, p := range req.Parts {
		// A part lists at most one checksum.
		var ck objectstore.Checksum
		var listed strings.Builder
		for _, c := range []objectstore.Checksum{{Algorithm: objectstore.CRC32, Value: p.ChecksumCRC32},
			{Algorithm: objectstore.CRC32C, Value: p.ChecksumCRC32C}, {Algorithm: objectstore.CRC64NVME, Value: p.ChecksumCRC64NVME},
			{Algorithm: objectstore.SHA1, Value: p.ChecksumSHA1}, {Algorithm: objectstore.SHA256, Value: p.ChecksumSHA256}} {
			if c.Value == "" {
				continue
			}
			fmt.Fprintf(&listed, "%s:%s;", c.Algorithm, c.Value)
			if ck.Value != "" {
				return invalidArgument("Invalid Base64 or multiple checksums present in request", "Checksum", listed.String())
			}
			ck = c
		}
		in.Parts = append(in.Parts, objectstore.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag, Checksum: ck})
	}
	info, err := s.store.CompleteMultipartUpload(rq.ctx, in)
	if err != nil {
		return err
	}
	writeNewVersionID(rq.w.Header(), b, info.VersionID)
	res := completeMultipartUploadResult{
		Location: location(rq), Bucket: rq.bucket, Key: rq.key, ETag: quoteETag(info.ETag),
		checksumsXML: checksumValues(info.Checksum),
	}
	if info.Checksum.Algorithm != "" {
		res.ChecksumType = string(info.Checksum.Type)
	}
	return writeXML(rq.w, res)
}

// location is the URL of the request's object, as CompleteMultipartUpload reports it.
func location(rq *request) string {
	scheme := "http"
	if rq.info.SecureTransport {
		scheme = "https"
	}
	if rq.info.Bucket != "" {
		return scheme + "://" + rq.r.Host + "/" + rq.key
	}
	return scheme + "://" + rq.r.Host + "/" + rq.bucket + "/" + rq.key
}

// abortMultipartUpload is DELETE /bucket/key?uploadId=ID.
func (s *Server) abortMultipartUpload(rq *request) error {
	if _, err := s.bucketFor(rq, "s3:AbortMultipartUpload", rq.key, ""); err != nil {
		return err
	}
	if err := s.store.AbortMultipartUpload(rq.ctx, rq.bucket, rq.key, rq.q.Get("uploadId")); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// listParts is GET /bucket/key?uploadId=ID.
func (s *Server) listParts(rq *request) error {
	if _, err := s.bucketFor(rq, "s3:ListMultipartUploadParts", rq.key, ""); err != nil {
		return err
	}
	maxParts, err := parseMaxKeys(rq.q, "max-parts", objectstore.DefaultMaxKeys)
	if err != nil {
		return err
	}
	marker := 0
	if v := rq.q.Get("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return invalidArgument("Provided part-number-marker not an integer or within integer range", "part-number-marker", v)
		}
	}
	uploadID := rq.q.Get("uploadId")
	page, err := s.store.ListParts(rq.ctx, rq.bucket, rq.key, uploadID, objectstore.ListPartsInput{PartNumberMarker: marker, MaxParts: max(maxParts, 1)})
	if err != nil {
		return err
	}
	if maxParts == 0 {
		page.Parts, page.IsTruncated = nil, len(page.Parts) > 0
	}
	up := page.Upload
	out := listPartsResult{
		Bucket: rq.bucket, Key: rq.key, UploadID: uploadID, Initiator: ownerOf(up.Owner), Owner: ownerOf(up.Owner),
		StorageClass: objectstore.StorageClass, PartNumberMarker: marker, NextPartNumberMarker: page.NextPartNumberMarker,
		MaxParts: maxParts, IsTruncated: page.IsTruncated,
	}
	if up.ChecksumAlgorithm != "" {
		out.ChecksumAlgorithm, out.ChecksumType = string(up.ChecksumAlgorithm), string(up.ChecksumType)
	}
	for _, p := range page.Parts {
		out.Parts = append(out.Parts, partXML{PartNumber: p.PartNumber, LastModified: isoTime(p.LastModified), ETag: quoteETag(p.ETag),
			Size: p.Size, checksumsXML: checksumValues(p.Checksum)})
	}
	return writeXML(rq.w, out)
}

// listMultipartUploads is GET /bucket?uploads.
func (s *Server) listMultipartUploads(rq *request) error {
	if _, err := s.bucketFor(rq, "s3:ListBucketMultipartUploads", "", ""); err != nil {
		return err
	}
	enc, encType, err := encoder(rq)
	if err != nil {
		return err
	}
	maxUploads, err := parseMaxKeys(rq.q, "max-uploads", objectstore.DefaultMaxKeys)
	if err != nil {
		return err
	}
	in := objectstore.ListUploadsInput{
		Prefix: rq.q.Get("prefix"), Delimiter: rq.q.Get("delimiter"), KeyMarker: rq.q.Get("key-marker"),
		UploadIDMarker: rq.q.Get("upload-id-marker"), MaxUploads: maxUploads,
	}
	var page objectstore.ListUploadsOutput
	if maxUploads > 0 {
		if page, err = s.store.ListMultipartUploads(rq.ctx, rq.bucket, in); err != nil {
			return err
		}
	}
	out := listMultipartUploadsResult{
		Bucket: rq.bucket, KeyMarker: enc(in.KeyMarker), UploadIDMarker: in.UploadIDMarker,
		NextKeyMarker: enc(page.NextKeyMarker), NextUploadIDMarker: page.NextUploadIDMarker, Delimiter: enc(in.Delimiter),
		Prefix: enc(in.Prefix), MaxUploads: maxUploads, IsTruncated: page.IsTruncated, EncodingType: encType,
		CommonPrefixes: prefixEntries(page.CommonPrefixes, enc),
	}
	for _, u := range page.Uploads {
		x := uploadXML{Key: enc(u.Key), UploadID: u.UploadID, Initiator: ownerOf(u.Owner), Owner: ownerOf(u.Owner),
			StorageClass: objectstore.StorageClass, Initiated: isoTime(u.Initiated)}
		if u.ChecksumAlgorithm != "" {
			x.ChecksumAlgorithm, x.ChecksumType = string(u.ChecksumAlgorithm), string(u.ChecksumType)
		}
		out.Uploads = append(out.Uploads, x)
	}
	return writeXML(rq.w, out)
}

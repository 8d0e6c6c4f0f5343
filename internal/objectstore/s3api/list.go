package s3api

import (
	"encoding/base64"
	"strconv"

	"github.com/berth/berth/internal/objectstore"
)

// encoder returns how names are written in a listing: as they are, or URL-encoded for encoding-type=url.
func encoder(rq *request) (func(string) string, string, error) {
	switch et := rq.q.Get("encoding-type"); et {
	case "":
		return func(s string) string { return s }, "", nil
	case "url":
		return s3URLEncode, "url", nil
	default:
		return nil, "", invalidArgument("Invalid Encoding Method specified in Request", "encoding-type", et)
	}
}

func objectEntry(o objectstore.ObjectInfo, enc func(string) string, withOwner bool) objectXML {
	x := objectXML{
		Key: enc(o.Key), LastModified: isoTime(o.LastModified), ETag: quoteETag(o.ETag), Size: o.Size,
		StorageClass: o.StorageClass(),
	}
	if o.Checksum.Algorithm != "" {
		x.ChecksumAlgorithm, x.ChecksumType = string(o.Checksum.Algorithm), string(o.Checksum.Type)
	}
	if withOwner {
		x.Owner = ownerOf(o.Owner)
	}
	return x
}

func prefixEntries(ps []string, enc func(string) string) []commonPrefixXML {
	out := make([]commonPrefixXML, len(ps))
	for i, p := range ps {
		out[i] = commonPrefixXML{Prefix: enc(p)}
	}
	return out
}

// listObjects is GET /bucket: ListObjects, or ListObjectsV2 with list-type=2.
func (s *Server) listObjects(rq *request) error {
	v2 := rq.q.Get("list-type") == "2"
	if lt := rq.q.Get("list-type"); lt != "" && lt != "2" {
		return invalidArgument("Invalid List Type specified in Request", "list-type", lt)
	}
	b, err := s.bucketFor(rq, "s3:ListBucket", "", "")
	if err != nil {
		return err
	}
	enforced := s.ownerEnforced(rq, b)
	enc, encType, err := encoder(rq)
	if err != nil {
		return err
	}
	maxKeys, err := parseMaxKeys(rq.q, "max-keys", objectstore.DefaultMaxKeys)
	if err != nil {
		return err
	}
	prefix, delim := rq.q.Get("prefix"), rq.q.Get("delimiter")
	in := objectstore.ListObjectsInput{Prefix: prefix, Delimiter: delim, MaxKeys: maxKeys}
	token, startAfter := rq.q.Get("continuation-token"), rq.q.Get("start-after")
	_, hasToken := rq.q["continuation-token"]
	_, hasStartAfter := rq.q["start-after"]
	if v2 {
		// A token says where the previous page ended and wins over start-after; an empty one, as S3 takes it,
		// starts from the beginning (or from start-after).
		in.After = startAfter
		if token != "" {
			after, err := base64.RawURLEncoding.DecodeString(token)
			if err != nil {
				return invalidArgument("The continuation token provided is incorrect", "continuation-token", token)
			}
			in.After = string(after)
		}
	} else {
		in.After = rq.q.Get("marker")
	}
	var page objectstore.ListObjectsOutput
	if maxKeys > 0 {
		if page, err = s.store.ListObjects(rq.ctx, rq.bucket, in); err != nil {
			return err
		}
	}
	fetchOwner := !v2 || rq.q.Get("fetch-owner") == "true"
	contents := make([]objectXML, len(page.Objects))
	for i, o := range page.Objects {
		if enforced {
			o.Owner = b.Owner
		}
		contents[i] = objectEntry(o, enc, fetchOwner)
	}
	if v2 {
		out := listBucketResultV2{
			Name: rq.bucket, Prefix: enc(prefix), KeyCount: len(page.Objects) + len(page.CommonPrefixes),
			MaxKeys: maxKeys, Delimiter: enc(delim), IsTruncated: page.IsTruncated, EncodingType: encType,
			Contents: contents, CommonPrefixes: prefixEntries(page.CommonPrefixes, enc),
		}
		// Both are echoed when they were sent, empty or not, as S3 does.
		if hasToken {
			out.ContinuationToken = &token
		}
		if hasStartAfter {
			sa := enc(startAfter)
			out.StartAfter = &sa
		}
		if page.IsTruncated {
			out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(page.Next))
		}
		return writeXML(rq.w, out)
	}
	marker := enc(in.After)
	out := listBucketResult{
		Name: rq.bucket, Prefix: enc(prefix), Marker: &marker, MaxKeys: maxKeys, Delimiter: enc(delim),
		IsTruncated: page.IsTruncated, EncodingType: encType, Contents: contents, CommonPrefixes: prefixEntries(page.CommonPrefixes, enc),
	}
	// S3 returns NextMarker only with a delimiter; without one, a client continues from the last key.
	if page.IsTruncated && delim != "" {
		out.NextMarker = enc(page.Next)
	}
	return writeXML(rq.w, out)
}

// listObjectVersions is GET /bucket?versions.
func (s *Server) listObjectVersions(rq *request) error {
	b, err := s.bucketFor(rq, "s3:ListBucketVersions", "", "")
	if err != nil {
		return err
	}
	enforced := s.ownerEnforced(rq, b)
	enc, encType, err := encoder(rq)
	if err != nil {
		return err
	}
	maxKeys, err := parseMaxKeys(rq.q, "max-keys", objectstore.DefaultMaxKeys)
	if err != nil {
		return err
	}
	in := objectstore.ListVersionsInput{
		Prefix: rq.q.Get("prefix"), Delimiter: rq.q.Get("delimiter"), KeyMarker: rq.q.Get("key-marker"),
		VersionIDMarker: rq.q.Get("version-id-marker"), MaxKeys: maxKeys,
	}
	var page objectstore.ListVersionsOutput
	if maxKeys > 0 {
		if page, err = s.store.ListObjectVersions(rq.ctx, rq.bucket, in); err != nil {
			return err
		}
	}
	out := listVersionsResult{
		Name: rq.bucket, Prefix: enc(in.Prefix), KeyMarker: enc(in.KeyMarker), VersionIDMarker: in.VersionIDMarker,
		MaxKeys: maxKeys, Delimiter: enc(in.Delimiter), IsTruncated: page.IsTruncated, EncodingType: encType,
		CommonPrefixes: prefixEntries(page.CommonPrefixes, enc),
	}
	if page.IsTruncated {
		out.NextKeyMarker, out.NextVersionIDMarker = enc(page.NextKeyMarker), page.NextVersionIDMarker
	}
	for _, v := range page.Versions {
		if enforced {
			v.Owner = b.Owner
		}
		e := versionXML{Key: enc(v.Key), VersionID: v.VersionID, IsLatest: v.IsLatest, LastModified: isoTime(v.LastModified), Owner: ownerOf(v.Owner)}
		if v.DeleteMarker {
			e.XMLName.Local = "DeleteMarker"
		} else {
			e.XMLName.Local = "Version"
			size := v.Size
			e.ETag, e.Size, e.StorageClass = quoteETag(v.ETag), &size, v.StorageClass()
			if v.Checksum.Algorithm != "" {
				e.ChecksumAlgorithm, e.ChecksumType = string(v.Checksum.Algorithm), string(v.Checksum.Type)
			}
		}
		out.Entries = append(out.Entries, e)
	}
	return writeXML(rq.w, out)
}

func itoa(n int) string { return strconv.Itoa(n) }

// ownerEnforced reports whether the bucket owner owns every object of b (Object Ownership BucketOwnerEnforced),
// so listings name it as every object's owner.
func (s *Server) ownerEnforced(rq *request, b *objectstore.Bucket) bool {
	st, err := s.bucketState(rq, b)
	return err == nil && !st.ownership.ACLsEnabled()
}

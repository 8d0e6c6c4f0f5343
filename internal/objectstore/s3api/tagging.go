package s3api

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/berth/berth/internal/objectstore"
)

// S3's tag limits.
const (
	maxObjectTags  = 10
	maxBucketTags  = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// tagChars are the characters a tag key or value may hold: letters, numbers, spaces and + - = . _ : / @.
var tagChars = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

type tagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type taggingIn struct {
	XMLName xml.Name `xml:"Tagging"`
	TagSet  *struct {
		Tags []tagXML `xml:"Tag"`
	} `xml:"TagSet"`
}

type taggingOut struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Tagging"`
	TagSet  []tagXML `xml:"TagSet>Tag"`
}

func invalidTag(msg string, extra ...[2]string) error { return s3Error("InvalidTag", msg, extra...) }

// checkTags applies S3's rules to a tag set: at most limit tags, keys of 1 to 128 characters and values of up to
// 256, of letters, numbers, spaces and + - = . _ : / @, no key twice, none starting with aws:.
func checkTags(tags []objectstore.Tag, limit int) error {
	if len(tags) > limit {
		if limit == maxBucketTags {
			return s3Error("BadRequest", "Bucket tag count cannot be greater than 50")
		}
		return s3Error("BadRequest", "Object tags cannot be greater than 10")
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if n := utf8.RuneCountInString(t.Key); n == 0 || n > maxTagKeyLen || !utf8.ValidString(t.Key) || !tagChars.MatchString(t.Key) {
			return invalidTag("The TagKey you have provided is invalid", [2]string{"TagKey", t.Key})
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return invalidTag("Your TagKey cannot be prefixed with aws:", [2]string{"TagKey", t.Key})
		}
		if utf8.RuneCountInString(t.Value) > maxTagValueLen || !utf8.ValidString(t.Value) || !tagChars.MatchString(t.Value) {
			return invalidTag("The TagValue you have provided is invalid", [2]string{"TagKey", t.Key}, [2]string{"TagValue", t.Value})
		}
		if seen[t.Key] {
			return invalidTag("Cannot provide multiple Tags with the same key")
		}
		seen[t.Key] = true
	}
	return nil
}

// parseTagging reads a Tagging document.
func parseTagging(body []byte, limit int) ([]objectstore.Tag, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, s3Error("MissingRequestBodyError", "Request Body is empty")
	}
	var doc taggingIn
	dec := xml.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil || doc.TagSet == nil {
		return nil, malformedXML()
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformedXML()
	}
	tags := make([]objectstore.Tag, 0, len(doc.TagSet.Tags))
	for _, t := range doc.TagSet.Tags {
		tags = append(tags, objectstore.Tag{Key: t.Key, Value: t.Value})
	}
	return tags, checkTags(tags, limit)
}

// parseTaggingHeader reads x-amz-tagging: URL-encoded query parameters, each key once.
func parseTaggingHeader(v string) ([]objectstore.Tag, error) {
	bad := invalidArgument("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.", "x-amz-tagging", v)
	var tags []objectstore.Tag
	seen := map[string]bool{}
	for _, pair := range strings.Split(v, "&") {
		if pair == "" {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil || key == "" {
			return nil, bad
		}
		value, err := url.QueryUnescape(val)
		if err != nil {
			return nil, bad
		}
		if seen[key] {
			return nil, bad
		}
		seen[key] = true
		tags = append(tags, objectstore.Tag{Key: key, Value: value})
	}
	return tags, checkTags(tags, maxObjectTags)
}

// requestTagKeys are the condition keys of a tag set a request sets.
func requestTagKeys(tags []objectstore.Tag) map[string][]string {
	ctx := map[string][]string{}
	keys := make([]string, 0, len(tags))
	for _, t := range tags {
		ctx["s3:RequestObjectTag/"+t.Key] = []string{t.Value}
		keys = append(keys, t.Key)
	}
	ctx["s3:RequestObjectTagKeys"] = keys
	return ctx
}

// writeTags returns the sub-resource a write stores for its x-amz-tagging header (nil when it has none), after
// checking the caller may tag (s3:PutObjectTagging).
func (s *Server) writeTags(rq *request, b *objectstore.Bucket) (map[string][]byte, error) {
	v := rq.r.Header.Get("X-Amz-Tagging")
	if v == "" {
		return nil, nil
	}
	tags, err := parseTaggingHeader(v)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeWith(rq, "s3:PutObjectTagging", b, rq.key, "", requestTagKeys(tags)); err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return map[string][]byte{objectstore.SubresourceTagging: objectstore.EncodeTags(tags)}, nil
}

// mergeSub merges sub-resource maps (nil when all are empty).
func mergeSub(ms ...map[string][]byte) map[string][]byte {
	var out map[string][]byte
	for _, m := range ms {
		for k, v := range m {
			if out == nil {
				out = map[string][]byte{}
			}
			out[k] = v
		}
	}
	return out
}

// writeTaggingCount sets x-amz-tagging-count for an object with tags.
func writeTaggingCount(h http.Header, info objectstore.ObjectInfo) {
	if tags, err := objectstore.DecodeTags(info.Subresources[objectstore.SubresourceTagging]); err == nil && len(tags) > 0 {
		h.Set("x-amz-tagging-count", strconv.Itoa(len(tags)))
	}
}

func taggingDocument(tags []objectstore.Tag) taggingOut {
	out := taggingOut{TagSet: []tagXML{}}
	for _, t := range tags {
		out.TagSet = append(out.TagSet, tagXML{Key: t.Key, Value: t.Value})
	}
	return out
}

// objectTaggingAction is the action of an object tagging request, with "Version" for one naming a version.
func objectTaggingAction(verb, versionID string) string {
	if versionID != "" {
		return "s3:" + verb + "ObjectVersionTagging"
	}
	return "s3:" + verb + "ObjectTagging"
}

// getObjectTagging is GET /bucket/key?tagging: the tags of the version decided on.
func (s *Server) getObjectTagging(rq *request) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	b, err := s.lookupBucket(rq)
	if err != nil {
		return err
	}
	return s.onVersion(s.statOf(rq, b, objectstore.GetOptions{VersionID: versionID}),
		s.decider(rq, objectTaggingAction("Get", versionID), b, versionID, nil),
		func(info objectstore.ObjectInfo) error {
			tags, err := objectstore.DecodeTags(info.Subresources[objectstore.SubresourceTagging])
			if err != nil {
				return err
			}
			writeVersionID(rq.w.Header(), b, info.VersionID)
			return writeXML(rq.w, taggingDocument(tags))
		})
}

// putObjectTagging is PUT /bucket/key?tagging: replaces the version's tag set.
func (s *Server) putObjectTagging(rq *request) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	b, err := s.lookupBucket(rq)
	if err != nil {
		return err
	}
	body, err := readBody(rq.r, maxSmallXMLBody)
	if err != nil {
		return err
	}
	tags, err := parseTagging(body, maxObjectTags)
	if err != nil {
		return err
	}
	// The tags are conditions of the request (s3:RequestObjectTag/<key>): read before deciding.
	return s.setObjectTags(rq, b, versionID, objectTaggingAction("Put", versionID), requestTagKeys(tags), objectstore.EncodeTags(tags), http.StatusOK)
}

// deleteObjectTagging is DELETE /bucket/key?tagging.
func (s *Server) deleteObjectTagging(rq *request) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	b, err := s.lookupBucket(rq)
	if err != nil {
		return err
	}
	return s.setObjectTags(rq, b, versionID, objectTaggingAction("Delete", versionID), nil, nil, http.StatusNoContent)
}

// setObjectTags replaces (or with doc nil removes) the tag set of the version the request names, decided on that
// version: one its tags protect is not re-tagged because it replaced the version decided on.
func (s *Server) setObjectTags(rq *request, b *objectstore.Bucket, versionID, action string, extra map[string][]string, doc []byte, status int) error {
	return s.onVersion(s.statOf(rq, b, objectstore.GetOptions{VersionID: versionID}), s.decider(rq, action, b, versionID, extra),
		func(of objectstore.ObjectInfo) error {
			info, err := s.store.SetSubresource(rq.ctx, objectstore.SubresourceInput{Bucket: b.Name, BucketID: b.ID, Key: rq.key,
				VersionID: versionID, Of: &of, Name: objectstore.SubresourceTagging, Doc: doc})
			if err != nil {
				return err
			}
			writeVersionID(rq.w.Header(), b, info.VersionID)
			if status == http.StatusOK {
				rq.w.Header().Set("Content-Length", "0")
			}
			rq.w.WriteHeader(status)
			return nil
		})
}

// getBucketTagging is GET /bucket?tagging.
func (s *Server) getBucketTagging(rq *request) error {
	b, err := s.bucketFor(rq, "s3:GetBucketTagging", "", "")
	if err != nil {
		return err
	}
	st, err := s.bucketState(rq, b)
	if err != nil {
		return err
	}
	doc := st.docs[objectstore.ConfigTagging]
	tags, err := objectstore.DecodeTags(doc)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return s3Error("NoSuchTagSet", "The TagSet does not exist", [2]string{"BucketName", b.Name})
	}
	return writeXML(rq.w, taggingDocument(tags))
}

// putBucketTagging is PUT /bucket?tagging.
func (s *Server) putBucketTagging(rq *request) error {
	b, err := s.bucketFor(rq, "s3:PutBucketTagging", "", "")
	if err != nil {
		return err
	}
	body, err := readBody(rq.r, maxSmallXMLBody)
	if err != nil {
		return err
	}
	tags, err := parseTagging(body, maxBucketTags)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		err = s.store.DeleteBucketConfig(rq.ctx, b.Name, objectstore.ConfigTagging)
	} else {
		err = s.store.PutBucketConfig(rq.ctx, b.Name, objectstore.ConfigTagging, objectstore.EncodeTags(tags))
	}
	if err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteBucketTagging is DELETE /bucket?tagging.
func (s *Server) deleteBucketTagging(rq *request) error {
	if _, err := s.bucketFor(rq, "s3:PutBucketTagging", "", ""); err != nil {
		return err
	}
	if err := s.store.DeleteBucketConfig(rq.ctx, rq.bucket, objectstore.ConfigTagging); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

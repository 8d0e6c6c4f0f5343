package objectstore

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/containerd/errdefs"
)

// The names of the configuration documents a bucket may have (BucketConfig). The engine keeps them as bytes; the
// S3 API decides their format, except for ConfigLifecycle, which the engine applies (package lifecycle).
const (
	ConfigPolicy            = "policy"
	ConfigACL               = "acl"
	ConfigOwnership         = "ownershipControls"
	ConfigPublicAccessBlock = "publicAccessBlock"
	ConfigCORS              = "cors"
	ConfigTagging           = "tagging"
	ConfigLifecycle         = "lifecycle"
)

// The names of the documents a version may carry (ObjectInfo.Subresources).
const (
	// SubresourceACL is the version's access control list.
	SubresourceACL = "acl"
	// SubresourceTagging is the version's tag set, as EncodeTags writes it (lifecycle rules filter on it).
	SubresourceTagging = "tagging"
)

// Tag is one key-value pair of a tag set.
type Tag struct {
	Key, Value string
}

// EncodeTags writes a tag set as URL-encoded query parameters ("k1=v1&k2=v2"), in order: the form of S3's
// x-amz-tagging header. An empty set encodes as nil.
func EncodeTags(tags []Tag) []byte {
	if len(tags) == 0 {
		return nil
	}
	var b strings.Builder
	for i, t := range tags {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(t.Key))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(t.Value))
	}
	return []byte(b.String())
}

// DecodeTags reads what EncodeTags wrote.
func DecodeTags(doc []byte) ([]Tag, error) {
	if len(doc) == 0 {
		return nil, nil
	}
	var tags []Tag
	for _, pair := range strings.Split(string(doc), "&") {
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("tag set: %w: %w", err, errdefs.ErrInvalidArgument)
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("tag set: %w: %w", err, errdefs.ErrInvalidArgument)
		}
		tags = append(tags, Tag{Key: key, Value: value})
	}
	return tags, nil
}

// TagMap returns an object's tags by key (nil when it has none or they cannot be read).
func (o ObjectInfo) TagMap() map[string]string {
	tags, err := DecodeTags(o.Subresources[SubresourceTagging])
	if err != nil || len(tags) == 0 {
		return nil
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

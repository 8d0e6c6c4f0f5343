package s3api

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/berth/berth/internal/objectstore"
)

const (
	iso8601 = "2006-01-02T15:04:05.000Z"
	// maxUserMetadata is S3's limit on the x-amz-meta-* headers, names and values together.
	maxUserMetadata = 2 << 10
	// maxXMLBody bounds the XML documents clients send (a DeleteObjects of 1,000 long keys, a Complete of
	// 10,000 parts fit).
	maxXMLBody = 4 << 20
	// maxSmallXMLBody bounds configuration documents (versioning, CreateBucket's location).
	maxSmallXMLBody    = 64 << 10
	defaultContentType = "binary/octet-stream"
)

func httpTime(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func isoTime(t time.Time) string { return t.UTC().Truncate(time.Second).Format(iso8601) }

func quoteETag(etag string) string { return `"` + etag + `"` }

// parseHTTPTime reads an HTTP date in any of the formats RFC 9110 allows; ok is false for anything else (S3
// ignores a condition it cannot parse).
func parseHTTPTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(s)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, s); err != nil {
			return time.Time{}, false
		}
	}
	return t, true
}

// readConditions reads If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since (with prefix
// "x-amz-copy-source-" for a copy's source).
func readConditions(h http.Header, prefix string) objectstore.Conditions {
	c := objectstore.Conditions{
		IfMatch:     h.Get(prefix + "If-Match"),
		IfNoneMatch: h.Get(prefix + "If-None-Match"),
	}
	if t, ok := parseHTTPTime(h.Get(prefix + "If-Modified-Since")); ok {
		c.IfModifiedSince = t
	}
	if t, ok := parseHTTPTime(h.Get(prefix + "If-Unmodified-Since")); ok {
		c.IfUnmodifiedSince = t
	}
	return c
}

// readMetadata reads the standard headers and x-amz-meta-* an upload stores.
func readMetadata(h http.Header) (objectstore.Metadata, error) {
	m := objectstore.Metadata{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    contentEncoding(h),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
	}
	size := 0
	for name, values := range h {
		lower := strings.ToLower(name)
		if !strings.HasPrefix(lower, "x-amz-meta-") {
			continue
		}
		if m.User == nil {
			m.User = map[string]string{}
		}
		k := lower[len("x-amz-meta-"):]
		v := strings.Join(values, ",")
		m.User[k] = decodeMetadataValue(v)
		size += len(k) + len(v)
	}
	if size > maxUserMetadata {
		return m, s3Error("MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size",
			[2]string{"Size", strconv.Itoa(size)}, [2]string{"MaxSizeAllowed", strconv.Itoa(maxUserMetadata)})
	}
	return m, nil
}

// contentEncoding is the Content-Encoding an upload stores: as sent, less aws-chunked. That token names how the
// request's body was framed (the endpoint has decoded such a body, or the body was plain all along), never the
// object's encoding, and S3 does not store it.
func contentEncoding(h http.Header) string {
	v := strings.Join(h.Values("Content-Encoding"), ", ")
	if !strings.Contains(strings.ToLower(v), "aws-chunked") {
		return v
	}
	var keep []string
	for _, tok := range strings.Split(v, ",") {
		if tok = strings.TrimSpace(tok); tok != "" && !strings.EqualFold(tok, "aws-chunked") {
			keep = append(keep, tok)
		}
	}
	return strings.Join(keep, ", ")
}

// writeMetadata sets the headers a GET or HEAD returns for an object's metadata.
func writeMetadata(h http.Header, m objectstore.Metadata) {
	ct := m.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	h.Set("Content-Type", ct)
	for name, v := range map[string]string{
		"Content-Encoding":    m.ContentEncoding,
		"Content-Disposition": m.ContentDisposition,
		"Content-Language":    m.ContentLanguage,
		"Cache-Control":       m.CacheControl,
		"Expires":             m.Expires,
	} {
		if v != "" {
			h.Set(name, v)
		}
	}
	// Lower case, as S3 sends them: botocore (the aws CLI, boto3) keeps the case of the name it receives, so a
	// canonicalised X-Amz-Meta-Color would reach its users as "Color", not the "color" S3 gives them.
	for k, v := range m.User {
		h["x-amz-meta-"+k] = []string{encodeMetadataValue(v)}
	}
}

// User metadata values travel in HTTP headers, which carry ISO-8859-1 text. S3 reads a value as such text,
// decodes the RFC 2047 encoded-words in it (=?UTF-8?B?…?=, =?UTF-8?Q?…?=) and stores the result; it returns a
// value with anything beyond US-ASCII as an RFC 2047 encoded-word in UTF-8, and any other value as it is. A client
// that sends an encoded-word (boto3 refuses non-ASCII metadata, so that is how its users send it) gets the same
// text back; one that sends raw UTF-8 bytes gets them back read as ISO-8859-1, as S3 gives them.
var metadataWords = new(mime.WordDecoder)

// decodeMetadataValue is the text S3 stores for an x-amz-meta-* header value.
func decodeMetadataValue(v string) string {
	if !isASCII(v) {
		r := make([]rune, len(v))
		for i := 0; i < len(v); i++ {
			r[i] = rune(v[i]) // ISO-8859-1: each byte is the code point
		}
		v = string(r)
	}
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := metadataWords.DecodeHeader(v)
	if err != nil {
		return v // not encoded-words after all (or a charset nobody can decode): kept as sent
	}
	return d
}

// encodeMetadataValue is how S3 writes a stored user metadata value into a response header.
func encodeMetadataValue(v string) string {
	if isASCII(v) {
		return v
	}
	// Go names the encoding "b"; S3 writes "B" (either is RFC 2047, but clients compare strings).
	return strings.ReplaceAll(mime.BEncoding.Encode("UTF-8", v), "=?UTF-8?b?", "=?UTF-8?B?")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// readContentMD5 decodes Content-MD5; a malformed one is InvalidDigest.
func readContentMD5(h http.Header) ([]byte, error) {
	v, ok := h["Content-Md5"]
	if !ok {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.Join(v, "")))
	if err != nil || len(b) != md5.Size {
		return nil, s3Error("InvalidDigest", "")
	}
	return b, nil
}

// readChecksum reads the additional checksum a client sends with a body: a value in an x-amz-checksum-* header,
// or a trailer (x-amz-trailer) the endpoint fills in r.Trailer once the body has been read, or only the algorithm
// (x-amz-sdk-checksum-algorithm / x-amz-checksum-algorithm) for the server to compute.
func readChecksum(r *http.Request) (objectstore.ChecksumInput, error) {
	var in objectstore.ChecksumInput
	h := r.Header
	for _, a := range objectstore.ChecksumAlgorithms {
		v := h.Get(a.HeaderName())
		if v == "" {
			continue
		}
		if in.Algorithm != "" {
			return in, s3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		in.Algorithm, in.Value = a, v
	}
	if t := strings.TrimSpace(h.Get("X-Amz-Trailer")); t != "" {
		name := strings.ToLower(t)
		a, ok := objectstore.ParseChecksumAlgorithm(strings.TrimPrefix(name, "x-amz-checksum-"))
		if !ok || !strings.HasPrefix(name, "x-amz-checksum-") {
			return in, s3Error("InvalidRequest", "The value specified in the x-amz-trailer header is not supported")
		}
		if in.Algorithm != "" && in.Algorithm != a {
			return in, s3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		in.Algorithm = a
		hn := http.CanonicalHeaderKey(name)
		in.Trailer = func() string {
			if r.Trailer == nil {
				return ""
			}
			return r.Trailer.Get(hn)
		}
	}
	for _, name := range []string{"X-Amz-Sdk-Checksum-Algorithm", "X-Amz-Checksum-Algorithm"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		a, ok := objectstore.ParseChecksumAlgorithm(v)
		if !ok {
			return in, invalidArgument("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]", name, v)
		}
		if in.Algorithm != "" && in.Algorithm != a {
			return in, s3Error("InvalidRequest", "Value for "+strings.ToLower(name)+" header is invalid.")
		}
		in.Algorithm = a
	}
	return in, nil
}

// writeChecksum sets an object's checksum headers.
func writeChecksum(h http.Header, c objectstore.Checksum) {
	if c.Algorithm == "" || c.Value == "" {
		return
	}
	h.Set(c.Algorithm.HeaderName(), c.Value)
	if c.Type != "" {
		h.Set("x-amz-checksum-type", string(c.Type))
	}
}

// readBody reads a request's small body (an XML document) up to limit bytes, checking Content-MD5 and an
// x-amz-checksum-* when the client sent them.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, s3Error("MaxMessageLengthExceeded", "Your request was too big.")
	}
	want, err := readContentMD5(r.Header)
	if err != nil {
		return nil, err
	}
	ck, err := readChecksum(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, bodyReadError(err)
	}
	if int64(len(body)) > limit {
		return nil, s3Error("MaxMessageLengthExceeded", "Your request was too big.")
	}
	if want != nil {
		if sum := md5.Sum(body); !bytes.Equal(sum[:], want) {
			return nil, s3Error("BadDigest", "")
		}
	}
	if ck.Algorithm != "" {
		value := ck.Value
		if value == "" && ck.Trailer != nil {
			value = ck.Trailer()
		}
		if value != "" {
			h := newChecksumHash(ck.Algorithm)
			h.Write(body)
			if base64.StdEncoding.EncodeToString(h.Sum(nil)) != value {
				return nil, s3Error("BadDigest", "The "+ck.Algorithm.HeaderName()+" you specified did not match the calculated checksum.")
			}
		}
	}
	return body, nil
}

// newChecksumHash returns the hash of an algorithm (the engine's, for bodies the API reads itself).
func newChecksumHash(a objectstore.ChecksumAlgorithm) hash.Hash {
	return objectstore.NewChecksumHash(a)
}

// bodyReadError words a failed read of a small body: the endpoint's refusal of a tampered chunk as it is, a
// client gone mid-body as IncompleteBody.
func bodyReadError(err error) error {
	if err == io.ErrUnexpectedEOF {
		return s3Error("IncompleteBody", "")
	}
	return err
}

// decodeXML parses an XML request body; anything malformed is MalformedXML.
func decodeXML(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return s3Error("MissingRequestBodyError", "Request Body is empty")
	}
	if err := xml.Unmarshal(body, v); err != nil {
		return malformedXML()
	}
	return nil
}

// parseRange reads a Range header as S3 does: one range of bytes is honoured; anything else (several ranges,
// another unit, bad syntax) is ignored and the whole object is sent.
func parseRange(h string) *objectstore.Range {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return nil
	}
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return nil
		}
		return &objectstore.Range{Suffix: true, SuffixLength: n}
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 {
		return nil
	}
	end := int64(-1)
	if last != "" {
		if end, err = strconv.ParseInt(last, 10, 64); err != nil || end < start {
			return nil
		}
	}
	return &objectstore.Range{Start: start, End: end}
}

// parseCopySource reads x-amz-copy-source: "bucket/key" or "/bucket/key", URL-encoded, with an optional
// ?versionId=.
func parseCopySource(v string) (bucket, key, versionID string, err error) {
	src, query, _ := strings.Cut(v, "?")
	if query != "" {
		q, perr := url.ParseQuery(query)
		if perr != nil {
			return "", "", "", invalidArgument("Invalid copy source encoding", "x-amz-copy-source", v)
		}
		versionID = q.Get("versionId")
		if _, ok := q["versionId"]; ok && versionID == "" {
			return "", "", "", invalidArgument("Invalid version id specified", "x-amz-copy-source", v)
		}
	}
	src, perr := url.PathUnescape(src)
	if perr != nil {
		return "", "", "", invalidArgument("Invalid copy source encoding", "x-amz-copy-source", v)
	}
	src = strings.TrimPrefix(src, "/")
	bucket, key, _ = strings.Cut(src, "/")
	if bucket == "" || key == "" {
		return "", "", "", invalidArgument("Invalid copy source object key", "x-amz-copy-source", v)
	}
	return bucket, key, versionID, nil
}

// s3URLEncode encodes a name for encoding-type=url as S3 does: query escaping that keeps '/' and '*'.
func s3URLEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "%2F", "/")
	return strings.ReplaceAll(e, "%2A", "*")
}

// parseMaxKeys reads a max-keys style parameter (default def, capped at 1000).
func parseMaxKeys(q url.Values, name string, def int) (int, error) {
	v, ok := q[name]
	if !ok || len(v) == 0 || v[0] == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 0 {
		return 0, invalidArgument("Provided "+name+" not an integer or within integer range", name, v[0])
	}
	return min(n, objectstore.DefaultMaxKeys), nil
}

// storageClass checks x-amz-storage-class: only STANDARD is kept here.
func checkStorageClass(h http.Header) error {
	if v := h.Get("X-Amz-Storage-Class"); v != "" && v != objectstore.StorageClass {
		return s3Error("InvalidStorageClass", "The storage class you specified is not valid",
			[2]string{"StorageClassRequested", v})
	}
	return nil
}

// unsupportedHeaders refuses what this store does not do, rather than ignore it silently: server-side
// encryption, object lock, website redirects.
func unsupportedHeaders(h http.Header) error {
	for _, name := range []string{
		"X-Amz-Server-Side-Encryption", "X-Amz-Server-Side-Encryption-Customer-Algorithm",
		"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", "X-Amz-Object-Lock-Mode", "X-Amz-Object-Lock-Retain-Until-Date",
		"X-Amz-Object-Lock-Legal-Hold", "X-Amz-Website-Redirect-Location",
	} {
		if h.Get(name) != "" {
			return errNotImplemented
		}
	}
	return nil
}

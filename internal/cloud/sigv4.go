package cloud

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The pure half of SigV4: canonical requests, strings to sign and signing keys, computed per the SigV4 spec
// from what a request carries on the wire. aws-sdk-go-v2's signer is the reference the tests hold these to, but a
// server cannot drive it: it signs a request as a client builds one (its own path escaping, its own choice of
// headers), while a verifier must rebuild exactly what the client signed from the received bytes (the raw path
// for non-S3 services, repeated query keys, folded header values, a Host with its port).

const (
	algoV4          = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	shortDateFormat = "20060102"
	scopeTerminal   = "aws4_request"

	// emptySHA256 is the hex SHA-256 of no bytes: the payload hash of an empty body and of a chunk's "empty" line.
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

	payloadUnsigned                = "UNSIGNED-PAYLOAD"
	payloadStreamingSigned         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	payloadStreamingSignedTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	payloadStreamingUnsignedTrail  = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	payloadStreamingECDSA          = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
	payloadStreamingECDSATrailer   = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"
	maxPresignExpiry               = 7 * 24 * time.Hour
	maxClockSkew                   = 15 * time.Minute
	maxSkewMillis                  = "900000"
	streamingChunkStringPrefix     = "AWS4-HMAC-SHA256-PAYLOAD"
	streamingTrailerStringPrefix   = "AWS4-HMAC-SHA256-TRAILER"
	headerContentSHA256            = "X-Amz-Content-Sha256"
	headerDecodedContentLength     = "X-Amz-Decoded-Content-Length"
	headerTrailer                  = "X-Amz-Trailer"
	queryAlgorithm                 = "X-Amz-Algorithm"
	queryCredential                = "X-Amz-Credential"
	querySignature                 = "X-Amz-Signature"
	querySignedHeaders             = "X-Amz-SignedHeaders"
	queryDate                      = "X-Amz-Date"
	queryExpires                   = "X-Amz-Expires"
	querySecurityToken             = "X-Amz-Security-Token"
	queryContentSHA256             = "X-Amz-Content-Sha256"
	trailerSignatureName           = "x-amz-trailer-signature"
	defaultStreamingChunkLineLimit = 4096
)

// scope is a SigV4 credential scope: DATE/REGION/SERVICE/aws4_request.
type scope struct {
	date, region, service string
}

func (s scope) String() string {
	return s.date + "/" + s.region + "/" + s.service + "/" + scopeTerminal
}

// signingKey derives the SigV4 signing key for secret and scope.
func signingKey(secret string, s scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), s.date)
	k = hmacSHA256(k, s.region)
	k = hmacSHA256(k, s.service)
	return hmacSHA256(k, scopeTerminal)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// stringToSign is the SigV4 string to sign for a canonical request.
func stringToSign(amzDate string, s scope, canonicalRequest string) string {
	return algoV4 + "\n" + amzDate + "\n" + s.String() + "\n" + hexSHA256([]byte(canonicalRequest))
}

// canonicalInput is what a canonical request is built from: the request as received, the headers the client
// signed, and the payload hash it claims.
type canonicalInput struct {
	method        string
	rawPath       string // the path as sent on the wire, still escaped
	rawQuery      string
	host          string
	header        http.Header
	transferEnc   []string // net/http moves Transfer-Encoding out of the header
	contentLength int64
	signedHeaders []string
	payloadHash   string
	// s3 selects S3's canonical URI (no dot-segment normalisation, escaped once); other services normalise the
	// path and escape the already-escaped path again, as the SDKs do.
	s3 bool
	// dropQuery names the query parameter left out (X-Amz-Signature for presigned requests).
	dropQuery string
}

// canonicalRequest builds the SigV4 canonical request.
func canonicalRequest(in canonicalInput) string {
	var b strings.Builder
	b.WriteString(in.method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(in.rawPath, in.s3))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(in.rawQuery, in.dropQuery))
	b.WriteByte('\n')
	for _, name := range in.signedHeaders {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(in, name))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(in.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(in.payloadHash)
	return b.String()
}

func canonicalHeaderValue(in canonicalInput, name string) string {
	var values []string
	switch name {
	case "host":
		values = []string{in.host}
	case "transfer-encoding":
		values = in.transferEnc
	case "content-length":
		values = in.header.Values("Content-Length")
		if len(values) == 0 && in.contentLength > 0 {
			values = []string{strconv.FormatInt(in.contentLength, 10)}
		}
	default:
		values = in.header.Values(name)
	}
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

// canonicalURI is the SigV4 canonical URI of a raw (escaped) request path.
func canonicalURI(rawPath string, s3 bool) string {
	if rawPath == "" {
		return "/"
	}
	if s3 {
		// S3 signs the path as the client escaped it, which the SDKs do strictly (RFC 3986 unreserved kept):
		// decode and escape again so a client that left, say, '!' unescaped is judged as AWS judges it.
		p, err := url.PathUnescape(rawPath)
		if err != nil {
			p = rawPath
		}
		return uriEncode(p, false)
	}
	p := rawPath
	if p != "/" {
		trailing := strings.HasSuffix(p, "/")
		p = path.Clean(p)
		if p == "." {
			p = "/"
		}
		if trailing && p != "/" {
			p += "/"
		}
	}
	return uriEncode(p, false)
}

// canonicalQuery sorts the query's parameters by escaped name, then value, each escaped per SigV4.
func canonicalQuery(rawQuery, drop string) string {
	if rawQuery == "" {
		return ""
	}
	type kv struct{ k, v string }
	var pairs []kv
	for _, part := range strings.Split(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			dk = k
		}
		if drop != "" && dk == drop {
			continue
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			dv = v
		}
		pairs = append(pairs, kv{uriEncode(dk, true), uriEncode(dv, true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// uriEncode escapes s per SigV4's UriEncode: RFC 3986 unreserved characters stay, everything else becomes %XX
// (upper case); '/' stays unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// rawPath returns the path of r as the client sent it, escaped.
func rawPath(r *http.Request) string {
	if r.RequestURI != "" && r.RequestURI != "*" && !strings.Contains(r.RequestURI, "://") {
		p, _, _ := strings.Cut(r.RequestURI, "?")
		return p
	}
	return r.URL.EscapedPath()
}

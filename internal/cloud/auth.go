package cloud

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
)

// authKind is how a request says who made it.
type authKind int

const (
	authNone authKind = iota
	authV4Header
	authV4Query
	authV2Header
	authV2Query
)

// v4Auth is a parsed SigV4 authorization, from the Authorization header or a presigned URL's query. It holds
// nothing secret.
type v4Auth struct {
	presigned     bool
	accessKey     string
	scope         scope
	signedHeaders []string
	signature     string
	expires       time.Duration // presigned only
}

// v2Auth is a parsed SigV2 authorization.
type v2Auth struct {
	presigned bool
	accessKey string
	signature string
	expires   int64 // presigned only: Unix seconds
}

// classify finds the request's authentication scheme and parses it far enough to route the request: a SigV4
// scope names the service. The returned *Error (if any) is worded for S3 unless service says otherwise.
func classify(r *http.Request) (kind authKind, v4 *v4Auth, v2 *v2Auth, service string, err *Error) {
	if r.Method == http.MethodOptions {
		// A CORS preflight is never signed: a browser sends it, without credentials, to the URL it is about to
		// use, a presigned one included. S3 answers it from the bucket's CORS rules alone.
		return authNone, nil, nil, "s3", nil
	}
	authz := r.Header.Get("Authorization")
	q := r.URL.Query()
	hasV4Query := q.Has(queryAlgorithm) || q.Has(queryCredential) || q.Has(querySignature)
	hasV2Query := q.Has("AWSAccessKeyId") || (q.Has("Signature") && q.Has("Expires"))
	if authz != "" && (hasV4Query || hasV2Query) {
		return authNone, nil, nil, "s3", errInvalidArgument(msgOnlyOneAuth, "Authorization", authz)
	}
	switch {
	case strings.HasPrefix(authz, algoV4+" "):
		v4, service, err = parseV4Header(strings.TrimPrefix(authz, algoV4+" "))
		return authV4Header, v4, nil, service, err
	case strings.HasPrefix(authz, "AWS "):
		v2, err = parseV2Header(strings.TrimPrefix(authz, "AWS "))
		return authV2Header, nil, v2, "s3", err
	case authz != "":
		// SigV4a (AWS4-ECDSA-P256-SHA256), Bearer, Basic…: nothing this endpoint can verify.
		scheme, _, _ := strings.Cut(authz, " ")
		return authNone, nil, nil, "s3", errInvalidArgument(msgUnsupportedAuthorizationType, "Authorization", scheme)
	case hasV4Query:
		v4, service, err = parseV4Query(q)
		return authV4Query, v4, nil, service, err
	case hasV2Query:
		v2, err = parseV2Query(q)
		return authV2Query, nil, v2, "s3", err
	}
	return authNone, nil, nil, "s3", nil
}

// parseCredential splits AKID/DATE/REGION/SERVICE/aws4_request.
func parseCredential(cred string) (akid string, s scope, detail string) {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return "", scope{}, msgCredentialMalformed
	}
	akid, s = parts[0], scope{date: parts[1], region: parts[2], service: parts[3]}
	switch {
	case akid == "":
		return akid, s, "a non-empty Access Key (AKID) must be provided in the credential."
	case parts[4] != scopeTerminal:
		return akid, s, "incorrect terminal \"" + parts[4] + "\". This endpoint uses \"" + scopeTerminal + "\"."
	case s.service == "" || s.region == "":
		return akid, s, msgCredentialMalformed
	}
	if _, err := time.Parse(shortDateFormat, s.date); err != nil {
		return akid, s, "invalid credential date \"" + s.date + "\"."
	}
	return akid, s, ""
}

func parseV4Header(rest string) (*v4Auth, string, *Error) {
	a := &v4Auth{}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, "s3", errAuthHeaderMalformed("the authorization header requires three components: Credential, SignedHeaders, and Signature.")
		}
		fields[k] = v
	}
	cred, ok := fields["Credential"]
	if !ok {
		return nil, "s3", errAuthHeaderMalformed("the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}
	akid, s, detail := parseCredential(cred)
	service := s.service
	if service == "" {
		service = "s3"
	}
	if detail != "" {
		return nil, service, errAuthHeaderMalformed(detail)
	}
	a.accessKey, a.scope = akid, s
	sh, okH := fields["SignedHeaders"]
	sig, okS := fields["Signature"]
	if !okH || !okS || sh == "" || sig == "" {
		return nil, service, errAuthHeaderMalformed("the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}
	a.signedHeaders = strings.Split(sh, ";")
	a.signature = sig
	return a, service, nil
}

func parseV4Query(q url.Values) (*v4Auth, string, *Error) {
	for _, p := range []string{queryAlgorithm, queryCredential, querySignature, queryDate, querySignedHeaders, queryExpires} {
		if q.Get(p) == "" {
			return nil, "s3", errAuthQuery(msgPresignMissingParams)
		}
	}
	if alg := q.Get(queryAlgorithm); alg != algoV4 {
		return nil, "s3", errAuthQuery("X-Amz-Algorithm only supports \"" + algoV4 + "\"")
	}
	akid, s, detail := parseCredential(q.Get(queryCredential))
	service := s.service
	if service == "" {
		service = "s3"
	}
	if detail != "" {
		return nil, service, errAuthQuery(msgQueryCredentialParsePrefix + detail)
	}
	exp, err := strconv.ParseInt(q.Get(queryExpires), 10, 64)
	switch {
	case err != nil:
		return nil, service, errAuthQuery("X-Amz-Expires should be a number")
	case exp < 0:
		return nil, service, errAuthQuery("X-Amz-Expires must be non-negative")
	case exp > int64(maxPresignExpiry/time.Second):
		return nil, service, errAuthQuery("X-Amz-Expires must be less than a week (in seconds) that is; the maximum expires is 604800")
	}
	return &v4Auth{
		presigned:     true,
		accessKey:     akid,
		scope:         s,
		signedHeaders: strings.Split(q.Get(querySignedHeaders), ";"),
		signature:     q.Get(querySignature),
		expires:       time.Duration(exp) * time.Second,
	}, service, nil
}

func parseV2Header(rest string) (*v2Auth, *Error) {
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 || i == len(rest)-1 {
		return nil, errInvalidArgument("AWS authorization header is invalid.  Expected AwsAccessKeyId:signature", "Authorization", "AWS "+rest)
	}
	return &v2Auth{accessKey: rest[:i], signature: rest[i+1:]}, nil
}

func parseV2Query(q url.Values) (*v2Auth, *Error) {
	akid, sig, exp := q.Get("AWSAccessKeyId"), q.Get("Signature"), q.Get("Expires")
	if akid == "" || sig == "" || exp == "" {
		return nil, errAccessDenied("Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return nil, errAccessDenied("Invalid date (should be seconds since epoch): " + exp)
	}
	return &v2Auth{presigned: true, accessKey: akid, signature: sig, expires: n}, nil
}

// requestTime returns the signing time a header-signed request claims: X-Amz-Date, else Date.
func requestTime(r *http.Request) (time.Time, string, bool) {
	v := r.Header.Get("X-Amz-Date")
	if v == "" {
		v = r.Header.Get("Date")
	}
	if v == "" {
		return time.Time{}, "", false
	}
	t, ok := parseHTTPDate(v)
	return t, v, ok
}

// parseHTTPDate accepts SigV4's basic ISO 8601 and the HTTP date formats clients put in Date and (SigV2)
// x-amz-date, including RFC 1123 with a numeric zone as s3cmd writes it.
func parseHTTPDate(v string) (time.Time, bool) {
	for _, layout := range []string{amzDateFormat, http.TimeFormat, time.RFC1123Z, time.RFC1123, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// verified is what a successful signature check hands on: who signed, and how to check the body.
type verified struct {
	identity Identity
	// payload is the x-amz-content-sha256 value the signature covers (SigV4), "" for SigV2.
	payload string
	// key, amzDate, scope and seed continue the signature chain into streaming chunks.
	key     []byte
	amzDate string
	scope   scope
	seed    string
	creq    string
}

// lookup resolves an access key, mapping "unknown" to InvalidAccessKeyId.
func (e *Endpoint) lookup(r *http.Request, akid string) (Identity, string, error) {
	id, secret, err := e.creds.Lookup(r.Context(), akid)
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return Identity{}, "", errInvalidAccessKeyID(akid)
		}
		return Identity{}, "", fmt.Errorf("looking up access key %s: %w", akid, err)
	}
	id.AccessKeyID = akid
	return id, secret, nil
}

// verifyV4 checks a SigV4 request's scope, time and signature. It never reads the body, except for a non-S3
// request that does not state its payload hash (IAM, STS: the signature covers the body's hash, so the body
// must be read to check it; such bodies are small forms).
func (e *Endpoint) verifyV4(r *http.Request, a *v4Auth, service string) (*verified, error) {
	now := e.now()
	s3 := service == "s3"
	if s3 && a.scope.region != e.region {
		return nil, errWrongRegion(a.scope.region, e.region, a.presigned)
	}
	var (
		t       time.Time
		amzDate string
		rawDate string
	)
	if a.presigned {
		amzDate = r.URL.Query().Get(queryDate)
		var err error
		t, err = time.Parse(amzDateFormat, amzDate)
		if err != nil {
			return nil, errAuthQuery("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
		}
	} else {
		var ok bool
		t, rawDate, ok = requestTime(r)
		if !ok {
			return nil, errMissingDate()
		}
		amzDate = t.UTC().Format(amzDateFormat)
	}
	if d := t.UTC().Format(shortDateFormat); d != a.scope.date {
		msg := "Invalid credential date \"" + a.scope.date + "\". This date is not the same as X-Amz-Date: \"" + d + "\"."
		if a.presigned {
			return nil, errAuthQuery(msgQueryCredentialParsePrefix + msg)
		}
		return nil, errAuthHeaderMalformed(msg)
	}
	if a.presigned {
		if t.After(now.Add(maxClockSkew)) {
			return nil, errAccessDenied("Request is not valid yet")
		}
		if expiry := t.Add(a.expires); now.After(expiry) {
			return nil, errAccessDenied(msgRequestExpired,
				[2]string{"X-Amz-Expires", strconv.FormatInt(int64(a.expires/time.Second), 10)},
				[2]string{"Expires", expiry.UTC().Format(serverTimeFormat)},
				[2]string{"ServerTime", now.UTC().Format(serverTimeFormat)})
		}
	} else if skew := now.Sub(t); skew > maxClockSkew || skew < -maxClockSkew {
		return nil, errRequestTimeTooSkewed(rawDate, now)
	}
	if r.Header.Get("X-Amz-Security-Token") != "" || r.URL.Query().Get(querySecurityToken) != "" {
		// Berth issues no temporary credentials, so no session token can be valid here.
		return nil, newError(http.StatusBadRequest, "InvalidToken", "The provided token is malformed or otherwise invalid.")
	}

	payload := r.Header.Get(headerContentSHA256)
	if a.presigned {
		if v := r.URL.Query().Get(queryContentSHA256); v != "" {
			payload = v
		}
		if payload == "" && s3 {
			payload = payloadUnsigned
		}
	}
	if err := checkPayloadValue(payload, s3); err != nil {
		return nil, err
	}
	switch payload {
	case payloadUnsigned, payloadStreamingSigned, payloadStreamingSignedTrailer, payloadStreamingUnsignedTrail:
		if !s3 {
			// Unsigned and streamed payloads are S3's: elsewhere a signature, presigned ones included, covers
			// the body's own hash. Taking UNSIGNED-PAYLOAD here would let whoever holds a presigned POST choose
			// its form, whose values override the signed query's (Action included).
			payload = ""
		}
	}

	id, secret, err := e.lookup(r, a.accessKey)
	if err != nil {
		return nil, err
	}

	signedPayload := payload
	if payload == "" { // a non-S3 request that signed its body's hash without stating it
		body, err := readSmallBody(r, e.maxQueryBody)
		if err != nil {
			return nil, err
		}
		signedPayload = hexSHA256(body)
	}
	creq := canonicalRequest(canonicalInput{
		method:        r.Method,
		rawPath:       rawPath(r),
		rawQuery:      r.URL.RawQuery,
		host:          r.Host,
		header:        r.Header,
		transferEnc:   r.TransferEncoding,
		contentLength: r.ContentLength,
		signedHeaders: a.signedHeaders,
		payloadHash:   signedPayload,
		s3:            s3,
		dropQuery:     map[bool]string{true: querySignature}[a.presigned],
	})
	sts := stringToSign(amzDate, a.scope, creq)
	key := e.keys.get(a.accessKey, secret, a.scope)
	want := hmacSHA256(key, sts)
	got, decErr := hex.DecodeString(a.signature)
	if decErr != nil || !hmac.Equal(want, got) {
		return nil, errSignatureDoesNotMatch(a.accessKey, sts, a.signature, creq)
	}
	if missing := unsignedHeaders(r.Header, a.signedHeaders); len(missing) > 0 {
		return nil, errAccessDenied(msgHeadersNotSigned, [2]string{"HeadersNotSigned", strings.Join(missing, ", ")})
	}
	return &verified{identity: id, payload: payload, key: key, amzDate: amzDate, scope: a.scope, seed: a.signature, creq: creq}, nil
}

// unsignedHeaders lists what a SigV4 signature must cover and does not: host (it names the bucket of a
// virtual-host-style request) and every x-amz-* header the request carries (they choose what the request does:
// x-amz-copy-source turns a PUT into a copy, x-amz-acl and x-amz-tagging set access and tags). S3 refuses such a
// request; accepting it would let the holder of a presigned URL, or anyone relaying a signed request, add them.
// x-amz-content-sha256 is exempt, as in S3: its value is the canonical request's payload hash, so it is covered.
func unsignedHeaders(h http.Header, signed []string) []string {
	in := make(map[string]bool, len(signed))
	for _, name := range signed {
		in[strings.ToLower(name)] = true
	}
	var missing []string
	if !in["host"] {
		missing = append(missing, "host")
	}
	for name := range h {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "x-amz-") && l != "x-amz-content-sha256" && !in[l] {
			missing = append(missing, l)
		}
	}
	sort.Strings(missing)
	return missing
}

// keyCache remembers derived signing keys: a key is good for one access key, secret and scope (a day, a region,
// a service), and deriving it costs four HMACs per request otherwise.
type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey
}

type cachedKey struct {
	secret string
	key    []byte
}

const keyCacheSize = 4096

func (c *keyCache) get(akid, secret string, s scope) []byte {
	id := akid + "/" + s.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.m[id]; ok && k.secret == secret {
		return k.key
	}
	if c.m == nil || len(c.m) >= keyCacheSize {
		c.m = make(map[string]cachedKey) // dates move on: dropping everything now and then keeps it small
	}
	k := signingKey(secret, s)
	c.m[id] = cachedKey{secret: secret, key: k}
	return k
}

// checkPayloadValue validates x-amz-content-sha256 before anything else is done with it.
func checkPayloadValue(v string, s3 bool) *Error {
	switch v {
	case "":
		if s3 {
			return newError(http.StatusBadRequest, codeInvalidRequest, "Missing required header for this request: x-amz-content-sha256")
		}
		return nil
	case payloadUnsigned, payloadStreamingSigned, payloadStreamingSignedTrailer, payloadStreamingUnsignedTrail:
		return nil
	case payloadStreamingECDSA, payloadStreamingECDSATrailer:
		return errNotImplemented("SigV4a (" + v + ") is not supported by this endpoint")
	}
	if len(v) == 64 {
		if _, err := hex.DecodeString(v); err == nil {
			return nil
		}
	}
	return errInvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "+
		"STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, "+
		"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.", "x-amz-content-sha256", v)
}

// verifyV2 checks a SigV2 request (header or query), as S3 computes it.
func (e *Endpoint) verifyV2(r *http.Request, a *v2Auth, bucket string) (*verified, error) {
	now := e.now()
	var dateLine string
	if a.presigned {
		exp := time.Unix(a.expires, 0)
		if now.After(exp) {
			return nil, errAccessDenied(msgRequestExpired,
				[2]string{"Expires", exp.UTC().Format(serverTimeFormat)}, [2]string{"ServerTime", now.UTC().Format(serverTimeFormat)})
		}
		dateLine = strconv.FormatInt(a.expires, 10)
	} else {
		t, raw, ok := requestTime(r)
		if !ok {
			return nil, errMissingDate()
		}
		if skew := now.Sub(t); skew > maxClockSkew || skew < -maxClockSkew {
			return nil, errRequestTimeTooSkewed(raw, now)
		}
		if r.Header.Get("X-Amz-Date") == "" {
			dateLine = r.Header.Get("Date")
		}
	}
	id, secret, err := e.lookup(r, a.accessKey)
	if err != nil {
		return nil, err
	}
	sts := stringToSignV2(r, dateLine, bucket)
	got, decErr := base64.StdEncoding.DecodeString(a.signature)
	if decErr != nil || !v2Matches(secret, sts, got) {
		// S3 takes a bucket's resource with or without its trailing slash (botocore signs "/bucket/" for
		// PUT /bucket); a key's resource only as sent.
		alt, ok := v2BucketResourceToggled(sts)
		if decErr != nil || !ok || !v2Matches(secret, alt, got) {
			return nil, errSignatureDoesNotMatch(a.accessKey, sts, a.signature, "")
		}
	}
	return &verified{identity: id}, nil
}

// v2Matches reports whether sig is SigV2's signature of sts with secret.
func v2Matches(secret, sts string, sig []byte) bool {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(sts))
	return hmac.Equal(m.Sum(nil), sig)
}

// v2BucketResourceToggled returns sts with its canonical resource's trailing slash added or removed, when that
// resource names a bucket alone ("/bucket" or "/bucket/", sub-resources aside).
func v2BucketResourceToggled(sts string) (string, bool) {
	i := strings.LastIndexByte(sts, '\n') + 1
	head, resource := sts[:i], sts[i:]
	path, sub, hasSub := strings.Cut(resource, "?")
	name, slash := strings.CutSuffix(strings.TrimPrefix(path, "/"), "/")
	if !strings.HasPrefix(path, "/") || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	path = "/" + name
	if !slash {
		path += "/"
	}
	if hasSub {
		path += "?" + sub
	}
	return head + path, true
}

// v2SubResources are the query parameters SigV2 signs (S3's list, as s3cmd and the SDKs sign them).
var v2SubResources = map[string]bool{
	"acl": true, "cors": true, "delete": true, "encryption": true, "legal-hold": true, "lifecycle": true,
	"location": true, "logging": true, "notification": true, "object-lock": true, "partNumber": true, "policy": true,
	"requestPayment": true, "response-cache-control": true, "response-content-disposition": true,
	"response-content-encoding": true, "response-content-language": true, "response-content-type": true,
	"response-expires": true, "restore": true, "retention": true, "select": true, "select-type": true,
	"tagging": true, "torrent": true, "uploadId": true, "uploads": true, "versionId": true, "versioning": true,
	"versions": true, "website": true, "replication": true, "publicAccessBlock": true, "attributes": true,
	"ownershipControls": true, "accelerate": true, "analytics": true, "inventory": true, "metrics": true,
	"intelligent-tiering": true, "policyStatus": true,
}

// stringToSignV2 builds SigV2's string to sign.
func stringToSignV2(r *http.Request, dateLine, bucket string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(r.Header.Get("Content-Md5"))
	b.WriteByte('\n')
	b.WriteString(r.Header.Get("Content-Type"))
	b.WriteByte('\n')
	b.WriteString(dateLine)
	b.WriteByte('\n')
	var amz []string
	for name := range r.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-amz-") {
			amz = append(amz, l)
		}
	}
	sort.Strings(amz)
	for _, name := range amz {
		vals := r.Header.Values(name)
		for i, v := range vals {
			vals[i] = strings.TrimSpace(v)
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strings.Join(vals, ","))
		b.WriteByte('\n')
	}
	if bucket != "" {
		b.WriteString("/" + bucket)
	}
	b.WriteString(rawPath(r))
	var subs []string
	for _, part := range strings.Split(r.URL.RawQuery, "&") {
		k, v, hasV := strings.Cut(part, "=")
		if !v2SubResources[k] {
			continue
		}
		if hasV && v != "" {
			if dv, err := url.QueryUnescape(v); err == nil {
				v = dv
			}
			subs = append(subs, k+"="+v)
		} else {
			subs = append(subs, k)
		}
	}
	sort.Strings(subs)
	if len(subs) > 0 {
		b.WriteString("?" + strings.Join(subs, "&"))
	}
	return b.String()
}

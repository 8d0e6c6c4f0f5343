package cloud

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Option configures an Endpoint.
type Option func(*Endpoint)

// WithRegion sets the region S3 requests must be scoped to (default us-east-1). A request scoped to another
// region gets S3's AuthorizationHeaderMalformed naming this one, which the SDKs follow.
func WithRegion(region string) Option { return func(e *Endpoint) { e.region = region } }

// WithVirtualHostDomain sets the domains under which BUCKET.DOMAIN[:PORT] names a bucket (default s3.localhost;
// *.localhost resolves to the loopback on most systems, so virtual-host-style clients work without DNS setup).
// Repeat the option, or pass several, for more than one.
func WithVirtualHostDomain(domains ...string) Option {
	return func(e *Endpoint) {
		if !e.domainsSet {
			e.domains, e.domainsSet = nil, true
		}
		for _, d := range domains {
			e.domains = append(e.domains, strings.ToLower(strings.TrimPrefix(d, ".")))
		}
	}
}

// WithClock sets the clock that signing times and presigned expiries are judged by (tests).
func WithClock(now func() time.Time) Option { return func(e *Endpoint) { e.now = now } }

// WithLogger sets the structured logger; the default is slog.Default(). Nothing secret is ever logged.
func WithLogger(l *slog.Logger) Option { return func(e *Endpoint) { e.log = l } }

// WithMaxQueryBody bounds the body of a non-S3 request whose payload hash must be computed to check its
// signature (IAM/STS/EC2 forms; default 8 MiB).
func WithMaxQueryBody(n int64) Option { return func(e *Endpoint) { e.maxQueryBody = n } }

// Endpoint is the AWS-style HTTP endpoint: it authenticates a request, routes it to the service its credential
// scope (or Host) names, and hands the service a verified body.
type Endpoint struct {
	creds        Credentials
	region       string
	domains      []string
	domainsSet   bool
	now          func() time.Time
	log          *slog.Logger
	maxQueryBody int64

	mu       sync.RWMutex
	services map[string]Service
	keys     keyCache
}

var _ http.Handler = (*Endpoint)(nil)

// NewEndpoint returns an endpoint that resolves access keys with creds.
func NewEndpoint(creds Credentials, opts ...Option) *Endpoint {
	e := &Endpoint{
		creds:        creds,
		region:       DefaultRegion,
		domains:      []string{"s3.localhost"},
		now:          time.Now,
		log:          slog.Default(),
		maxQueryBody: 8 << 20,
		services:     map[string]Service{},
	}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Region returns the region S3 requests must be scoped to.
func (e *Endpoint) Region() string { return e.region }

// Register serves svc for requests whose credential scope names name ("s3", "iam", "sts", "ec2"). The "s3"
// service also receives SigV2, anonymous and virtual-host-style requests, but for unsigned and SigV2 requests
// of the query protocol (Action=…), which go to the query service they name (see queryRoute).
func (e *Endpoint) Register(name string, svc Service) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.services[name] = svc
}

func (e *Endpoint) service(name string) Service {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.services[name]
}

// ServeHTTP authenticates r, routes it and calls the service. A request that fails authentication gets the
// service's error and its body is never read (an Expect: 100-continue client is answered before it sends it).
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := RequestInfo{
		Region:          e.region,
		SecureTransport: r.TLS != nil,
		SourceIP:        remoteIP(r.RemoteAddr),
		Identity:        Identity{Anonymous: true},
	}
	kind, v4, v2, name, aerr := classify(r)
	if (kind == authNone || kind == authV2Query) && r.Method != http.MethodOptions {
		// An unsigned (or SigV2) query-protocol request goes to its query service, as an anonymous caller.
		if qs := e.queryRoute(r); qs != "" {
			kind, v4, v2, name, aerr = authNone, nil, nil, qs, nil
		}
	}
	info.Service = name
	if name == "s3" {
		info.Bucket = e.virtualHostBucket(r.Host)
	}
	info.RequestID, info.HostID = newRequestID(name)
	h := w.Header()
	h.Set("X-Amz-Request-Id", info.RequestID)
	h.Set("X-Amz-Id-2", info.HostID)
	if name != "s3" {
		h.Set("X-Amzn-Requestid", info.RequestID)
	}
	svc := e.service(name)
	r = r.WithContext(WithInfo(r.Context(), info))
	if svc == nil {
		e.log.DebugContext(r.Context(), "request for a service not served here", "service", name, "request_id", info.RequestID)
		writeFallbackError(w, r, name, errNotImplemented(fmt.Sprintf("The service %q is not served by this endpoint.", name)))
		return
	}
	fail := func(err error) {
		var ce *Error
		if !errors.As(err, &ce) {
			e.log.ErrorContext(r.Context(), "authentication failed", "service", name, "request_id", info.RequestID, "error", err)
		} else {
			e.log.DebugContext(r.Context(), "authentication refused", "service", name, "request_id", info.RequestID, "code", ce.Code)
			if name != "s3" {
				err = queryServiceError(ce)
			}
		}
		svc.WriteError(w, r, err)
	}
	if aerr != nil {
		fail(aerr)
		return
	}
	var v *verified
	var err error
	switch kind {
	case authV4Header, authV4Query:
		v, err = e.verifyV4(r, v4, name)
		info.Presigned = kind == authV4Query
		info.SignatureVersion = algoV4
	case authV2Header, authV2Query:
		v, err = e.verifyV2(r, v2, info.Bucket)
		info.Presigned = kind == authV2Query
		info.SignatureVersion = "AWS"
	}
	if err != nil {
		fail(err)
		return
	}
	if v != nil {
		info.Identity = v.identity
		if kind == authV4Header || kind == authV4Query {
			info.Region = v4.scope.region
		}
		if err := e.wrapBody(r, v); err != nil {
			fail(err)
			return
		}
	}
	r = r.WithContext(WithInfo(r.Context(), info))
	svc.ServeHTTP(w, r)
}

// wrapBody replaces r.Body with a reader that checks it against what was signed.
func (e *Endpoint) wrapBody(r *http.Request, v *verified) error {
	switch v.payload {
	case "", payloadUnsigned:
		return nil
	case payloadStreamingSigned, payloadStreamingSignedTrailer, payloadStreamingUnsignedTrail:
		dl := r.Header.Get(headerDecodedContentLength)
		if dl == "" {
			return errMissingContentLength()
		}
		n, err := strconv.ParseInt(dl, 10, 64)
		if err != nil || n < 0 {
			return errInvalidArgument("x-amz-decoded-content-length must be a non-negative number", headerDecodedContentLength, dl)
		}
		var declared []string
		for _, t := range strings.Split(r.Header.Get(headerTrailer), ",") {
			if t = strings.TrimSpace(t); t != "" {
				declared = append(declared, t)
			}
		}
		if v.payload == payloadStreamingSigned && len(declared) > 0 {
			return errMalformedTrailer()
		}
		r.Trailer = http.Header{}
		for _, t := range declared {
			r.Trailer[http.CanonicalHeaderKey(t)] = nil
		}
		body := r.Body
		if body == nil {
			body = http.NoBody
		}
		r.Body = newChunkedReader(body, v.payload, v, n, declared, r.Trailer)
		r.ContentLength = n
		r.Header.Set("Content-Length", strconv.FormatInt(n, 10))
		stripAWSChunked(r.Header)
		return nil
	default: // a hex SHA-256 (checkPayloadValue vetted it)
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = newSHA256Reader(r.Body, v.payload, r.ContentLength)
		} else if !strings.EqualFold(v.payload, emptySHA256) {
			return errContentSHA256Mismatch(v.payload, emptySHA256)
		}
		return nil
	}
}

// stripAWSChunked removes the aws-chunked token from Content-Encoding: it describes the framing the endpoint
// removed, not the object (S3 does not store it either). The other codings keep their order, as a list S3
// would store ("gzip, br"); a header without aws-chunked is left as sent.
func stripAWSChunked(h http.Header) {
	var keep []string
	found := false
	for _, v := range h.Values("Content-Encoding") {
		for _, tok := range strings.Split(v, ",") {
			switch tok = strings.TrimSpace(tok); {
			case strings.EqualFold(tok, "aws-chunked"):
				found = true
			case tok != "":
				keep = append(keep, tok)
			}
		}
	}
	switch {
	case !found:
	case len(keep) == 0:
		h.Del("Content-Encoding")
	default:
		h.Set("Content-Encoding", strings.Join(keep, ", "))
	}
}

// virtualHostBucket returns the bucket a BUCKET.DOMAIN[:PORT] Host names, or "".
func (e *Endpoint) virtualHostBucket(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	for _, d := range e.domains {
		if b, ok := strings.CutSuffix(host, "."+d); ok && b != "" {
			return b
		}
	}
	return ""
}

func remoteIP(addr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(addr); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// newRequestID returns a request ID shaped as the service's own (S3: 16 upper-case hex digits; the query
// services: a UUID) and an x-amz-id-2 host ID.
func newRequestID(service string) (id, hostID string) {
	var b [40]byte
	_, _ = rand.Read(b[:])
	hostID = base64.StdEncoding.EncodeToString(b[16:])
	if service == "s3" {
		return strings.ToUpper(hex.EncodeToString(b[:8])), hostID
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32], hostID
}

// writeFallbackError answers for a service that is not registered, in the shape its clients parse: S3's
// <Error>, or the query protocol's <ErrorResponse>.
func writeFallbackError(w http.ResponseWriter, r *http.Request, service string, e *Error) {
	info := InfoFrom(r.Context())
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	if service == "s3" {
		_ = writeS3Error(w, e, info.RequestID, info.HostID)
		return
	}
	type errorBody struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	type errorResponse struct {
		XMLName   xml.Name  `xml:"ErrorResponse"`
		Error     errorBody `xml:"Error"`
		RequestID string    `xml:"RequestId"`
	}
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(errorResponse{Error: errorBody{Type: "Sender", Code: e.Code, Message: e.Message}, RequestID: info.RequestID})
}

// writeS3Error renders e as S3's <Error> document (the fallback and the tests' S3 stand-in use it; the object
// store renders its own).
func writeS3Error(w interface{ Write([]byte) (int, error) }, e *Error, requestID, hostID string) error {
	enc := xml.NewEncoder(w)
	if _, err := w.Write([]byte(xml.Header)); err != nil {
		return err
	}
	start := xml.StartElement{Name: xml.Name{Local: "Error"}}
	tokens := []xml.Token{start}
	el := func(name, value string) {
		tokens = append(tokens, xml.StartElement{Name: xml.Name{Local: name}}, xml.CharData(value), xml.EndElement{Name: xml.Name{Local: name}})
	}
	el("Code", e.Code)
	el("Message", e.Message)
	if e.Resource != "" {
		el("Resource", e.Resource)
	}
	for _, kv := range e.Extra {
		el(kv[0], kv[1])
	}
	el("RequestId", requestID)
	el("HostId", hostID)
	tokens = append(tokens, start.End())
	for _, t := range tokens {
		if err := enc.EncodeToken(t); err != nil {
			return err
		}
	}
	return enc.Flush()
}

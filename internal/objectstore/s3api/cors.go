package s3api

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/objectstore"
)

// The CORS configuration document.
type corsConfiguration struct {
	XMLName xml.Name   `xml:"CORSConfiguration"`
	Rules   []corsRule `xml:"CORSRule"`
	Unknown []struct {
		XMLName xml.Name
	} `xml:",any"`
}

type corsRule struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedHeaders []string `xml:"AllowedHeader"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	ExposeHeaders  []string `xml:"ExposeHeader"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds"`
	Unknown        []struct {
		XMLName xml.Name
	} `xml:",any"`
}

// maxCORSRules is how many rules a CORS configuration may hold.
const maxCORSRules = 100

// corsVary is the Vary header of every CORS response: the answer depends on these request headers.
const corsVary = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

// parseCORS reads and checks a CORS configuration as S3 checks it.
func parseCORS(doc []byte) (*corsConfiguration, error) {
	var c corsConfiguration
	dec := xml.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&c); err != nil {
		return nil, malformedXML()
	}
	if _, err := dec.Token(); err != io.EOF || len(c.Unknown) > 0 || len(c.Rules) == 0 {
		return nil, malformedXML()
	}
	if len(c.Rules) > maxCORSRules {
		return nil, s3Error("InvalidRequest", "The number of CORS rules should not exceed allowed limit of 100 rules.")
	}
	for _, r := range c.Rules {
		if len(r.Unknown) > 0 || len(r.AllowedMethods) == 0 || len(r.AllowedOrigins) == 0 || len(r.ID) > 255 {
			return nil, malformedXML()
		}
		for _, m := range r.AllowedMethods {
			if !corsMethod(m) {
				return nil, s3Error("InvalidRequest", "Found unsupported HTTP method in CORS config. Unsupported method is "+m)
			}
		}
		for _, o := range r.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return nil, s3Error("InvalidRequest", `AllowedOrigin "`+o+`" can not have more than one wildcard.`)
			}
		}
		for _, h := range r.AllowedHeaders {
			if strings.Count(h, "*") > 1 {
				return nil, s3Error("InvalidRequest", `AllowedHeader "`+h+`" can not have more than one wildcard.`)
			}
		}
		if r.MaxAgeSeconds != nil && *r.MaxAgeSeconds < 0 {
			return nil, malformedXML()
		}
	}
	return &c, nil
}

func corsMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodHead:
		return true
	}
	return false
}

// wildcardMatch matches s against a pattern with at most one "*".
func wildcardMatch(pattern, s string) bool {
	prefix, suffix, star := strings.Cut(pattern, "*")
	if !star {
		return pattern == s
	}
	return len(s) >= len(prefix)+len(suffix) && strings.HasPrefix(s, prefix) && strings.HasSuffix(s, suffix)
}

// match returns the first rule allowing origin, method and every requested header, and whether it allowed the
// origin by "*".
func (c *corsConfiguration) match(origin, method string, headers []string) (*corsRule, bool) {
	for i := range c.Rules {
		r := &c.Rules[i]
		anyOrigin, ok := false, false
		for _, o := range r.AllowedOrigins {
			if wildcardMatch(o, origin) {
				ok, anyOrigin = true, o == "*"
				break
			}
		}
		if !ok || !containsString(r.AllowedMethods, method) {
			continue
		}
		allowed := true
		for _, h := range headers {
			found := false
			for _, a := range r.AllowedHeaders {
				if wildcardMatch(strings.ToLower(a), h) {
					found = true
					break
				}
			}
			if !found {
				allowed = false
				break
			}
		}
		if allowed {
			return r, anyOrigin
		}
	}
	return nil, false
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// setCORSHeaders sets the headers of a request a rule allows.
func setCORSHeaders(h http.Header, r *corsRule, origin string, anyOrigin bool, requested []string) {
	if anyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(r.AllowedMethods, ", "))
	if len(requested) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(requested, ", "))
	}
	if len(r.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(r.ExposeHeaders, ", "))
	}
	if r.MaxAgeSeconds != nil {
		h.Set("Access-Control-Max-Age", strconv.Itoa(*r.MaxAgeSeconds))
	}
	h.Set("Vary", corsVary)
}

// requestedHeaders reads Access-Control-Request-Headers, lower-cased.
func requestedHeaders(v string) []string {
	var out []string
	for _, h := range strings.Split(v, ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// corsForbidden is S3's 403 to a CORS request it does not allow.
func corsForbidden(msg, resourceType string) error {
	return &cloud.Error{Code: "AccessForbidden", Message: msg, Status: http.StatusForbidden,
		Extra: [][2]string{{"Method", "OPTIONS"}, {"ResourceType", resourceType}}}
}

// preflight answers OPTIONS /bucket[/key]: a browser asking whether a cross-origin request would be allowed. It
// is never authenticated; the bucket's CORS rules alone decide.
func (s *Server) preflight(rq *request) error {
	h := rq.r.Header
	origin := h.Get("Origin")
	if origin == "" {
		return s3Error("BadRequest", "Insufficient information. Origin request header needed.")
	}
	method := h.Get("Access-Control-Request-Method")
	if !corsMethod(method) {
		return s3Error("BadRequest", "Invalid Access-Control-Request-Method: "+method)
	}
	headers := requestedHeaders(h.Get("Access-Control-Request-Headers"))
	b, err := s.lookupBucket(rq)
	if err != nil {
		return err
	}
	st, err := s.state(rq.ctx, *b)
	if err != nil {
		return err
	}
	if st.cors == nil {
		return corsForbidden("CORSResponse: CORS is not enabled for this bucket.", "BUCKET")
	}
	rule, anyOrigin := st.cors.match(origin, method, headers)
	if rule == nil {
		rt := "BUCKET"
		if rq.key != "" {
			rt = "OBJECT"
		}
		return corsForbidden("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.", rt)
	}
	setCORSHeaders(rq.w.Header(), rule, origin, anyOrigin, headers)
	rq.w.Header().Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// corsHeaders adds the CORS headers to the response of an actual request with an Origin that a rule of the
// bucket allows (success or error alike, so a browser can read either). The method is the request's, or the one
// an Access-Control-Request-Method names.
func (s *Server) corsHeaders(rq *request) {
	b, err := s.store.Bucket(rq.ctx, rq.bucket)
	if err != nil {
		return
	}
	st, err := s.state(rq.ctx, b)
	if err != nil || st.cors == nil {
		return
	}
	method := rq.r.Header.Get("Access-Control-Request-Method")
	if method == "" {
		method = rq.r.Method
	}
	origin := rq.r.Header.Get("Origin")
	if rule, anyOrigin := st.cors.match(origin, method, nil); rule != nil {
		setCORSHeaders(rq.w.Header(), rule, origin, anyOrigin, nil)
	}
}

type corsConfigurationOut struct {
	XMLName xml.Name   `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CORSConfiguration"`
	Rules   []corsRule `xml:"CORSRule"`
}

// getBucketCORS is GET /bucket?cors.
func (s *Server) getBucketCORS(rq *request) error {
	b, err := s.bucketFor(rq, "s3:GetBucketCORS", "", "")
	if err != nil {
		return err
	}
	st, err := s.bucketState(rq, b)
	if err != nil {
		return err
	}
	if st.cors == nil {
		return s3Error("NoSuchCORSConfiguration", "The CORS configuration does not exist", [2]string{"BucketName", b.Name})
	}
	return writeXML(rq.w, corsConfigurationOut{Rules: st.cors.Rules})
}

// putBucketCORS is PUT /bucket?cors.
func (s *Server) putBucketCORS(rq *request) error {
	b, err := s.bucketFor(rq, "s3:PutBucketCORS", "", "")
	if err != nil {
		return err
	}
	body, err := readBody(rq.r, maxSmallXMLBody)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return s3Error("MissingRequestBodyError", "Request Body is empty")
	}
	c, err := parseCORS(body)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := xml.NewEncoder(&buf).Encode(corsConfiguration{Rules: c.Rules}); err != nil {
		return err
	}
	if err := s.store.PutBucketConfig(rq.ctx, b.Name, objectstore.ConfigCORS, buf.Bytes()); err != nil {
		return err
	}
	rq.w.Header().Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// deleteBucketCORS is DELETE /bucket?cors.
func (s *Server) deleteBucketCORS(rq *request) error {
	if _, err := s.bucketFor(rq, "s3:PutBucketCORS", "", ""); err != nil {
		return err
	}
	if err := s.store.DeleteBucketConfig(rq.ctx, rq.bucket, objectstore.ConfigCORS); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

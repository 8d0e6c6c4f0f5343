package cloud

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// TestSigV2BucketResource: S3 accepts a SigV2 signature of a bucket-level request over the bucket's resource with
// or without its trailing slash: botocore (signature_version s3) signs "/bucket/" for a path-style PUT /bucket,
// the S3 guide and other clients sign the path as sent. A key's resource is taken exactly as sent.
func TestSigV2BucketResource(t *testing.T) {
	const date = "Tue, 27 Mar 2007 19:36:42 +0000"
	sign := func(method, resource string) string {
		m := hmac.New(sha1.New, []byte(docSecret))
		m.Write([]byte(method + "\n\n\n" + date + "\n" + resource))
		return "AWS " + docKey + ":" + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	for _, tc := range []struct {
		name, method, host, target, resource string
		ok                                   bool
	}{
		{name: "path-style bucket, signed with a slash (botocore)", method: "PUT", target: "/mybucket", resource: "/mybucket/", ok: true},
		{name: "path-style bucket, signed as sent", method: "PUT", target: "/mybucket", resource: "/mybucket", ok: true},
		{name: "path-style bucket with a slash, signed without", method: "GET", target: "/mybucket/", resource: "/mybucket", ok: true},
		{name: "path-style bucket sub-resource, signed with a slash", method: "GET", target: "/mybucket?acl", resource: "/mybucket/?acl", ok: true},
		{name: "path-style bucket listing, signed with a slash", method: "GET", target: "/mybucket?prefix=a&encoding-type=url", resource: "/mybucket/", ok: true},
		{name: "virtual-host bucket, signed with a slash", method: "GET", host: "mybucket.s3.amazonaws.com", target: "/", resource: "/mybucket/", ok: true},
		{name: "virtual-host bucket, signed without", method: "GET", host: "mybucket.s3.amazonaws.com", target: "/", resource: "/mybucket", ok: true},
		{name: "another bucket", method: "PUT", target: "/mybucket", resource: "/otherbucket/"},
		{name: "object, signed with a slash added", method: "PUT", target: "/mybucket/key", resource: "/mybucket/key/"},
		{name: "object ending in a slash, signed without it", method: "PUT", target: "/mybucket/dir/", resource: "/mybucket/dir"},
		{name: "object, signed as sent", method: "PUT", target: "/mybucket/dir/", resource: "/mybucket/dir/", ok: true},
		{name: "service, signed with a second slash", method: "GET", target: "/", resource: "//"},
		{name: "service", method: "GET", target: "/", resource: "/", ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := &recorder{}
			at, _ := parseHTTPDate(date)
			ep := NewEndpoint(testCreds(docKey, docSecret), WithClock(fixedClock(at.Add(time.Minute))), WithVirtualHostDomain("s3.amazonaws.com"))
			ep.Register("s3", svc)
			host := tc.host
			if host == "" {
				host = "s3.amazonaws.com"
			}
			w := httptest.NewRecorder()
			ep.ServeHTTP(w, rawRequest(tc.method, tc.target, [][2]string{{"Host", host}, {"Date", date}, {"Authorization", sign(tc.method, tc.resource)}}, ""))
			if tc.ok {
				if w.Code != 200 || svc.count() != 1 {
					t.Fatalf("status %d: %s", w.Code, w.Body)
				}
				return
			}
			if w.Code != 403 || parseS3Error(t, w.Body.Bytes()).Code != codeSignatureDoesNotMatch || svc.count() != 0 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
		})
	}
	t.Run("presigned path-style bucket, signed with a slash", func(t *testing.T) {
		svc := &recorder{}
		at, _ := parseHTTPDate(date)
		ep := NewEndpoint(testCreds(docKey, docSecret), WithClock(fixedClock(at)))
		ep.Register("s3", svc)
		expires := strconv.FormatInt(at.Add(time.Hour).Unix(), 10)
		m := hmac.New(sha1.New, []byte(docSecret))
		m.Write([]byte("GET\n\n\n" + expires + "\n/mybucket/"))
		q := url.Values{"AWSAccessKeyId": {docKey}, "Expires": {expires}, "Signature": {base64.StdEncoding.EncodeToString(m.Sum(nil))}}
		w := httptest.NewRecorder()
		ep.ServeHTTP(w, rawRequest("GET", "/mybucket?"+q.Encode(), [][2]string{{"Host", "127.0.0.1:9000"}}, ""))
		if w.Code != 200 || svc.count() != 1 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}

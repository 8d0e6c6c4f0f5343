package cloud

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var signTime = mustTime("20260301T120000Z")

// sdkSigned returns a request signed by aws-sdk-go-v2's signer at signTime.
func sdkSigned(t *testing.T, method, target, service, region, payload string, body string, edit func(*http.Request)) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, "http://127.0.0.1:9000"+target, strings.NewReader(body))
	if edit != nil {
		edit(r)
	}
	if payload != "" {
		r.Header.Set("X-Amz-Content-Sha256", payload)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, r, payload, service, region, signTime); err != nil {
		t.Fatal(err)
	}
	return r
}

func sdkPresigned(t *testing.T, target, region string, expires time.Duration, at time.Time) *http.Request {
	t.Helper()
	r := httptest.NewRequest("GET", "http://127.0.0.1:9000"+target, nil)
	q := r.URL.Query()
	q.Set("X-Amz-Expires", fmt.Sprint(int(expires/time.Second)))
	r.URL.RawQuery = q.Encode()
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, r, payloadUnsigned, "s3", region, at)
	if err != nil {
		t.Fatal(err)
	}
	out := httptest.NewRequest("GET", u, nil)
	return out
}

// signListing signs r (header auth, as testKey at signTime) over exactly the headers named, as a signer that leaves
// some out would: the signature itself is valid.
func signListing(r *http.Request, payload string, signed ...string) *http.Request {
	s := scope{date: signTime.Format(shortDateFormat), region: "us-east-1", service: "s3"}
	creq := canonicalRequest(canonicalInput{method: r.Method, rawPath: rawPath(r), rawQuery: r.URL.RawQuery, host: r.Host,
		header: r.Header, signedHeaders: signed, payloadHash: payload, s3: true})
	sig := hex.EncodeToString(hmacSHA256(signingKey(testSecret, s), stringToSign(signTime.Format(amzDateFormat), s, creq)))
	r.Header.Set("Authorization", algoV4+" Credential="+testKey+"/"+s.String()+", SignedHeaders="+strings.Join(signed, ";")+", Signature="+sig)
	return r
}

// TestAuthenticationErrors: each refusal carries AWS's code, status and message, and never reaches the service.
func TestAuthenticationErrors(t *testing.T) {
	const h = emptySHA256
	tests := []struct {
		name       string
		req        func(t *testing.T) *http.Request
		now        time.Time
		wantStatus int
		wantCode   string
		wantMsg    string
		wantExtra  map[string]string
		queryShape bool // rendered by the query-protocol stand-in (IAM)
	}{
		{name: "region other than the endpoint's", req: func(t *testing.T) *http.Request { return sdkSigned(t, "GET", "/b/k", "s3", "eu-west-1", h, "", nil) },
			wantStatus: 400, wantCode: "AuthorizationHeaderMalformed", wantMsg: "The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'us-east-1'",
			wantExtra: map[string]string{"Region": "us-east-1"}},
		{name: "presigned for another region", req: func(t *testing.T) *http.Request { return sdkPresigned(t, "/b/k", "eu-west-1", time.Hour, signTime) },
			wantStatus: 400, wantCode: "AuthorizationQueryParametersError", wantMsg: "Error parsing the X-Amz-Credential parameter; the region 'eu-west-1' is wrong; expecting 'us-east-1'"},
		{name: "scope with a bad terminal", req: func(t *testing.T) *http.Request {
			r := sdkSigned(t, "GET", "/b/k", "s3", "us-east-1", h, "", nil)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "aws4_request", "aws4_reqxest", 1))
			return r
		}, wantStatus: 400, wantCode: "AuthorizationHeaderMalformed", wantMsg: "The authorization header is malformed; incorrect terminal \"aws4_reqxest\". This endpoint uses \"aws4_request\"."},
		{name: "credential with four parts", req: func(t *testing.T) *http.Request {
			r := sdkSigned(t, "GET", "/b/k", "s3", "us-east-1", h, "", nil)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/", "/", 1))
			return r
		}, wantStatus: 400, wantCode: "AuthorizationHeaderMalformed", wantMsg: "The authorization header is malformed; " + msgCredentialMalformed},
		{name: "no signature component", req: func(t *testing.T) *http.Request {
			r := sdkSigned(t, "GET", "/b/k", "s3", "us-east-1", h, "", nil)
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
			return r
		}, wantStatus: 400, wantCode: "AuthorizationHeaderMalformed", wantMsg: "The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature."},
		{name: "no date", req: func(t *testing.T) *http.Request {
			r := sdkSigned(t, "GET", "/b/k", "s3", "us-east-1", h, "", nil)
			r.Header.Del("X-Amz-Date")
			return r
		}, wantStatus: 403, wantCode: "AccessDenied", wantMsg: "AWS authentication requires a valid Date or x-amz-date header"},
		{name: "credential date not the request date", req: func(t *testing.T) *http.Request {
			r := sdkSigned(t, "GET", "/b/k", "s3", "us-east-1", h, "", nil)
			r.Header.Set("X-Amz-Date", "20260302T000100Z")
			return r
		}, now: mustTime("20260302T000100Z"), wantStatus: 400, wantCode: "AuthorizationHeaderMalformed",
			wantMsg: "The authorization header is malformed; Invalid credential date \"20260301\". This date is not the same as X-Amz-Date: \"20260302\"."},
		{name: "clock skew", req: func(t *testing.T) *http.Request { return sdkSigned(t, "GET", "/b/k", "s3", "us-east-1", h, "", nil) },
			now: signTime.Add(16 * time.Minute), wantStatus: 403, wantCode: "RequestTimeTooSkewed", wantMsg: msgRequestTimeTooSkewed,
			wantExtra: map[string]string{"RequestTime": "20260301T120000Z", "ServerTime": "2026-03-01T12:16:00Z", "MaxAllowedSkewMilliseconds": "900000"}},
		{name: "skew of 14 minutes is fine", req: func(t *testing.T) *http.Request { return sdkSigned(t, "GET", "/b/k", "s3", "us-east-1", h, "", nil) },
			now: signTime.Add(-14 * time.Minute), wantStatus: 200},
		{name: "S3 without x-amz-content-sha256", req: func(t *testing.T) *http.Request {
			r := sdkSigned(t, "GET", "/b/k", "s3", "us-east-1", h, "", nil)
			r.Header.Del("X-Amz-Content-Sha256")
			return r
		}, wantStatus: 400, wantCode: "InvalidRequest", wantMsg: "Missing required header for this request: x-amz-content-sha256"},
		{name: "x-amz-content-sha256 not a hash", req: func(t *testing.T) *http.Request {
			return sdkSigned(t, "PUT", "/b/k", "s3", "us-east-1", "nonsense", "x", nil)
		},
			wantStatus: 400, wantCode: "InvalidArgument"},
		{name: "SigV4a streaming", req: func(t *testing.T) *http.Request {
			return sdkSigned(t, "PUT", "/b/k", "s3", "us-east-1", payloadStreamingECDSA, "x", nil)
		}, wantStatus: 501, wantCode: "NotImplemented"},
		{name: "body not the signed hash", req: func(t *testing.T) *http.Request {
			r := sdkSigned(t, "PUT", "/b/k", "s3", "us-east-1", hexSHA256([]byte("signed body")), "signed body", nil)
			r.Body = io.NopCloser(strings.NewReader("other body!"))
			return r
		}, wantStatus: 400, wantCode: "XAmzContentSHA256Mismatch", wantMsg: msgContentSHA256Mismatch},
		{name: "a signed header changed", req: func(t *testing.T) *http.Request {
			r := sdkSigned(t, "GET", "/b/k", "s3", "us-east-1", h, "", func(r *http.Request) { r.Header.Set("Range", "bytes=0-9") })
			r.Header.Set("Range", "bytes=0-99")
			return r
		}, wantStatus: 403, wantCode: "SignatureDoesNotMatch", wantMsg: msgSignatureDoesNotMatchS3},
		{name: "the query changed", req: func(t *testing.T) *http.Request {
			r := sdkSigned(t, "GET", "/b?prefix=a", "s3", "us-east-1", h, "", nil)
			r.URL.RawQuery, r.RequestURI = "prefix=b", "/b?prefix=b"
			return r
		}, wantStatus: 403, wantCode: "SignatureDoesNotMatch"},
		{name: "an x-amz- header added after signing", req: func(t *testing.T) *http.Request {
			r := sdkSigned(t, "PUT", "/b/k", "s3", "us-east-1", payloadUnsigned, "", nil)
			r.Header.Set("X-Amz-Copy-Source", "b/secret")
			return r
		}, wantStatus: 403, wantCode: "AccessDenied", wantMsg: msgHeadersNotSigned, wantExtra: map[string]string{"HeadersNotSigned": "x-amz-copy-source"}},
		{name: "an x-amz- header beside a presigned URL", req: func(t *testing.T) *http.Request {
			r := sdkPresigned(t, "/b/k", "us-east-1", time.Hour, signTime)
			r.Header.Set("X-Amz-Acl", "public-read")
			r.Header.Set("X-Amz-Meta-Note", "unsigned")
			return r
		}, wantStatus: 403, wantCode: "AccessDenied", wantMsg: msgHeadersNotSigned, wantExtra: map[string]string{"HeadersNotSigned": "x-amz-acl, x-amz-meta-note"}},
		{name: "x-amz-content-sha256 need not be listed: the payload hash covers it", req: func(t *testing.T) *http.Request {
			r := httptest.NewRequest("GET", "http://127.0.0.1:9000/b/k", nil)
			r.Header.Set("X-Amz-Date", signTime.Format(amzDateFormat))
			r.Header.Set("X-Amz-Content-Sha256", h)
			return signListing(r, h, "host", "x-amz-date")
		}, wantStatus: 200},
		{name: "host not signed", req: func(t *testing.T) *http.Request {
			// Without host in the signature, a request for b.s3.localhost could be replayed at another bucket.
			r := httptest.NewRequest("GET", "http://b.s3.localhost:9000/k", nil)
			r.Header.Set("X-Amz-Date", signTime.Format(amzDateFormat))
			r.Header.Set("X-Amz-Content-Sha256", h)
			return signListing(r, h, "x-amz-content-sha256", "x-amz-date")
		}, wantStatus: 403, wantCode: "AccessDenied", wantMsg: msgHeadersNotSigned, wantExtra: map[string]string{"HeadersNotSigned": "host"}},
		{name: "session token", req: func(t *testing.T) *http.Request {
			return sdkSigned(t, "GET", "/b/k", "s3", "us-east-1", h, "", func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "FwoGZXIvYXdzE") })
		}, wantStatus: 400, wantCode: "InvalidToken"},
		{name: "unsupported Authorization", req: func(t *testing.T) *http.Request {
			r := httptest.NewRequest("GET", "/b/k", nil)
			r.Header.Set("Authorization", "Bearer abc")
			return r
		}, wantStatus: 400, wantCode: "InvalidArgument", wantMsg: msgUnsupportedAuthorizationType, wantExtra: map[string]string{"ArgumentName": "Authorization", "ArgumentValue": "Bearer"}},
		{name: "header and query authentication", req: func(t *testing.T) *http.Request {
			r := sdkPresigned(t, "/b/k", "us-east-1", time.Hour, signTime)
			r.Header.Set("Authorization", "AWS "+testKey+":abc")
			return r
		}, wantStatus: 400, wantCode: "InvalidArgument", wantMsg: msgOnlyOneAuth},
		{name: "presigned for more than a week", req: func(t *testing.T) *http.Request {
			return sdkPresigned(t, "/b/k", "us-east-1", 604801*time.Second, signTime)
		}, wantStatus: 400, wantCode: "AuthorizationQueryParametersError", wantMsg: "X-Amz-Expires must be less than a week (in seconds) that is; the maximum expires is 604800"},
		{name: "presigned for exactly a week, on its last second", req: func(t *testing.T) *http.Request {
			return sdkPresigned(t, "/b/k", "us-east-1", 604800*time.Second, signTime)
		}, now: signTime.Add(604800 * time.Second), wantStatus: 200},
		{name: "presigned URL expired", req: func(t *testing.T) *http.Request { return sdkPresigned(t, "/b/k", "us-east-1", time.Minute, signTime) },
			now: signTime.Add(61 * time.Second), wantStatus: 403, wantCode: "AccessDenied", wantMsg: "Request has expired",
			wantExtra: map[string]string{"X-Amz-Expires": "60", "Expires": "2026-03-01T12:01:00Z", "ServerTime": "2026-03-01T12:01:01Z"}},
		{name: "presigned URL from the future", req: func(t *testing.T) *http.Request { return sdkPresigned(t, "/b/k", "us-east-1", time.Hour, signTime) },
			now: signTime.Add(-20 * time.Minute), wantStatus: 403, wantCode: "AccessDenied", wantMsg: "Request is not valid yet"},
		{name: "presigned without X-Amz-Date", req: func(t *testing.T) *http.Request {
			r := sdkPresigned(t, "/b/k", "us-east-1", time.Hour, signTime)
			q := r.URL.Query()
			q.Del("X-Amz-Date")
			r.URL.RawQuery = q.Encode()
			return r
		}, wantStatus: 400, wantCode: "AuthorizationQueryParametersError", wantMsg: msgPresignMissingParams},
		{name: "SigV2 query expired", req: func(t *testing.T) *http.Request {
			return httptest.NewRequest("GET", fmt.Sprintf("/b/k?AWSAccessKeyId=%s&Expires=%d&Signature=abc", testKey, signTime.Unix()-1), nil)
		}, wantStatus: 403, wantCode: "AccessDenied", wantMsg: "Request has expired"},
		{name: "SigV2 query incomplete", req: func(t *testing.T) *http.Request {
			return httptest.NewRequest("GET", "/b/k?AWSAccessKeyId="+testKey+"&Signature=abc", nil)
		}, wantStatus: 403, wantCode: "AccessDenied", wantMsg: "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"},
		{name: "SigV2 header without a colon", req: func(t *testing.T) *http.Request {
			r := httptest.NewRequest("GET", "/b/k", nil)
			r.Header.Set("Authorization", "AWS "+testKey)
			return r
		}, wantStatus: 400, wantCode: "InvalidArgument", wantMsg: "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"},
		{name: "SigV2 header with a skewed date", req: func(t *testing.T) *http.Request {
			r := httptest.NewRequest("GET", "/b/k", nil)
			r.Header.Set("Date", signTime.Add(-time.Hour).Format(http.TimeFormat))
			r.Header.Set("Authorization", "AWS "+testKey+":bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
			return r
		}, wantStatus: 403, wantCode: "RequestTimeTooSkewed"},
		{name: "a service nobody serves", req: func(t *testing.T) *http.Request {
			return sdkSigned(t, "POST", "/", "ecs", "us-east-1", "", "Action=ListClusters", nil)
		}, wantStatus: 501, wantCode: "NotImplemented", wantMsg: `The service "ecs" is not served by this endpoint.`, queryShape: true},
		{name: "IAM clock skew, in STS/IAM words", req: func(t *testing.T) *http.Request {
			return sdkSigned(t, "POST", "/", "iam", "us-east-1", "", "Action=ListUsers&Version=2010-05-08", func(r *http.Request) {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			})
		}, now: signTime.Add(20 * time.Minute), wantStatus: 403, wantCode: "SignatureDoesNotMatch", queryShape: true,
			wantMsg: "Signature expired: 20260301T120000Z is now earlier than 20260301T120500Z (20260301T122000Z - 15 min.)"},
		{name: "IAM with an unknown key", req: func(t *testing.T) *http.Request {
			r := sdkSigned(t, "POST", "/", "iam", "us-east-1", "", "Action=ListUsers&Version=2010-05-08", nil)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testKey, "AKIANOBODY0000000000", 1))
			return r
		}, wantStatus: 403, wantCode: "InvalidClientTokenId", wantMsg: "The security token included in the request is invalid.", queryShape: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = signTime.Add(30 * time.Second)
			}
			s3svc, iamsvc := &recorder{}, &queryRecorder{response: "<ok/>"}
			ep := NewEndpoint(testCreds(testKey, testSecret), WithClock(fixedClock(now)))
			ep.Register("s3", s3svc)
			ep.Register("iam", iamsvc)
			w := httptest.NewRecorder()
			ep.ServeHTTP(w, tc.req(t))
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.wantStatus, w.Body)
			}
			if tc.wantStatus == 200 {
				return
			}
			if tc.wantCode != "XAmzContentSHA256Mismatch" && s3svc.count()+iamsvc.count() != 0 {
				t.Fatal("the service ran for a request that failed authentication")
			}
			if w.Header().Get("X-Amz-Request-Id") == "" {
				t.Fatal("no x-amz-request-id")
			}
			var code, msg, reqID string
			extra := map[string]string{}
			if tc.queryShape {
				var doc struct {
					Error     struct{ Type, Code, Message string }
					RequestID string `xml:"RequestId"`
				}
				if err := xml.Unmarshal(w.Body.Bytes(), &doc); err != nil {
					t.Fatalf("%v: %s", err, w.Body)
				}
				code, msg, reqID = doc.Error.Code, doc.Error.Message, doc.RequestID
			} else {
				d := parseS3Error(t, w.Body.Bytes())
				code, msg, reqID = d.Code, d.Message, d.RequestID
				for _, e := range d.Extra {
					extra[e.XMLName.Local] = e.Value
				}
			}
			if code != tc.wantCode || (tc.wantMsg != "" && msg != tc.wantMsg) {
				t.Fatalf("got %s %q, want %s %q", code, msg, tc.wantCode, tc.wantMsg)
			}
			if reqID != w.Header().Get("X-Amz-Request-Id") {
				t.Fatalf("body RequestId %q, header %q", reqID, w.Header().Get("X-Amz-Request-Id"))
			}
			for k, v := range tc.wantExtra {
				if extra[k] != v {
					t.Fatalf("<%s> = %q, want %q (all: %v)", k, extra[k], v, extra)
				}
			}
		})
	}
}

// TestSigV2ReferenceExamples checks the S3 developer guide's SigV2 examples (RESTAuthentication).
func TestSigV2ReferenceExamples(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		target  string
		headers [][2]string
	}{
		{name: "object GET", method: "GET", target: "/photos/puppy.jpg", headers: [][2]string{{"Host", "johnsmith.s3.amazonaws.com"},
			{"Date", "Tue, 27 Mar 2007 19:36:42 +0000"}, {"Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU="}}},
		{name: "object PUT", method: "PUT", target: "/photos/puppy.jpg", headers: [][2]string{{"Host", "johnsmith.s3.amazonaws.com"},
			{"Content-Type", "image/jpeg"}, {"Date", "Tue, 27 Mar 2007 21:15:45 +0000"}, {"Authorization", "AWS AKIAIOSFODNN7EXAMPLE:MyyxeRY7whkBe+bq8fHCL/2kKUg="}}},
		{name: "list", method: "GET", target: "/?prefix=photos&max-keys=50&marker=puppy", headers: [][2]string{{"Host", "johnsmith.s3.amazonaws.com"},
			{"User-Agent", "Mozilla/5.0"}, {"Date", "Tue, 27 Mar 2007 19:42:41 +0000"}, {"Authorization", "AWS AKIAIOSFODNN7EXAMPLE:htDYFYduRNen8P9ZfE/s9SuKy0U="}}},
		{name: "fetch ACL", method: "GET", target: "/?acl", headers: [][2]string{{"Host", "johnsmith.s3.amazonaws.com"},
			{"Date", "Tue, 27 Mar 2007 19:44:46 +0000"}, {"Authorization", "AWS AKIAIOSFODNN7EXAMPLE:c2WLPFtWHVgbEmeEG93a4cG37dM="}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := &recorder{}
			date, _ := parseHTTPDate(tc.headers[len(tc.headers)-2][1])
			ep := NewEndpoint(testCreds(docKey, docSecret), WithClock(fixedClock(date.Add(time.Minute))), WithVirtualHostDomain("s3.amazonaws.com"))
			ep.Register("s3", svc)
			w := httptest.NewRecorder()
			ep.ServeHTTP(w, rawRequest(tc.method, tc.target, tc.headers, ""))
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if s := svc.seen(); s.info.SignatureVersion != "AWS" || s.info.Bucket != "johnsmith" {
				t.Fatalf("info %+v", s.info)
			}
		})
	}
}

// TestExpectContinue: a client that waits for 100 Continue gets the authentication error instead and never
// sends its body; a valid request gets its 100 Continue.
func TestExpectContinue(t *testing.T) {
	env := newTestEnv(t)
	addr := env.srv.Listener.Addr().String()
	send := func(secret string) (first string, sentBody bool) {
		req := httptest.NewRequest("PUT", "http://"+addr+"/b/big", nil)
		req.Header.Set("X-Amz-Content-Sha256", payloadUnsigned)
		req.Header.Set("Expect", "100-continue")
		req.ContentLength = 1 << 20
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: secret}, req, payloadUnsigned, "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "PUT /b/big HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", addr, req.ContentLength)
		for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Content-Sha256", "Expect"} {
			fmt.Fprintf(conn, "%s: %s\r\n", k, req.Header.Get(k))
		}
		io.WriteString(conn, "\r\n")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, "100 Continue") {
			br.ReadString('\n') // the empty line after the interim response
			conn.Write(bytes.Repeat([]byte("x"), 1<<20))
			line, _ = br.ReadString('\n')
			return "100 then " + strings.TrimSpace(line), true
		}
		return strings.TrimSpace(line), false
	}
	if got, sent := send("wrong secret"); sent || got != "HTTP/1.1 403 Forbidden" {
		t.Fatalf("bad signature: %q (body sent: %v)", got, sent)
	}
	if got, sent := send(testSecret); !sent || got != "100 then HTTP/1.1 200 OK" {
		t.Fatalf("good signature: %q", got)
	}
	if n := len(env.s3.seen().body); n != 1<<20 {
		t.Fatalf("service read %d bytes", n)
	}
}

// TestSecretsStayOutOfLogsAndErrors logs at debug level through failures and successes and looks for the secret.
func TestSecretsStayOutOfLogsAndErrors(t *testing.T) {
	var logs bytes.Buffer
	svc := &recorder{}
	ep := NewEndpoint(testCreds(testKey, testSecret), WithClock(fixedClock(signTime.Add(time.Second))),
		WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	ep.Register("s3", svc)
	var bodies bytes.Buffer
	for _, r := range []*http.Request{
		sdkSigned(t, "GET", "/b/k", "s3", "us-east-1", emptySHA256, "", nil),
		sdkSigned(t, "GET", "/b/k", "s3", "eu-west-1", emptySHA256, "", nil),
		func() *http.Request {
			r := sdkSigned(t, "GET", "/b/k", "s3", "us-east-1", emptySHA256, "", nil)
			r.Header.Set("Range", "bytes=1-2")
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=", "SignedHeaders=range;", 1))
			return r
		}(),
	} {
		w := httptest.NewRecorder()
		ep.ServeHTTP(w, r)
		bodies.Write(w.Body.Bytes())
	}
	if !strings.Contains(bodies.String(), "SignatureDoesNotMatch") {
		t.Fatalf("expected a signature failure among: %s", bodies.String())
	}
	for name, text := range map[string]string{"logs": logs.String(), "responses": bodies.String()} {
		if strings.Contains(text, testSecret) || strings.Contains(text, "AWS4"+testSecret) {
			t.Fatalf("the secret appears in the %s", name)
		}
	}
}

// exactReader reads exactly ContentLength bytes and never asks for EOF, as a service using io.CopyN does.
type exactReader struct {
	recorder
}

func (s *exactReader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	buf := make([]byte, r.ContentLength)
	_, err := io.ReadFull(r.Body, buf)
	s.mu.Lock()
	s.last, s.n = &seen{info: InfoFrom(r.Context()), body: buf, readErr: err, trailer: r.Trailer.Clone(), length: r.ContentLength}, s.n+1
	s.mu.Unlock()
	if err != nil {
		s.WriteError(w, r, err)
	}
}

// TestChecksAtTheLastByte: a service that reads exactly ContentLength bytes still gets every check (the payload
// hash, the final chunk, the trailer and its signature) and the trailer values.
func TestChecksAtTheLastByte(t *testing.T) {
	svc := &exactReader{}
	ep := NewEndpoint(testCreds(testKey, testSecret), WithClock(fixedClock(signTime.Add(time.Second))))
	ep.Register("s3", svc)

	r := sdkSigned(t, "PUT", "/b/k", "s3", "us-east-1", hexSHA256([]byte("signed body")), "signed body", nil)
	r.Body = io.NopCloser(strings.NewReader("other body!"))
	w := httptest.NewRecorder()
	ep.ServeHTTP(w, r)
	if AsError(svc.seen().readErr).Code != codeContentSHA256Mismatch || w.Code != 400 {
		t.Fatalf("tampered body read to its length: %v, %d", svc.seen().readErr, w.Code)
	}

	body := bytes.Repeat([]byte("z"), 100000)
	srv := httptest.NewServer(ep)
	defer srv.Close()
	ep2 := NewEndpoint(testCreds(testKey, testSecret))
	ep2.Register("s3", svc)
	srv.Config.Handler = ep2
	for _, tamper := range []bool{false, true} {
		req := signedStreamingUpload(t, srv.URL+"/b/k", body, 30000, true, func(b []byte) []byte {
			if tamper {
				i := bytes.LastIndex(b, []byte("x-amz-trailer-signature:")) + len("x-amz-trailer-signature:")
				b[i] ^= 1
			}
			return b
		})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s := svc.seen()
		if tamper {
			if AsError(s.readErr).Code != codeSignatureDoesNotMatch {
				t.Fatalf("bad trailer signature, read to the length: %v", s.readErr)
			}
			continue
		}
		if s.readErr != nil || !bytes.Equal(s.body, body) || s.trailer.Get("X-Amz-Checksum-Crc32") != "AAAAAA==" {
			t.Fatalf("read %d bytes (%v), trailer %v", len(s.body), s.readErr, s.trailer)
		}
	}
}

// TestTakeSHA256Check: a service may take over the check of a signed payload's SHA-256 before it reads the body
// (the body then passes every byte on unchecked: the service compares the digest), not after: once read from, the
// body keeps checking and fails a tampered payload itself.
func TestTakeSHA256Check(t *testing.T) {
	signed, sent := "signed body", "other body!"
	want := sha256.Sum256([]byte(signed))
	for _, tc := range []struct {
		name      string
		readFirst bool
		taken     bool
		code      string
	}{
		{name: "taken before reading", taken: true},
		{name: "asked after reading", readFirst: true, code: codeContentSHA256Mismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSHA256Reader(io.NopCloser(strings.NewReader(sent)), hex.EncodeToString(want[:]), int64(len(sent)))
			var p PayloadSHA256 = r
			var first []byte
			if tc.readFirst {
				first = make([]byte, 1)
				if _, err := r.Read(first); err != nil {
					t.Fatal(err)
				}
			}
			got, ok := p.TakeSHA256Check()
			if ok != tc.taken || ok && got != want {
				t.Fatalf("TakeSHA256Check: %x %v", got, ok)
			}
			rest, err := io.ReadAll(r)
			if tc.code == "" {
				if err != nil || string(rest) != sent {
					t.Fatalf("read %q, %v; want the body, unchecked", rest, err)
				}
				return
			}
			if AsError(err).Code != tc.code {
				t.Fatalf("read %q, %v; want %s", rest, err, tc.code)
			}
		})
	}
}

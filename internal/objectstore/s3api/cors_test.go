package s3api

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func corsDoc(rules ...string) string {
	return `<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` + strings.Join(rules, "") + `</CORSConfiguration>`
}

func TestParseCORS(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		code string
		msg  string
	}{
		{"one rule", corsDoc(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>`), "", ""},
		{"every element", corsDoc(`<CORSRule><ID>r</ID><AllowedHeader>*</AllowedHeader><AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedOrigin>https://*.example.com</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>`), "", ""},
		{"not xml", `CORS please`, "MalformedXML", ""},
		{"no rules", corsDoc(), "MalformedXML", ""},
		{"no origin", corsDoc(`<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>`), "MalformedXML", ""},
		{"no method", corsDoc(`<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>`), "MalformedXML", ""},
		{"unknown element", corsDoc(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethods>PUT</AllowedMethods></CORSRule>`), "MalformedXML", ""},
		{"unsupported method", corsDoc(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule>`), "InvalidRequest", "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"},
		{"lower-case method", corsDoc(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod></CORSRule>`), "InvalidRequest", "Found unsupported HTTP method in CORS config. Unsupported method is get"},
		{"two wildcards in an origin", corsDoc(`<CORSRule><AllowedOrigin>*.*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>`), "InvalidRequest", `AllowedOrigin "*.*.com" can not have more than one wildcard.`},
		{"two wildcards in a header", corsDoc(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>x-*-*</AllowedHeader></CORSRule>`), "InvalidRequest", `AllowedHeader "x-*-*" can not have more than one wildcard.`},
		{"too many rules", corsDoc(strings.Repeat(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>`, 101)), "InvalidRequest", "The number of CORS rules should not exceed allowed limit of 100 rules."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseCORS([]byte(tc.doc))
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := toCloudError(err)
			if err == nil || e.Code != tc.code || (tc.msg != "" && e.Message != tc.msg) {
				t.Fatalf("got %v, want %s %s", err, tc.code, tc.msg)
			}
		})
	}
}

// plain sends an unsigned request (a browser's) and returns the response with its body read.
func (e *env) plain(t *testing.T, method, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestCORS(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.alice()
	mustCreate(t, alice, "site")
	putString(t, alice, "site", "index.html", "<html>")

	_, err := alice.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("site")})
	wantCode(t, "cors before any", err, "NoSuchCORSConfiguration")
	if httpStatus(err) != http.StatusNotFound {
		t.Fatalf("status %d", httpStatus(err))
	}
	// Without rules, a preflight is refused.
	resp, body := e.plain(t, "OPTIONS", "/site/index.html", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "<Code>AccessForbidden</Code>") || !strings.Contains(body, "CORSResponse: CORS is not enabled for this bucket.") {
		t.Fatalf("preflight without rules: %d %s", resp.StatusCode, body)
	}

	rules := &types.CORSConfiguration{CORSRules: []types.CORSRule{
		{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*suffix"}},
		{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"start*end"}},
		{AllowedMethods: []string{"GET", "HEAD"}, AllowedOrigins: []string{"prefix*"}},
		{ID: aws.String("uploads"), AllowedMethods: []string{"PUT", "POST"}, AllowedOrigins: []string{"https://app.example"},
			AllowedHeaders: []string{"content-type", "x-amz-*"}, ExposeHeaders: []string{"ETag", "x-amz-version-id"}, MaxAgeSeconds: aws.Int32(3000)},
		{AllowedMethods: []string{"GET"}, AllowedOrigins: []string{"*"}, AllowedHeaders: []string{"range"}},
	}}
	if _, err := alice.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("site"), CORSConfiguration: rules}); err != nil {
		t.Fatal(err)
	}
	got, err := alice.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("site")})
	if err != nil || len(got.CORSRules) != 5 || *got.CORSRules[3].ID != "uploads" || got.CORSRules[3].AllowedHeaders[1] != "x-amz-*" || *got.CORSRules[3].MaxAgeSeconds != 3000 {
		t.Fatalf("rules read back: %+v %v", got, err)
	}

	for _, tc := range []struct {
		name        string
		path        string
		header      http.Header
		status      int
		code        string
		origin      string
		methods     string
		headers     string
		expose      string
		maxAge      string
		credentials string
	}{
		{name: "no origin", path: "/site", header: http.Header{"Access-Control-Request-Method": {"GET"}}, status: 400, code: "BadRequest"},
		{name: "no method", path: "/site", header: http.Header{"Origin": {"foo.suffix"}}, status: 400, code: "BadRequest"},
		{name: "unknown method", path: "/site", header: http.Header{"Origin": {"foo.suffix"}, "Access-Control-Request-Method": {"PATCH"}}, status: 400, code: "BadRequest"},
		{name: "suffix", path: "/site/index.html", header: http.Header{"Origin": {"foo.suffix"}, "Access-Control-Request-Method": {"GET"}},
			status: 200, origin: "foo.suffix", methods: "GET", credentials: "true"},
		{name: "suffix must end the origin", path: "/site", header: http.Header{"Origin": {"foo.suffix.get"}, "Access-Control-Request-Method": {"PUT"}}, status: 403, code: "AccessForbidden"},
		{name: "start and end", path: "/site", header: http.Header{"Origin": {"start12end"}, "Access-Control-Request-Method": {"GET"}}, status: 200, origin: "start12end", methods: "GET", credentials: "true"},
		{name: "start and end, nothing between", path: "/site", header: http.Header{"Origin": {"startend"}, "Access-Control-Request-Method": {"GET"}}, status: 200, origin: "startend", methods: "GET", credentials: "true"},
		{name: "prefix with all its methods", path: "/site", header: http.Header{"Origin": {"prefix.other"}, "Access-Control-Request-Method": {"HEAD"}}, status: 200, origin: "prefix.other", methods: "GET, HEAD", credentials: "true"},
		{name: "method not allowed for the origin", path: "/site/k", header: http.Header{"Origin": {"prefix.other"}, "Access-Control-Request-Method": {"DELETE"}}, status: 403, code: "AccessForbidden"},
		{name: "allowed headers", path: "/site/up", header: http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"PUT"},
			"Access-Control-Request-Headers": {"Content-Type, X-Amz-Meta-Owner"}},
			status: 200, origin: "https://app.example", methods: "PUT, POST", headers: "content-type, x-amz-meta-owner", expose: "ETag, x-amz-version-id", maxAge: "3000", credentials: "true"},
		{name: "header not allowed", path: "/site/up", header: http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"PUT"},
			"Access-Control-Request-Headers": {"authorization"}}, status: 403, code: "AccessForbidden"},
		{name: "any origin", path: "/site/index.html", header: http.Header{"Origin": {"https://elsewhere.example"}, "Access-Control-Request-Method": {"GET"},
			"Access-Control-Request-Headers": {"Range"}}, status: 200, origin: "*", methods: "GET", headers: "range"},
		{name: "any origin, other headers", path: "/site", header: http.Header{"Origin": {"https://elsewhere.example"}, "Access-Control-Request-Method": {"GET"},
			"Access-Control-Request-Headers": {"x-amz-meta-header2"}}, status: 403, code: "AccessForbidden"},
		{name: "presigned URL", path: "/site/index.html?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00",
			header: http.Header{"Origin": {"foo.suffix"}, "Access-Control-Request-Method": {"GET"}}, status: 200, origin: "foo.suffix", methods: "GET", credentials: "true"},
		{name: "missing bucket", path: "/nosuchbucket/k", header: http.Header{"Origin": {"foo.suffix"}, "Access-Control-Request-Method": {"GET"}}, status: 404, code: "NoSuchBucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.plain(t, "OPTIONS", tc.path, tc.header)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			h := resp.Header
			if tc.code != "" {
				var doc errorDoc
				if err := xml.Unmarshal([]byte(body), &doc); err != nil || doc.Code != tc.code {
					t.Fatalf("body %s", body)
				}
				if h.Get("Access-Control-Allow-Origin") != "" {
					t.Fatalf("a refused preflight allowed %q", h.Get("Access-Control-Allow-Origin"))
				}
				return
			}
			for name, want := range map[string]string{
				"Access-Control-Allow-Origin": tc.origin, "Access-Control-Allow-Methods": tc.methods, "Access-Control-Allow-Headers": tc.headers,
				"Access-Control-Expose-Headers": tc.expose, "Access-Control-Max-Age": tc.maxAge, "Access-Control-Allow-Credentials": tc.credentials,
			} {
				if got := h.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if h.Get("Vary") != "Origin, Access-Control-Request-Headers, Access-Control-Request-Method" {
				t.Errorf("Vary = %q", h.Get("Vary"))
			}
		})
	}

	// An actual request with an Origin a rule allows carries the CORS headers, on success and on error alike.
	resp, _ = e.raw(t, "GET", "/site/index.html", http.Header{"Origin": {"foo.suffix"}}, "")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "foo.suffix" || resp.Header.Get("Access-Control-Allow-Methods") != "GET" {
		t.Fatalf("GET with an origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = e.raw(t, "GET", "/site/missing", http.Header{"Origin": {"foo.suffix"}}, "")
	if resp.StatusCode != 404 || resp.Header.Get("Access-Control-Allow-Origin") != "foo.suffix" {
		t.Fatalf("404 with an origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = e.raw(t, "PUT", "/site/new", http.Header{"Origin": {"foo.suffix"}}, "x")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("PUT from an origin allowed only GET: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = e.raw(t, "GET", "/site/index.html", nil, "")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("GET without an origin: %v", resp.Header)
	}

	if _, err := alice.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: aws.String("site")}); err != nil {
		t.Fatal(err)
	}
	_, err = alice.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("site")})
	wantCode(t, "cors after delete", err, "NoSuchCORSConfiguration")
	// A malformed configuration is refused and nothing is stored.
	resp, body = e.raw(t, "PUT", "/site?cors", nil, corsDoc(`<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>TRACE</AllowedMethod></CORSRule>`))
	if resp.StatusCode != 400 || !strings.Contains(body, "Unsupported method is TRACE") {
		t.Fatalf("bad rules: %d %s", resp.StatusCode, body)
	}
	_, err = alice.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("site")})
	wantCode(t, "cors after a refused put", err, "NoSuchCORSConfiguration")
}

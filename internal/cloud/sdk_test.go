package cloud

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

const (
	testKey    = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// testClock is an adjustable clock for the endpoint.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) set(d time.Duration) {
	c.mu.Lock()
	c.off = d
	c.mu.Unlock()
}

// queryRecorder stands in for a query-protocol service (IAM, STS): it answers a fixed document and renders
// errors as <ErrorResponse>.
type queryRecorder struct {
	recorder
	response string
}

func (q *queryRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q.mu.Lock()
	q.last, q.n = &seen{info: InfoFrom(r.Context()), body: body}, q.n+1
	q.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, q.response)
}

func (q *queryRecorder) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	writeFallbackError(w, r, "iam", AsError(err))
}

type testEnv struct {
	srv   *httptest.Server
	ep    *Endpoint
	s3    *recorder
	iam   *queryRecorder
	clock *testClock
}

func newTestEnv(t *testing.T) *testEnv { return newTestEnvTLS(t, false) }

func newTestEnvTLS(t *testing.T, useTLS bool) *testEnv {
	t.Helper()
	env := &testEnv{s3: &recorder{}, clock: &testClock{}, iam: &queryRecorder{
		response: `<ListUsersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><ListUsersResult><Users/><IsTruncated>false</IsTruncated></ListUsersResult><ResponseMetadata><RequestId>x</RequestId></ResponseMetadata></ListUsersResponse>`,
	}}
	env.ep = NewEndpoint(testCreds(testKey, testSecret), WithClock(env.clock.now))
	env.ep.Register("s3", env.s3)
	env.ep.Register("iam", env.iam)
	env.srv = httptest.NewUnstartedServer(env.ep)
	if useTLS {
		env.srv.StartTLS()
	} else {
		env.srv.Start()
	}
	t.Cleanup(env.srv.Close)
	return env
}

// dialServer sends every connection to the test server, whatever the Host (virtual-host-style buckets).
func (env *testEnv) httpClient() *http.Client {
	addr := env.srv.Listener.Addr().String()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	if env.srv.TLS != nil {
		tr.TLSClientConfig = env.srv.Client().Transport.(*http.Transport).TLSClientConfig
	}
	return &http.Client{Transport: tr}
}

func (env *testEnv) s3Client(key, secret string, pathStyle bool) *s3.Client {
	endpoint := env.srv.URL
	if !pathStyle {
		endpoint = "http://s3.localhost:" + portOf(env.srv.URL)
	}
	return s3.New(s3.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider(key, secret, ""),
		BaseEndpoint:     aws.String(endpoint),
		UsePathStyle:     pathStyle,
		HTTPClient:       env.httpClient(),
		RetryMaxAttempts: 1,
	})
}

func portOf(u string) string { return u[strings.LastIndexByte(u, ':')+1:] }

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return fmt.Sprintf("not an API error: %v", err)
}

func TestSDKClients(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	payload := bytes.Repeat([]byte("berth-"), 50000) // 300 kB

	t.Run("put and get, path style", func(t *testing.T) {
		c := env.s3Client(testKey, testSecret, true)
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("dir/a b+c.txt"), Body: bytes.NewReader(payload)})
		if err != nil {
			t.Fatal(err)
		}
		s := env.s3.seen()
		if !bytes.Equal(s.body, payload) || s.readErr != nil {
			t.Fatalf("service read %d bytes (%v)", len(s.body), s.readErr)
		}
		if s.info.Bucket != "" || s.info.Identity.AccessKeyID != testKey || s.info.SignatureVersion != algoV4 || s.info.RequestID == "" {
			t.Fatalf("info %+v", s.info)
		}
		if s.length != int64(len(payload)) {
			t.Fatalf("ContentLength %d", s.length)
		}
		if out.ETag == nil {
			t.Fatal("no ETag")
		}
		t.Logf("aws-sdk-go-v2 PutObject sent x-amz-content-sha256=%s trailer=%v", s.header.Get("X-Amz-Content-Sha256"), s.trailer)
	})

	t.Run("virtual-host style", func(t *testing.T) {
		c := env.s3Client(testKey, testSecret, false)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("my-bucket"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		if s := env.s3.seen(); s.info.Bucket != "my-bucket" || string(s.body) != "x" {
			t.Fatalf("bucket %q body %q", s.info.Bucket, s.body)
		}
	})

	t.Run("presigned GET", func(t *testing.T) {
		ps := s3.NewPresignClient(env.s3Client(testKey, testSecret, true))
		req, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("a/b c")}, s3.WithPresignExpires(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(req.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !env.s3.seen().info.Presigned {
			t.Fatalf("status %d, presigned %v", resp.StatusCode, env.s3.seen().info.Presigned)
		}

		env.clock.set(61 * time.Minute)
		defer env.clock.set(0)
		resp, err = http.Get(req.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := parseS3Error(t, body)
		if resp.StatusCode != 403 || d.Code != "AccessDenied" || d.Message != "Request has expired" {
			t.Fatalf("expired URL: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("presigned PUT", func(t *testing.T) {
		ps := s3.NewPresignClient(env.s3Client(testKey, testSecret, true))
		req, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("up")})
		if err != nil {
			t.Fatal(err)
		}
		hr, _ := http.NewRequest(http.MethodPut, req.URL, strings.NewReader("uploaded"))
		for k, v := range req.SignedHeader {
			hr.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || string(env.s3.seen().body) != "uploaded" {
			t.Fatalf("status %d body %q", resp.StatusCode, env.s3.seen().body)
		}
	})

	errorCases := []struct {
		name     string
		key      string
		secret   string
		skew     time.Duration
		wantCode string
	}{
		{name: "wrong secret", key: testKey, secret: "not-the-secret", wantCode: "SignatureDoesNotMatch"},
		{name: "unknown key", key: "AKIAUNKNOWNKEY000000", secret: testSecret, wantCode: "InvalidAccessKeyId"},
		{name: "server clock 20 minutes ahead", key: testKey, secret: testSecret, skew: 20 * time.Minute, wantCode: "RequestTimeTooSkewed"},
		{name: "server clock 20 minutes behind", key: testKey, secret: testSecret, skew: -20 * time.Minute, wantCode: "RequestTimeTooSkewed"},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			env.clock.set(tc.skew)
			defer env.clock.set(0)
			before := env.s3.count()
			c := env.s3Client(tc.key, tc.secret, true)
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("never stored")})
			if got := apiCode(err); got != tc.wantCode {
				t.Fatalf("error code %q, want %q (%v)", got, tc.wantCode, err)
			}
			if env.s3.count() != before {
				t.Fatal("the service handled a request that failed authentication")
			}
		})
	}

	t.Run("iam over the query protocol", func(t *testing.T) {
		c := iam.New(iam.Options{
			Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
			BaseEndpoint: aws.String(env.srv.URL), RetryMaxAttempts: 1,
		})
		if _, err := c.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
			t.Fatal(err)
		}
		if s := env.iam.seen(); s.info.Service != "iam" || !strings.Contains(string(s.body), "Action=ListUsers") {
			t.Fatalf("iam saw %+v %q", s.info, s.body)
		}
		bad := iam.New(iam.Options{
			Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIANOBODY0000000000", testSecret, ""),
			BaseEndpoint: aws.String(env.srv.URL), RetryMaxAttempts: 1,
		})
		_, err := bad.ListUsers(ctx, &iam.ListUsersInput{})
		if got := apiCode(err); got != "InvalidClientTokenId" {
			t.Fatalf("unknown key: %q (%v)", got, err)
		}
		wrong := iam.New(iam.Options{
			Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(testKey, "wrong", ""),
			BaseEndpoint: aws.String(env.srv.URL), RetryMaxAttempts: 1,
		})
		_, err = wrong.ListUsers(ctx, &iam.ListUsersInput{})
		if got := apiCode(err); got != "SignatureDoesNotMatch" {
			t.Fatalf("wrong secret: %q (%v)", got, err)
		}
	})
}

// TestSDKStreamingOverTLS: over TLS the SDK sends an unseekable body as aws-chunked with a trailing checksum
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER), as botocore does by default.
func TestSDKStreamingOverTLS(t *testing.T) {
	env := newTestEnvTLS(t, true)
	ctx := context.Background()
	payload := bytes.Repeat([]byte("berth-"), 50000)

	c := env.s3Client(testKey, testSecret, true)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("b"), Key: aws.String("stream"), Body: io.MultiReader(bytes.NewReader(payload)),
		ContentLength: aws.Int64(int64(len(payload))), ChecksumAlgorithm: "CRC32",
	}, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil {
		t.Fatal(err)
	}
	s := env.s3.seen()
	if !bytes.Equal(s.body, payload) || s.readErr != nil {
		t.Fatalf("service read %d bytes (%v)", len(s.body), s.readErr)
	}
	mode := s.header.Get("X-Amz-Content-Sha256")
	if mode != payloadStreamingUnsignedTrail {
		t.Fatalf("x-amz-content-sha256 %q: the SDK did not stream", mode)
	}
	if s.trailer.Get("X-Amz-Checksum-Crc32") == "" || s.length != int64(len(payload)) {
		t.Fatalf("trailer %v, ContentLength %d", s.trailer, s.length)
	}
	if !env.s3.seen().info.SecureTransport {
		t.Fatal("SecureTransport not set over TLS")
	}
}

// signedStreamingUpload encodes body as STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]: the seed signature comes from
// aws-sdk-go-v2's signer, the chunk signatures from the spec.
func signedStreamingUpload(t *testing.T, url string, body []byte, chunk int, trailer bool, tamper func([]byte) []byte) *http.Request {
	t.Helper()
	mode := payloadStreamingSigned
	if trailer {
		mode = payloadStreamingSignedTrailer
	}
	now := time.Now().UTC()
	var sizes []int
	for rest := len(body); rest > 0; rest -= chunk {
		sizes = append(sizes, min(chunk, rest))
	}
	sizes = append(sizes, 0)
	crc := "AAAAAA=="
	trailerText := ""
	if trailer {
		trailerText = "x-amz-checksum-crc32:" + crc + "\r\nx-amz-trailer-signature:" + strings.Repeat("0", 64) + "\r\n"
	}
	length := 0
	for _, s := range sizes {
		length += len(fmt.Sprintf("%x;chunk-signature=", s)) + 64 + 2 + s + 2
	}
	length += len(trailerText) // the trailer's closing CRLF stands where the final chunk's empty data line would
	req, _ := http.NewRequest(http.MethodPut, url, nil)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(len(body)))
	req.Header.Set("X-Amz-Content-Sha256", mode)
	if trailer {
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
	}
	req.ContentLength = int64(length)
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, mode, "s3", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	_, seed, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	sc := scope{date: now.Format(shortDateFormat), region: "us-east-1", service: "s3"}
	key := signingKey(testSecret, sc)
	prev := seed
	var enc bytes.Buffer
	off := 0
	for _, s := range sizes {
		data := body[off : off+s]
		off += s
		h := sha256.Sum256(data)
		sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + now.Format(amzDateFormat) + "\n" + sc.String() + "\n" + prev + "\n" + emptySHA256 + "\n" + hex.EncodeToString(h[:])
		prev = hex.EncodeToString(hmacSHA256(key, sts))
		fmt.Fprintf(&enc, "%x;chunk-signature=%s\r\n", s, prev)
		enc.Write(data)
		if s > 0 || !trailer {
			enc.WriteString("\r\n")
		}
	}
	if trailer {
		canon := "x-amz-checksum-crc32:" + crc + "\n"
		sts := "AWS4-HMAC-SHA256-TRAILER\n" + now.Format(amzDateFormat) + "\n" + sc.String() + "\n" + prev + "\n" + hexSHA256([]byte(canon))
		fmt.Fprintf(&enc, "x-amz-checksum-crc32:%s\r\nx-amz-trailer-signature:%s\r\n\r\n", crc, hex.EncodeToString(hmacSHA256(key, sts)))
	}
	b := enc.Bytes()
	if len(b) != length {
		t.Fatalf("encoded %d bytes, announced %d", len(b), length)
	}
	if tamper != nil {
		b = tamper(b)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	return req
}

func TestSignedStreamingUploads(t *testing.T) {
	env := newTestEnv(t)
	body := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320000 bytes: 4 chunks of 80000 + the final one
	tests := []struct {
		name     string
		trailer  bool
		tamper   func([]byte) []byte
		wantCode string
	}{
		{name: "signed chunks"},
		{name: "signed chunks and trailer", trailer: true},
		{name: "a byte of the third chunk flipped", tamper: func(b []byte) []byte {
			b[170000] ^= 1 // inside the third chunk's data
			return b
		}, wantCode: codeSignatureDoesNotMatch},
		{name: "trailer signature wrong", trailer: true, tamper: func(b []byte) []byte {
			i := bytes.LastIndex(b, []byte("x-amz-trailer-signature:")) + len("x-amz-trailer-signature:")
			b[i] ^= 1
			return b
		}, wantCode: codeSignatureDoesNotMatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := signedStreamingUpload(t, env.srv.URL+"/b/streamed", body, 80000, tc.trailer, tc.tamper)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			s := env.s3.seen()
			if tc.wantCode != "" {
				if AsError(s.readErr).Code != tc.wantCode || resp.StatusCode == 200 {
					t.Fatalf("status %d, read error %v, want %s", resp.StatusCode, s.readErr, tc.wantCode)
				}
				return
			}
			if resp.StatusCode != 200 || s.readErr != nil || !bytes.Equal(s.body, body) {
				t.Fatalf("status %d, read %d bytes, %v", resp.StatusCode, len(s.body), s.readErr)
			}
			if tc.trailer && s.trailer.Get("X-Amz-Checksum-Crc32") != "AAAAAA==" {
				t.Fatalf("trailer %v", s.trailer)
			}
		})
	}
}

package ec2api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/cloud/iam"
)

const (
	rootKey    = "BERTHEC2ROOTKEY"
	rootSecret = "berth-ec2-root-secret-for-tests"
)

// Two images, as the engine lists them: the AMIs are ami-<first 17 hex digits>.
var (
	debianImage = Image{ID: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Names: []string{"debian-ssh:latest", "debian-ssh:12"}, Architecture: "amd64", Size: 300 << 20,
		Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	alpineImage = Image{ID: "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
		Names: []string{"alpine:3.20"}, Architecture: "amd64", Size: 8 << 20,
		Created: time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)}
	debianAMI = "ami-0123456789abcdef0"
	alpineAMI = "ami-fedcba9876543210f"
)

// env is the EC2 API behind the real endpoint, authenticated by a real IAM store, over a fake engine.
type env struct {
	srv     *httptest.Server
	store   *iam.Store
	backend *fakeBackend
	svc     *Service
	account string // the first account's ID
}

func newEnv(t testing.TB, opts ...Option) *env {
	t.Helper()
	st, err := iam.Open(t.TempDir(), iam.WithRootCredentials(rootKey, rootSecret))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acct, err := st.FirstAccount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b := newFakeBackend(debianImage, alpineImage)
	svc := New(b, opts...)
	t.Cleanup(func() { svc.Close() })
	ep := cloud.NewEndpoint(st)
	ep.Register("ec2", svc)
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	return &env{srv: srv, store: st, backend: b, svc: svc, account: acct.ID}
}

// client is the SDK's ec2 client with its default retryer: it retries a connection its own transport closed
// under a response being read (aws/aws-sdk-go-v2#2737, a client-side race that a loop of large responses
// shows), and nothing an EC2 error answered but throttling and 5xx.
func (e *env) client(key, secret string) *ec2.Client {
	return ec2.New(ec2.Options{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
		BaseEndpoint: aws.String(e.srv.URL)})
}

func (e *env) root() *ec2.Client { return e.client(rootKey, rootSecret) }

// rawResponse is an HTTP answer as a client sees it.
type rawResponse struct {
	status int
	header http.Header
	body   string
}

// post sends a Query request signed by key (unsigned when key is ""), as the SDKs send one: a form body.
func (e *env) post(t *testing.T, key, secret string, params url.Values) rawResponse {
	t.Helper()
	body := params.Encode()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if key != "" {
		sum := sha256.Sum256([]byte(body))
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret},
			req, hex.EncodeToString(sum[:]), "ec2", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (e *env) call(t *testing.T, action string, kv ...string) rawResponse {
	t.Helper()
	v := url.Values{"Action": {action}, "Version": {apiVersion}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return e.post(t, rootKey, rootSecret, v)
}

// ec2Error is EC2's error document, parsed.
type ec2Error struct {
	XMLName xml.Name `xml:"Response"`
	Errors  []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Errors>Error"`
	RequestID string `xml:"RequestID"`
}

func parseError(t *testing.T, r rawResponse) (code, msg string) {
	t.Helper()
	var doc ec2Error
	if err := xml.Unmarshal([]byte(r.body), &doc); err != nil || len(doc.Errors) != 1 {
		t.Fatalf("not an EC2 error document (%v): %d %s", err, r.status, r.body)
	}
	if doc.RequestID == "" || doc.RequestID != r.header.Get("X-Amzn-Requestid") {
		t.Fatalf("RequestID %q, header %q", doc.RequestID, r.header.Get("X-Amzn-Requestid"))
	}
	return doc.Errors[0].Code, doc.Errors[0].Message
}

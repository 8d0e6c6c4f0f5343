package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/berth/berth/internal/cloud"
	"github.com/berth/berth/internal/cloud/iam"
	"github.com/berth/berth/internal/objectstore"
)

const (
	aliceKey    = "AKIAALICEEXAMPLE0001"
	aliceSecret = "aliceSecretKeyEXAMPLEaliceSecretKeyEXAM"
)

// env is the S3 API behind the real cloud endpoint and IAM store, on an httptest server: alice is the first
// account's root, bob the root of a second account.
type env struct {
	srv        *httptest.Server
	store      *objectstore.Store
	ids        *iam.Store
	dir        string
	bobKey     string
	bobSecret  string
	aliceOwner objectstore.Owner
	// closed receives when the server closed a connection (its handler, if any, has returned).
	closed chan struct{}
}

func newEnv(t testing.TB, opts ...Option) *env { return newEnvWith(t, false, opts...) }

func newEnvWith(t testing.TB, useTLS bool, opts ...Option) *env {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	ids, err := iam.Open(t.TempDir(), iam.WithRootCredentials(aliceKey, aliceSecret), iam.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ids.Close() })
	ctx := context.Background()
	_, bobKey, err := ids.CreateAccount(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	first, err := ids.FirstAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := objectstore.Open(dir, objectstore.WithLogger(quiet), objectstore.WithSweepInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ep := cloud.NewEndpoint(ids, cloud.WithLogger(quiet))
	ep.Register("s3", New(store, append([]Option{WithLogger(quiet), WithPrincipals(ids)}, opts...)...))
	ep.Register("iam", iam.NewIAMService(ids))
	srv := httptest.NewUnstartedServer(ep)
	e := &env{srv: srv, store: store, ids: ids, dir: dir, bobKey: bobKey.ID, bobSecret: bobKey.Secret,
		aliceOwner: objectstore.Owner{AccountID: first.ID, ID: first.CanonicalID, DisplayName: first.Name},
		closed:     make(chan struct{}, 100)}
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			select {
			case e.closed <- struct{}{}:
			default:
			}
		}
	}
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return e
}

// httpClient sends every connection to the test server, whatever the Host (virtual-host-style buckets).
func (e *env) httpClient() *http.Client {
	addr := e.srv.Listener.Addr().String()
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	if e.srv.TLS != nil {
		tr.TLSClientConfig = e.srv.Client().Transport.(*http.Transport).TLSClientConfig
	}
	return &http.Client{Transport: tr}
}

func (e *env) client(key, secret string, pathStyle bool) *s3.Client {
	endpoint := e.srv.URL
	if !pathStyle {
		scheme := "http"
		if e.srv.TLS != nil {
			scheme = "https"
		}
		endpoint = scheme + "://s3.localhost:" + e.srv.URL[strings.LastIndexByte(e.srv.URL, ':')+1:]
	}
	o := s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		UsePathStyle:     pathStyle,
		HTTPClient:       e.httpClient(),
		RetryMaxAttempts: 1,
	}
	if key != "" {
		o.Credentials = credentials.NewStaticCredentialsProvider(key, secret, "")
	} else {
		o.Credentials = aws.AnonymousCredentials{}
	}
	return s3.New(o)
}

func (e *env) alice() *s3.Client { return e.client(aliceKey, aliceSecret, true) }
func (e *env) bob() *s3.Client   { return e.client(e.bobKey, e.bobSecret, true) }
func (e *env) anon() *s3.Client  { return e.client("", "", true) }

// raw sends a request signed as alice (UNSIGNED-PAYLOAD) and returns the response with its body read.
func (e *env) raw(t *testing.T, method, path string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: aliceKey, SecretAccessKey: aliceSecret}
	if err := signer.SignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", nowUTC()); err != nil {
		t.Fatal(err)
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

// errorDoc is S3's <Error>, read back.
type errorDoc struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
	Key       string   `xml:"Key"`
	Bucket    string   `xml:"BucketName"`
}

func apiCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return fmt.Sprintf("not an API error: %v", err)
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

package iam

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestPresignedQueryRequests: outside S3 a SigV4 signature always covers the body's SHA-256 (UNSIGNED-PAYLOAD is
// S3's). A presigned STS or IAM URL made as the SDKs make one (over the hash of its empty body: the EKS token, the
// Vault login) works; one signed as UNSIGNED-PAYLOAD does not let its holder choose the body, whose form values
// would otherwise override the signed query's (Action included).
func TestPresignedQueryRequests(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	presign := func(t *testing.T, method, service, query, payload string) string {
		t.Helper()
		r, err := http.NewRequest(method, e.srv.URL+"/?"+query+"&X-Amz-Expires=300", nil)
		if err != nil {
			t.Fatal(err)
		}
		u, _, err := v4.NewSigner().PresignHTTP(ctx, aws.Credentials{AccessKeyID: rootKey, SecretAccessKey: rootSecret}, r, payload, service, "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	tests := []struct {
		name       string
		method     string
		service    string
		query      string
		payload    string // the hash the URL was signed over
		body       string // what its holder sends
		wantStatus int
		wantBody   string
	}{
		{name: "GetCallerIdentity signed over its empty body", method: "GET", service: "sts", query: "Action=GetCallerIdentity&Version=2011-06-15",
			payload: emptySHA256, wantStatus: 200, wantBody: "<Arn>arn:aws:iam::"},
		{name: "POST signed over its empty body", method: "POST", service: "sts", query: "Action=GetCallerIdentity&Version=2011-06-15",
			payload: emptySHA256, wantStatus: 200, wantBody: "<Arn>arn:aws:iam::"},
		{name: "a body added to a POST signed over an empty one", method: "POST", service: "iam", query: "Action=GetUser&Version=2010-05-08",
			payload: emptySHA256, body: "Action=CreateUser&UserName=mallory", wantStatus: 403, wantBody: "<Code>SignatureDoesNotMatch</Code>"},
		{name: "a body added to a POST signed as UNSIGNED-PAYLOAD", method: "POST", service: "iam", query: "Action=GetUser&Version=2010-05-08",
			payload: "UNSIGNED-PAYLOAD", body: "Action=CreateUser&UserName=mallory", wantStatus: 403, wantBody: "<Code>SignatureDoesNotMatch</Code>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, presign(t, tc.method, tc.service, tc.query, tc.payload), strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(b), tc.wantBody) {
				t.Fatalf("status %d, want %d with %q: %s", resp.StatusCode, tc.wantStatus, tc.wantBody, b)
			}
			if _, err := e.store.GetUser(ctx, mustFirst(t, e).ID, "mallory"); err == nil {
				t.Fatal("the holder of the URL created a user")
			}
		})
	}
}

func mustFirst(t *testing.T, e *apiEnv) Account {
	t.Helper()
	a, err := e.store.FirstAccount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

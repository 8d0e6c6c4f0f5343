package s3api

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestPresignedURLCannotBeWidened: a presigned PUT URL handed to someone else uploads one body to one key. An
// x-amz-* header its holder adds (the signature does not cover it) is refused as S3 refuses it, before anything is
// written: otherwise x-amz-copy-source would turn the upload into a copy, run as the signer, of any object the
// signer may read.
func TestPresignedURLCannotBeWidened(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.alice()
	mustCreate(t, alice, "bkt")
	if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("secret"), Body: strings.NewReader("top secret")}); err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: aliceKey, SecretAccessKey: aliceSecret}
	presign := func(t *testing.T, key string, signed http.Header) string {
		t.Helper()
		r, err := http.NewRequest(http.MethodPut, e.srv.URL+"/bkt/"+key+"?X-Amz-Expires=300", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range signed {
			r.Header[k] = v
		}
		u, _, err := v4.NewSigner().PresignHTTP(ctx, creds, r, "UNSIGNED-PAYLOAD", "s3", "us-east-1", nowUTC())
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	tests := []struct {
		name     string
		signed   http.Header // headers the signer put in the URL's signature
		added    http.Header // headers the holder adds
		body     string
		wantCode int
		want     string // the key's content afterwards ("" when it must not exist)
	}{
		{name: "copy source added to an upload URL", added: http.Header{"X-Amz-Copy-Source": {"bkt/secret"}},
			wantCode: http.StatusForbidden},
		{name: "tagging and metadata added", added: http.Header{"X-Amz-Tagging": {"a=b"}, "X-Amz-Meta-Owner": {"mallory"}}, body: "upload",
			wantCode: http.StatusForbidden},
		{name: "the upload the URL was made for", body: "upload", wantCode: http.StatusOK, want: "upload"},
		{name: "a copy the signer signed", signed: http.Header{"X-Amz-Copy-Source": {"bkt/secret"}},
			wantCode: http.StatusOK, want: "top secret"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "upload" + string(rune('a'+i))
			req, err := http.NewRequest(http.MethodPut, presign(t, key, tc.signed), strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.signed {
				req.Header[k] = v
			}
			for k, v := range tc.added {
				req.Header[k] = v
			}
			resp, err := e.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantCode, body)
			}
			if tc.wantCode == http.StatusForbidden && !strings.Contains(string(body), "There were headers present in the request which were not signed") {
				t.Fatalf("refusal: %s", body)
			}
			got, err := alice.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
			if tc.want == "" {
				if apiCode(err) != "NoSuchKey" {
					t.Fatalf("the refused request wrote %s: %v", key, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer got.Body.Close()
			if b, _ := io.ReadAll(got.Body); string(b) != tc.want {
				t.Fatalf("%s holds %q, want %q", key, b, tc.want)
			}
		})
	}
}

package ec2api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/berth/berth/internal/cloud"
)

// BenchmarkDescribeInstances: one DescribeInstances of 200 instances with a tag filter, through the endpoint
// (SigV4 verified) and the SDK's decoder — the request a waiter makes every poll.
func BenchmarkDescribeInstances(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		e.backend.Run(ctx, RunOptions{ImageID: debianImage.ID, Tags: map[string]string{"Name": "web", "n": string(rune('a' + i%26))}})
	}
	c := e.root()
	in := &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag:n"), Values: []string{"a", "b"}}}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := c.DescribeInstances(ctx, in)
		if err != nil || countInstances(out) == 0 {
			b.Fatal(err)
		}
	}
}

// BenchmarkDescribeInstancesServer: the service alone (parse, list, filter, render) answering DescribeInstances
// of all 200 instances, without the network, the signature or the client.
func BenchmarkDescribeInstancesServer(b *testing.B) {
	back := newFakeBackend(debianImage)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		back.Run(ctx, RunOptions{ImageID: debianImage.ID, Tags: map[string]string{"Name": "web"}})
	}
	svc := New(back)
	body := "Action=DescribeInstances&Version=2016-11-15"
	info := cloud.RequestInfo{Identity: cloud.Identity{AccountID: "123456789012"}, RequestID: "r", Region: "us-east-1"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req = req.WithContext(cloud.WithInfo(req.Context(), info))
		rec := httptest.NewRecorder()
		svc.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Body)
		}
		b.SetBytes(int64(rec.Body.Len()))
	}
}

package s3api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestLifecycleAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "life")
	bucket := aws.String("life")

	_, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: bucket})
	wantCode(t, "lifecycle before any", err, "NoSuchLifecycleConfiguration")
	if httpStatus(err) != 404 {
		t.Fatalf("status %d", httpStatus(err))
	}

	cfg := &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{
		{ID: aws.String("logs"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("logs/")},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}},
		{ID: aws.String("old"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("old/")},
			Expiration: &types.LifecycleExpiration{Date: aws.Time(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))}},
		{ID: aws.String("versions"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{},
			NoncurrentVersionExpiration:    &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(30), NewerNoncurrentVersions: aws.Int32(3)},
			AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(7)}},
		{ID: aws.String("archive"), Status: types.ExpirationStatusDisabled, Filter: &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{
			Prefix: aws.String("archive/"), Tags: []types.Tag{{Key: aws.String("keep"), Value: aws.String("no")}}, ObjectSizeGreaterThan: aws.Int64(1024)}},
			Transitions: []types.Transition{{Days: aws.Int32(30), StorageClass: types.TransitionStorageClassStandardIa}},
			Expiration:  &types.LifecycleExpiration{Days: aws.Int32(365)}},
	}}
	put, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: bucket, LifecycleConfiguration: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if put.TransitionDefaultMinimumObjectSize != types.TransitionDefaultMinimumObjectSizeAllStorageClasses128k {
		t.Fatalf("minimum object size %q", put.TransitionDefaultMinimumObjectSize)
	}
	got, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rules) != 4 || *got.Rules[0].ID != "logs" || *got.Rules[0].Expiration.Days != 1 || *got.Rules[0].Filter.Prefix != "logs/" ||
		!got.Rules[1].Expiration.Date.Equal(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		*got.Rules[2].NoncurrentVersionExpiration.NewerNoncurrentVersions != 3 || *got.Rules[2].AbortIncompleteMultipartUpload.DaysAfterInitiation != 7 ||
		got.Rules[3].Status != types.ExpirationStatusDisabled || *got.Rules[3].Filter.And.ObjectSizeGreaterThan != 1024 ||
		got.Rules[3].Transitions[0].StorageClass != types.TransitionStorageClassStandardIa {
		t.Fatalf("rules read back: %+v", got.Rules)
	}

	// x-amz-expiration on PUT, HEAD and GET of an object a rule expires: the midnight after creation plus Days.
	putOut, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("logs/today"), Body: strings.NewReader("l")})
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("logs/today")})
	if err != nil {
		t.Fatal(err)
	}
	due := head.LastModified.UTC().Add(24 * time.Hour).Truncate(24 * time.Hour).Add(24 * time.Hour)
	want := `expiry-date="` + due.Format(http.TimeFormat) + `", rule-id="logs"`
	if *head.Expiration != want || putOut.Expiration == nil || *putOut.Expiration != want {
		t.Fatalf("x-amz-expiration: head %q put %v, want %q", *head.Expiration, putOut.Expiration, want)
	}
	getOut, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("logs/today")})
	if err != nil {
		t.Fatal(err)
	}
	getOut.Body.Close()
	if *getOut.Expiration != want {
		t.Fatalf("GET x-amz-expiration %q", *getOut.Expiration)
	}
	putString(t, c, "life", "keep/me", "k")
	if h, _ := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("keep/me")}); h.Expiration != nil {
		t.Fatalf("an object no rule expires: %q", *h.Expiration)
	}

	// The sweep applies the rules: the Date is past, so old/ goes.
	putString(t, c, "life", "old/a", "a")
	putString(t, c, "life", "old/b", "b")
	res, err := e.store.ApplyLifecycle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Expired != 2 {
		t.Fatalf("expired %d", res.Expired)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket})
	if err != nil || len(list.Contents) != 2 || *list.Contents[0].Key != "keep/me" || *list.Contents[1].Key != "logs/today" {
		t.Fatalf("after the sweep: %+v %v", list.Contents, err)
	}

	// Refused configurations store nothing; the previous one stays.
	for _, tc := range []struct {
		name string
		doc  string
		code string
	}{
		{"lower-case status", `<LifecycleConfiguration><Rule><ID>r</ID><Filter/><Status>enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`, "MalformedXML"},
		{"days zero", `<LifecycleConfiguration><Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Days>0</Days></Expiration></Rule></LifecycleConfiguration>`, "InvalidArgument"},
		{"not midnight", `<LifecycleConfiguration><Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration></Rule></LifecycleConfiguration>`, "InvalidArgument"},
		{"no action", `<LifecycleConfiguration><Rule><ID>r</ID><Filter/><Status>Enabled</Status></Rule></LifecycleConfiguration>`, "InvalidRequest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(t, "PUT", "/life?lifecycle", nil, tc.doc)
			if resp.StatusCode != 400 || !strings.Contains(body, "<Code>"+tc.code+"</Code>") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	if got, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: bucket}); err != nil || len(got.Rules) != 4 {
		t.Fatalf("after refused puts: %v", err)
	}

	if _, err := c.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: bucket})
	wantCode(t, "lifecycle after delete", err, "NoSuchLifecycleConfiguration")
	if h, _ := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("logs/today")}); h.Expiration != nil {
		t.Fatalf("x-amz-expiration without rules: %q", *h.Expiration)
	}
}

package s3api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/berth/berth/internal/objectstore"
)

func tagDoc(tags ...string) string {
	var b strings.Builder
	b.WriteString(`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>`)
	for _, t := range tags {
		k, v, _ := strings.Cut(t, "=")
		b.WriteString("<Tag><Key>" + k + "</Key><Value>" + v + "</Value></Tag>")
	}
	b.WriteString("</TagSet></Tagging>")
	return b.String()
}

func manyTags(n int) []string {
	var tags []string
	for i := range n {
		tags = append(tags, fmt.Sprintf("k%d=v%d", i, i))
	}
	return tags
}

func TestParseTagging(t *testing.T) {
	for _, tc := range []struct {
		name  string
		doc   string
		limit int
		code  string
		msg   string
	}{
		{"empty set", tagDoc(), maxObjectTags, "", ""},
		{"ten object tags", tagDoc(manyTags(10)...), maxObjectTags, "", ""},
		{"allowed characters", tagDoc("Project Name=alpha+beta-1.0_x:y/z@w", "ü=ñ"), maxObjectTags, "", ""},
		{"longest key and value", tagDoc(strings.Repeat("k", 128) + "=" + strings.Repeat("v", 256)), maxObjectTags, "", ""},
		{"eleven object tags", tagDoc(manyTags(11)...), maxObjectTags, "BadRequest", "Object tags cannot be greater than 10"},
		{"fifty-one bucket tags", tagDoc(manyTags(51)...), maxBucketTags, "BadRequest", "Bucket tag count cannot be greater than 50"},
		{"key too long", tagDoc(strings.Repeat("k", 129) + "=v"), maxObjectTags, "InvalidTag", "The TagKey you have provided is invalid"},
		{"value too long", tagDoc("k=" + strings.Repeat("v", 257)), maxObjectTags, "InvalidTag", "The TagValue you have provided is invalid"},
		{"empty key", tagDoc("=v"), maxObjectTags, "InvalidTag", "The TagKey you have provided is invalid"},
		{"bad character", tagDoc("k=a*b"), maxObjectTags, "InvalidTag", "The TagValue you have provided is invalid"},
		{"same key twice", tagDoc("k=1", "k=2"), maxObjectTags, "InvalidTag", "Cannot provide multiple Tags with the same key"},
		{"aws prefix", tagDoc("aws:cloudformation:stack=x"), maxObjectTags, "InvalidTag", "Your TagKey cannot be prefixed with aws:"},
		{"no tag set", `<Tagging></Tagging>`, maxObjectTags, "MalformedXML", ""},
		{"not xml", `k=v`, maxObjectTags, "MalformedXML", ""},
		{"empty body", ``, maxObjectTags, "MissingRequestBodyError", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseTagging([]byte(tc.doc), tc.limit)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := toCloudError(err)
			if err == nil || e.Code != tc.code || (tc.msg != "" && e.Message != tc.msg) || e.Status != 400 {
				t.Fatalf("got %v (%d), want %s %s", err, e.Status, tc.code, tc.msg)
			}
		})
	}
}

func TestParseTaggingHeader(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header string
		want   string
		code   string
	}{
		{"two tags", "a=1&b=2", "a=1 b=2", ""},
		{"escaped", "team%20name=sales%2Bops&empty=", "team name=sales+ops empty=", ""},
		{"key without a value", "flag", "flag=", ""},
		{"same key twice", "a=1&a=2", "", "InvalidArgument"},
		{"bad escape", "a=%zz", "", "InvalidArgument"},
		{"empty key", "=v", "", "InvalidArgument"},
		{"eleven tags", strings.Join(manyTags(11), "&"), "", "BadRequest"},
		{"bad character", "a=%2A", "", "InvalidTag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tags, err := parseTaggingHeader(tc.header)
			if tc.code != "" {
				if toCloudError(err).Code != tc.code {
					t.Fatalf("got %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, t := range tags {
				got = append(got, t.Key+"="+t.Value)
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("got %v", got)
			}
		})
	}
}

func tagsOf(out []types.Tag) string {
	var got []string
	for _, t := range out {
		got = append(got, *t.Key+"="+*t.Value)
	}
	return strings.Join(got, " ")
}

func TestObjectTagging(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "tags")
	bucket := aws.String("tags")

	// x-amz-tagging on PUT; x-amz-tagging-count on GET and HEAD.
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("k"), Body: strings.NewReader("v"), Tagging: aws.String("env=prod&team=web")}); err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if *head.TagCount != 2 || *get.TagCount != 2 {
		t.Fatalf("tag count: head %v get %v", head.TagCount, get.TagCount)
	}
	tg, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("k")})
	if err != nil || tagsOf(tg.TagSet) != "env=prod team=web" {
		t.Fatalf("tags: %v %v", tagsOf(tg.TagSet), err)
	}
	// PutObjectTagging replaces the set; DeleteObjectTagging empties it.
	if _, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: bucket, Key: aws.String("k"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}}}); err != nil {
		t.Fatal(err)
	}
	if tg, _ := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("k")}); tagsOf(tg.TagSet) != "env=dev" {
		t.Fatalf("after put: %v", tagsOf(tg.TagSet))
	}
	// Too many tags: refused, and the old set stays.
	var eleven []types.Tag
	for i := range 11 {
		eleven = append(eleven, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
	}
	_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: bucket, Key: aws.String("k"), Tagging: &types.Tagging{TagSet: eleven}})
	wantCode(t, "eleven tags", err, "BadRequest")
	if tg, _ := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("k")}); tagsOf(tg.TagSet) != "env=dev" {
		t.Fatalf("after a refused put: %v", tagsOf(tg.TagSet))
	}
	if _, err := c.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: bucket, Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	tg, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("k")})
	if err != nil || len(tg.TagSet) != 0 {
		t.Fatalf("after delete: %v %v", tg, err)
	}
	if h, _ := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("k")}); h.TagCount != nil {
		t.Fatalf("tag count without tags: %v", *h.TagCount)
	}
	_, err = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("missing")})
	wantCode(t, "tags of a missing object", err, "NoSuchKey")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("bad"), Body: strings.NewReader("v"), Tagging: aws.String("a=1&a=2")})
	wantCode(t, "duplicate keys in x-amz-tagging", err, "InvalidArgument")

	// Versions keep their own tags.
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: bucket, VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	v1, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("ver"), Body: strings.NewReader("1"), Tagging: aws.String("gen=1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("ver"), Body: strings.NewReader("2"), Tagging: aws.String("gen=2")}); err != nil {
		t.Fatal(err)
	}
	out, err := c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: bucket, Key: aws.String("ver"), VersionId: v1.VersionId,
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("gen"), Value: aws.String("one")}}}})
	if err != nil || *out.VersionId != *v1.VersionId {
		t.Fatalf("tag a version: %v %v", out, err)
	}
	if tg, _ := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("ver"), VersionId: v1.VersionId}); tagsOf(tg.TagSet) != "gen=one" || *tg.VersionId != *v1.VersionId {
		t.Fatalf("version tags: %v", tagsOf(tg.TagSet))
	}
	if tg, _ := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("ver")}); tagsOf(tg.TagSet) != "gen=2" {
		t.Fatalf("current tags: %v", tagsOf(tg.TagSet))
	}

	// Copies take the source's tags, or with REPLACE those of x-amz-tagging.
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy"), CopySource: aws.String("tags/ver")}); err != nil {
		t.Fatal(err)
	}
	if tg, _ := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("copy")}); tagsOf(tg.TagSet) != "gen=2" {
		t.Fatalf("copied tags: %v", tagsOf(tg.TagSet))
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copy2"), CopySource: aws.String("tags/ver"),
		TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("fresh=yes")}); err != nil {
		t.Fatal(err)
	}
	if tg, _ := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("copy2")}); tagsOf(tg.TagSet) != "fresh=yes" {
		t.Fatalf("replaced tags: %v", tagsOf(tg.TagSet))
	}
	resp, body := e.raw(t, "PUT", "/tags/copy3", http.Header{"X-Amz-Copy-Source": {"tags/ver"}, "X-Amz-Tagging-Directive": {"MERGE"}}, "")
	if resp.StatusCode != 400 || !strings.Contains(body, "Unknown tagging directive.") {
		t.Fatalf("unknown directive: %d %s", resp.StatusCode, body)
	}

	// A multipart upload's tags go to the object it completes.
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("mp"), Tagging: aws.String("kind=multipart")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: aws.String("mp"), UploadId: mp.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("data")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: aws.String("mp"), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	if tg, _ := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("mp")}); tagsOf(tg.TagSet) != "kind=multipart" {
		t.Fatalf("multipart tags: %v", tagsOf(tg.TagSet))
	}
	// The engine keeps what the API stored.
	info, err := e.store.StatObject(ctx, "tags", "mp", objectstore.GetOptions{})
	if err != nil || info.TagMap()["kind"] != "multipart" {
		t.Fatalf("engine's view: %v %v", info.TagMap(), err)
	}
}

func TestBucketTagging(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "btags")
	bucket := aws.String("btags")
	_, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: bucket})
	wantCode(t, "tags before any", err, "NoSuchTagSet")
	if httpStatus(err) != 404 {
		t.Fatalf("status %d", httpStatus(err))
	}
	set := []types.Tag{{Key: aws.String("cost-center"), Value: aws.String("42")}, {Key: aws.String("owner"), Value: aws.String("alice")}}
	if _, err := c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: bucket, Tagging: &types.Tagging{TagSet: set}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: bucket})
	if err != nil || tagsOf(got.TagSet) != "cost-center=42 owner=alice" {
		t.Fatalf("bucket tags: %v %v", got, err)
	}
	resp, body := e.raw(t, "PUT", "/btags?tagging", nil, tagDoc(manyTags(51)...))
	if resp.StatusCode != 400 || !strings.Contains(body, "Bucket tag count cannot be greater than 50") {
		t.Fatalf("51 tags: %d %s", resp.StatusCode, body)
	}
	if _, err := c.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: bucket})
	wantCode(t, "tags after delete", err, "NoSuchTagSet")
	// Tagging is the owner's: another account may not read or change it.
	_, err = e.bob().PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: bucket, Tagging: &types.Tagging{TagSet: set}})
	wantCode(t, "bob tags alice's bucket", err, "AccessDenied")
}

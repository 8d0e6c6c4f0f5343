package s3api

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/berth/berth/internal/objectstore"
)

func TestGetObjectAttributes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "attrs")
	bucket := aws.String("attrs")
	all := []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesChecksum, types.ObjectAttributesObjectParts,
		types.ObjectAttributesStorageClass, types.ObjectAttributesObjectSize}

	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("single"), Body: strings.NewReader("hello"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: bucket, Key: aws.String("single"), ObjectAttributes: all})
	if err != nil {
		t.Fatal(err)
	}
	if *out.ETag != strings.Trim(*put.ETag, `"`) || *out.ObjectSize != 5 || out.StorageClass != types.StorageClassStandard ||
		out.Checksum == nil || *out.Checksum.ChecksumSHA256 != *put.ChecksumSHA256 || out.Checksum.ChecksumType != types.ChecksumTypeFullObject ||
		out.ObjectParts != nil || out.LastModified == nil {
		t.Fatalf("single-part attributes: %+v", out)
	}
	// Only what was asked for.
	only, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: bucket, Key: aws.String("single"), ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize}})
	if err != nil || only.ETag != nil || only.Checksum != nil || *only.ObjectSize != 5 {
		t.Fatalf("ObjectSize only: %+v %v", only, err)
	}

	// A multipart object with checksums lists its parts, a page at a time.
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("multi"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	sizes := []int{objectstore.MinPartSize, objectstore.MinPartSize, 7}
	for i, n := range sizes {
		p, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: aws.String("multi"), UploadId: mp.UploadId, PartNumber: aws.Int32(int32(i + 1)),
			Body: bytes.NewReader(pattern(n, byte(i))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: p.ETag, ChecksumCRC32: p.ChecksumCRC32})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: aws.String("multi"), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	page1, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: bucket, Key: aws.String("multi"), ObjectAttributes: all, MaxParts: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	op := page1.ObjectParts
	if op == nil || *op.TotalPartsCount != 3 || *op.MaxParts != 2 || !*op.IsTruncated || len(op.Parts) != 2 || *op.NextPartNumberMarker != "2" ||
		*op.Parts[0].Size != int64(objectstore.MinPartSize) || *op.Parts[0].ChecksumCRC32 != *parts[0].ChecksumCRC32 {
		t.Fatalf("first page: %+v", op)
	}
	if !strings.HasSuffix(*page1.ETag, "-3") || page1.Checksum.ChecksumType != types.ChecksumTypeComposite {
		t.Fatalf("multipart ETag %q checksum %+v", *page1.ETag, page1.Checksum)
	}
	page2, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: bucket, Key: aws.String("multi"), ObjectAttributes: all,
		MaxParts: aws.Int32(2), PartNumberMarker: op.NextPartNumberMarker})
	if err != nil {
		t.Fatal(err)
	}
	if op := page2.ObjectParts; *op.IsTruncated || len(op.Parts) != 1 || *op.Parts[0].PartNumber != 3 || *op.Parts[0].Size != 7 {
		t.Fatalf("second page: %+v", op)
	}

	// Versions, by ID; a delete marker is not an object.
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: bucket, VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	v1, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("ver"), Body: strings.NewReader("one")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String("ver")}); err != nil {
		t.Fatal(err)
	}
	old, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: bucket, Key: aws.String("ver"), VersionId: v1.VersionId, ObjectAttributes: all})
	if err != nil || *old.ObjectSize != 3 || *old.VersionId != *v1.VersionId {
		t.Fatalf("by version: %+v %v", old, err)
	}
	_, err = c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: bucket, Key: aws.String("ver"), ObjectAttributes: all})
	wantCode(t, "attributes of a deleted object", err, "NoSuchKey")

	for _, tc := range []struct {
		name   string
		header http.Header
		code   string
	}{
		{"no attributes", nil, "InvalidRequest"},
		{"unknown attribute", http.Header{"X-Amz-Object-Attributes": {"ETag,Color"}}, "InvalidArgument"},
		{"bad max parts", http.Header{"X-Amz-Object-Attributes": {"ObjectParts"}, "X-Amz-Max-Parts": {"many"}}, "InvalidArgument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(t, "GET", "/attrs/single?attributes", tc.header, "")
			if resp.StatusCode != 400 || !strings.Contains(body, "<Code>"+tc.code+"</Code>") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	// Reading attributes is reading the object: another account may not.
	_, err = e.bob().GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: bucket, Key: aws.String("single"), ObjectAttributes: all})
	wantCode(t, "bob's attributes", err, "AccessDenied")
}

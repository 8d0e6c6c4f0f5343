package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const mib = 1 << 20

func TestMultipart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	p1, p2, p3 := pattern(5*mib, 1), pattern(5*mib, 2), pattern(1234, 3)

	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("big"),
		ContentType: aws.String("application/zip"), Metadata: map[string]string{"k": "v"}, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	id := create.UploadId
	var parts []types.CompletedPart
	for i, p := range [][]byte{p1, p2, p3} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("big"), UploadId: id,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ETag) != `"`+md5hex(p)+`"` || aws.ToString(out.ChecksumCRC32) == "" {
			t.Fatalf("part %d: %+v", i+1, out)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	}

	uploads, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("bkt")})
	if err != nil || len(uploads.Uploads) != 1 || aws.ToString(uploads.Uploads[0].UploadId) != aws.ToString(id) ||
		aws.ToString(uploads.Uploads[0].Initiator.ID) != e.aliceOwner.ID {
		t.Fatalf("uploads %+v %v", uploads, err)
	}
	listed, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("big"), UploadId: id, MaxParts: aws.Int32(2)})
	if err != nil || len(listed.Parts) != 2 || !aws.ToBool(listed.IsTruncated) || aws.ToString(listed.NextPartNumberMarker) != "2" ||
		listed.ChecksumAlgorithm != types.ChecksumAlgorithmCrc32 {
		t.Fatalf("parts %+v %v", listed, err)
	}

	// Complete's checks.
	complete := func(ps []types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
		return c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("big"), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: ps}})
	}
	wrongETag := parts[1]
	wrongETag.ETag = aws.String(`"` + strings.Repeat("0", 32) + `"`)
	small := []types.CompletedPart{parts[0], parts[2], parts[1]}
	tests := []struct {
		name  string
		parts []types.CompletedPart
		code  string
	}{
		{name: "order", parts: []types.CompletedPart{parts[1], parts[0]}, code: "InvalidPartOrder"},
		{name: "etag", parts: []types.CompletedPart{parts[0], wrongETag}, code: "InvalidPart"},
		{name: "missing part", parts: []types.CompletedPart{parts[0], {PartNumber: aws.Int32(9), ETag: parts[0].ETag}}, code: "InvalidPart"},
		{name: "order before sizes", parts: small, code: "InvalidPartOrder"},
	}
	for _, tc := range tests {
		if _, err := complete(tc.parts); apiCode(err) != tc.code || httpStatus(err) != 400 {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	// A small part in the middle (of an upload without checksums: any ascending part numbers will do).
	smallID, smallParts := uploadOf(t, c, "bkt", "small", "", "", p1, p3, p2)
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("small"), UploadId: smallID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: smallParts}}); apiCode(err) != "EntityTooSmall" {
		t.Errorf("small middle part: %v", err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("small"), UploadId: smallID}); err != nil {
		t.Fatal(err)
	}

	done, err := complete(parts)
	if err != nil {
		t.Fatal(err)
	}
	h := md5.New()
	for _, p := range [][]byte{p1, p2, p3} {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	if want := `"` + hex.EncodeToString(h.Sum(nil)) + `-3"`; aws.ToString(done.ETag) != want {
		t.Errorf("ETag %s, want %s", aws.ToString(done.ETag), want)
	}
	if !strings.HasSuffix(aws.ToString(done.ChecksumCRC32), "-3") || done.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("checksum %q %q", aws.ToString(done.ChecksumCRC32), done.ChecksumType)
	}
	if !strings.HasSuffix(aws.ToString(done.Location), "/bkt/big") {
		t.Errorf("location %q", aws.ToString(done.Location))
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("big")})
	whole := bytes.Join([][]byte{p1, p2, p3}, nil)
	if got := getBody(t, out, err); !bytes.Equal(got, whole) || aws.ToString(out.ContentType) != "application/zip" || out.Metadata["k"] != "v" {
		t.Fatalf("object: %d bytes, %q %v", len(got), aws.ToString(out.ContentType), out.Metadata)
	}
	part2, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("big"), PartNumber: aws.Int32(2), ChecksumMode: types.ChecksumModeEnabled})
	if got := getBody(t, part2, err); !bytes.Equal(got, p2) || aws.ToInt32(part2.PartsCount) != 3 {
		t.Errorf("part 2: %d bytes, parts count %d", len(got), aws.ToInt32(part2.PartsCount))
	}
	if aws.ToString(part2.ChecksumCRC32) != aws.ToString(parts[1].ChecksumCRC32) {
		t.Errorf("part 2 checksum %q, want %q", aws.ToString(part2.ChecksumCRC32), aws.ToString(parts[1].ChecksumCRC32))
	}
	// A retry of the Complete is answered as the Complete was (TestCompleteRetry has the rest).
	if again, err := complete(parts); err != nil || aws.ToString(again.ETag) != aws.ToString(done.ETag) || aws.ToString(again.ChecksumCRC32) != aws.ToString(done.ChecksumCRC32) {
		t.Errorf("complete twice: %+v %v", again, err)
	}

	// Abort, and UploadPartCopy.
	ab, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("copy")})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("bkt"), Key: aws.String("copy"), UploadId: ab.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("bkt/big"), CopySourceRange: aws.String("bytes=0-5242879")})
	if err != nil || aws.ToString(cp.CopyPartResult.ETag) != `"`+md5hex(p1)+`"` {
		t.Fatalf("upload part copy: %+v %v", cp, err)
	}
	if _, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("bkt"), Key: aws.String("copy"), UploadId: ab.UploadId,
		PartNumber: aws.Int32(2), CopySource: aws.String("bkt/big"), CopySourceRange: aws.String("bytes=0-99999999")}); apiCode(err) != "InvalidArgument" {
		t.Errorf("copy range past the end: %v", err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("copy"), UploadId: ab.UploadId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("copy"), UploadId: ab.UploadId}); apiCode(err) != "NoSuchUpload" {
		t.Errorf("abort twice: %v", err)
	}
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("copy"), UploadId: ab.UploadId,
		PartNumber: aws.Int32(10001), Body: strings.NewReader("x")}); apiCode(err) != "InvalidArgument" {
		t.Errorf("part 10001: %v", err)
	}
	uploads, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("bkt")})
	if err != nil || len(uploads.Uploads) != 0 {
		t.Errorf("uploads left %+v %v", uploads.Uploads, err)
	}
}

// TestFullObjectChecksum: an upload with a CRC64NVME (full-object) checksum, as recent SDKs make by default.
func TestFullObjectChecksum(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme, ChecksumType: types.ChecksumTypeFullObject})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := pattern(5*mib, 5), pattern(100, 6)
	var parts []types.CompletedPart
	for i, p := range [][]byte{p1, p2} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: create.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC64NVME: out.ChecksumCRC64NVME})
	}
	// The whole object's CRC64NVME, as the client computed it, by uploading the same bytes at once.
	whole := append(bytes.Clone(p1), p2...)
	ref, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("ref"), Body: bytes.NewReader(whole), ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: create.UploadId,
		ChecksumCRC64NVME: ref.ChecksumCRC64NVME, ChecksumType: types.ChecksumTypeFullObject,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(done.ChecksumCRC64NVME) != aws.ToString(ref.ChecksumCRC64NVME) || done.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("checksum %q (%s), want %q", aws.ToString(done.ChecksumCRC64NVME), done.ChecksumType, aws.ToString(ref.ChecksumCRC64NVME))
	}
}

// uploadOf starts an upload of key with the checksum algorithm and type given ("" for none) and uploads each of
// ps as a part; it returns the upload ID and the parts as Complete lists them.
func uploadOf(t *testing.T, c *s3.Client, bucket, key string, alg types.ChecksumAlgorithm, typ types.ChecksumType, ps ...[]byte) (*string, []types.CompletedPart) {
	t.Helper()
	ctx := context.Background()
	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		ChecksumAlgorithm: alg, ChecksumType: typ})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, p := range ps {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: create.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32,
			ChecksumSHA256: out.ChecksumSHA256, ChecksumCRC64NVME: out.ChecksumCRC64NVME})
	}
	return create.UploadId, parts
}

// TestCompleteWithoutBody: CompleteMultipartUpload with no body is MalformedXML, as S3 answers it (its parts list
// is required; ceph/s3-tests test_multipart_upload_empty).
func TestCompleteWithoutBody(t *testing.T) {
	e := newEnv(t)
	c := e.alice()
	mustCreate(t, c, "bkt")
	id, _ := uploadOf(t, c, "bkt", "k", "", "", []byte("part"))
	for _, tc := range []struct{ name, body string }{
		{name: "no body", body: ""},
		{name: "blank", body: "\n  "},
		{name: "no parts", body: "<CompleteMultipartUpload></CompleteMultipartUpload>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(t, "POST", "/bkt/k?uploadId="+aws.ToString(id), http.Header{}, tc.body)
			if resp.StatusCode != 400 || !strings.Contains(body, "<Code>MalformedXML</Code>") {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
		})
	}
	_, err := c.CompleteMultipartUpload(context.Background(), &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: id})
	if apiCode(err) != "MalformedXML" || httpStatus(err) != 400 {
		t.Errorf("SDK without MultipartUpload: %v", err)
	}
}

// TestGetPartChecksumType: a part read by number with checksum mode comes with the part's checksum and the
// object's checksum type (ceph/s3-tests test_multipart_use_cksum_helper_*).
func TestGetPartChecksumType(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	p1, p2 := pattern(5*mib, 7), pattern(300, 8)
	for _, tc := range []struct {
		name string
		alg  types.ChecksumAlgorithm
		typ  types.ChecksumType
		want types.ChecksumType
	}{
		{name: "sha256 composite", alg: types.ChecksumAlgorithmSha256, want: types.ChecksumTypeComposite},
		{name: "crc32 full object", alg: types.ChecksumAlgorithmCrc32, typ: types.ChecksumTypeFullObject, want: types.ChecksumTypeFullObject},
		{name: "crc64nvme", alg: types.ChecksumAlgorithmCrc64nvme, want: types.ChecksumTypeFullObject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := string(tc.alg)
			id, parts := uploadOf(t, c, "bkt", key, tc.alg, tc.typ, p1, p2)
			if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String(key), UploadId: id,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
				t.Fatal(err)
			}
			for n, want := range parts {
				get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key), PartNumber: aws.Int32(int32(n + 1)), ChecksumMode: types.ChecksumModeEnabled})
				getBody(t, get, err)
				head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key), PartNumber: aws.Int32(int32(n + 1)), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatal(err)
				}
				for _, got := range []struct {
					op              string
					typ             types.ChecksumType
					crc, sha, crc64 *string
				}{
					{"GET", get.ChecksumType, get.ChecksumCRC32, get.ChecksumSHA256, get.ChecksumCRC64NVME},
					{"HEAD", head.ChecksumType, head.ChecksumCRC32, head.ChecksumSHA256, head.ChecksumCRC64NVME},
				} {
					if got.typ != tc.want {
						t.Errorf("%s part %d: checksum type %q, want %q", got.op, n+1, got.typ, tc.want)
					}
					if aws.ToString(got.crc) != aws.ToString(want.ChecksumCRC32) || aws.ToString(got.sha) != aws.ToString(want.ChecksumSHA256) ||
						aws.ToString(got.crc64) != aws.ToString(want.ChecksumCRC64NVME) {
						t.Errorf("%s part %d: checksums %q %q %q, want the part's", got.op, n+1, aws.ToString(got.crc), aws.ToString(got.sha), aws.ToString(got.crc64))
					}
				}
			}
		})
	}
}

// TestCompleteChecksumHeaders: the object checksum a Complete request states (x-amz-checksum-*, with
// x-amz-checksum-type and x-amz-mp-object-size) is checked against the object the parts make: a value that does
// not match, composite or full-object, malformed or not, is BadDigest, as S3 answers it (ceph/s3-tests
// test_multipart_checksum_sha256); a checksum type other than the upload's is BadDigest; another algorithm than
// the upload's, or an object size that is not the parts' total, is InvalidRequest.
func TestCompleteChecksumHeaders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	p1, p2 := pattern(5*mib, 9), pattern(4321, 10)
	size := int64(len(p1) + len(p2))
	sha := func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
	b64 := base64.StdEncoding.EncodeToString
	composite := b64(sha(append(sha(p1), sha(p2)...)))
	crc := crc32.NewIEEE()
	crc.Write(p1)
	crc.Write(p2)
	fullCRC := b64(crc.Sum(nil))
	for i, tc := range []struct {
		name   string
		alg    types.ChecksumAlgorithm
		typ    types.ChecksumType
		header http.Header
		code   string
	}{
		{name: "composite with its part count", alg: types.ChecksumAlgorithmSha256, header: http.Header{"X-Amz-Checksum-Sha256": {composite + "-2"}}},
		{name: "composite without its part count", alg: types.ChecksumAlgorithmSha256, header: http.Header{"X-Amz-Checksum-Sha256": {composite}}},
		{name: "composite and its type", alg: types.ChecksumAlgorithmSha256, header: http.Header{"X-Amz-Checksum-Sha256": {composite + "-2"}, "X-Amz-Checksum-Type": {"COMPOSITE"}}},
		{name: "malformed", alg: types.ChecksumAlgorithmSha256, header: http.Header{"X-Amz-Checksum-Sha256": {"bad"}}, code: "BadDigest"},
		{name: "another digest", alg: types.ChecksumAlgorithmSha256, header: http.Header{"X-Amz-Checksum-Sha256": {b64(sha(p1)) + "-2"}}, code: "BadDigest"},
		{name: "wrong part count", alg: types.ChecksumAlgorithmSha256, header: http.Header{"X-Amz-Checksum-Sha256": {composite + "-3"}}, code: "BadDigest"},
		{name: "the full object's digest for a composite", alg: types.ChecksumAlgorithmSha256, header: http.Header{"X-Amz-Checksum-Sha256": {b64(sha(append(bytes.Clone(p1), p2...)))}}, code: "BadDigest"},
		{name: "full object", alg: types.ChecksumAlgorithmCrc32, typ: types.ChecksumTypeFullObject, header: http.Header{"X-Amz-Checksum-Crc32": {fullCRC}, "X-Amz-Checksum-Type": {"FULL_OBJECT"}}},
		{name: "full object, wrong", alg: types.ChecksumAlgorithmCrc32, typ: types.ChecksumTypeFullObject, header: http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}}, code: "BadDigest"},
		{name: "full object, malformed", alg: types.ChecksumAlgorithmCrc32, typ: types.ChecksumTypeFullObject, header: http.Header{"X-Amz-Checksum-Crc32": {"bad"}}, code: "BadDigest"},
		{name: "type other than the upload's", alg: types.ChecksumAlgorithmCrc32, header: http.Header{"X-Amz-Checksum-Type": {"FULL_OBJECT"}}, code: "BadDigest"},
		{name: "algorithm other than the upload's", alg: types.ChecksumAlgorithmSha256, header: http.Header{"X-Amz-Checksum-Crc32": {fullCRC}}, code: "InvalidRequest"},
		{name: "upload without a checksum", header: http.Header{"X-Amz-Checksum-Crc32": {fullCRC}}, code: "InvalidRequest"},
		{name: "two checksums", alg: types.ChecksumAlgorithmCrc32, typ: types.ChecksumTypeFullObject, header: http.Header{"X-Amz-Checksum-Crc32": {fullCRC}, "X-Amz-Checksum-Sha256": {composite}}, code: "InvalidRequest"},
		{name: "object size", header: http.Header{"X-Amz-Mp-Object-Size": {strconv.FormatInt(size, 10)}}},
		{name: "object size, wrong", header: http.Header{"X-Amz-Mp-Object-Size": {strconv.FormatInt(size+1, 10)}}, code: "InvalidRequest"},
		{name: "object size, malformed", header: http.Header{"X-Amz-Mp-Object-Size": {"lots"}}, code: "InvalidArgument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprint("k", i)
			id, parts := uploadOf(t, c, "bkt", key, tc.alg, tc.typ, p1, p2)
			var doc strings.Builder
			doc.WriteString("<CompleteMultipartUpload>")
			for _, p := range parts {
				fmt.Fprintf(&doc, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag>", aws.ToInt32(p.PartNumber), aws.ToString(p.ETag))
				if v := aws.ToString(p.ChecksumSHA256); v != "" {
					fmt.Fprintf(&doc, "<ChecksumSHA256>%s</ChecksumSHA256>", v)
				}
				if v := aws.ToString(p.ChecksumCRC32); v != "" {
					fmt.Fprintf(&doc, "<ChecksumCRC32>%s</ChecksumCRC32>", v)
				}
				doc.WriteString("</Part>")
			}
			doc.WriteString("</CompleteMultipartUpload>")
			resp, body := e.raw(t, "POST", "/bkt/"+key+"?uploadId="+aws.ToString(id), tc.header, doc.String())
			if tc.code == "" {
				if resp.StatusCode != 200 || !strings.Contains(body, "<CompleteMultipartUploadResult") {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != 400 || !strings.Contains(body, "<Code>"+tc.code+"</Code>") {
				t.Fatalf("%d %s, want 400 %s", resp.StatusCode, body, tc.code)
			}
			// Nothing was made: the upload is still there to complete.
			if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)}); httpStatus(err) != 404 {
				t.Errorf("object after a refused Complete: %v", err)
			}
			if _, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String(key), UploadId: id}); err != nil {
				t.Errorf("upload after a refused Complete: %v", err)
			}
		})
	}
	// The SDK's own field, as boto3's ChecksumSHA256= sends it.
	id, parts := uploadOf(t, c, "bkt", "sdk", types.ChecksumAlgorithmSha256, "", p1, p2)
	_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("sdk"), UploadId: id,
		ChecksumSHA256: aws.String("bad"), MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if apiCode(err) != "BadDigest" || httpStatus(err) != 400 {
		t.Errorf("SDK with a bad checksum: %v", err)
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("sdk"), UploadId: id,
		ChecksumSHA256: aws.String(composite + "-2"), MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil || aws.ToString(done.ChecksumSHA256) != composite+"-2" || done.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("SDK with the right checksum: %+v %v", done, err)
	}
}

// TestCompleteRetry: S3 answers a CompleteMultipartUpload repeated after it succeeded (a client retrying after a
// lost answer) as it answered the first, while the parts list is the same and the object the upload made is still
// the current one; otherwise NoSuchUpload (ceph/s3-tests test_multipart_upload, test_multipart_upload_small,
// test_multipart_reupload_checksum_and_etag).
func TestCompleteRetry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("bkt"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	id, parts := uploadOf(t, c, "bkt", "k", types.ChecksumAlgorithmSha256, "", pattern(5*mib, 13), pattern(10, 14))
	in := &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("k"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
	first, err := c.CompleteMultipartUpload(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CompleteMultipartUpload(ctx, in)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if aws.ToString(again.ETag) != aws.ToString(first.ETag) || aws.ToString(again.ChecksumSHA256) != aws.ToString(first.ChecksumSHA256) ||
		again.ChecksumType != first.ChecksumType || aws.ToString(again.VersionId) != aws.ToString(first.VersionId) || aws.ToString(first.VersionId) == "" ||
		aws.ToString(again.Location) != aws.ToString(first.Location) {
		t.Errorf("retry answered %+v, first %+v", again, first)
	}
	other := *in
	other.MultipartUpload = &types.CompletedMultipartUpload{Parts: parts[:1]}
	if _, err := c.CompleteMultipartUpload(ctx, &other); apiCode(err) != "NoSuchUpload" || httpStatus(err) != 404 {
		t.Errorf("retry with another parts list: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("newer")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, in); apiCode(err) != "NoSuchUpload" || httpStatus(err) != 404 {
		t.Errorf("retry after an overwrite: %v", err)
	}
	// The object is the upload's, once: the retries added no version.
	versions, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("bkt")})
	if err != nil || len(versions.Versions) != 2 {
		t.Errorf("versions %+v %v", versions, err)
	}
}

// TestMultipartPartChecksums: the part checksums of an upload with a checksum algorithm, as S3 checks them. A
// composite checksum is made of the clients' part checksums, so every UploadPart must send one and Complete must
// list one for every part (InvalidRequest otherwise); a full-object one is computed from the parts, so neither is
// needed. A part checksum Complete lists must be well-formed (InvalidArgument), of the upload's algorithm
// (BadDigest) and the part's (InvalidPart), and parts with checksums are numbered from 1 without a gap
// (InvalidPartOrder). An upload without an algorithm takes the part checksum botocore sends by default, and no part
// checksum at Complete (InvalidPart).
func TestMultipartPartChecksums(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	p1, p2 := pattern(5*mib, 21), pattern(999, 22)
	b64 := base64.StdEncoding.EncodeToString
	sha := func(b []byte) string { s := sha256.Sum256(b); return b64(s[:]) }
	crc := func(b []byte) string { return b64(binaryCRC(b)) }
	create := func(t *testing.T, key string, alg types.ChecksumAlgorithm, typ types.ChecksumType) string {
		t.Helper()
		out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String(key),
			ChecksumAlgorithm: alg, ChecksumType: typ})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.UploadId)
	}
	// putPart sends a part as a client does, with exactly the checksum headers given.
	putPart := func(t *testing.T, key, id string, n int, body []byte, h http.Header) (*http.Response, string) {
		t.Helper()
		return e.raw(t, "PUT", fmt.Sprintf("/bkt/%s?partNumber=%d&uploadId=%s", key, n, id), h, string(body))
	}

	t.Run("UploadPart", func(t *testing.T) {
		for i, tc := range []struct {
			name     string
			alg      types.ChecksumAlgorithm
			typ      types.ChecksumType
			header   http.Header
			code     string
			message  string
			checksum string // the part's checksum S3 answers with
		}{
			{name: "composite upload, part without a checksum", alg: types.ChecksumAlgorithmSha256, code: "InvalidRequest",
				message: "Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum Type: null"},
			{name: "composite upload, part with its checksum", alg: types.ChecksumAlgorithmSha256,
				header: http.Header{"X-Amz-Checksum-Sha256": {sha(p2)}}, checksum: sha(p2)},
			{name: "full-object upload, part without a checksum", alg: types.ChecksumAlgorithmCrc32, typ: types.ChecksumTypeFullObject, checksum: crc(p2)},
			{name: "upload without an algorithm, botocore's default CRC32", header: http.Header{"X-Amz-Checksum-Crc32": {crc(p2)}, "X-Amz-Sdk-Checksum-Algorithm": {"CRC32"}},
				checksum: crc(p2)},
			{name: "upload without an algorithm, a wrong CRC32", header: http.Header{"X-Amz-Checksum-Crc32": {crc(p1)}}, code: "BadDigest"},
			{name: "another algorithm than the upload's", alg: types.ChecksumAlgorithmSha256, header: http.Header{"X-Amz-Checksum-Crc32": {crc(p2)}},
				code: "InvalidRequest", message: "Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum Type: crc32"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := fmt.Sprint("part", i)
				id := create(t, key, tc.alg, tc.typ)
				resp, body := putPart(t, key, id, 1, p2, tc.header)
				if tc.code != "" {
					if resp.StatusCode != 400 || !strings.Contains(body, "<Code>"+tc.code+"</Code>") || !strings.Contains(body, tc.message) {
						t.Fatalf("%d %s, want 400 %s %q", resp.StatusCode, body, tc.code, tc.message)
					}
					return
				}
				if resp.StatusCode != 200 {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
				if alg := tc.alg; alg != "" {
					if got := resp.Header.Get("X-Amz-Checksum-" + string(alg)); got != tc.checksum {
						t.Errorf("part checksum %q, want %q", got, tc.checksum)
					}
				}
			})
		}
	})

	t.Run("Complete", func(t *testing.T) {
		type listed struct {
			n         int
			checksums string // the part's checksum elements, as Complete lists them
		}
		for i, tc := range []struct {
			name    string
			alg     types.ChecksumAlgorithm
			typ     types.ChecksumType
			numbers []int // the part numbers uploaded (p1 then p2)
			list    func() []listed
			header  http.Header
			code    string
			message string
		}{
			{name: "composite, no part checksums", alg: types.ChecksumAlgorithmSha256, list: func() []listed { return []listed{{1, ""}, {2, ""}} },
				code: "InvalidRequest", message: "The upload was created using a sha256 checksum. The complete request must include the checksum for each part. It was missing for part 1 in the request."},
			{name: "composite, the second part's checksum missing", alg: types.ChecksumAlgorithmSha256,
				list: func() []listed { return []listed{{1, "<ChecksumSHA256>" + sha(p1) + "</ChecksumSHA256>"}, {2, ""}} },
				code: "InvalidRequest", message: "It was missing for part 2 in the request."},
			{name: "composite, every part's checksum", alg: types.ChecksumAlgorithmSha256, list: func() []listed {
				return []listed{{1, "<ChecksumSHA256>" + sha(p1) + "</ChecksumSHA256>"}, {2, "<ChecksumSHA256>" + sha(p2) + "</ChecksumSHA256>"}}
			}},
			{name: "full object, no part checksums", alg: types.ChecksumAlgorithmCrc32, typ: types.ChecksumTypeFullObject,
				list: func() []listed { return []listed{{1, ""}, {2, ""}} }},
			{name: "a part checksum of another algorithm", alg: types.ChecksumAlgorithmSha256,
				list: func() []listed {
					return []listed{{1, "<ChecksumCRC32>" + crc(p1) + "</ChecksumCRC32>"}, {2, "<ChecksumSHA256>" + sha(p2) + "</ChecksumSHA256>"}}
				},
				code: "BadDigest", message: "The crc32 you specified for part 1 did not match what we received."},
			{name: "two checksums for a part", alg: types.ChecksumAlgorithmSha256,
				list: func() []listed {
					return []listed{{1, "<ChecksumCRC32>" + crc(p1) + "</ChecksumCRC32><ChecksumSHA256>" + sha(p1) + "</ChecksumSHA256>"}, {2, ""}}
				},
				code: "InvalidArgument", message: "Invalid Base64 or multiple checksums present in request"},
			{name: "a malformed part checksum", alg: types.ChecksumAlgorithmSha256,
				list: func() []listed {
					return []listed{{1, "<ChecksumSHA256>not base64</ChecksumSHA256>"}, {2, "<ChecksumSHA256>" + sha(p2) + "</ChecksumSHA256>"}}
				},
				code: "InvalidArgument", message: "Invalid Base64 or multiple checksums present in request"},
			{name: "another part's checksum", alg: types.ChecksumAlgorithmSha256,
				list: func() []listed {
					return []listed{{1, "<ChecksumSHA256>" + sha(p2) + "</ChecksumSHA256>"}, {2, "<ChecksumSHA256>" + sha(p2) + "</ChecksumSHA256>"}}
				},
				code: "InvalidPart"},
			{name: "a gap in the part numbers", alg: types.ChecksumAlgorithmSha256, numbers: []int{1, 3},
				list: func() []listed {
					return []listed{{1, "<ChecksumSHA256>" + sha(p1) + "</ChecksumSHA256>"}, {3, "<ChecksumSHA256>" + sha(p2) + "</ChecksumSHA256>"}}
				},
				code: "InvalidPartOrder"},
			{name: "without an algorithm, a gap is fine", numbers: []int{1, 3}, list: func() []listed { return []listed{{1, ""}, {3, ""}} }},
			{name: "without an algorithm, a part checksum listed", list: func() []listed {
				return []listed{{1, "<ChecksumCRC32>" + crc(p1) + "</ChecksumCRC32>"}, {2, ""}}
			}, code: "InvalidPart"},
			// ceph/s3-tests test_multipart_checksum_sha256: a malformed object checksum is BadDigest before the
			// parts' checksums are looked at.
			{name: "a malformed object checksum and no part checksums", alg: types.ChecksumAlgorithmSha256,
				header: http.Header{"X-Amz-Checksum-Sha256": {"bad"}}, list: func() []listed { return []listed{{1, ""}, {2, ""}} }, code: "BadDigest"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := fmt.Sprint("complete", i)
				id := create(t, key, tc.alg, tc.typ)
				numbers := tc.numbers
				if numbers == nil {
					numbers = []int{1, 2}
				}
				etags := map[int]string{}
				for j, body := range [][]byte{p1, p2} {
					h := http.Header{}
					switch tc.alg {
					case types.ChecksumAlgorithmSha256:
						h.Set("X-Amz-Checksum-Sha256", sha(body))
					case types.ChecksumAlgorithmCrc32:
						h.Set("X-Amz-Checksum-Crc32", crc(body))
					}
					resp, out := putPart(t, key, id, numbers[j], body, h)
					if resp.StatusCode != 200 {
						t.Fatalf("part %d: %d %s", numbers[j], resp.StatusCode, out)
					}
					etags[numbers[j]] = resp.Header.Get("ETag")
				}
				var doc strings.Builder
				doc.WriteString("<CompleteMultipartUpload>")
				for _, p := range tc.list() {
					fmt.Fprintf(&doc, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag>%s</Part>", p.n, etags[p.n], p.checksums)
				}
				doc.WriteString("</CompleteMultipartUpload>")
				resp, body := e.raw(t, "POST", "/bkt/"+key+"?uploadId="+id, tc.header, doc.String())
				if tc.code == "" {
					if resp.StatusCode != 200 || !strings.Contains(body, "<CompleteMultipartUploadResult") {
						t.Fatalf("%d %s", resp.StatusCode, body)
					}
					return
				}
				if resp.StatusCode != 400 || !strings.Contains(body, "<Code>"+tc.code+"</Code>") || !strings.Contains(body, tc.message) {
					t.Fatalf("%d %s, want 400 %s %q", resp.StatusCode, body, tc.code, tc.message)
				}
				if _, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String(key), UploadId: aws.String(id)}); err != nil {
					t.Errorf("upload after a refused Complete: %v", err)
				}
			})
		}
	})
}

// binaryCRC is the big-endian CRC32 (IEEE) of b, as S3's checksum headers carry it before base64.
func binaryCRC(b []byte) []byte {
	v := crc32.ChecksumIEEE(b)
	return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

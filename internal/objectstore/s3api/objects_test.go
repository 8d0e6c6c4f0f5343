package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/berth/berth/internal/objectstore"
)

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed + byte(i>>16)
	}
	return b
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func mustCreate(t *testing.T, c *s3.Client, bucket string) {
	t.Helper()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
}

func getBody(t *testing.T, out *s3.GetObjectOutput, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPutGetHead(t *testing.T) {
	for _, style := range []struct {
		name string
		path bool
	}{{"path style", true}, {"virtual-host style", false}} {
		t.Run(style.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			c := e.client(aliceKey, aliceSecret, style.path)
			mustCreate(t, c, "media")
			for _, size := range []int{0, 10, 100 << 10, 3<<20 + 1} {
				data := pattern(size, byte(size))
				key := "dir/a b+c ü/" + itoa(size) + ".bin"
				expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
				put, err := c.PutObject(ctx, &s3.PutObjectInput{
					Bucket: aws.String("media"), Key: aws.String(key), Body: bytes.NewReader(data),
					ContentType: aws.String("video/mp4"), ContentEncoding: aws.String("identity"), ContentDisposition: aws.String("attachment"),
					ContentLanguage: aws.String("fr"), CacheControl: aws.String("max-age=60"), Expires: &expires,
					Metadata: map[string]string{"Color": "blue", "camera": "x100"},
				})
				if err != nil {
					t.Fatal(err)
				}
				if aws.ToString(put.ETag) != `"`+md5hex(data)+`"` || put.VersionId != nil {
					t.Fatalf("put: etag %s version %v", aws.ToString(put.ETag), put.VersionId)
				}
				out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("media"), Key: aws.String(key)})
				got := getBody(t, out, err)
				if !bytes.Equal(got, data) {
					t.Fatalf("%d bytes: read %d", size, len(got))
				}
				if aws.ToString(out.ContentType) != "video/mp4" || aws.ToString(out.ContentDisposition) != "attachment" ||
					aws.ToString(out.ContentLanguage) != "fr" || aws.ToString(out.CacheControl) != "max-age=60" ||
					aws.ToString(out.ContentEncoding) != "identity" || aws.ToString(out.ExpiresString) != "Wed, 02 Jan 2030 03:04:05 GMT" {
					t.Errorf("headers %+v", out)
				}
				if out.Metadata["color"] != "blue" || out.Metadata["camera"] != "x100" || aws.ToInt64(out.ContentLength) != int64(size) {
					t.Errorf("metadata %v length %d", out.Metadata, aws.ToInt64(out.ContentLength))
				}
				head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("media"), Key: aws.String(key)})
				if err != nil || aws.ToInt64(head.ContentLength) != int64(size) || aws.ToString(head.ETag) != aws.ToString(put.ETag) ||
					head.LastModified == nil || head.AcceptRanges == nil {
					t.Errorf("head %+v %v", head, err)
				}
			}
			if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("media"), Key: aws.String("absent")}); apiCode(err) != "NoSuchKey" {
				t.Errorf("missing key: %v", err)
			}
			if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("media"), Key: aws.String("absent")}); httpStatus(err) != 404 {
				t.Errorf("head missing key: %v", err)
			}
		})
	}
}

func TestDefaultContentTypeAndOverrides(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	resp, _ := e.raw(t, "PUT", "/bkt/plain", nil, "data")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("plain"),
		ResponseContentType: aws.String("text/csv"), ResponseContentDisposition: aws.String("inline")})
	getBody(t, out, err)
	if aws.ToString(out.ContentType) != "text/csv" || aws.ToString(out.ContentDisposition) != "inline" {
		t.Errorf("overrides: %q %q", aws.ToString(out.ContentType), aws.ToString(out.ContentDisposition))
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("plain")})
	if err != nil || aws.ToString(head.ContentType) != "binary/octet-stream" {
		t.Errorf("default type %q %v", aws.ToString(head.ContentType), err)
	}
}

func TestRanges(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	data := pattern(200<<10, 3)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	n := int64(len(data))
	tests := []struct {
		header     string
		status     int
		start, end int64
	}{
		{header: "bytes=0-0", status: 206, start: 0, end: 0},
		{header: "bytes=100-65636", status: 206, start: 100, end: 65636},
		{header: "bytes=-10", status: 206, start: n - 10, end: n - 1},
		{header: "bytes=204000-", status: 206, start: 204000, end: n - 1},
		{header: "bytes=0-999999999", status: 206, start: 0, end: n - 1},
		{header: "bytes=1-2,5-6", status: 200, start: 0, end: n - 1}, // several ranges: the whole object
		{header: "bytes=5-1", status: 200, start: 0, end: n - 1},     // not a valid range: ignored
		{header: "items=1-2", status: 200, start: 0, end: n - 1},
		{header: "bytes=" + itoa(int(n)) + "-", status: 416},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			resp, body := e.raw(t, "GET", "/bkt/k", http.Header{"Range": {tc.header}}, "")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == 416 {
				if !strings.Contains(body, "<Code>InvalidRange</Code>") || !strings.Contains(body, "<ActualObjectSize>"+itoa(int(n))+"</ActualObjectSize>") {
					t.Errorf("body %s", body)
				}
				return
			}
			if body != string(data[tc.start:tc.end+1]) {
				t.Errorf("got %d bytes, want [%d,%d]", len(body), tc.start, tc.end)
			}
			if tc.status == 206 {
				want := "bytes " + itoa(int(tc.start)) + "-" + itoa(int(tc.end)) + "/" + itoa(int(n))
				if cr := resp.Header.Get("Content-Range"); cr != want {
					t.Errorf("Content-Range %q, want %q", cr, want)
				}
			}
		})
	}
	// Through the SDK as well.
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Range: aws.String("bytes=10-19")})
	if got := getBody(t, out, err); !bytes.Equal(got, data[10:20]) || aws.ToString(out.ContentRange) != "bytes 10-19/"+itoa(int(n)) {
		t.Errorf("sdk range: %d bytes, %q", len(got), aws.ToString(out.ContentRange))
	}
}

func TestConditionalRequests(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("v1")})
	if err != nil {
		t.Fatal(err)
	}
	etag := aws.ToString(put.ETag)
	past, future := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	tests := []struct {
		name   string
		header http.Header
		status int
	}{
		{name: "if-match", header: http.Header{"If-Match": {etag}}, status: 200},
		{name: "if-match fails", header: http.Header{"If-Match": {`"nope"`}}, status: 412},
		{name: "if-none-match", header: http.Header{"If-None-Match": {etag}}, status: 304},
		{name: "if-modified-since past", header: http.Header{"If-Modified-Since": {past}}, status: 200},
		{name: "if-modified-since future", header: http.Header{"If-Modified-Since": {future}}, status: 304},
		{name: "if-unmodified-since past", header: http.Header{"If-Unmodified-Since": {past}}, status: 412},
		{name: "if-match beats unmodified-since", header: http.Header{"If-Match": {etag}, "If-Unmodified-Since": {past}}, status: 200},
		{name: "if-none-match beats modified-since", header: http.Header{"If-None-Match": {etag}, "If-Modified-Since": {past}}, status: 304},
	}
	for _, tc := range tests {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(tc.name+" "+method, func(t *testing.T) {
				resp, body := e.raw(t, method, "/bkt/k", tc.header, "")
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
				switch tc.status {
				case 304:
					if body != "" || resp.Header.Get("ETag") != etag {
						t.Errorf("304: body %q etag %q", body, resp.Header.Get("ETag"))
					}
				case 412:
					if method == "GET" && !strings.Contains(body, "<Code>PreconditionFailed</Code>") {
						t.Errorf("412 body %s", body)
					}
				}
			})
		}
	}
	// Conditional writes.
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("v2"), IfNoneMatch: aws.String("*")}); apiCode(err) != "PreconditionFailed" {
		t.Errorf("If-None-Match * on existing: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("new"), Body: strings.NewReader("v"), IfNoneMatch: aws.String("*")}); err != nil {
		t.Errorf("If-None-Match * on a new key: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("v2"), IfMatch: aws.String(`"abc"`)}); apiCode(err) != "PreconditionFailed" {
		t.Errorf("If-Match mismatch: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: strings.NewReader("v2"), IfMatch: aws.String(etag)}); err != nil {
		t.Errorf("If-Match: %v", err)
	}
}

func TestIntegrityHeaders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	data := []byte("checked content")
	sum := md5.Sum(data)
	tests := []struct {
		name   string
		header http.Header
		status int
		code   string
	}{
		{name: "content-md5", header: http.Header{"Content-Md5": {base64.StdEncoding.EncodeToString(sum[:])}}, status: 200},
		{name: "wrong content-md5", header: http.Header{"Content-Md5": {base64.StdEncoding.EncodeToString(make([]byte, 16))}}, status: 400, code: "BadDigest"},
		{name: "malformed content-md5", header: http.Header{"Content-Md5": {"xyz"}}, status: 400, code: "InvalidDigest"},
		{name: "wrong crc32", header: http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}}, status: 400, code: "BadDigest"},
		{name: "two checksums", header: http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}, "X-Amz-Checksum-Sha1": {"AAAAAAAAAAAAAAAAAAAAAAAAAAA="}}, status: 400, code: "InvalidRequest"},
		{name: "storage class", header: http.Header{"X-Amz-Storage-Class": {"GLACIER"}}, status: 400, code: "InvalidStorageClass"},
		{name: "server-side encryption", header: http.Header{"X-Amz-Server-Side-Encryption": {"AES256"}}, status: 501, code: "NotImplemented"},
		{name: "metadata too large", header: http.Header{"X-Amz-Meta-Big": {strings.Repeat("x", 2100)}}, status: 400, code: "MetadataTooLarge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(t, "PUT", "/bkt/"+strings.ReplaceAll(tc.name, " ", "-"), tc.header, string(data))
			if resp.StatusCode != tc.status || (tc.code != "" && !strings.Contains(body, "<Code>"+tc.code+"</Code>")) {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
		})
	}
	// The SDK's own checksums: sent, verified, stored and returned in checksum mode.
	for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256, types.ChecksumAlgorithmCrc64nvme} {
		t.Run("sdk "+string(alg), func(t *testing.T) {
			key := "sum-" + string(alg)
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key), Body: bytes.NewReader(data), ChecksumAlgorithm: alg}); err != nil {
				t.Fatal(err)
			}
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			getBody(t, out, err)
			got := aws.ToString(out.ChecksumCRC32) + aws.ToString(out.ChecksumCRC32C) + aws.ToString(out.ChecksumSHA1) + aws.ToString(out.ChecksumSHA256) + aws.ToString(out.ChecksumCRC64NVME)
			if got == "" || out.ChecksumType != types.ChecksumTypeFullObject {
				t.Errorf("checksum %q type %q", got, out.ChecksumType)
			}
			if alg == types.ChecksumAlgorithmCrc32 {
				want := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data)))
				if got != want {
					t.Errorf("crc32 %s, want %s", got, want)
				}
			}
		})
	}
}

// TestTLSTrailingChecksum: over TLS the SDK sends an unsigned aws-chunked body with the CRC32 in a trailer, as the
// aws CLI does; the object store checks it against the content after reading the body.
func TestTLSTrailingChecksum(t *testing.T) {
	e := newEnvWith(t, true)
	ctx := context.Background()
	c := e.client(aliceKey, aliceSecret, true)
	mustCreate(t, c, "bkt")
	data := pattern(300<<10, 9)
	// An io.Reader that is not seekable makes the SDK stream with a trailer.
	out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: io.MultiReader(bytes.NewReader(data)),
		ContentLength: aws.Int64(int64(len(data))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32, ContentEncoding: aws.String("gzip")})
	if err != nil {
		t.Fatal(err)
	}
	want := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data)))
	if aws.ToString(out.ChecksumCRC32) != want {
		t.Errorf("put returned checksum %q, want %q", aws.ToString(out.ChecksumCRC32), want)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if b := getBody(t, got, err); !bytes.Equal(b, data) || aws.ToString(got.ChecksumCRC32) != want {
		t.Errorf("read %d bytes, checksum %q", len(b), aws.ToString(got.ChecksumCRC32))
	}
	// aws-chunked is the framing, not the object's encoding.
	if aws.ToString(got.ContentEncoding) != "gzip" {
		t.Errorf("content encoding %q", aws.ToString(got.ContentEncoding))
	}
}

// TestCorruption: a corrupt block is never sent. When it is the first block of the response, the client gets a
// 500 InternalError; later in the body, the response is cut short, which every client reports as an error.
func TestCorruption(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	data := pattern(3<<20, 1)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(e.dir, "content", "blobs", "sha256", "*"))
	if len(files) != 1 {
		t.Fatalf("blob files %v", files)
	}
	bad := int64(5 << 19) // 2.5 MiB
	os.Chmod(files[0], 0o644)
	f, err := os.OpenFile(files[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{data[bad] ^ 0xff}, bad)
	f.Close()

	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err == nil || int64(len(got)) > bad || !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("whole object: read %d bytes, err %v", len(got), err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Range: aws.String("bytes=2621000-2700000")})
	if apiCode(err) != "InternalError" || httpStatus(err) != 500 {
		t.Fatalf("range over the bad block: %v", err)
	}
	out, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("k"), Range: aws.String("bytes=0-1000")})
	if b := getBody(t, out, err); !bytes.Equal(b, data[:1001]) {
		t.Fatalf("clean range: %d bytes", len(b))
	}
}

func TestDeleteObjects(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	for _, k := range []string{"a", "b", "c"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("bkt"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("a")}, {Key: aws.String("missing")}, {Key: aws.String("b"), VersionId: aws.String("not-a-version")},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Deleted) != 2 || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Key) != "b" || aws.ToString(out.Errors[0].Code) != "NoSuchVersion" {
		t.Fatalf("deleted %+v errors %+v", out.Deleted, out.Errors)
	}
	out, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("bkt"), Delete: &types.Delete{Quiet: aws.Bool(true), Objects: []types.ObjectIdentifier{{Key: aws.String("c")}}}})
	if err != nil || len(out.Deleted) != 0 || len(out.Errors) != 0 {
		t.Fatalf("quiet: %+v %v", out, err)
	}
	list, _ := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bkt")})
	if len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "b" {
		t.Fatalf("left %+v", list.Contents)
	}
	// Without Content-MD5 or a checksum, S3 refuses a multi-object delete.
	resp, body := e.raw(t, "POST", "/bkt?delete", nil, `<Delete><Object><Key>b</Key></Object></Delete>`)
	if resp.StatusCode != 400 || !strings.Contains(body, "<Code>InvalidRequest</Code>") {
		t.Fatalf("no checksum: %d %s", resp.StatusCode, body)
	}
	doc := `<Delete><Object><Key>b</Key></Object></Delete>`
	sum := md5.Sum([]byte(doc))
	resp, body = e.raw(t, "POST", "/bkt?delete", http.Header{"Content-Md5": {base64.StdEncoding.EncodeToString(sum[:])}}, doc+" ")
	if resp.StatusCode != 400 || !strings.Contains(body, "<Code>BadDigest</Code>") {
		t.Fatalf("wrong md5: %d %s", resp.StatusCode, body)
	}
	resp, body = e.raw(t, "POST", "/bkt?delete", http.Header{"Content-Md5": {base64.StdEncoding.EncodeToString(sum[:])}}, doc)
	if resp.StatusCode != 200 || !strings.Contains(body, "<Deleted><Key>b</Key></Deleted>") || !strings.Contains(body, `xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`) {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
}

func TestCopyObject(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "src")
	mustCreate(t, c, "dst")
	data := pattern(100<<10, 2)
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("dir/orig.bin"), Body: bytes.NewReader(data),
		ContentType: aws.String("image/png"), Metadata: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   s3.CopyObjectInput
		code string
		ct   string
		meta string
	}{
		{name: "copy", in: s3.CopyObjectInput{Key: aws.String("copy"), CopySource: aws.String("src/dir/orig.bin")}, ct: "image/png", meta: "1"},
		{name: "encoded source", in: s3.CopyObjectInput{Key: aws.String("copy2"), CopySource: aws.String("/src/dir%2Forig.bin")}, ct: "image/png", meta: "1"},
		{name: "replace", in: s3.CopyObjectInput{Key: aws.String("copy3"), CopySource: aws.String("src/dir/orig.bin"), MetadataDirective: types.MetadataDirectiveReplace,
			ContentType: aws.String("text/plain"), Metadata: map[string]string{"b": "2"}}, ct: "text/plain"},
		{name: "if-match", in: s3.CopyObjectInput{Key: aws.String("copy4"), CopySource: aws.String("src/dir/orig.bin"), CopySourceIfMatch: put.ETag}, ct: "image/png", meta: "1"},
		{name: "if-match fails", in: s3.CopyObjectInput{Key: aws.String("copy5"), CopySource: aws.String("src/dir/orig.bin"), CopySourceIfMatch: aws.String(`"x"`)}, code: "PreconditionFailed"},
		{name: "if-none-match fails", in: s3.CopyObjectInput{Key: aws.String("copy5"), CopySource: aws.String("src/dir/orig.bin"), CopySourceIfNoneMatch: put.ETag}, code: "PreconditionFailed"},
		{name: "missing source", in: s3.CopyObjectInput{Key: aws.String("copy5"), CopySource: aws.String("src/nope")}, code: "NoSuchKey"},
		{name: "missing source bucket", in: s3.CopyObjectInput{Key: aws.String("copy5"), CopySource: aws.String("nope/k")}, code: "NoSuchBucket"},
		{name: "bad directive", in: s3.CopyObjectInput{Key: aws.String("copy5"), CopySource: aws.String("src/dir/orig.bin"), MetadataDirective: "MERGE"}, code: "InvalidArgument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Bucket = aws.String("dst")
			out, err := c.CopyObject(ctx, &in)
			if apiCode(err) != tc.code {
				t.Fatalf("err %v, want %q", err, tc.code)
			}
			if tc.code != "" {
				return
			}
			if aws.ToString(out.CopyObjectResult.ETag) != aws.ToString(put.ETag) || out.CopyObjectResult.LastModified == nil {
				t.Errorf("result %+v", out.CopyObjectResult)
			}
			got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("dst"), Key: in.Key})
			if b := getBody(t, got, err); !bytes.Equal(b, data) {
				t.Fatalf("copy holds %d bytes", len(b))
			}
			if aws.ToString(got.ContentType) != tc.ct || got.Metadata["a"] != tc.meta {
				t.Errorf("content type %q metadata %v", aws.ToString(got.ContentType), got.Metadata)
			}
		})
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("dir/orig.bin"), CopySource: aws.String("src/dir/orig.bin")}); apiCode(err) != "InvalidRequest" {
		t.Errorf("copy onto itself: %v", err)
	}
	// Another account can neither read the source nor write the target.
	bob := e.bob()
	mustCreate(t, bob, "bobs")
	if _, err := bob.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("bobs"), Key: aws.String("stolen"), CopySource: aws.String("src/dir/orig.bin")}); apiCode(err) != "AccessDenied" {
		t.Errorf("bob copies alice's object: %v", err)
	}
}

func TestAccessDenied(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.alice()
	mustCreate(t, alice, "private")
	if _, err := alice.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("private"), Key: aws.String("k"), Body: strings.NewReader("secret")}); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*s3.Client{"other account": e.bob(), "anonymous": e.anon()} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("k")}); apiCode(err) != "AccessDenied" || httpStatus(err) != 403 {
				t.Errorf("get: %v", err)
			}
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("private"), Key: aws.String("k"), Body: strings.NewReader("x")}); apiCode(err) != "AccessDenied" {
				t.Errorf("put: %v", err)
			}
			if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("private")}); apiCode(err) != "AccessDenied" {
				t.Errorf("list: %v", err)
			}
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("private"), Key: aws.String("k")}); apiCode(err) != "AccessDenied" {
				t.Errorf("delete: %v", err)
			}
			// A bucket that does not exist is NoSuchBucket for anyone.
			if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nonexistent"), Key: aws.String("k")}); apiCode(err) != "NoSuchBucket" {
				t.Errorf("missing bucket: %v", err)
			}
		})
	}
	if _, err := alice.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("k"), ExpectedBucketOwner: aws.String("999999999999")}); apiCode(err) != "AccessDenied" {
		t.Errorf("expected bucket owner: %v", err)
	}
	out, err := alice.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("k"), ExpectedBucketOwner: aws.String(e.aliceOwner.AccountID)})
	if b := getBody(t, out, err); string(b) != "secret" {
		t.Errorf("object changed: %q", b)
	}
}

// TestInterruptedUpload: a client that goes away mid-body leaves nothing behind: no object, no data.
func TestInterruptedUpload(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	for _, size := range []int{10 << 10, 3 << 20} { // inline and blob
		req, err := http.NewRequest("PUT", e.srv.URL+"/bkt/cut", io.LimitReader(bytes.NewReader(pattern(size, 1)), int64(size/2)))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = int64(size)
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: aliceKey, SecretAccessKey: aliceSecret}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", nowUTC()); err != nil {
			t.Fatal(err)
		}
		for len(e.closed) > 0 {
			<-e.closed
		}
		conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		req.Write(conn) // fails once the body runs out, half-way
		conn.Close()
		// The server answers nothing to a client that is gone; it closes the connection once its handler gave up.
		<-e.closed
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("cut")}); httpStatus(err) != 404 {
			t.Errorf("%d bytes cut short: head %v", size, err)
		}
		if left, _ := filepath.Glob(filepath.Join(e.dir, "content", "*", "*", "*")); len(left) != 0 {
			t.Errorf("%d bytes cut short: data left %v", size, left)
		}
		if left, _ := filepath.Glob(filepath.Join(e.dir, "content", "ingest", "*")); len(left) != 0 {
			t.Errorf("%d bytes cut short: ingest files left %v", size, left)
		}
	}
}

// TestContentEncodingStored: aws-chunked names how a request's body was framed, never the object, so S3 drops it
// from the Content-Encoding it stores, whether or not the body was actually aws-chunked (ceph/s3-tests
// test_object_content_encoding_aws_chunked).
func TestContentEncodingStored(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	for _, tc := range []struct {
		name, sent, want string
	}{
		{name: "gzip", sent: "gzip", want: "gzip"},
		{name: "a list", sent: "deflate, gzip", want: "deflate, gzip"},
		{name: "a list without spaces", sent: "deflate,gzip", want: "deflate,gzip"},
		{name: "aws-chunked last", sent: "gzip, aws-chunked", want: "gzip"},
		{name: "aws-chunked first", sent: "aws-chunked, gzip", want: "gzip"},
		{name: "aws-chunked between", sent: "br,aws-chunked,gzip", want: "br, gzip"},
		{name: "aws-chunked alone", sent: "aws-chunked", want: ""},
		{name: "aws-chunked twice", sent: "aws-chunked, aws-chunked", want: ""},
		{name: "aws-chunked in capitals", sent: "AWS-Chunked, gzip", want: "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.raw(t, "PUT", "/bkt/enc", http.Header{"Content-Encoding": {tc.sent}}, "plain body")
			if resp.StatusCode != 200 {
				t.Fatalf("PUT: %d %s", resp.StatusCode, body)
			}
			head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String("enc")})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(head.ContentEncoding); got != tc.want {
				t.Errorf("Content-Encoding %q, want %q", got, tc.want)
			}
		})
	}
}

// TestConditionalDeletes: DeleteObject's If-Match (an ETag or "*"), x-amz-if-match-last-modified-time and
// x-amz-if-match-size, and DeleteObjects' per-object ETag, LastModifiedTime and Size, as S3 answers them: a
// condition that does not hold is 412 PreconditionFailed (a PreconditionFailed entry in DeleteObjects) and the
// object stays; If-Match on a key with no object is 404 NoSuchKey (ceph/s3-tests test_delete_object*_if_match*,
// test_delete_objects*_if_match*, which expect RGW's 204 there). If-Match with an ETag also needs s3:GetObject.
func TestConditionalDeletes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	putK := func(t *testing.T, key string) *s3.HeadObjectOutput {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key), Body: strings.NewReader("content")}); err != nil {
			t.Fatal(err)
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		return head
	}
	exists := func(key string) bool {
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
		return err == nil
	}
	t.Run("DeleteObject", func(t *testing.T) {
		for i, tc := range []struct {
			name   string
			absent bool
			in     func(head *s3.HeadObjectOutput) *s3.DeleteObjectInput
			code   string
			status int
		}{
			{name: "etag matches", in: func(h *s3.HeadObjectOutput) *s3.DeleteObjectInput { return &s3.DeleteObjectInput{IfMatch: h.ETag} }},
			{name: "any etag", in: func(h *s3.HeadObjectOutput) *s3.DeleteObjectInput {
				return &s3.DeleteObjectInput{IfMatch: aws.String("*")}
			}},
			{name: "etag differs", code: "PreconditionFailed", status: 412,
				in: func(h *s3.HeadObjectOutput) *s3.DeleteObjectInput {
					return &s3.DeleteObjectInput{IfMatch: aws.String(`"badetag"`)}
				}},
			{name: "no object", absent: true, code: "NoSuchKey", status: 404,
				in: func(h *s3.HeadObjectOutput) *s3.DeleteObjectInput {
					return &s3.DeleteObjectInput{IfMatch: aws.String("*")}
				}},
			{name: "modified time matches", in: func(h *s3.HeadObjectOutput) *s3.DeleteObjectInput {
				return &s3.DeleteObjectInput{IfMatchLastModifiedTime: h.LastModified}
			}},
			{name: "modified time differs", code: "PreconditionFailed", status: 412, in: func(h *s3.HeadObjectOutput) *s3.DeleteObjectInput {
				return &s3.DeleteObjectInput{IfMatchLastModifiedTime: aws.Time(time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC))}
			}},
			{name: "modified time, no object", absent: true, in: func(h *s3.HeadObjectOutput) *s3.DeleteObjectInput {
				return &s3.DeleteObjectInput{IfMatchLastModifiedTime: aws.Time(time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC))}
			}},
			{name: "size matches", in: func(h *s3.HeadObjectOutput) *s3.DeleteObjectInput {
				return &s3.DeleteObjectInput{IfMatchSize: h.ContentLength}
			}},
			{name: "size differs", code: "PreconditionFailed", status: 412,
				in: func(h *s3.HeadObjectOutput) *s3.DeleteObjectInput {
					return &s3.DeleteObjectInput{IfMatchSize: aws.Int64(9999)}
				}},
			{name: "size, no object", absent: true,
				in: func(h *s3.HeadObjectOutput) *s3.DeleteObjectInput {
					return &s3.DeleteObjectInput{IfMatchSize: aws.Int64(9999)}
				}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := fmt.Sprint("one", i)
				head := &s3.HeadObjectOutput{}
				if !tc.absent {
					head = putK(t, key)
				}
				in := tc.in(head)
				in.Bucket, in.Key = aws.String("bkt"), aws.String(key)
				_, err := c.DeleteObject(ctx, in)
				if apiCode(err) != tc.code && !(tc.code == "" && err == nil) || tc.code != "" && httpStatus(err) != tc.status {
					t.Fatalf("delete: %v, want %q %d", err, tc.code, tc.status)
				}
				if want := tc.code == "PreconditionFailed"; exists(key) != want {
					t.Errorf("object there: %v, want %v", !want, want)
				}
			})
		}
	})
	t.Run("malformed", func(t *testing.T) {
		putK(t, "bad")
		for _, h := range []http.Header{{"X-Amz-If-Match-Size": {"big"}}, {"X-Amz-If-Match-Last-Modified-Time": {"yesterday"}}} {
			resp, body := e.raw(t, "DELETE", "/bkt/bad", h, "")
			if resp.StatusCode != 400 || !strings.Contains(body, "<Code>InvalidArgument</Code>") {
				t.Errorf("%v: %d %s", h, resp.StatusCode, body)
			}
		}
		if !exists("bad") {
			t.Error("a refused delete deleted")
		}
	})
	t.Run("DeleteObjects", func(t *testing.T) {
		heads := map[string]*s3.HeadObjectOutput{}
		for _, k := range []string{"m1", "m2", "m3", "m4", "m5", "m6"} {
			heads[k] = putK(t, k)
		}
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("bkt"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
			{Key: aws.String("m1"), ETag: heads["m1"].ETag},
			{Key: aws.String("m2"), ETag: aws.String("badetag")},
			{Key: aws.String("m3"), LastModifiedTime: heads["m3"].LastModified},
			{Key: aws.String("m4"), LastModifiedTime: aws.Time(time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC))},
			{Key: aws.String("m5"), Size: heads["m5"].ContentLength},
			{Key: aws.String("m6"), Size: aws.Int64(9999)},
			{Key: aws.String("m7"), ETag: aws.String("*")},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		var deleted []string
		for _, d := range out.Deleted {
			deleted = append(deleted, aws.ToString(d.Key))
		}
		errs := map[string]string{}
		for _, e := range out.Errors {
			errs[aws.ToString(e.Key)] = aws.ToString(e.Code)
		}
		slices.Sort(deleted)
		if !slices.Equal(deleted, []string{"m1", "m3", "m5"}) {
			t.Errorf("deleted %q", deleted)
		}
		if want := map[string]string{"m2": "PreconditionFailed", "m4": "PreconditionFailed", "m6": "PreconditionFailed", "m7": "NoSuchKey"}; !maps.Equal(errs, want) {
			t.Errorf("errors %v, want %v", errs, want)
		}
		for _, k := range []string{"m2", "m4", "m6"} {
			if !exists(k) {
				t.Errorf("%s was deleted", k)
			}
		}
	})
	t.Run("If-Match with an ETag needs s3:GetObject", func(t *testing.T) {
		mustCreate(t, c, "delonly")
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("delonly"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		bobAccount := strings.TrimPrefix(strings.TrimSuffix(e.callerARN(t, e.bobKey, ""), ":root"), "arn:aws:iam::")
		doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + bobAccount + `"},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::delonly/*"}]}`
		if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("delonly"), Policy: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
		bob := e.bob()
		_, err := bob.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("delonly"), Key: aws.String("k"), IfMatch: aws.String(`"` + md5hex([]byte("x")) + `"`)})
		wantCode(t, "If-Match ETag without s3:GetObject", err, "AccessDenied")
		out, err := bob.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("delonly"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
			{Key: aws.String("k"), ETag: aws.String(md5hex([]byte("x")))}}}})
		if err != nil || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "AccessDenied" {
			t.Errorf("DeleteObjects with an ETag without s3:GetObject: %+v %v", out, err)
		}
		if _, err := bob.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("delonly"), Key: aws.String("k"), IfMatch: aws.String("*")}); err != nil {
			t.Errorf("If-Match * with s3:DeleteObject: %v", err)
		}
	})
}

// TestMetadataNamesOnTheWire: user metadata names go out in lower case, as S3 sends them, whatever case they were
// written in: botocore keeps the case it reads, so "X-Amz-Meta-Key2" would reach boto3 users as "Key2" where S3
// gives "key2" (ceph/s3-tests test_object_set_get_metadata_*, test_object_copy_*_metadata). Go's client
// canonicalises the names it reads, so the response head is read raw.
func TestMetadataNamesOnTheWire(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("put"), Body: strings.NewReader("x"),
		Metadata: map[string]string{"Key2": "v2", "mixed-Case": "v3"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("bkt"), Key: aws.String("copy"), CopySource: aws.String("bkt/put"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"Key2": "v2", "mixed-Case": "v3"}}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"put", "copy"} {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(method+" "+key, func(t *testing.T) {
				head := e.rawHead(t, method, "/bkt/"+key)
				for _, want := range []string{"\r\nx-amz-meta-key2: v2\r\n", "\r\nx-amz-meta-mixed-case: v3\r\n"} {
					if !strings.Contains(head, want) {
						t.Errorf("no %q in\n%s", strings.TrimSpace(want), head)
					}
				}
			})
		}
	}
}

// rawHead sends a request signed as alice over a plain connection and returns the response's status line and
// headers exactly as the server wrote them.
func (e *env) rawHead(t *testing.T, method, path string) string {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: aliceKey, SecretAccessKey: aliceSecret}, req,
		"UNSIGNED-PAYLOAD", "s3", "us-east-1", nowUTC()); err != nil {
		t.Fatal(err)
	}
	req.Close = true
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	head, _, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok {
		t.Fatalf("no response head in %q", b)
	}
	return head + "\r\n"
}

// TestNonASCIIMetadata: user metadata beyond US-ASCII round-trips as S3 makes it: an RFC 2047 encoded-word a
// client sends (boto3 refuses raw non-ASCII metadata, so that is how its users send it) is decoded and stored as
// the text it names, and any value beyond US-ASCII goes out as a UTF-8 B encoded-word; raw bytes are read as
// ISO-8859-1, as S3 reads them (its documentation's example returns such a value as mojibake). ASCII values, and
// text that only looks like an encoded-word, are kept as sent.
func TestNonASCIIMetadata(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mustCreate(t, e.alice(), "bkt")
	for i, tc := range []struct {
		name   string
		sent   string
		stored string // what the engine keeps
		wire   string // what GET and HEAD send
	}{
		{name: "B encoded-word", sent: "=?UTF-8?B?Y2Fmw6k=?=", stored: "café", wire: "=?UTF-8?B?Y2Fmw6k=?="},
		{name: "Q encoded-word", sent: "=?utf-8?q?caf=C3=A9?=", stored: "café", wire: "=?UTF-8?B?Y2Fmw6k=?="},
		{name: "encoded-word among text", sent: "name: =?UTF-8?B?5Lit5paH?= (zh)", stored: "name: 中文 (zh)", wire: "=?UTF-8?B?bmFtZTog5Lit5paHICh6aCk=?="},
		{name: "raw UTF-8 bytes", sent: "café", stored: "cafÃ©", wire: "=?UTF-8?B?Y2Fmw4PCqQ==?="},
		{name: "ASCII", sent: "plain value", stored: "plain value", wire: "plain value"},
		{name: "not an encoded-word", sent: "=?x", stored: "=?x", wire: "=?x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprint("k", i)
			resp, body := e.raw(t, "PUT", "/bkt/"+key, http.Header{"X-Amz-Meta-Note": {tc.sent}}, "x")
			if resp.StatusCode != 200 {
				t.Fatalf("PUT: %d %s", resp.StatusCode, body)
			}
			info, err := e.store.StatObject(ctx, "bkt", key, objectstore.GetOptions{})
			if err != nil || info.Metadata.User["note"] != tc.stored {
				t.Fatalf("stored %q, %v; want %q", info.Metadata.User["note"], err, tc.stored)
			}
			for _, method := range []string{"GET", "HEAD"} {
				head := e.rawHead(t, method, "/bkt/"+key)
				if want := "\r\nx-amz-meta-note: " + tc.wire + "\r\n"; !strings.Contains(head, want) {
					t.Errorf("%s: no %q in\n%s", method, strings.TrimSpace(want), head)
				}
			}
			// Go's client reads the header as sent; decoding the encoded-word gives the text stored.
			out, err := e.alice().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := new(mime.WordDecoder).DecodeHeader(out.Metadata["note"]); err != nil || got != tc.stored {
				t.Errorf("decoded %q, %v; want %q", got, err, tc.stored)
			}
		})
	}
}

// signedPayloadRequest sends a request signed as alice for a payload whose SHA-256 is signed's, with body as the
// payload actually sent (the same length: what a corrupting proxy would deliver).
func (e *env) signedPayloadRequest(t *testing.T, method, path string, signed, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(signed)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: aliceKey, SecretAccessKey: aliceSecret}, req,
		payload, "s3", "us-east-1", nowUTC()); err != nil {
		t.Fatal(err)
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestSignedPayloadChecked: a body whose SHA-256 is not the one the request's signature covers is refused with
// S3's XAmzContentSHA256Mismatch (both digests named) and stores nothing, for a small object (kept in the index),
// a large one and a part; the body that matches is stored. The store checks it itself (the blob's SHA-256 is the
// same pass), so this holds only if that check is as strict as the endpoint's.
func TestSignedPayloadChecked(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.alice()
	mustCreate(t, c, "bkt")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		size       int
	}{
		{name: "small object", path: "/bkt/small", size: 1000},
		{name: "large object", path: "/bkt/large", size: 3<<20 + 7},
		{name: "part", path: "/bkt/mp?partNumber=1&uploadId=" + aws.ToString(up.UploadId), size: 2 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good := pattern(tc.size, 3)
			bad := bytes.Clone(good)
			bad[len(bad)/2] ^= 0xff
			blobs := e.blobFiles(t)
			resp, body := e.signedPayloadRequest(t, "PUT", tc.path, good, bad)
			goodSum, badSum := sha256.Sum256(good), sha256.Sum256(bad)
			if resp.StatusCode != 400 || !strings.Contains(body, "<Code>XAmzContentSHA256Mismatch</Code>") ||
				!strings.Contains(body, "<ClientComputedContentSHA256>"+hex.EncodeToString(goodSum[:])+"</ClientComputedContentSHA256>") ||
				!strings.Contains(body, "<S3ComputedContentSHA256>"+hex.EncodeToString(badSum[:])+"</S3ComputedContentSHA256>") {
				t.Fatalf("tampered body: %d %s", resp.StatusCode, body)
			}
			if n := e.blobFiles(t); n != blobs {
				t.Errorf("%d blob files after the refused body, %d before", n, blobs)
			}
			if strings.Contains(tc.path, "uploadId") {
				parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("bkt"), Key: aws.String("mp"), UploadId: up.UploadId})
				if err != nil || len(parts.Parts) != 0 {
					t.Fatalf("parts after the refused body: %+v %v", parts, err)
				}
			} else if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("bkt"), Key: aws.String(strings.TrimPrefix(tc.path, "/bkt/"))}); httpStatus(err) != 404 {
				t.Fatalf("object after the refused body: %v", err)
			}
			if resp, body := e.signedPayloadRequest(t, "PUT", tc.path, good, good); resp.StatusCode != 200 || resp.Header.Get("ETag") != `"`+md5hex(good)+`"` {
				t.Fatalf("the signed body: %d %s", resp.StatusCode, body)
			}
		})
	}
}

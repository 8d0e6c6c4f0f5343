package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
)

// blobFiles lists the blob files of a store.
func blobFiles(t testing.TB, s *Store) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(s.dir, "content", "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestPutGetSizes(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, WithInlineLimit(1000))
	mustBucket(t, s, "bkt")
	for _, n := range []int{0, 1, 999, 1000, 1001, blockSize - 1, blockSize, blockSize + 1, 3*blockSize + 17, 1<<20 + 5} {
		data := pattern(n, byte(n))
		key := "obj-" + itoa(int64(n))
		info := put(t, s, "bkt", key, data)
		sum := md5.Sum(data)
		if info.ETag != hex.EncodeToString(sum[:]) || info.Size != int64(n) || info.VersionID != NullVersion {
			t.Fatalf("%d bytes: info %+v", n, info)
		}
		got, err := read(s, "bkt", key, GetOptions{})
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: read %d bytes, %v", n, len(got), err)
		}
		// Read through Read as well as WriteTo, with a small buffer.
		o, err := s.GetObject(ctx, "bkt", key, GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(io.LimitReader(struct{ io.Reader }{o}, int64(n)+1))
		o.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes via Read: %d bytes, %v", n, len(got), err)
		}
	}
	// Objects above the inline limit are files; the others live in the index.
	if files := blobFiles(t, s); len(files) != 6 {
		t.Errorf("%d blob files, want 6 (one per object above the inline limit)", len(files))
	}
}

func TestRanges(t *testing.T) {
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	small := pattern(100, 1)
	large := pattern(5*blockSize+123, 2)
	put(t, s, "bkt", "small", small)
	put(t, s, "bkt", "large", large)
	put(t, s, "bkt", "empty", nil)
	tests := []struct {
		name       string
		key        string
		r          Range
		start, end int64 // inclusive; end < start for an error
		code       string
	}{
		{name: "first byte", key: "small", r: Range{Start: 0, End: 0}, start: 0, end: 0},
		{name: "middle", key: "small", r: Range{Start: 10, End: 19}, start: 10, end: 19},
		{name: "open end", key: "small", r: Range{Start: 90, End: -1}, start: 90, end: 99},
		{name: "end past size", key: "small", r: Range{Start: 50, End: 1000}, start: 50, end: 99},
		{name: "suffix", key: "small", r: Range{Suffix: true, SuffixLength: 10}, start: 90, end: 99},
		{name: "suffix longer than object", key: "small", r: Range{Suffix: true, SuffixLength: 1000}, start: 0, end: 99},
		{name: "start at size", key: "small", r: Range{Start: 100, End: -1}, code: "InvalidRange"},
		{name: "zero suffix", key: "small", r: Range{Suffix: true, SuffixLength: 0}, code: "InvalidRange"},
		{name: "empty object", key: "empty", r: Range{Start: 0, End: -1}, code: "InvalidRange"},
		{name: "across blocks", key: "large", r: Range{Start: blockSize - 5, End: 3*blockSize + 7}, start: blockSize - 5, end: 3*blockSize + 7},
		{name: "inside a block", key: "large", r: Range{Start: 2*blockSize + 3, End: 2*blockSize + 9}, start: 2*blockSize + 3, end: 2*blockSize + 9},
		{name: "last partial block", key: "large", r: Range{Suffix: true, SuffixLength: 200}, start: int64(len(large)) - 200, end: int64(len(large)) - 1},
		{name: "whole", key: "large", r: Range{Start: 0, End: -1}, start: 0, end: int64(len(large)) - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := read(s, "bkt", tc.key, GetOptions{Range: &tc.r})
			if tc.code != "" {
				if codeOf(err) != tc.code {
					t.Fatalf("err %v, want %s", err, tc.code)
				}
				if info, ok := ObjectInfoOf(err); !ok || info.Key != tc.key {
					t.Errorf("InvalidRange does not carry the object: %+v", info)
				}
				return
			}
			src := small
			if tc.key == "large" {
				src = large
			}
			if err != nil || !bytes.Equal(got, src[tc.start:tc.end+1]) {
				t.Fatalf("got %d bytes, %v; want [%d,%d]", len(got), err, tc.start, tc.end)
			}
		})
	}
}

func TestReadConditions(t *testing.T) {
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	info := put(t, s, "bkt", "k", []byte("data"))
	etag := `"` + info.ETag + `"`
	mod := info.LastModified.Truncate(time.Second)
	before, after := mod.Add(-time.Hour), mod.Add(time.Hour)
	tests := []struct {
		name string
		c    Conditions
		code string
	}{
		{name: "none"},
		{name: "if-match", c: Conditions{IfMatch: etag}},
		{name: "if-match unquoted", c: Conditions{IfMatch: info.ETag}},
		{name: "if-match star", c: Conditions{IfMatch: "*"}},
		{name: "if-match list", c: Conditions{IfMatch: `"x", ` + etag}},
		{name: "if-match fails", c: Conditions{IfMatch: `"x"`}, code: "PreconditionFailed"},
		{name: "if-none-match", c: Conditions{IfNoneMatch: `"x"`}},
		{name: "if-none-match fails", c: Conditions{IfNoneMatch: etag}, code: "NotModified"},
		{name: "if-none-match star", c: Conditions{IfNoneMatch: "*"}, code: "NotModified"},
		{name: "modified since before", c: Conditions{IfModifiedSince: before}},
		{name: "modified since same second", c: Conditions{IfModifiedSince: mod}, code: "NotModified"},
		{name: "modified since after", c: Conditions{IfModifiedSince: after}, code: "NotModified"},
		{name: "unmodified since after", c: Conditions{IfUnmodifiedSince: after}},
		{name: "unmodified since same second", c: Conditions{IfUnmodifiedSince: mod}},
		{name: "unmodified since before", c: Conditions{IfUnmodifiedSince: before}, code: "PreconditionFailed"},
		// S3's precedence: a true If-Match overrides a false If-Unmodified-Since...
		{name: "if-match wins over unmodified", c: Conditions{IfMatch: etag, IfUnmodifiedSince: before}},
		// ...and a false If-None-Match with a true If-Modified-Since is still 304.
		{name: "if-none-match wins over modified", c: Conditions{IfNoneMatch: etag, IfModifiedSince: before}, code: "NotModified"},
		{name: "if-none-match true ignores modified", c: Conditions{IfNoneMatch: `"x"`, IfModifiedSince: after}},
		{name: "412 before 304", c: Conditions{IfMatch: `"x"`, IfNoneMatch: etag}, code: "PreconditionFailed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read(s, "bkt", "k", GetOptions{Conditions: tc.c})
			if codeOf(err) != tc.code {
				t.Fatalf("err %v, want %q", err, tc.code)
			}
			if tc.code == "NotModified" {
				if i, ok := ObjectInfoOf(err); !ok || i.ETag != info.ETag {
					t.Errorf("304 does not carry the ETag: %+v", i)
				}
				if !errors.Is(err, errdefs.ErrNotModified) {
					t.Errorf("not in the NotModified category")
				}
			}
			if _, herr := s.StatObject(context.Background(), "bkt", "k", GetOptions{Conditions: tc.c}); codeOf(herr) != tc.code {
				t.Errorf("stat: %v", herr)
			}
		})
	}
}

func TestConditionalWrites(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	write := func(key, body string, c WriteConditions) error {
		_, err := s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: key, Body: strings.NewReader(body), Size: int64(len(body)), Conditions: c})
		return err
	}
	if err := write("k", "one", WriteConditions{IfNoneMatch: "*"}); err != nil {
		t.Fatal(err)
	}
	if err := write("k", "two", WriteConditions{IfNoneMatch: "*"}); codeOf(err) != "PreconditionFailed" {
		t.Fatalf("If-None-Match * on an existing key: %v", err)
	}
	if err := write("absent", "x", WriteConditions{IfMatch: `"abc"`}); codeOf(err) != "NoSuchKey" {
		t.Fatalf("If-Match on an absent key: %v", err)
	}
	sum := md5.Sum([]byte("one"))
	if err := write("k", "two", WriteConditions{IfMatch: `"0000"`}); codeOf(err) != "PreconditionFailed" {
		t.Fatalf("If-Match mismatch: %v", err)
	}
	if err := write("k", "two", WriteConditions{IfMatch: `"` + hex.EncodeToString(sum[:]) + `"`}); err != nil {
		t.Fatal(err)
	}
	if got, _ := read(s, "bkt", "k", GetOptions{}); string(got) != "two" {
		t.Fatalf("content %q", got)
	}
	// A refused conditional write leaves no data behind.
	if _, err := s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: "k", Body: bytes.NewReader(pattern(200<<10, 0)), Size: 200 << 10,
		Conditions: WriteConditions{IfNoneMatch: "*"}}); codeOf(err) != "PreconditionFailed" {
		t.Fatal(err)
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("refused write left blobs %v", files)
	}
}

func TestPutChecks(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	data := pattern(100<<10, 3) // a blob, not inline
	good := md5.Sum(data)
	crc := crc32.ChecksumIEEE(data)
	crcB64 := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	tests := []struct {
		name string
		in   PutObjectInput
		code string
	}{
		{name: "content-md5", in: PutObjectInput{ContentMD5: good[:]}},
		{name: "bad content-md5", in: PutObjectInput{ContentMD5: make([]byte, 16)}, code: "BadDigest"},
		{name: "crc32", in: PutObjectInput{Checksum: ChecksumInput{Algorithm: CRC32, Value: crcB64}}},
		{name: "crc32 mismatch", in: PutObjectInput{Checksum: ChecksumInput{Algorithm: CRC32, Value: "AAAAAA=="}}, code: "BadDigest"},
		{name: "crc32 malformed", in: PutObjectInput{Checksum: ChecksumInput{Algorithm: CRC32, Value: "nope"}}, code: "InvalidRequest"},
		{name: "trailer", in: PutObjectInput{Checksum: ChecksumInput{Algorithm: CRC32, Trailer: func() string { return crcB64 }}}},
		{name: "trailer mismatch", in: PutObjectInput{Checksum: ChecksumInput{Algorithm: CRC32, Trailer: func() string { return "AAAAAA==" }}}, code: "BadDigest"},
		{name: "short body", in: PutObjectInput{Size: int64(len(data)) + 1}, code: "IncompleteBody"},
		{name: "long body", in: PutObjectInput{Size: int64(len(data)) - 1}, code: "IncompleteBody"},
		{name: "too large", in: PutObjectInput{Size: MaxObjectSize + 1}, code: "EntityTooLarge"},
		{name: "no bucket", in: PutObjectInput{Bucket: "nope"}, code: "NoSuchBucket"},
		{name: "long key", in: PutObjectInput{Key: strings.Repeat("k", 1025)}, code: "KeyTooLongError"},
		{name: "bad utf-8 key", in: PutObjectInput{Key: "\xff"}, code: "InvalidArgument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.Bucket == "" {
				in.Bucket = "bkt"
			}
			if in.Key == "" {
				in.Key = "k-" + tc.name
			}
			if in.Size == 0 {
				in.Size = int64(len(data))
			}
			in.Body = bytes.NewReader(data)
			info, err := s.PutObject(ctx, in)
			if codeOf(err) != tc.code {
				t.Fatalf("err %v, want %q", err, tc.code)
			}
			if tc.code != "" {
				if _, err := s.StatObject(ctx, "bkt", in.Key, GetOptions{}); codeOf(err) != "NoSuchKey" && codeOf(err) != "KeyTooLongError" && codeOf(err) != "InvalidArgument" {
					t.Errorf("a refused write is visible: %v", err)
				}
				return
			}
			if in.Checksum.Algorithm != "" && (info.Checksum.Value != crcB64 || info.Checksum.Type != FullObject) {
				t.Errorf("checksum %+v", info.Checksum)
			}
		})
	}
	// Only the accepted writes' content is stored (all the same bytes: one blob).
	if files := blobFiles(t, s); len(files) != 1 {
		t.Errorf("blob files %v, want the one shared blob", files)
	}
}

func TestMetadataAndSubresources(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	meta := Metadata{ContentType: "text/plain", ContentEncoding: "gzip", ContentDisposition: "attachment", ContentLanguage: "en",
		CacheControl: "no-cache", Expires: "Thu, 01 Dec 1994 16:00:00 GMT", User: map[string]string{"color": "blue"}}
	_, err := s.PutObject(ctx, PutObjectInput{Bucket: "bkt", Key: "k", Body: strings.NewReader("x"), Size: 1, Metadata: meta,
		Owner: bob, Subresources: map[string][]byte{"tagging": []byte("a=b")}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.StatObject(ctx, "bkt", "k", GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Metadata.ContentType != "text/plain" || info.Metadata.Expires != meta.Expires || info.Metadata.User["color"] != "blue" || info.Owner != bob {
		t.Errorf("info %+v", info)
	}
	if string(info.Subresources["tagging"]) != "a=b" {
		t.Errorf("subresources %q", info.Subresources)
	}
	if _, err := s.SetSubresource(ctx, SubresourceInput{Bucket: "bkt", Key: "k", Name: "acl", Doc: []byte("private")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetSubresource(ctx, SubresourceInput{Bucket: "bkt", Key: "k", Name: "tagging"}); err != nil {
		t.Fatal(err)
	}
	info, _ = s.StatObject(ctx, "bkt", "k", GetOptions{})
	if len(info.Subresources) != 1 || string(info.Subresources["acl"]) != "private" {
		t.Errorf("subresources after set %q", info.Subresources)
	}
	if got, _ := read(s, "bkt", "k", GetOptions{}); string(got) != "x" {
		t.Errorf("content after SetSubresource %q", got)
	}
}

func TestBuckets(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	if _, err := s.CreateBucket(ctx, CreateBucketInput{Name: "photos", Owner: alice, Region: "eu-west-1"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		owner Owner
		code  string
	}{
		{name: "photos", owner: alice, code: "BucketAlreadyOwnedByYou"},
		{name: "photos", owner: bob, code: "BucketAlreadyExists"},
		{name: "ab", owner: alice, code: "InvalidBucketName"},
		{name: "Photos", owner: alice, code: "InvalidBucketName"},
		{name: "192.168.1.1", owner: alice, code: "InvalidBucketName"},
		{name: "a..b", owner: alice, code: "InvalidBucketName"},
		{name: "-ab", owner: alice, code: "InvalidBucketName"},
		{name: "xn--abc", owner: alice, code: "InvalidBucketName"},
		{name: "abc-s3alias", owner: alice, code: "InvalidBucketName"},
		{name: "under_score", owner: alice, code: "InvalidBucketName"},
		{name: strings.Repeat("a", 64), owner: alice, code: "InvalidBucketName"},
		{name: strings.Repeat("a", 63), owner: alice},
		{name: "my.bucket-1", owner: bob},
	}
	for _, tc := range tests {
		if _, err := s.CreateBucket(ctx, CreateBucketInput{Name: tc.name, Owner: tc.owner}); codeOf(err) != tc.code {
			t.Errorf("create %q: %v, want %q", tc.name, err, tc.code)
		}
	}
	b, err := s.Bucket(ctx, "photos")
	if err != nil || b.Owner != alice || b.Region != "eu-west-1" || b.Versioning != Unversioned {
		t.Fatalf("bucket %+v, %v", b, err)
	}
	all, err := s.ListBuckets(ctx)
	if err != nil || len(all) != 3 || all[0].Name != strings.Repeat("a", 63) || all[2].Name != "photos" {
		t.Fatalf("list %+v, %v", all, err)
	}
	put(t, s, "photos", "k", []byte("x"))
	if err := s.DeleteBucket(ctx, "photos"); codeOf(err) != "BucketNotEmpty" {
		t.Fatalf("delete non-empty: %v", err)
	}
	if err := s.SetVersioning(ctx, "photos", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "photos", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	// Versions and delete markers still count.
	if err := s.DeleteBucket(ctx, "photos"); codeOf(err) != "BucketNotEmpty" {
		t.Fatalf("delete with versions: %v", err)
	}
	page, _ := s.ListObjectVersions(ctx, "photos", ListVersionsInput{})
	for _, v := range page.Versions {
		if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "photos", Key: v.Key, VersionID: v.VersionID}); err != nil {
			t.Fatal(err)
		}
	}
	// An upload in progress does not keep a bucket; its parts go with it.
	up, err := s.CreateMultipartUpload(ctx, CreateUploadInput{Bucket: "photos", Key: "big"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UploadPart(ctx, UploadPartInput{Bucket: "photos", Key: "big", UploadID: up.UploadID, PartNumber: 1, Body: strings.NewReader("p"), Size: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "photos"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bucket(ctx, "photos"); codeOf(err) != "NoSuchBucket" {
		t.Fatalf("after delete: %v", err)
	}
	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("blobs left %v", files)
	}
	if err := s.DeleteBucket(ctx, "photos"); codeOf(err) != "NoSuchBucket" {
		t.Fatalf("delete again: %v", err)
	}
	// The name is free again, for anyone.
	if _, err := s.CreateBucket(ctx, CreateBucketInput{Name: "photos", Owner: bob}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBucketConfig(ctx, "photos", "policy", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if doc, err := s.BucketConfig(ctx, "photos", "policy"); err != nil || string(doc) != "{}" {
		t.Fatalf("config %q %v", doc, err)
	}
	if err := s.DeleteBucketConfig(ctx, "photos", "policy"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BucketConfig(ctx, "photos", "policy"); !errdefs.IsNotFound(err) {
		t.Fatalf("deleted config: %v", err)
	}
}

// TestConditionalDeletes: a delete with preconditions judges them against the version it would remove (the
// current one, or the one named) in the transaction that removes it. If-Match follows S3's conditional deletes
// on general purpose buckets: an ETag that differs, or a delete marker, is ErrPreconditionFailed; no object at all
// is ErrNoSuchKey. The last-modified-time and size conditions, as S3 documents them, fail on a difference and
// succeed when there is nothing to delete.
func TestConditionalDeletes(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	mustBucket(t, s, "ver")
	if err := s.SetVersioning(ctx, "ver", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	size := func(n int64) *int64 { return &n }
	type state struct {
		key      string
		versions []ObjectInfo // oldest first
	}
	for i, tc := range []struct {
		name      string
		bucket    string
		setup     func(key string) state
		version   func(st state) string // the VersionID to delete, "" for the current version
		cond      func(st state) DeleteConditions
		code      string
		remaining int // versions of the key left after the delete (a delete marker counts)
	}{
		{name: "etag matches", bucket: "bkt",
			cond: func(st state) DeleteConditions { return DeleteConditions{IfMatch: `"` + st.versions[0].ETag + `"`} }},
		{name: "etag in a list", bucket: "bkt",
			cond: func(st state) DeleteConditions {
				return DeleteConditions{IfMatch: `"0000", "` + st.versions[0].ETag + `"`}
			}},
		{name: "etag differs", bucket: "bkt", code: "PreconditionFailed", remaining: 1,
			cond: func(st state) DeleteConditions { return DeleteConditions{IfMatch: `"badetag"`} }},
		{name: "any etag", bucket: "bkt",
			cond: func(st state) DeleteConditions { return DeleteConditions{IfMatch: "*"} }},
		{name: "any etag, no object", bucket: "bkt", code: "NoSuchKey", setup: func(key string) state { return state{key: key} },
			cond: func(st state) DeleteConditions { return DeleteConditions{IfMatch: "*"} }},
		{name: "an etag, no object", bucket: "bkt", code: "NoSuchKey", setup: func(key string) state { return state{key: key} },
			cond: func(st state) DeleteConditions { return DeleteConditions{IfMatch: `"abc"`} }},
		{name: "modified time matches", bucket: "bkt",
			cond: func(st state) DeleteConditions { return DeleteConditions{LastModified: st.versions[0].LastModified} }},
		{name: "modified time differs", bucket: "bkt", code: "PreconditionFailed", remaining: 1,
			cond: func(st state) DeleteConditions {
				return DeleteConditions{LastModified: time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)}
			}},
		{name: "modified time, no object", bucket: "bkt", setup: func(key string) state { return state{key: key} },
			cond: func(st state) DeleteConditions {
				return DeleteConditions{LastModified: time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)}
			}},
		{name: "size matches", bucket: "bkt",
			cond: func(st state) DeleteConditions { return DeleteConditions{Size: size(st.versions[0].Size)} }},
		{name: "size differs", bucket: "bkt", code: "PreconditionFailed", remaining: 1,
			cond: func(st state) DeleteConditions { return DeleteConditions{Size: size(9999)} }},
		{name: "size, no object", bucket: "bkt", setup: func(key string) state { return state{key: key} },
			cond: func(st state) DeleteConditions { return DeleteConditions{Size: size(9999)} }},
		{name: "etag matches, size differs", bucket: "bkt", code: "PreconditionFailed", remaining: 1,
			cond: func(st state) DeleteConditions {
				return DeleteConditions{IfMatch: st.versions[0].ETag, Size: size(st.versions[0].Size + 1)}
			}},
		{name: "versioned: current matches", bucket: "ver", remaining: 2,
			cond: func(st state) DeleteConditions { return DeleteConditions{IfMatch: st.versions[0].ETag} }},
		{name: "versioned: current differs", bucket: "ver", code: "PreconditionFailed", remaining: 1,
			cond: func(st state) DeleteConditions { return DeleteConditions{IfMatch: "badetag"} }},
		{name: "versioned: current is a delete marker", bucket: "ver", code: "PreconditionFailed", remaining: 2,
			setup: func(key string) state {
				info := put(t, s, "ver", key, []byte("gone"))
				if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "ver", Key: key}); err != nil {
					t.Fatal(err)
				}
				return state{key: key, versions: []ObjectInfo{info}}
			},
			cond: func(st state) DeleteConditions { return DeleteConditions{IfMatch: "*"} }},
		{name: "versioned: current is a delete marker, size", bucket: "ver", code: "PreconditionFailed", remaining: 2,
			setup: func(key string) state {
				info := put(t, s, "ver", key, []byte("gone"))
				if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "ver", Key: key}); err != nil {
					t.Fatal(err)
				}
				return state{key: key, versions: []ObjectInfo{info}}
			},
			cond: func(st state) DeleteConditions { return DeleteConditions{Size: size(0)} }},
		{name: "versioned: an older version by ID, its etag", bucket: "ver", remaining: 1,
			setup: func(key string) state {
				return state{key: key, versions: []ObjectInfo{put(t, s, "ver", key, []byte("old")), put(t, s, "ver", key, []byte("new"))}}
			},
			version: func(st state) string { return st.versions[0].VersionID },
			cond:    func(st state) DeleteConditions { return DeleteConditions{IfMatch: st.versions[0].ETag} }},
		{name: "versioned: an older version by ID, the current etag", bucket: "ver", code: "PreconditionFailed", remaining: 2,
			setup: func(key string) state {
				return state{key: key, versions: []ObjectInfo{put(t, s, "ver", key, []byte("old")), put(t, s, "ver", key, []byte("new"))}}
			},
			version: func(st state) string { return st.versions[0].VersionID },
			cond:    func(st state) DeleteConditions { return DeleteConditions{IfMatch: st.versions[1].ETag} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprintf("k%02d", i)
			var st state
			if tc.setup != nil {
				st = tc.setup(key)
			} else {
				st = state{key: key, versions: []ObjectInfo{put(t, s, tc.bucket, key, []byte("content"))}}
			}
			in := DeleteObjectInput{Bucket: tc.bucket, Key: key, Owner: alice, Conditions: tc.cond(st)}
			if tc.version != nil {
				in.VersionID = tc.version(st)
			}
			_, err := s.DeleteObject(ctx, in)
			if codeOf(err) != tc.code {
				t.Fatalf("delete: %v, want %q", err, tc.code)
			}
			page, err := s.ListObjectVersions(ctx, tc.bucket, ListVersionsInput{Prefix: key})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Versions) != tc.remaining {
				t.Errorf("%d versions left, want %d", len(page.Versions), tc.remaining)
			}
		})
	}
}

// TestBucketIdentity: a bucket deleted and created again is another bucket (another ID), and a write bound to the
// first one's ID is ErrNoSuchBucket with nothing stored; a bucket from before IDs were recorded is told apart by
// its creation time.
func TestBucketIdentity(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	first, err := s.CreateBucket(ctx, CreateBucketInput{Name: "bkt", Owner: alice})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Bucket(ctx, "bkt"); first.ID == "" || got.ID != first.ID {
		t.Fatalf("bucket ID %q, looked up %q", first.ID, got.ID)
	}
	if err := s.DeleteBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	second, err := s.CreateBucket(ctx, CreateBucketInput{Name: "bkt", Owner: bob})
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID {
		t.Fatalf("the re-created bucket has the old ID %q", first.ID)
	}
	body := bytes.Repeat([]byte("x"), 100<<10)
	tests := []struct {
		name  string
		write func(id string) error
	}{
		{name: "put", write: func(id string) error {
			_, err := s.PutObject(ctx, PutObjectInput{Bucket: "bkt", BucketID: id, Key: "k", Body: bytes.NewReader(body), Size: int64(len(body)), Owner: alice})
			return err
		}},
		{name: "create upload", write: func(id string) error {
			_, err := s.CreateMultipartUpload(ctx, CreateUploadInput{Bucket: "bkt", BucketID: id, Key: "k", Owner: alice})
			return err
		}},
		{name: "delete", write: func(id string) error {
			_, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", BucketID: id, Key: "k"})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.write(first.ID); !errors.Is(err, ErrNoSuchBucket) {
				t.Fatalf("bound to the deleted bucket: %v, want NoSuchBucket", err)
			}
			if err := tc.write(second.ID); err != nil {
				t.Fatalf("bound to the bucket as it is: %v", err)
			}
		})
	}
	// A record written before buckets had IDs.
	err = s.db.Update(func(tx *bolt.Tx) error {
		return putBucketRecord(tx, "bkt", &bucketRecord{Owner: bob, Created: 42})
	})
	if err != nil {
		t.Fatal(err)
	}
	old, err := s.Bucket(ctx, "bkt")
	if err != nil || old.ID == "" || old.ID == second.ID {
		t.Fatalf("a bucket without a recorded ID: %q, %v", old.ID, err)
	}
	if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", BucketID: old.ID, Key: "k"}); err != nil {
		t.Fatal(err)
	}
}

// TestSubresourceOfVersion: a change bound to the version the caller looked at (SubresourceInput.Of) is refused
// with ErrVersionChanged when another version took its place, a null version replaced by a null version included,
// and made when it is still there.
func TestSubresourceOfVersion(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		versioning Versioning
		versionID  func(of ObjectInfo) string
		replace    bool
		want       error
	}{
		{name: "unversioned, current, unchanged"},
		{name: "unversioned, current, replaced", replace: true, want: ErrVersionChanged},
		{name: "unversioned, null version, replaced", versionID: func(ObjectInfo) string { return NullVersion }, replace: true, want: ErrVersionChanged},
		{name: "versioned, current, replaced", versioning: VersioningEnabled, replace: true, want: ErrVersionChanged},
		{name: "versioned, by ID, replaced as current", versioning: VersioningEnabled, versionID: func(of ObjectInfo) string { return of.VersionID }, replace: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t)
			mustBucket(t, s, "bkt")
			if tc.versioning != Unversioned {
				if err := s.SetVersioning(ctx, "bkt", tc.versioning); err != nil {
					t.Fatal(err)
				}
			}
			put(t, s, "bkt", "k", []byte("one"))
			vid := ""
			of, err := s.StatObject(ctx, "bkt", "k", GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.versionID != nil {
				vid = tc.versionID(of)
			}
			if tc.replace {
				put(t, s, "bkt", "k", []byte("two"))
			}
			_, err = s.SetSubresource(ctx, SubresourceInput{Bucket: "bkt", Key: "k", VersionID: vid, Of: &of, Name: SubresourceTagging, Doc: []byte("x")})
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if cur, _ := s.StatObject(ctx, "bkt", "k", GetOptions{}); cur.Subresources[SubresourceTagging] != nil {
					t.Fatal("the refused change was made")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := s.StatObject(ctx, "bkt", "k", GetOptions{VersionID: of.VersionID})
			if string(got.Subresources[SubresourceTagging]) != "x" {
				t.Fatalf("the version looked at has %q", got.Subresources)
			}
		})
	}
}

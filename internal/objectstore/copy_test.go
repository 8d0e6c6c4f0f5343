package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"
)

func TestCopyObject(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "src")
	mustBucket(t, s, "dst")
	data := pattern(300<<10, 4)
	_, err := s.PutObject(ctx, PutObjectInput{Bucket: "src", Key: "k", Body: bytes.NewReader(data), Size: int64(len(data)),
		Metadata: Metadata{ContentType: "image/png", User: map[string]string{"a": "1"}}, Checksum: ChecksumInput{Algorithm: CRC32C}})
	if err != nil {
		t.Fatal(err)
	}
	small := put(t, s, "src", "small", []byte("inline"))
	tests := []struct {
		name string
		in   CopyObjectInput
		meta Metadata
		code string
	}{
		{name: "copy metadata", in: CopyObjectInput{SrcBucket: "src", SrcKey: "k", Bucket: "dst", Key: "a"},
			meta: Metadata{ContentType: "image/png", User: map[string]string{"a": "1"}}},
		{name: "replace metadata", in: CopyObjectInput{SrcBucket: "src", SrcKey: "k", Bucket: "dst", Key: "b", ReplaceMetadata: true, Metadata: Metadata{ContentType: "text/plain"}},
			meta: Metadata{ContentType: "text/plain"}},
		{name: "inline source", in: CopyObjectInput{SrcBucket: "src", SrcKey: "small", Bucket: "dst", Key: "c"}},
		{name: "onto itself", in: CopyObjectInput{SrcBucket: "src", SrcKey: "k", Bucket: "src", Key: "k"}, code: "InvalidRequest"},
		{name: "onto itself replacing metadata", in: CopyObjectInput{SrcBucket: "src", SrcKey: "k", Bucket: "src", Key: "k", ReplaceMetadata: true},
			meta: Metadata{}},
		{name: "if-match", in: CopyObjectInput{SrcBucket: "src", SrcKey: "small", Bucket: "dst", Key: "d", SrcConditions: Conditions{IfMatch: small.ETag}}},
		{name: "if-match fails", in: CopyObjectInput{SrcBucket: "src", SrcKey: "small", Bucket: "dst", Key: "e", SrcConditions: Conditions{IfMatch: "x"}}, code: "PreconditionFailed"},
		{name: "if-none-match fails", in: CopyObjectInput{SrcBucket: "src", SrcKey: "small", Bucket: "dst", Key: "e", SrcConditions: Conditions{IfNoneMatch: small.ETag}}, code: "PreconditionFailed"},
		{name: "no source", in: CopyObjectInput{SrcBucket: "src", SrcKey: "nope", Bucket: "dst", Key: "e"}, code: "NoSuchKey"},
		{name: "no source bucket", in: CopyObjectInput{SrcBucket: "nope", SrcKey: "k", Bucket: "dst", Key: "e"}, code: "NoSuchBucket"},
		{name: "no destination bucket", in: CopyObjectInput{SrcBucket: "src", SrcKey: "k", Bucket: "nope", Key: "e"}, code: "NoSuchBucket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.CopyObject(ctx, tc.in)
			if codeOf(err) != tc.code {
				t.Fatalf("err %v, want %q", err, tc.code)
			}
			if tc.code != "" {
				return
			}
			want, _ := read(s, tc.in.SrcBucket, tc.in.SrcKey, GetOptions{})
			got, err := read(s, tc.in.Bucket, tc.in.Key, GetOptions{})
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("copy holds %d bytes, %v", len(got), err)
			}
			if out.Object.ETag != out.Source.ETag {
				t.Errorf("ETag %s, source %s", out.Object.ETag, out.Source.ETag)
			}
			if tc.in.SrcKey == "k" {
				if out.Object.Metadata.ContentType != tc.meta.ContentType || out.Object.Metadata.User["a"] != tc.meta.User["a"] {
					t.Errorf("metadata %+v, want %+v", out.Object.Metadata, tc.meta)
				}
				if out.Object.Checksum != out.Source.Checksum {
					t.Errorf("checksum %+v, source %+v", out.Object.Checksum, out.Source.Checksum)
				}
			}
		})
	}
	// Copies share the source's blob: still one file.
	if files := blobFiles(t, s); len(files) != 1 {
		t.Errorf("blob files %v", files)
	}
	// Deleting the source leaves the copies readable.
	if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "src", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if got, err := read(s, "dst", "a", GetOptions{}); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("copy after source delete: %d bytes, %v", len(got), err)
	}
}

func TestCopyVersionsAndMultipart(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	if err := s.SetVersioning(ctx, "bkt", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	v1 := put(t, s, "bkt", "k", []byte("old"))
	put(t, s, "bkt", "k", []byte("new"))
	// Restoring an old version by copying it onto its own key is allowed.
	out, err := s.CopyObject(ctx, CopyObjectInput{SrcBucket: "bkt", SrcKey: "k", SrcVersionID: v1.VersionID, Bucket: "bkt", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Source.VersionID != v1.VersionID || out.Object.VersionID == v1.VersionID {
		t.Errorf("copy %+v", out)
	}
	if got, _ := read(s, "bkt", "k", GetOptions{}); string(got) != "old" {
		t.Errorf("restored %q", got)
	}
	del, _ := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", Key: "k"})
	if _, err := s.CopyObject(ctx, CopyObjectInput{SrcBucket: "bkt", SrcKey: "k", SrcVersionID: del.VersionID, Bucket: "bkt", Key: "x"}); codeOf(err) != "InvalidRequest" {
		t.Errorf("copy of a delete marker: %v", err)
	}
	if _, err := s.CopyObject(ctx, CopyObjectInput{SrcBucket: "bkt", SrcKey: "k", Bucket: "bkt", Key: "x"}); codeOf(err) != "NoSuchKey" {
		t.Errorf("copy of a deleted key: %v", err)
	}

	// A multipart source becomes a single-part copy whose ETag is the content's MD5.
	p1, p2 := pattern(MinPartSize, 1), pattern(10, 2)
	up, parts := uploadParts(t, s, "mp", CRC32, "", p1, p2)
	mp, err := s.CompleteMultipartUpload(ctx, CompleteUploadInput{Bucket: "bkt", Key: "mp", UploadID: up.UploadID, Parts: parts})
	if err != nil {
		t.Fatal(err)
	}
	out, err = s.CopyObject(ctx, CopyObjectInput{SrcBucket: "bkt", SrcKey: "mp", Bucket: "bkt", Key: "mp-copy"})
	if err != nil {
		t.Fatal(err)
	}
	whole := append(bytes.Clone(p1), p2...)
	sum := md5.Sum(whole)
	if out.Object.ETag != hex.EncodeToString(sum[:]) || out.Object.PartsCount != 0 || strings.Contains(out.Object.ETag, "-") {
		t.Errorf("copy of multipart: %+v (source %s)", out.Object, mp.ETag)
	}
	if out.Object.Checksum.Type != FullObject || out.Object.Checksum.Algorithm != CRC32 {
		t.Errorf("copy's checksum %+v", out.Object.Checksum)
	}
	if got, err := read(s, "bkt", "mp-copy", GetOptions{}); err != nil || !bytes.Equal(got, whole) {
		t.Fatalf("copy holds %d bytes, %v", len(got), err)
	}
}

func TestUploadPartCopy(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	src := pattern(MinPartSize+100, 7)
	put(t, s, "bkt", "src", src)
	up, err := s.CreateMultipartUpload(ctx, CreateUploadInput{Bucket: "bkt", Key: "dst"})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := s.UploadPartCopy(ctx, UploadPartCopyInput{Bucket: "bkt", Key: "dst", UploadID: up.UploadID, PartNumber: 1, SrcBucket: "bkt", SrcKey: "src"})
	if err != nil {
		t.Fatal(err)
	}
	ranged, err := s.UploadPartCopy(ctx, UploadPartCopyInput{Bucket: "bkt", Key: "dst", UploadID: up.UploadID, PartNumber: 2, SrcBucket: "bkt", SrcKey: "src",
		SrcRange: &Range{Start: 10, End: 99}})
	if err != nil {
		t.Fatal(err)
	}
	if ranged.Part.Size != 90 {
		t.Errorf("ranged part %+v", ranged.Part)
	}
	for _, r := range []Range{{Start: 0, End: int64(len(src))}, {Start: 5, End: 4}, {Start: 0, End: -1}} {
		if _, err := s.UploadPartCopy(ctx, UploadPartCopyInput{Bucket: "bkt", Key: "dst", UploadID: up.UploadID, PartNumber: 3, SrcBucket: "bkt", SrcKey: "src",
			SrcRange: &r}); codeOf(err) != "InvalidArgument" {
			t.Errorf("range %+v: %v", r, err)
		}
	}
	// The whole-object part shares the source's blob; the ranged one is a new blob.
	if files := blobFiles(t, s); len(files) != 2 {
		t.Errorf("blob files %v", files)
	}
	if _, err := s.CompleteMultipartUpload(ctx, CompleteUploadInput{Bucket: "bkt", Key: "dst", UploadID: up.UploadID,
		Parts: []CompletedPart{{PartNumber: 1, ETag: whole.Part.ETag}, {PartNumber: 2, ETag: ranged.Part.ETag}}}); err != nil {
		t.Fatal(err)
	}
	got, err := read(s, "bkt", "dst", GetOptions{})
	if err != nil || !bytes.Equal(got, append(bytes.Clone(src), src[10:100]...)) {
		t.Fatalf("assembled %d bytes, %v", len(got), err)
	}
}

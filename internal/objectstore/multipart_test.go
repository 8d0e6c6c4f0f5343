package objectstore

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
	"hash/crc64"
	"math"
	"strings"
	"testing"
)

func TestChecksumAlgorithms(t *testing.T) {
	// The check values of the catalogued CRCs, over "123456789".
	check := []byte("123456789")
	tests := []struct {
		alg  ChecksumAlgorithm
		want string
	}{
		{CRC32, "cbf43926"},
		{CRC32C, "e3069283"},
		{CRC64NVME, "ae8b14860a799888"},
	}
	for _, tc := range tests {
		h := tc.alg.newHash()
		h.Write(check)
		if got := hex.EncodeToString(h.Sum(nil)); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.alg, got, tc.want)
		}
	}
	// A CRC combined from pieces equals the CRC of the whole.
	data := pattern(100000, 9)
	for _, alg := range []ChecksumAlgorithm{CRC32, CRC32C, CRC64NVME} {
		for _, cuts := range [][]int{{1}, {50000}, {0, 99999}, {3, 70000, 70001}, {65536, 65536 + 7}} {
			var raws [][]byte
			var sizes []int64
			prev := 0
			for _, c := range append(cuts, len(data)) {
				h := alg.newHash()
				h.Write(data[prev:c])
				raws = append(raws, h.Sum(nil))
				sizes = append(sizes, int64(c-prev))
				prev = c
			}
			whole := alg.newHash()
			whole.Write(data)
			if got := combineFullObject(alg, raws, sizes); !bytes.Equal(got, whole.Sum(nil)) {
				t.Errorf("%s combined at %v = %x, want %x", alg, cuts, got, whole.Sum(nil))
			}
		}
	}
}

// upload runs a multipart upload of parts (sizes in bytes) and returns the parts as Complete lists them.
func uploadParts(t *testing.T, s *Store, key string, alg ChecksumAlgorithm, typ ChecksumType, parts ...[]byte) (Upload, []CompletedPart) {
	t.Helper()
	ctx := context.Background()
	up, err := s.CreateMultipartUpload(ctx, CreateUploadInput{Bucket: "bkt", Key: key, ChecksumAlgorithm: alg, ChecksumType: typ,
		Metadata: Metadata{ContentType: "video/mp4"}, Owner: alice})
	if err != nil {
		t.Fatal(err)
	}
	var done []CompletedPart
	for i, p := range parts {
		part, err := s.UploadPart(ctx, UploadPartInput{Bucket: "bkt", Key: key, UploadID: up.UploadID, PartNumber: i + 1,
			Body: bytes.NewReader(p), Size: int64(len(p)), Checksum: ChecksumInput{Algorithm: alg}})
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(p)
		if part.ETag != hex.EncodeToString(sum[:]) || part.Size != int64(len(p)) {
			t.Fatalf("part %d: %+v", i+1, part)
		}
		done = append(done, CompletedPart{PartNumber: i + 1, ETag: `"` + part.ETag + `"`, Checksum: part.Checksum})
	}
	return up, done
}

func TestMultipartComplete(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	p1, p2, p3 := pattern(MinPartSize, 1), pattern(MinPartSize+7, 2), pattern(1234, 3)
	whole := bytes.Join([][]byte{p1, p2, p3}, nil)
	up, parts := uploadParts(t, s, "movie", "", "", p1, p2, p3)

	listed, err := s.ListParts(ctx, "bkt", "movie", up.UploadID, ListPartsInput{MaxParts: 2})
	if err != nil || len(listed.Parts) != 2 || !listed.IsTruncated || listed.NextPartNumberMarker != 2 {
		t.Fatalf("list parts %+v %v", listed, err)
	}
	rest, err := s.ListParts(ctx, "bkt", "movie", up.UploadID, ListPartsInput{PartNumberMarker: 2})
	if err != nil || len(rest.Parts) != 1 || rest.Parts[0].PartNumber != 3 || rest.IsTruncated {
		t.Fatalf("list parts after 2: %+v %v", rest, err)
	}

	info, err := s.CompleteMultipartUpload(ctx, CompleteUploadInput{Bucket: "bkt", Key: "movie", UploadID: up.UploadID, Parts: parts})
	if err != nil {
		t.Fatal(err)
	}
	h := md5.New()
	for _, p := range [][]byte{p1, p2, p3} {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	if want := hex.EncodeToString(h.Sum(nil)) + "-3"; info.ETag != want || info.Size != int64(len(whole)) || info.PartsCount != 3 {
		t.Fatalf("completed %+v, want ETag %s", info, want)
	}
	if info.Metadata.ContentType != "video/mp4" {
		t.Errorf("metadata %+v", info.Metadata)
	}
	got, err := read(s, "bkt", "movie", GetOptions{})
	if err != nil || !bytes.Equal(got, whole) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	// A range across the parts' boundary, and each part by number.
	r := Range{Start: int64(len(p1)) - 10, End: int64(len(p1)+len(p2)) + 10}
	if got, err := read(s, "bkt", "movie", GetOptions{Range: &r}); err != nil || !bytes.Equal(got, whole[r.Start:r.End+1]) {
		t.Fatalf("range across parts: %d bytes, %v", len(got), err)
	}
	for i, p := range [][]byte{p1, p2, p3} {
		o, err := s.GetObject(ctx, "bkt", "movie", GetOptions{PartNumber: i + 1})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		o.WriteTo(&buf)
		o.Close()
		if !bytes.Equal(buf.Bytes(), p) || !o.Partial {
			t.Errorf("part %d: %d bytes", i+1, buf.Len())
		}
	}
	if _, err := read(s, "bkt", "movie", GetOptions{PartNumber: 4}); codeOf(err) != "InvalidPartNumber" {
		t.Errorf("part 4: %v", err)
	}
	// No data was copied: the object is its parts' three blobs.
	if files := blobFiles(t, s); len(files) != 3 {
		t.Errorf("blob files %d, want 3", len(files))
	}
	if _, err := s.ListParts(ctx, "bkt", "movie", up.UploadID, ListPartsInput{}); codeOf(err) != "NoSuchUpload" {
		t.Errorf("upload still there: %v", err)
	}
	// Overwriting the object frees its parts' blobs.
	put(t, s, "bkt", "movie", []byte("small"))
	if files := blobFiles(t, s); len(files) != 0 {
		t.Errorf("blob files after overwrite %v", files)
	}
}

func TestMultipartErrors(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	big, small := pattern(MinPartSize, 1), []byte("tiny")
	tests := []struct {
		name  string
		parts [][]byte
		edit  func([]CompletedPart) []CompletedPart
		code  string
	}{
		{name: "one small part", parts: [][]byte{small}},
		{name: "small last part", parts: [][]byte{big, small}},
		{name: "empty last part", parts: [][]byte{big, {}}},
		{name: "small middle part", parts: [][]byte{big, small, big}, code: "EntityTooSmall"},
		{name: "no parts", parts: [][]byte{small}, edit: func([]CompletedPart) []CompletedPart { return nil }, code: "MalformedXML"},
		{name: "descending", parts: [][]byte{big, small}, edit: func(p []CompletedPart) []CompletedPart { return []CompletedPart{p[1], p[0]} }, code: "InvalidPartOrder"},
		{name: "duplicate", parts: [][]byte{big}, edit: func(p []CompletedPart) []CompletedPart { return []CompletedPart{p[0], p[0]} }, code: "InvalidPartOrder"},
		{name: "missing part", parts: [][]byte{small}, edit: func(p []CompletedPart) []CompletedPart {
			return append(p, CompletedPart{PartNumber: 2, ETag: p[0].ETag})
		}, code: "InvalidPart"},
		{name: "wrong etag", parts: [][]byte{small}, edit: func(p []CompletedPart) []CompletedPart {
			p[0].ETag = `"00000000000000000000000000000000"`
			return p
		}, code: "InvalidPart"},
		{name: "part number zero", parts: [][]byte{small}, edit: func(p []CompletedPart) []CompletedPart {
			p[0].PartNumber = 0
			return p
		}, code: "InvalidArgument"},
		{name: "subset of parts", parts: [][]byte{big, small, small}, edit: func(p []CompletedPart) []CompletedPart { return []CompletedPart{p[0], p[2]} }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprint("obj", i)
			up, parts := uploadParts(t, s, key, "", "", tc.parts...)
			if tc.edit != nil {
				parts = tc.edit(parts)
			}
			_, err := s.CompleteMultipartUpload(ctx, CompleteUploadInput{Bucket: "bkt", Key: key, UploadID: up.UploadID, Parts: parts})
			if codeOf(err) != tc.code {
				t.Fatalf("err %v, want %q", err, tc.code)
			}
			if tc.code != "" {
				// A refused Complete leaves the upload as it was, and no object.
				if _, err := s.StatObject(ctx, "bkt", key, GetOptions{}); codeOf(err) != "NoSuchKey" {
					t.Errorf("object visible after a refused complete: %v", err)
				}
				if err := s.AbortMultipartUpload(ctx, "bkt", key, up.UploadID); err != nil {
					t.Errorf("abort after refused complete: %v", err)
				}
				return
			}
			var want []byte
			for _, p := range parts {
				want = append(want, tc.parts[p.PartNumber-1]...)
			}
			if got, err := read(s, "bkt", key, GetOptions{}); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
		})
	}
	if _, err := s.UploadPart(ctx, UploadPartInput{Bucket: "bkt", Key: "k", UploadID: "nope", PartNumber: 1, Body: strings.NewReader("x"), Size: 1}); codeOf(err) != "NoSuchUpload" {
		t.Errorf("upload part to unknown upload: %v", err)
	}
	up, _ := uploadParts(t, s, "k", "", "")
	for _, n := range []int{0, 10001} {
		if _, err := s.UploadPart(ctx, UploadPartInput{Bucket: "bkt", Key: "k", UploadID: up.UploadID, PartNumber: n, Body: strings.NewReader("x"), Size: 1}); codeOf(err) != "InvalidArgument" {
			t.Errorf("part number %d: %v", n, err)
		}
	}
	// An upload ID belongs to its key.
	if _, err := s.UploadPart(ctx, UploadPartInput{Bucket: "bkt", Key: "other", UploadID: up.UploadID, PartNumber: 1, Body: strings.NewReader("x"), Size: 1}); codeOf(err) != "NoSuchUpload" {
		t.Errorf("upload ID under another key: %v", err)
	}
	if err := s.AbortMultipartUpload(ctx, "bkt", "k", up.UploadID); err != nil {
		t.Fatal(err)
	}
	if err := s.AbortMultipartUpload(ctx, "bkt", "k", up.UploadID); codeOf(err) != "NoSuchUpload" {
		t.Errorf("abort twice: %v", err)
	}
	if files := blobFiles(t, s); len(files) != 3 {
		// big, small, and the empty part of the completed objects; every aborted or unlisted part is gone.
		t.Errorf("blob files %d, want 3", len(files))
	}
}

func TestMultipartReplacePart(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	up, _ := uploadParts(t, s, "k", "", "", []byte("first"))
	part, err := s.UploadPart(ctx, UploadPartInput{Bucket: "bkt", Key: "k", UploadID: up.UploadID, PartNumber: 1, Body: strings.NewReader("second"), Size: 6})
	if err != nil {
		t.Fatal(err)
	}
	if files := blobFiles(t, s); len(files) != 1 {
		t.Errorf("the replaced part's blob stays: %v", files)
	}
	if _, err := s.CompleteMultipartUpload(ctx, CompleteUploadInput{Bucket: "bkt", Key: "k", UploadID: up.UploadID,
		Parts: []CompletedPart{{PartNumber: 1, ETag: part.ETag}}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := read(s, "bkt", "k", GetOptions{}); string(got) != "second" {
		t.Errorf("content %q", got)
	}
}

func TestMultipartChecksums(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	p1, p2 := pattern(MinPartSize, 5), pattern(1000, 6)
	whole := append(bytes.Clone(p1), p2...)
	crcOf := func(b []byte) []byte { return binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b)) }
	shaOf := func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
	b64 := base64.StdEncoding.EncodeToString
	composite := func(h func([]byte) []byte, parts ...[]byte) string {
		var cat []byte
		for _, p := range parts {
			cat = append(cat, h(p)...)
		}
		return b64(h(cat)) + "-" + fmt.Sprint(len(parts))
	}
	nvme := crc64.New(crc64NVMETable)
	nvme.Write(whole)
	tests := []struct {
		name string
		alg  ChecksumAlgorithm
		typ  ChecksumType
		want Checksum
		code string
	}{
		{name: "crc32 composite", alg: CRC32, want: Checksum{CRC32, Composite, composite(crcOf, p1, p2)}},
		{name: "crc32 full object", alg: CRC32, typ: FullObject, want: Checksum{CRC32, FullObject, b64(crcOf(whole))}},
		{name: "sha256 composite", alg: SHA256, want: Checksum{SHA256, Composite, composite(shaOf, p1, p2)}},
		{name: "crc64nvme defaults to full object", alg: CRC64NVME, want: Checksum{CRC64NVME, FullObject, b64(nvme.Sum(nil))}},
		{name: "sha256 cannot be full object", alg: SHA256, typ: FullObject, code: "InvalidRequest"},
		{name: "crc64nvme cannot be composite", alg: CRC64NVME, typ: Composite, code: "InvalidRequest"},
		{name: "type without algorithm", typ: FullObject, code: "InvalidRequest"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprint("k", i)
			if tc.code != "" {
				_, err := s.CreateMultipartUpload(ctx, CreateUploadInput{Bucket: "bkt", Key: key, ChecksumAlgorithm: tc.alg, ChecksumType: tc.typ})
				if codeOf(err) != tc.code {
					t.Fatalf("err %v, want %s", err, tc.code)
				}
				return
			}
			up, parts := uploadParts(t, s, key, tc.alg, tc.typ, p1, p2)
			if parts[0].Checksum.Value == "" {
				t.Fatal("parts carry no checksum")
			}
			info, err := s.CompleteMultipartUpload(ctx, CompleteUploadInput{Bucket: "bkt", Key: key, UploadID: up.UploadID, Parts: parts})
			if err != nil {
				t.Fatal(err)
			}
			if info.Checksum != tc.want {
				t.Errorf("checksum %+v, want %+v", info.Checksum, tc.want)
			}
			_, stored, err := s.ObjectParts(ctx, "bkt", key, GetOptions{})
			if err != nil || len(stored) != 2 || stored[1].Size != int64(len(p2)) || stored[0].Checksum.Value != parts[0].Checksum.Value || stored[0].Checksum.Algorithm != tc.alg {
				t.Errorf("parts %+v %v", stored, err)
			}
		})
	}
	// A part sent with another algorithm than the upload's is refused; a part checksum that does not match is
	// an invalid part at Complete.
	up, parts := uploadParts(t, s, "mix", CRC32, "", p2)
	if _, err := s.UploadPart(ctx, UploadPartInput{Bucket: "bkt", Key: "mix", UploadID: up.UploadID, PartNumber: 2, Body: bytes.NewReader(p2), Size: int64(len(p2)),
		Checksum: ChecksumInput{Algorithm: SHA256}}); codeOf(err) != "InvalidRequest" {
		t.Errorf("mismatched part algorithm: %v", err)
	}
	parts[0].Checksum.Value = "AAAAAA=="
	if _, err := s.CompleteMultipartUpload(ctx, CompleteUploadInput{Bucket: "bkt", Key: "mix", UploadID: up.UploadID, Parts: parts}); codeOf(err) != "InvalidPart" {
		t.Errorf("wrong part checksum: %v", err)
	}
	// A full-object upload checks the whole object's checksum the client sends with Complete.
	up, parts = uploadParts(t, s, "full", CRC32, FullObject, p1, p2)
	if _, err := s.CompleteMultipartUpload(ctx, CompleteUploadInput{Bucket: "bkt", Key: "full", UploadID: up.UploadID, Parts: parts,
		Checksum: ChecksumInput{Algorithm: CRC32, Value: "AAAAAA=="}}); codeOf(err) != "BadDigest" {
		t.Errorf("wrong full-object checksum: %v", err)
	}
	if _, err := s.CompleteMultipartUpload(ctx, CompleteUploadInput{Bucket: "bkt", Key: "full", UploadID: up.UploadID, Parts: parts,
		Checksum: ChecksumInput{Algorithm: CRC32, Value: b64(crcOf(whole))}}); err != nil {
		t.Errorf("right full-object checksum: %v", err)
	}
}

func TestListMultipartUploads(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	var want []string
	for _, k := range []string{"a", "a", "b/c", "b/d", "c"} {
		up, _ := uploadParts(t, s, k, "", "")
		want = append(want, k+" "+up.UploadID)
	}
	for size := 1; size <= len(want); size++ {
		var got []string
		km, um := "", ""
		for {
			out, err := s.ListMultipartUploads(ctx, "bkt", ListUploadsInput{KeyMarker: km, UploadIDMarker: um, MaxUploads: size})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range out.Uploads {
				got = append(got, u.Key+" "+u.UploadID)
			}
			if !out.IsTruncated {
				break
			}
			km, um = out.NextKeyMarker, out.NextUploadIDMarker
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("page %d: %q, want %q", size, got, want)
		}
	}
	out, err := s.ListMultipartUploads(ctx, "bkt", ListUploadsInput{Delimiter: "/"})
	if err != nil || len(out.Uploads) != 3 || len(out.CommonPrefixes) != 1 || out.CommonPrefixes[0] != "b/" {
		t.Errorf("with delimiter: %+v %v", out, err)
	}
	out, err = s.ListMultipartUploads(ctx, "bkt", ListUploadsInput{Prefix: "b/"})
	if err != nil || len(out.Uploads) != 2 {
		t.Errorf("with prefix: %+v %v", out, err)
	}
}

// TestListPartsAfterLargeMarkers: a part-number-marker at or past the highest part number lists nothing. Part
// numbers are 32 bits in the index: a marker of 2^32-1 (or MaxInt64, whose +1 overflows) must not wrap around
// to the first part.
func TestListPartsAfterLargeMarkers(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	up, _ := uploadParts(t, s, "k", "", "", []byte("one"), []byte("two"))
	tests := []struct {
		name   string
		marker int
		want   int
	}{
		{name: "before the first", marker: 0, want: 2},
		{name: "after the first", marker: 1, want: 1},
		{name: "the highest part number", marker: MaxParts, want: 0},
		{name: "2^32-1", marker: 1<<32 - 1, want: 0},
		{name: "2^32", marker: 1 << 32, want: 0},
		{name: "MaxInt", marker: math.MaxInt, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.ListParts(ctx, "bkt", "k", up.UploadID, ListPartsInput{PartNumberMarker: tc.marker})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Parts) != tc.want || out.IsTruncated {
				t.Fatalf("marker %d: %d parts (truncated %v), want %d", tc.marker, len(out.Parts), out.IsTruncated, tc.want)
			}
		})
	}
}

func TestChecksumMatches(t *testing.T) {
	composite := Checksum{Algorithm: SHA256, Type: Composite, Value: "uWBwpe1dxI4Vw8Gf0X9ynOdw/SS6VBzfWm9giiv1sf4=-3"}
	full := Checksum{Algorithm: CRC32, Type: FullObject, Value: "K1fyoQ=="}
	for _, tc := range []struct {
		name  string
		want  string
		got   Checksum
		parts int
		ok    bool
	}{
		{name: "composite as stored", want: composite.Value, got: composite, parts: 3, ok: true},
		{name: "composite without its count", want: "uWBwpe1dxI4Vw8Gf0X9ynOdw/SS6VBzfWm9giiv1sf4=", got: composite, parts: 3, ok: true},
		{name: "composite with another count", want: "uWBwpe1dxI4Vw8Gf0X9ynOdw/SS6VBzfWm9giiv1sf4=-2", got: composite, parts: 3},
		{name: "composite, another digest", want: "AAAApe1dxI4Vw8Gf0X9ynOdw/SS6VBzfWm9giiv1sf4=-3", got: composite, parts: 3},
		{name: "composite, malformed", want: "bad", got: composite, parts: 3},
		{name: "composite, empty", want: "", got: composite, parts: 3},
		{name: "full object", want: "K1fyoQ==", got: full, parts: 2, ok: true},
		{name: "full object with a count", want: "K1fyoQ==-2", got: full, parts: 2},
		{name: "full object, another", want: "AAAAAA==", got: full, parts: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checksumMatches(tc.want, tc.got, tc.parts); got != tc.ok {
				t.Errorf("checksumMatches(%q, %q, %d) = %v", tc.want, tc.got.Value, tc.parts, got)
			}
		})
	}
}

// TestCompleteRetry: a Complete repeated after it succeeded (a client that timed out and retried) gets the same
// answer while the object that upload made is still the key's current one and the parts list is the same; in
// every other case the upload is gone (NoSuchUpload). The record of completed uploads survives a restart, is
// kept for completedUploadTTL and holds at most completedUploadsKept uploads per bucket.
func TestCompleteRetry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newTestClock()
	s := openTestStore(t, dir, WithClock(clock.Now))
	mustBucket(t, s, "bkt")
	p1, p2 := pattern(MinPartSize, 11), pattern(777, 12)
	complete := func(s *Store, key string, up Upload, parts []CompletedPart) (ObjectInfo, error) {
		return s.CompleteMultipartUpload(ctx, CompleteUploadInput{Bucket: "bkt", Key: key, UploadID: up.UploadID, Parts: parts})
	}
	same := func(t *testing.T, got, want ObjectInfo) {
		t.Helper()
		if got.VersionID != want.VersionID || got.ETag != want.ETag || got.Size != want.Size || !got.LastModified.Equal(want.LastModified) ||
			got.Checksum != want.Checksum || got.PartsCount != want.PartsCount {
			t.Errorf("retry answered %+v, want %+v", got, want)
		}
	}

	up, parts := uploadParts(t, s, "k", SHA256, "", p1, p2)
	first, err := complete(s, "k", up, parts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := complete(s, "k", up, parts)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	same(t, again, first)

	other := append([]CompletedPart(nil), parts...)
	other[1].ETag = `"` + strings.Repeat("0", 32) + `"`
	for _, tc := range []struct {
		name  string
		key   string
		parts []CompletedPart
	}{
		{name: "another parts list", key: "k", parts: other},
		{name: "fewer parts", key: "k", parts: parts[:1]},
		{name: "another key", key: "k2", parts: parts},
	} {
		if _, err := complete(s, tc.key, up, tc.parts); codeOf(err) != "NoSuchUpload" {
			t.Errorf("%s: %v, want NoSuchUpload", tc.name, err)
		}
	}

	// The record is in the index: a restarted store answers the retry too.
	s.Close()
	s = openTestStore(t, dir, WithClock(clock.Now))
	if again, err := complete(s, "k", up, parts); err != nil {
		t.Fatalf("retry after a restart: %v", err)
	} else {
		same(t, again, first)
	}
	// Once the key holds another object, the upload's object is gone: so is the upload.
	put(t, s, "bkt", "k", []byte("newer"))
	if _, err := complete(s, "k", up, parts); codeOf(err) != "NoSuchUpload" {
		t.Errorf("retry after an overwrite: %v", err)
	}

	t.Run("versioned", func(t *testing.T) {
		mustBucket(t, s, "ver")
		if err := s.SetVersioning(ctx, "ver", VersioningEnabled); err != nil {
			t.Fatal(err)
		}
		up, err := s.CreateMultipartUpload(ctx, CreateUploadInput{Bucket: "ver", Key: "k", Owner: alice})
		if err != nil {
			t.Fatal(err)
		}
		part, err := s.UploadPart(ctx, UploadPartInput{Bucket: "ver", Key: "k", UploadID: up.UploadID, PartNumber: 1, Body: bytes.NewReader(p2), Size: int64(len(p2))})
		if err != nil {
			t.Fatal(err)
		}
		in := CompleteUploadInput{Bucket: "ver", Key: "k", UploadID: up.UploadID, Parts: []CompletedPart{{PartNumber: 1, ETag: part.ETag}}}
		first, err := s.CompleteMultipartUpload(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := s.CompleteMultipartUpload(ctx, in); err != nil {
			t.Fatalf("retry: %v", err)
		} else {
			same(t, again, first)
		}
		newer, err := s.PutObject(ctx, PutObjectInput{Bucket: "ver", Key: "k", Body: strings.NewReader("v2"), Size: 2, Owner: alice})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CompleteMultipartUpload(ctx, in); codeOf(err) != "NoSuchUpload" {
			t.Errorf("retry behind a newer version: %v", err)
		}
		// Removing the newer version makes the upload's version current again.
		if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "ver", Key: "k", VersionID: newer.VersionID}); err != nil {
			t.Fatal(err)
		}
		if again, err := s.CompleteMultipartUpload(ctx, in); err != nil {
			t.Errorf("retry once current again: %v", err)
		} else {
			same(t, again, first)
		}
		if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "ver", Key: "k", Owner: alice}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CompleteMultipartUpload(ctx, in); codeOf(err) != "NoSuchUpload" {
			t.Errorf("retry behind a delete marker: %v", err)
		}
	})

	t.Run("expiry", func(t *testing.T) {
		up, parts := uploadParts(t, s, "old", "", "", p2)
		if _, err := complete(s, "old", up, parts); err != nil {
			t.Fatal(err)
		}
		clock.mu.Lock()
		clock.now = clock.now.Add(completedUploadTTL)
		clock.mu.Unlock()
		if _, err := complete(s, "old", up, parts); codeOf(err) != "NoSuchUpload" {
			t.Errorf("retry after %v: %v", completedUploadTTL, err)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		s.completedKept = 3
		mustBucket(t, s, "many")
		var ups []CompleteUploadInput
		for i := range 5 {
			key := fmt.Sprint("k", i)
			up, err := s.CreateMultipartUpload(ctx, CreateUploadInput{Bucket: "many", Key: key, Owner: alice})
			if err != nil {
				t.Fatal(err)
			}
			part, err := s.UploadPart(ctx, UploadPartInput{Bucket: "many", Key: key, UploadID: up.UploadID, PartNumber: 1, Body: strings.NewReader(key), Size: int64(len(key))})
			if err != nil {
				t.Fatal(err)
			}
			ups = append(ups, CompleteUploadInput{Bucket: "many", Key: key, UploadID: up.UploadID, Parts: []CompletedPart{{PartNumber: 1, ETag: part.ETag}}})
		}
		// Completed in reverse order of creation: the record keeps the last completed, not the last created.
		for i := len(ups) - 1; i >= 0; i-- {
			if _, err := s.CompleteMultipartUpload(ctx, ups[i]); err != nil {
				t.Fatal(err)
			}
		}
		for i, in := range ups {
			_, err := s.CompleteMultipartUpload(ctx, in)
			if kept := i < 3; kept != (err == nil) {
				t.Errorf("upload %d (completed %d of 5): retry %v", i, len(ups)-i, err)
			}
		}
	})
}

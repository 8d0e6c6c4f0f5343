package objectstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var listKeys = []string{
	"a", "a/b", "a/b/c", "a/c", "a/d/e", "ab", "b", "b/", "b//x", "c/a", "c/b", "c/c", "d\x00x", "d", "e f", "é",
}

func TestListObjects(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	for _, k := range listKeys {
		put(t, s, "bkt", k, []byte(k))
	}
	// A deleted key must not show, nor roll up into a prefix.
	put(t, s, "bkt", "z/gone", []byte("x"))
	if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", Key: "z/gone"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		in        ListObjectsInput
		keys      []string
		prefixes  []string
		truncated bool
		next      string
	}{
		{name: "all", keys: []string{"a", "a/b", "a/b/c", "a/c", "a/d/e", "ab", "b", "b/", "b//x", "c/a", "c/b", "c/c", "d", "d\x00x", "e f", "é"}, next: "é"},
		{name: "prefix", in: ListObjectsInput{Prefix: "a/"}, keys: []string{"a/b", "a/b/c", "a/c", "a/d/e"}, next: "a/d/e"},
		{name: "delimiter", in: ListObjectsInput{Delimiter: "/"}, keys: []string{"a", "ab", "b", "d", "d\x00x", "e f", "é"}, prefixes: []string{"a/", "b/", "c/"}, next: "é"},
		{name: "prefix and delimiter", in: ListObjectsInput{Prefix: "a/", Delimiter: "/"}, keys: []string{"a/b", "a/c"}, prefixes: []string{"a/b/", "a/d/"}, next: "a/d/"},
		{name: "empty segment", in: ListObjectsInput{Prefix: "b/", Delimiter: "/"}, keys: []string{"b/"}, prefixes: []string{"b//"}, next: "b//"},
		{name: "multi-character delimiter", in: ListObjectsInput{Delimiter: "/b"}, keys: []string{"a", "a/c", "a/d/e", "ab", "b", "b/", "b//x", "c/a", "c/c", "d", "d\x00x", "e f", "é"}, prefixes: []string{"a/b", "c/b"}, next: "é"},
		{name: "max keys", in: ListObjectsInput{MaxKeys: 3}, keys: []string{"a", "a/b", "a/b/c"}, truncated: true, next: "a/b/c"},
		{name: "max keys counts prefixes", in: ListObjectsInput{Delimiter: "/", MaxKeys: 2}, keys: []string{"a"}, prefixes: []string{"a/"}, truncated: true, next: "a/"},
		{name: "marker", in: ListObjectsInput{After: "b/"}, keys: []string{"b//x", "c/a", "c/b", "c/c", "d", "d\x00x", "e f", "é"}, next: "é"},
		{name: "marker between keys", in: ListObjectsInput{After: "c/aa"}, keys: []string{"c/b", "c/c", "d", "d\x00x", "e f", "é"}, next: "é"},
		{name: "marker is a returned prefix", in: ListObjectsInput{Delimiter: "/", After: "a/"}, keys: []string{"ab", "b", "d", "d\x00x", "e f", "é"}, prefixes: []string{"b/", "c/"}, next: "é"},
		{name: "marker inside a prefix", in: ListObjectsInput{Delimiter: "/", After: "c/a"}, keys: []string{"d", "d\x00x", "e f", "é"}, prefixes: []string{"c/"}, next: "é"},
		{name: "marker before prefix", in: ListObjectsInput{Prefix: "c/", After: "a"}, keys: []string{"c/a", "c/b", "c/c"}, next: "c/c"},
		{name: "marker after prefix", in: ListObjectsInput{Prefix: "a/", After: "b"}},
		{name: "no match", in: ListObjectsInput{Prefix: "x"}},
		{name: "key with NUL", in: ListObjectsInput{Prefix: "d"}, keys: []string{"d", "d\x00x"}, next: "d\x00x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.ListObjects(ctx, "bkt", tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, o := range out.Objects {
				keys = append(keys, o.Key)
				if o.Size != int64(len(o.Key)) || !o.IsLatest {
					t.Errorf("%q: size %d latest %v", o.Key, o.Size, o.IsLatest)
				}
			}
			if !slices.Equal(keys, tc.keys) || !slices.Equal(out.CommonPrefixes, tc.prefixes) {
				t.Errorf("keys %q prefixes %q, want %q %q", keys, out.CommonPrefixes, tc.keys, tc.prefixes)
			}
			if out.IsTruncated != tc.truncated || out.Next != tc.next {
				t.Errorf("truncated %v next %q, want %v %q", out.IsTruncated, out.Next, tc.truncated, tc.next)
			}
		})
	}
}

// TestListObjectsPages walks every page size over keys and prefixes and checks the pages add up to one listing.
func TestListObjectsPages(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	for _, k := range listKeys {
		put(t, s, "bkt", k, nil)
	}
	for _, delim := range []string{"", "/"} {
		all, err := s.ListObjects(ctx, "bkt", ListObjectsInput{Delimiter: delim})
		if err != nil {
			t.Fatal(err)
		}
		want := entries(all)
		for size := 1; size <= len(want); size++ {
			t.Run(fmt.Sprintf("delimiter %q page %d", delim, size), func(t *testing.T) {
				var got []string
				after := ""
				for pages := 0; ; pages++ {
					if pages > len(want) {
						t.Fatal("listing does not end")
					}
					out, err := s.ListObjects(ctx, "bkt", ListObjectsInput{Delimiter: delim, After: after, MaxKeys: size})
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, entries(out)...)
					if !out.IsTruncated {
						break
					}
					after = out.Next
				}
				if !slices.Equal(got, want) {
					t.Errorf("pages give %q, want %q", got, want)
				}
			})
		}
	}
}

// entries is a page's keys and prefixes in listing order.
func entries(out ListObjectsOutput) []string {
	var all []string
	for _, o := range out.Objects {
		all = append(all, o.Key)
	}
	all = append(all, out.CommonPrefixes...)
	slices.Sort(all)
	return all
}

func TestListObjectVersionsPages(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	put(t, s, "bkt", "a", []byte("null version"))
	if err := s.SetVersioning(ctx, "bkt", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		for _, k := range []string{"a", "b", "c/d", "c/e"} {
			put(t, s, "bkt", k, []byte(fmt.Sprint(k, i)))
		}
	}
	if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", Key: "b"}); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListObjectVersions(ctx, "bkt", ListVersionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Versions) != 14 || all.IsTruncated {
		t.Fatalf("%d versions, truncated %v", len(all.Versions), all.IsTruncated)
	}
	var want []string
	for _, v := range all.Versions {
		want = append(want, fmt.Sprintf("%s@%s latest=%v", v.Key, v.VersionID, v.IsLatest))
	}
	if want[3] != "a@null latest=false" || !strings.HasSuffix(want[4], "latest=true") || !all.Versions[4].DeleteMarker {
		t.Fatalf("unexpected order: %q", want)
	}
	for size := 1; size <= len(want); size++ {
		var got []string
		km, vm := "", ""
		for {
			out, err := s.ListObjectVersions(ctx, "bkt", ListVersionsInput{KeyMarker: km, VersionIDMarker: vm, MaxKeys: size})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range out.Versions {
				got = append(got, fmt.Sprintf("%s@%s latest=%v", v.Key, v.VersionID, v.IsLatest))
			}
			if !out.IsTruncated {
				break
			}
			km, vm = out.NextKeyMarker, out.NextVersionIDMarker
		}
		if !slices.Equal(got, want) {
			t.Errorf("page size %d:\n got %q\nwant %q", size, got, want)
		}
	}
	// With a delimiter, every version under c/ rolls into one prefix.
	out, err := s.ListObjectVersions(ctx, "bkt", ListVersionsInput{Delimiter: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Versions) != 8 || !slices.Equal(out.CommonPrefixes, []string{"c/"}) {
		t.Errorf("%d versions, prefixes %q", len(out.Versions), out.CommonPrefixes)
	}
	if _, err := s.ListObjectVersions(ctx, "bkt", ListVersionsInput{VersionIDMarker: "x"}); codeOf(err) != "InvalidArgument" {
		t.Errorf("version marker without key marker: %v", err)
	}
}

// TestListObjectsSkipsDeletedPrefixes: in a versioned bucket a deleted key keeps its versions behind a delete
// marker. A common prefix is listed only when a current object has it, as S3 lists it: a "folder" whose objects
// were all deleted is gone from the listing (and from a page's count), not a ghost that lists empty.
func TestListObjectsSkipsDeletedPrefixes(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	mustBucket(t, s, "bkt")
	if err := s.SetVersioning(ctx, "bkt", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a/1", "b/1", "b/2", "c/1", "d/x/1", "d/y/1", "e"} {
		put(t, s, "bkt", k, []byte(k))
	}
	var undo string // the delete marker of d/y/1
	for _, k := range []string{"b/1", "b/2", "c/1", "d/y/1"} {
		out, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", Key: k})
		if err != nil {
			t.Fatal(err)
		}
		if k == "d/y/1" {
			undo = out.VersionID
		}
	}
	tests := []struct {
		name      string
		in        ListObjectsInput
		keys      []string
		prefixes  []string
		truncated bool
	}{
		{name: "delimiter", in: ListObjectsInput{Delimiter: "/"}, keys: []string{"e"}, prefixes: []string{"a/", "d/"}},
		{name: "nested", in: ListObjectsInput{Prefix: "d/", Delimiter: "/"}, prefixes: []string{"d/x/"}},
		{name: "all deleted under the prefix", in: ListObjectsInput{Prefix: "b/", Delimiter: "/"}},
		{name: "a page ending before deleted prefixes", in: ListObjectsInput{Delimiter: "/", MaxKeys: 2}, prefixes: []string{"a/", "d/"}, truncated: true},
		{name: "deleted prefixes do not fill a page", in: ListObjectsInput{Delimiter: "/", After: "a/", MaxKeys: 1}, prefixes: []string{"d/"}, truncated: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.ListObjects(ctx, "bkt", tc.in)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, o := range out.Objects {
				keys = append(keys, o.Key)
			}
			if !slices.Equal(keys, tc.keys) || !slices.Equal(out.CommonPrefixes, tc.prefixes) || out.IsTruncated != tc.truncated {
				t.Fatalf("keys %q prefixes %q truncated %v, want %q %q %v", keys, out.CommonPrefixes, out.IsTruncated, tc.keys, tc.prefixes, tc.truncated)
			}
		})
	}
	// Removing the delete marker brings the object, and its prefix, back.
	if _, err := s.DeleteObject(ctx, DeleteObjectInput{Bucket: "bkt", Key: "d/y/1", VersionID: undo}); err != nil {
		t.Fatal(err)
	}
	out, err := s.ListObjects(ctx, "bkt", ListObjectsInput{Prefix: "d/", Delimiter: "/"})
	if err != nil || !slices.Equal(out.CommonPrefixes, []string{"d/x/", "d/y/"}) {
		t.Fatalf("after undelete: %q %v", out.CommonPrefixes, err)
	}
}

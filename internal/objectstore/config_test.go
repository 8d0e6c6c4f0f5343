package objectstore

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/containerd/errdefs"
)

func TestBucketConfigs(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	b, err := s.CreateBucket(ctx, CreateBucketInput{Name: "cfg", Owner: alice,
		Configs: map[string][]byte{ConfigOwnership: []byte("BucketOwnerEnforced"), ConfigPublicAccessBlock: []byte("all")}})
	if err != nil {
		t.Fatal(err)
	}
	got, docs, err := s.BucketConfigs(ctx, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	if got.ConfigVersion != b.ConfigVersion || len(docs) != 2 || string(docs[ConfigOwnership]) != "BucketOwnerEnforced" {
		t.Fatalf("created with %v, %+v", docs, got)
	}

	// A change bumps the version; rewriting the same bytes does not.
	if err := s.PutBucketConfig(ctx, "cfg", ConfigPolicy, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Bucket(ctx, "cfg")
	if after.ConfigVersion == got.ConfigVersion {
		t.Fatal("ConfigVersion did not change with a new document")
	}
	if err := s.PutBucketConfig(ctx, "cfg", ConfigPolicy, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	same, _ := s.Bucket(ctx, "cfg")
	if same.ConfigVersion != after.ConfigVersion {
		t.Fatal("ConfigVersion changed without a change")
	}

	// An update refused by its function stores nothing.
	refused := errors.New("refused")
	err = s.UpdateBucketConfigs(ctx, "cfg", func(docs map[string][]byte) error {
		delete(docs, ConfigOwnership)
		docs[ConfigACL] = []byte("x")
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("update = %v", err)
	}
	_, docs, _ = s.BucketConfigs(ctx, "cfg")
	if _, ok := docs[ConfigACL]; ok || docs[ConfigOwnership] == nil {
		t.Fatalf("a refused update changed %v", docs)
	}

	// One update replaces one document and removes another together.
	err = s.UpdateBucketConfigs(ctx, "cfg", func(docs map[string][]byte) error {
		delete(docs, ConfigOwnership)
		docs[ConfigACL] = []byte("acl")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BucketConfig(ctx, "cfg", ConfigOwnership); !errdefs.IsNotFound(err) {
		t.Fatalf("ownership after delete: %v", err)
	}
	if doc, err := s.BucketConfig(ctx, "cfg", ConfigACL); err != nil || string(doc) != "acl" {
		t.Fatalf("acl = %q, %v", doc, err)
	}
	if err := s.DeleteBucketConfig(ctx, "cfg", ConfigACL); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateBucketConfigs(ctx, "missing", func(map[string][]byte) error { return nil }); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("update of a missing bucket = %v", err)
	}

	// The documents go with the bucket.
	if err := s.DeleteBucket(ctx, "cfg"); err != nil {
		t.Fatal(err)
	}
	mustBucket(t, s, "cfg")
	if _, docs, _ := s.BucketConfigs(ctx, "cfg"); len(docs) != 0 {
		t.Fatalf("a re-created bucket has %v", docs)
	}
}

func TestTags(t *testing.T) {
	for _, tc := range []struct {
		name string
		tags []Tag
		enc  string
	}{
		{"empty", nil, ""},
		{"one", []Tag{{"k", "v"}}, "k=v"},
		{"order kept", []Tag{{"b", "2"}, {"a", "1"}}, "b=2&a=1"},
		{"escaped", []Tag{{"a b", "c&d=e"}, {"ü", ""}}, "a+b=c%26d%3De&%C3%BC="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := EncodeTags(tc.tags)
			if string(enc) != tc.enc {
				t.Fatalf("EncodeTags = %q, want %q", enc, tc.enc)
			}
			back, err := DecodeTags(enc)
			if err != nil || !reflect.DeepEqual(back, tc.tags) {
				t.Fatalf("DecodeTags = %v, %v", back, err)
			}
		})
	}
	if _, err := DecodeTags([]byte("a=%zz")); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("DecodeTags of a bad escape = %v", err)
	}
	info := ObjectInfo{Subresources: map[string][]byte{SubresourceTagging: EncodeTags([]Tag{{"env", "prod"}})}}
	if m := info.TagMap(); m["env"] != "prod" || len(m) != 1 {
		t.Fatalf("TagMap = %v", m)
	}
}

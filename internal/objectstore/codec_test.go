package objectstore

import (
	"reflect"
	"strings"
	"testing"
)

func TestRecordCodec(t *testing.T) {
	tests := []struct {
		name string
		rec  record
	}{
		{name: "empty", rec: record{VersionID: NullVersion}},
		{name: "delete marker", rec: record{VersionID: "abc", DeleteMarker: true, Modified: 1234, Owner: alice}},
		{name: "inline", rec: record{VersionID: NullVersion, Size: 5, ETag: "e", Modified: -5, InlineCRC: 0xdeadbeef, inline: []byte("hello"),
			Meta:     Metadata{ContentType: "text/plain", Expires: "x", User: map[string]string{"b": "2", "a": "1", "": ""}},
			Checksum: Checksum{Algorithm: CRC32, Type: FullObject, Value: "AAAAAA=="}, Owner: bob,
			Sub: map[string][]byte{"acl": []byte("<x/>"), "tagging": {}}}},
		{name: "multipart", rec: record{VersionID: "v", Size: 1 << 40, ETag: "abc-2",
			Chunks: []chunk{{Blob: strings.Repeat("ab", 32), Size: 1 << 39}, {Blob: strings.Repeat("01", 32), Size: 1 << 39}},
			Parts:  []partRecord{{Size: 1 << 39, ETag: "p1", Checksum: "c1"}, {Size: 1 << 39, ETag: "p2"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := encodeRecord(&tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeRecord(b, true)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.rec
			if want.inline == nil {
				want.inline = []byte{}
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("round trip\n got %+v\nwant %+v", *got, want)
			}
			// Every truncation is an error, never a panic (the inline content aside, which may be any length).
			for n := 0; n < len(b)-len(tc.rec.inline); n++ {
				if _, err := decodeRecord(b[:n], true); err == nil {
					t.Fatalf("truncated to %d bytes: no error", n)
				}
			}
		})
	}
}

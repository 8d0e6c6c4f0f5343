package objectstore

import "testing"

func TestIDs(t *testing.T) {
	for _, seq := range []uint64{0, 1, 2, 1 << 40, ^uint64(0)} {
		id := newVersionID(seq)
		got, ok := seqOfID(id, versionIDRandom)
		if !ok || got != seq || len(id) != 16 {
			t.Errorf("seq %d: id %q decodes to %d %v", seq, id, got, ok)
		}
		up := newUploadID(seq)
		if got, ok := seqOfID(up, uploadIDRandom); !ok || got != seq {
			t.Errorf("upload seq %d: %q decodes to %d", seq, up, got)
		}
	}
	if _, ok := seqOfID("null", versionIDRandom); ok {
		t.Error("null decodes")
	}
}

func TestKeyEncoding(t *testing.T) {
	keys := []string{"", "a", "a\x00", "a\x00b", "a\x01", "ab", "b"}
	for i, k := range keys {
		enc := encKey(nil, k)
		got, rest, ok := decKey(append(enc, 'x'))
		if !ok || got != k || string(rest) != "x" {
			t.Errorf("%q: decoded %q %q %v", k, got, rest, ok)
		}
		if i > 0 && string(encKey(nil, keys[i-1])) >= string(enc) {
			t.Errorf("%q does not sort after %q once encoded", k, keys[i-1])
		}
	}
}

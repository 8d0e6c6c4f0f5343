package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

type tarEntry struct {
	name, body string
	pax        map[string]string
	size       int64 // for manifest entries
}

func mkTar(t *testing.T, entries []tarEntry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, PAXRecords: e.pax, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return &buf
}

func TestReceiveContext(t *testing.T) {
	root := t.TempDir()
	b := New(nil, nil, filepath.Join(root, "tmp"))
	os.MkdirAll(b.tmpDir, 0o700)
	big := strings.Repeat("x", MinStoredFile)
	sum := sha256.Sum256([]byte(big))
	bigDigest := hex.EncodeToString(sum[:])
	ctx := context.Background()
	for _, c := range []string{"c1", "c2", "c3", "c4", "c5"} {
		os.MkdirAll(filepath.Join(root, c), 0o700)
	}

	// A plain upload: digests computed while unpacking, the large file kept in the store.
	dir := filepath.Join(root, "c1")
	bc, err := b.receiveContext(ctx, mkTar(t, []tarEntry{{name: "small", body: "s"}, {name: "./dir/../big", body: big}}), dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if bc.digests["big"] != bigDigest {
		t.Errorf("digest of big = %s, want %s", bc.digests["big"], bigDigest)
	}
	if got, _ := os.ReadFile(b.storePath(bigDigest)); string(got) != big {
		t.Error("large file not kept in the store")
	}
	if _, err := os.Stat(b.storePath(bc.digests["small"])); err == nil {
		t.Error("small file kept in the store")
	}

	// A manifest naming it: an empty placeholder whose content is the store file.
	dir2 := filepath.Join(root, "c2")
	bc2, err := b.receiveContext(ctx, mkTar(t, []tarEntry{{name: "big", pax: map[string]string{PAXDigest: bigDigest}}}), dir2, true)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir2, "big")
	if fi, err := os.Stat(p); err != nil || fi.Size() != 0 {
		t.Fatalf("placeholder: %v %v", fi, err)
	}
	if got, _ := os.ReadFile(bc2.contentOf(p)); string(got) != big {
		t.Error("placeholder content does not come from the store")
	}
	if d, ok := bc2.digestOf(p); !ok || d != bigDigest {
		t.Errorf("placeholder digest %q %v", d, ok)
	}

	// A manifest naming unknown content asks for the full context.
	_, err = b.receiveContext(ctx, mkTar(t, []tarEntry{{name: "other", pax: map[string]string{PAXDigest: strings.Repeat("0", 64)}}}), filepath.Join(root, "c3"), true)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !errors.Is(err, ErrMissingContent) {
		t.Errorf("missing content: %v", err)
	}
	// Digest records in a plain upload are ignored: the content travels and is hashed.
	bc4, err := b.receiveContext(ctx, mkTar(t, []tarEntry{{name: "f", body: "real", pax: map[string]string{PAXDigest: bigDigest}}}), filepath.Join(root, "c4"), false)
	if err != nil {
		t.Fatal(err)
	}
	if bc4.digests["f"] == bigDigest {
		t.Error("a plain upload trusted a digest record")
	}
	// A path escaping the context fails the upload.
	if _, err := b.receiveContext(ctx, mkTar(t, []tarEntry{{name: "../../escape", body: "x"}}), filepath.Join(root, "c5"), false); err == nil {
		if _, serr := os.Stat(filepath.Join(root, "escape")); serr == nil {
			t.Error("context entry escaped its directory")
		}
	}
	if n, err := b.PruneStore(); err != nil || n != int64(len(big)) {
		t.Errorf("PruneStore = %d %v", n, err)
	}
}

// TestStoreFile covers both ways a large context file reaches the store: held in memory while the budget
// lasts, spooled through a temp file past it. Either way the store holds whole files named by their sha256.
func TestStoreFile(t *testing.T) {
	body := strings.Repeat("content ", 1000)
	sum := sha256.Sum256([]byte(body))
	want := hex.EncodeToString(sum[:])
	tests := []struct {
		name    string
		budget  int
		input   string // what the reader yields; shorter than body means the stream was cut
		present bool   // the store already holds the content
		wantErr bool
	}{
		{name: "held in memory", budget: len(body), input: body},
		{name: "spooled past the budget", budget: 0, input: body},
		{name: "spooled, already stored", budget: 0, input: body, present: true},
		{name: "spooled stream cut short", budget: 0, input: body[:100], wantErr: true},
		{name: "in-memory stream cut short", budget: len(body), input: body[:100], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			b := New(nil, nil, filepath.Join(root, "tmp"))
			if err := os.MkdirAll(b.storeDir(), 0o700); err != nil {
				t.Fatal(err)
			}
			if tt.present {
				if err := os.WriteFile(b.storePath(want), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			budget := tt.budget
			d, err := b.storeFile(strings.NewReader(tt.input), int64(len(body)), &budget, make([]byte, 4096))
			if (err != nil) != tt.wantErr {
				t.Fatalf("storeFile: %v, want error %v", err, tt.wantErr)
			}
			if budget != tt.budget {
				t.Errorf("budget = %d afterwards, want %d back", budget, tt.budget)
			}
			des, err := os.ReadDir(b.storeDir())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, de := range des {
				names = append(names, de.Name())
			}
			if tt.wantErr {
				if len(names) != 0 {
					t.Errorf("store holds %q after a failed ingest, want nothing", names)
				}
				return
			}
			if d != want {
				t.Errorf("digest = %s, want %s", d, want)
			}
			if len(names) != 1 || names[0] != want {
				t.Errorf("store holds %q, want only %s", names, want)
			}
			if got, _ := os.ReadFile(b.storePath(want)); string(got) != body {
				t.Errorf("stored content is %d bytes, want the %d written", len(got), len(body))
			}
		})
	}
}

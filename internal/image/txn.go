package image

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/content"
)

// txn is one operation's claim on blobs and layer chains. While held, they are never collected, so an import can
// write a blob outside the lock without a concurrent delete removing it before the new image exists, and a save
// can stream blobs of an image being deleted. release drops the claims and collects whatever no image uses: after
// a successful operation nothing, after a failed one exactly what it added — so a failed load leaves nothing.
type txn struct {
	s      *Store
	blobs  []digest.Digest
	chains []digest.Digest
}

func (s *Store) begin() *txn { return &txn{s: s} }

// holdBlob and holdChain may be called from several goroutines of one operation (a pull's downloads): the
// store's lock guards the txn's lists too.
func (t *txn) holdBlob(d digest.Digest) {
	t.s.mu.Lock()
	t.s.heldBlobs[d]++
	t.blobs = append(t.blobs, d)
	t.s.mu.Unlock()
}

func (t *txn) holdChain(c digest.Digest) {
	t.s.mu.Lock()
	t.s.heldChains[c]++
	t.chains = append(t.chains, c)
	t.s.mu.Unlock()
}

// keepBlob drops t's claims on blob d without collecting it: a failed pull keeps the layers it completed.
func (t *txn) keepBlob(d digest.Digest) {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.blobs = slices.DeleteFunc(t.blobs, func(b digest.Digest) bool {
		if b != d {
			return false
		}
		if t.s.heldBlobs[d]--; t.s.heldBlobs[d] <= 0 {
			delete(t.s.heldBlobs, d)
		}
		return true
	})
}

// holdImageLocked claims an existing image's blobs and chains; s.mu is held for writing.
func (t *txn) holdImageLocked(e *entry) {
	for _, b := range e.blobs() {
		t.s.heldBlobs[b]++
		t.blobs = append(t.blobs, b)
	}
	for _, c := range e.chainIDs {
		t.s.heldChains[c]++
		t.chains = append(t.chains, c)
	}
}

// release drops the claims and collects unused blobs and chains among them.
func (t *txn) release(ctx context.Context) {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range t.blobs {
		if s.heldBlobs[b]--; s.heldBlobs[b] <= 0 {
			delete(s.heldBlobs, b)
		}
	}
	for _, c := range t.chains {
		if s.heldChains[c]--; s.heldChains[c] <= 0 {
			delete(s.heldChains, c)
		}
	}
	s.collectLocked(ctx, t.blobs, t.chains)
	t.blobs, t.chains = nil, nil
}

// collectLocked deletes the given blobs and chains that no image uses and no operation holds. Chains are given
// bottom-up and removed top-down. It returns the removed chains and the bytes freed: the deleted blobs' sizes
// and what the layer store reports for the removed layers. s.mu is held for writing.
func (s *Store) collectLocked(ctx context.Context, blobs, chains []digest.Digest) (removed []digest.Digest, reclaimed int64) {
	usedBlobs, usedChains := s.referencedLocked()
	seen := map[digest.Digest]bool{}
	for _, b := range blobs {
		if seen[b] || usedBlobs[b] || s.heldBlobs[b] > 0 {
			continue
		}
		seen[b] = true
		info, infoErr := s.cs.Info(ctx, b)
		if err := s.cs.Delete(ctx, b); err != nil {
			if !errdefs.IsNotFound(err) {
				slog.WarnContext(ctx, "image: deleting blob", "digest", b, "err", err)
			}
			continue
		}
		if infoErr == nil {
			reclaimed += info.Size
		}
	}
	seenChain := map[digest.Digest]bool{}
	for _, c := range slices.Backward(chains) {
		if seenChain[c] || usedChains[c] || s.heldChains[c] > 0 {
			continue
		}
		seenChain[c] = true
		n, err := s.layers.RemoveLayer(ctx, c)
		if err != nil {
			if !errdefs.IsNotFound(err) {
				slog.WarnContext(ctx, "image: removing layer", "chain", c, "err", err)
			}
			continue
		}
		removed = append(removed, c)
		reclaimed += n
	}
	return removed, reclaimed
}

// removeImageLocked forgets image e (its references must be gone already) and collects its blobs and layers.
// It returns the removed chains and the bytes freed. s.mu is held for writing.
func (s *Store) removeImageLocked(ctx context.Context, e *entry) ([]digest.Digest, int64, error) {
	if err := os.Remove(s.recordPath(e.rec.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("delete image %s: %w", e.rec.ID, err)
	}
	delete(s.images, e.rec.ID)
	removed, reclaimed := s.collectLocked(ctx, e.blobs(), e.chainIDs)
	return removed, reclaimed, nil
}

// writeBlob stores r as a blob, claimed by t. With expected set, content that does not match is refused: the
// error wraps errdefs.ErrFailedPrecondition and the returned digest is what the content hashed to.
func (t *txn) writeBlob(ctx context.Context, r io.Reader, expected digest.Digest) (digest.Digest, int64, error) {
	got, size, commit, err := t.ingest(ctx, r, expected)
	if err != nil {
		return got, size, err
	}
	if err := commit(true); err != nil {
		return "", 0, err
	}
	return got, size, nil
}

// ingest is writeBlob in two steps: it writes and verifies r, and the returned commit makes the blob visible.
// Callers that act on the verdict before the commit's fsync (a streamed layer's unpacking) use it. A failed
// ingest needs no cleanup; a successful one must be finished with commit(true), or commit(false) to discard it.
func (t *txn) ingest(ctx context.Context, r io.Reader, expected digest.Digest) (digest.Digest, int64, func(keep bool) error, error) {
	if expected != "" {
		if err := content.ValidateDigest(expected); err != nil {
			return "", 0, nil, err
		}
	}
	w, err := t.s.cs.Writer(ctx, content.WithExpectedDigest(expected))
	if err != nil {
		return "", 0, nil, err
	}
	// Big writes: decompressors hand out 32 KiB at a time, and every write is a system call.
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := io.Copy(bw, content.ContextReader(ctx, r)); err != nil {
		w.Close()
		return "", 0, nil, err
	}
	if err := bw.Flush(); err != nil {
		w.Close()
		return "", 0, nil, err
	}
	got, size := w.Digest(), w.Size()
	if expected != "" && got != expected {
		w.Close()
		return got, size, nil, fmt.Errorf("content digest %s, expected %s: %w", got, expected, errdefs.ErrFailedPrecondition)
	}
	commit := func(keep bool) error {
		defer w.Close()
		if !keep {
			return nil
		}
		// Claim before commit: from here on a concurrent delete cannot collect the blob, even if it existed before.
		t.holdBlob(got)
		if err := w.Commit(ctx, size, got); err != nil && !errdefs.IsAlreadyExists(err) {
			return err
		}
		return nil
	}
	return got, size, commit, nil
}

// ensureLayers unpacks layers bottom-up through the LayerStore, claiming each chain. The layer blobs must already
// be claimed by t.
func (t *txn) ensureLayers(ctx context.Context, layers []ocispec.Descriptor, chainIDs []digest.Digest) error {
	s := t.s
	for i, c := range chainIDs {
		t.holdChain(c)
		var parent digest.Digest
		if i > 0 {
			parent = chainIDs[i-1]
		}
		blob := layers[i].Digest
		open := func() (io.ReadCloser, error) { return s.cs.Open(ctx, blob) }
		if err := s.layers.EnsureLayer(ctx, c, parent, open); err != nil {
			return fmt.Errorf("unpack layer %s: %w", c, err)
		}
	}
	return nil
}

// writeImage stores an image's config blob and a schema2 manifest for it, returning the (not yet visible) entry.
// The layer blobs must already be stored and claimed by t.
func (t *txn) writeImage(ctx context.Context, raw []byte, layers []ocispec.Descriptor, parent digest.Digest) (*entry, error) {
	id := digest.FromBytes(raw)
	if _, _, err := t.writeBlob(ctx, bytes.NewReader(raw), id); err != nil {
		return nil, fmt.Errorf("store image config: %w", err)
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: MediaTypeManifest,
		Config:    ocispec.Descriptor{MediaType: MediaTypeConfig, Digest: id, Size: int64(len(raw))},
		Layers:    layers,
	}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	md, _, err := t.writeBlob(ctx, bytes.NewReader(mb), "")
	if err != nil {
		return nil, fmt.Errorf("store image manifest: %w", err)
	}
	e, err := newEntry(record{ID: id, Manifest: md, Parent: parent}, raw, layers)
	if err != nil {
		return nil, err
	}
	e.manifest = ocispec.Descriptor{MediaType: MediaTypeManifest, Digest: md, Size: int64(len(mb))}
	return e, nil
}

// addLocked makes e visible, or returns the existing image with the same ID. s.mu is held for writing.
func (s *Store) addLocked(e *entry) (*entry, error) {
	if old := s.images[e.rec.ID]; old != nil {
		return old, nil
	}
	if err := s.saveRecordLocked(e.rec); err != nil {
		return nil, fmt.Errorf("save image %s: %w", e.rec.ID, err)
	}
	s.images[e.rec.ID] = e
	return e, nil
}

package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/berth/berth/internal/content"
)

// Media types of registry manifests and layers that Pull understands besides the OCI ones.
const (
	mediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	MediaTypeLayerGzip           = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeForeignLayer        = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// maxConcurrentDownloads is dockerd's default max-concurrent-downloads.
const maxConcurrentDownloads = 3

// PullOptions configures Pull.
type PullOptions struct {
	// Platform selects from a multi-platform index; linux/GOARCH (any variant) when nil.
	Platform *ocispec.Platform
	// Registry is the reference's registry domain ("docker.io"), recorded as where the layers came from.
	Registry string
	// Progress receives docker's pull messages.
	Progress ProgressFunc
}

// Pull fetches the image ref names (name:tag or name@digest) from f and makes it a local image, as
// `docker pull`: the manifest (or the platform's manifest from an index) and config are verified against their
// digests; each layer not already present is downloaded (three at a time), verified against its digest while
// streaming and, decompressed, against the config's diff_id, and stored uncompressed; layers are then unpacked
// bottom-up. Only then does the image become visible, with ref and name@<manifest digest> (its RepoDigest)
// pointing at it. A failed or interrupted pull leaves no image and no layer behind, but keeps the compressed
// bytes it downloaded so that pulling again resumes them with a Range request. It returns the image ID.
func (s *Store) Pull(ctx context.Context, f Fetcher, ref reference.Named, opts PullOptions) (digest.Digest, error) {
	prog := opts.Progress
	want := defaultPlatform()
	if opts.Platform != nil {
		if opts.Platform.OS != "" {
			want.OS = opts.Platform.OS
		}
		if opts.Platform.Architecture != "" {
			want.Architecture, want.Variant = opts.Platform.Architecture, opts.Platform.Variant
		}
	}
	if want.OS != "linux" {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("operating system is not supported: %s", want.OS))
	}
	tagOrDigest := ""
	switch r := ref.(type) {
	case reference.Canonical:
		tagOrDigest = r.Digest().String()
	case reference.NamedTagged:
		tagOrDigest = r.Tag()
	default:
		ref = reference.TagNameOnly(ref)
		tagOrDigest = ref.(reference.NamedTagged).Tag()
	}
	top, mb, err := f.Resolve(ctx, tagOrDigest)
	if err != nil {
		return "", pullError(ref, err)
	}
	// Only now, as dockerd: a refusal before it is the API's error response ("Error response from daemon").
	prog.send(Progress{ID: tagOrDigest, Status: "Pulling from " + reference.Path(ref), Plain: true})
	_, m, err := s.selectManifest(ctx, f, top, mb, want, opts.Platform != nil, ref)
	if err != nil {
		return "", err
	}
	raw, err := fetchSmall(ctx, f, m.Config)
	if err != nil {
		return "", err
	}
	var cfg ConfigFile
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid image config %s: %v", m.Config.Digest, err))
	}
	if cfg.RootFS.Type != "layers" || len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid manifest, layers length mismatch: expected %d, got %d",
			len(cfg.RootFS.DiffIDs), len(m.Layers)))
	}
	if cfg.OS != "" && cfg.OS != "linux" {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("image operating system %q cannot be used on this platform", cfg.OS))
	}
	if opts.Platform != nil && opts.Platform.Architecture != "" && cfg.Architecture != "" && cfg.Architecture != want.Architecture {
		return "", errdefs.ErrNotFound.WithMessage(fmt.Sprintf("image with reference %s was found but does not match the specified platform: wanted %s, actual: %s",
			reference.FamiliarString(ref), formatPlatform(want), formatPlatform(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})))
	}
	for i, d := range cfg.RootFS.DiffIDs {
		if err := content.ValidateDigest(d); err != nil {
			return "", err
		}
		if err := content.ValidateDigest(m.Layers[i].Digest); err != nil {
			return "", err
		}
	}

	t := s.begin()
	// Layers downloaded completely survive a failed pull (see keepLayers), so pulling again skips them.
	var completedMu sync.Mutex
	var completed []digest.Digest
	ok := false
	defer func() {
		if !ok {
			s.keepLayers(t, completed)
		}
		t.release(ctx)
	}()
	layers := make([]ocispec.Descriptor, len(m.Layers))
	var todo []int
	for i, l := range m.Layers {
		diffID := cfg.RootFS.DiffIDs[i]
		t.holdBlob(diffID)
		if info, err := s.cs.Info(ctx, diffID); err == nil {
			layers[i] = ocispec.Descriptor{MediaType: MediaTypeLayer, Digest: diffID, Size: info.Size}
			prog.send(Progress{ID: shortID(l.Digest.String()), Status: "Already exists"})
			continue
		}
		if l.MediaType == mediaTypeForeignLayer {
			return "", errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("foreign layer %s is not supported", l.Digest))
		}
		todo = append(todo, i)
		prog.send(Progress{ID: shortID(l.Digest.String()), Status: "Pulling fs layer"})
	}
	for n, i := range todo {
		if n >= maxConcurrentDownloads {
			prog.send(Progress{ID: shortID(m.Layers[i].Digest.String()), Status: "Waiting"})
		}
	}
	chains := ChainIDs(&cfg.Image)
	parentOf := func(i int) digest.Digest {
		if i == 0 {
			return ""
		}
		return chains[i-1]
	}
	// The layers below the first one to download are present: unpack them now (a no-op when they are), so the
	// first download can be unpacked while it streams instead of after all downloads.
	streamed := -1
	if len(todo) > 0 {
		for i := 0; i < todo[0]; i++ {
			t.holdChain(chains[i])
			blob := layers[i].Digest
			if err := s.layers.EnsureLayer(ctx, chains[i], parentOf(i), func() (io.ReadCloser, error) { return s.cs.Open(ctx, blob) }); err != nil {
				return "", fmt.Errorf("failed to register layer: %w", err)
			}
		}
		streamed = todo[0]
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxConcurrentDownloads)
	for _, i := range todo {
		g.Go(func() error {
			var unpack func(open func() (io.ReadCloser, error)) error
			if i == streamed {
				t.holdChain(chains[i])
				unpack = func(open func() (io.ReadCloser, error)) error {
					return s.layers.EnsureLayer(gctx, chains[i], parentOf(i), open)
				}
			}
			size, err := s.download(gctx, t, f, m.Layers[i], cfg.RootFS.DiffIDs[i], prog, unpack)
			if err != nil {
				return err
			}
			layers[i] = ocispec.Descriptor{MediaType: MediaTypeLayer, Digest: cfg.RootFS.DiffIDs[i], Size: size}
			completedMu.Lock()
			completed = append(completed, cfg.RootFS.DiffIDs[i])
			completedMu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}

	downloaded := map[int]bool{}
	for _, i := range todo {
		downloaded[i] = true
	}
	for i, c := range chains {
		t.holdChain(c)
		var parent digest.Digest
		if i > 0 {
			parent = chains[i-1]
		}
		blob, id, size := layers[i].Digest, shortID(m.Layers[i].Digest.String()), layers[i].Size
		open := func() (io.ReadCloser, error) {
			rc, err := s.cs.Open(ctx, blob)
			if err != nil || !downloaded[i] || i == streamed {
				return rc, err
			}
			return struct {
				io.Reader
				io.Closer
			}{&progressReader{r: rc, total: size, id: id, status: "Extracting", report: prog}, rc}, nil
		}
		if err := s.layers.EnsureLayer(ctx, c, parent, open); err != nil {
			return "", fmt.Errorf("failed to register layer: %w", err)
		}
		if downloaded[i] {
			prog.send(Progress{ID: id, Status: "Pull complete"})
		}
	}

	e, err := t.writeImage(ctx, raw, layers, "")
	if err != nil {
		return "", err
	}
	canonical, err := reference.WithDigest(reference.TrimNamed(ref), top.Digest)
	if err != nil {
		return "", err
	}
	tagged, _ := ref.(reference.NamedTagged)
	s.mu.Lock()
	e, err = s.addLocked(e)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	id := e.rec.ID
	upToDate := false
	if tagged != nil {
		upToDate = s.refs[tagged.String()].id == id
		s.setRefLocked(tagged, id)
	} else {
		_, upToDate = s.refs[canonical.String()]
	}
	s.setRefLocked(canonical, id)
	err = s.saveRefsLocked()
	s.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("pull: %w", err)
	}
	evs := []event{{"pull", id.String(), reference.FamiliarString(ref)}}
	if tagged != nil && !upToDate {
		evs = append(evs, event{"tag", id.String(), reference.FamiliarString(tagged)})
	}
	s.emit(evs...)
	for i, l := range m.Layers {
		src := LayerSource{Digest: l.Digest, MediaType: l.MediaType, Size: l.Size, Registry: opts.Registry, Repository: reference.Path(ref)}
		if err := s.addLayerSource(cfg.RootFS.DiffIDs[i], src); err != nil {
			slog.WarnContext(ctx, "image: recording layer source", "layer", l.Digest, "err", err)
		}
	}
	ok = true
	prog.send(Progress{Status: "Digest: " + top.Digest.String()})
	if upToDate {
		prog.send(Progress{Status: "Status: Image is up to date for " + reference.FamiliarString(ref)})
	} else {
		prog.send(Progress{Status: "Status: Downloaded newer image for " + reference.FamiliarString(ref)})
	}
	return id, nil
}

// selectManifest returns the image manifest to pull: top itself, or the entry of an index for platform want.
func (s *Store) selectManifest(ctx context.Context, f Fetcher, top ocispec.Descriptor, b []byte, want ocispec.Platform, explicit bool, ref reference.Named) (ocispec.Descriptor, *ocispec.Manifest, error) {
	for depth := 0; depth < 4; depth++ {
		var probe struct {
			SchemaVersion int             `json:"schemaVersion"`
			MediaType     string          `json:"mediaType"`
			Manifests     json.RawMessage `json:"manifests"`
			Config        json.RawMessage `json:"config"`
		}
		if err := json.Unmarshal(b, &probe); err != nil {
			return top, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid manifest %s: %v", top.Digest, err))
		}
		mt := top.MediaType
		if probe.MediaType != "" {
			mt = probe.MediaType
		}
		switch {
		case probe.SchemaVersion == 1 || mt == mediaTypeDockerSchema1 || mt == mediaTypeDockerSchema1Signed:
			return top, nil, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of %s to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2.", reference.FamiliarString(ref)))
		case probe.Manifests != nil || mt == ocispec.MediaTypeImageIndex || mt == mediaTypeDockerManifestList:
			var idx ocispec.Index
			if err := json.Unmarshal(b, &idx); err != nil {
				return top, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid index %s: %v", top.Digest, err))
			}
			next, ok := matchPlatform(idx.Manifests, want, explicit)
			if !ok {
				return top, nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no matching manifest for %s in the manifest list entries", formatPlatform(want)))
			}
			d, nb, err := f.Resolve(ctx, next.Digest.String())
			if err != nil {
				return top, nil, pullError(ref, err)
			}
			top, b = d, nb
		default:
			var m ocispec.Manifest
			if err := json.Unmarshal(b, &m); err != nil || probe.Config == nil {
				return top, nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid manifest %s", top.Digest))
			}
			return top, &m, nil
		}
	}
	return top, nil, errdefs.ErrInvalidArgument.WithMessage("index nesting too deep")
}

// matchPlatform picks want's entry: same OS and architecture, and the same variant when one was asked for
// (otherwise the first entry without a variant, then any).
func matchPlatform(descs []ocispec.Descriptor, want ocispec.Platform, explicit bool) (ocispec.Descriptor, bool) {
	var fallback *ocispec.Descriptor
	for i, d := range descs {
		p := d.Platform
		if p == nil {
			if len(descs) == 1 {
				return d, true
			}
			continue
		}
		if p.OS != want.OS || p.Architecture != want.Architecture {
			continue
		}
		if want.Variant != "" {
			if p.Variant == want.Variant {
				return d, true
			}
			continue
		}
		if p.Variant == "" {
			return d, true
		}
		if fallback == nil {
			fallback = &descs[i]
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return ocispec.Descriptor{}, false
}

func formatPlatform(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// pullError words a registry's refusal as dockerd does (moby's TranslatePullError): DENIED is "pull access
// denied", NAME_UNKNOWN "repository not found", MANIFEST_UNKNOWN "manifest not found"; anything else, such as
// "unauthorized: authentication required", is the registry's own words.
func pullError(ref reference.Named, err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "denied"):
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("pull access denied for %s, repository does not exist or may require 'docker login': %s",
			reference.FamiliarName(ref), msg))
	case strings.HasPrefix(msg, "name unknown"):
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("repository %s not found: %s", reference.FamiliarName(ref), msg))
	case errdefs.IsNotFound(err):
		return errdefs.ErrNotFound.WithMessage(fmt.Sprintf("manifest for %s not found: %s", reference.FamiliarString(ref), msg))
	}
	return err
}

// fetchSmall reads a config blob and verifies it.
func fetchSmall(ctx context.Context, f Fetcher, d ocispec.Descriptor) ([]byte, error) {
	if err := content.ValidateDigest(d.Digest); err != nil {
		return nil, err
	}
	if d.Size > maxJSONBlob {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("config %s is too large", d.Digest))
	}
	rc, _, err := f.Fetch(ctx, d, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(newVerifier(io.LimitReader(rc, maxJSONBlob+1), d.Digest, d.Size))
	if errors.Is(err, errVerify) {
		return nil, errdefs.ErrFailedPrecondition.WithMessage(fmt.Sprintf("image config verification failed for digest %s", d.Digest))
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// download fetches one compressed layer blob into the downloads directory (resuming what an earlier attempt
// left there), verifying it while it streams, and decompresses it into the content store as the uncompressed
// blob diffID, verified too. It returns the uncompressed size. Content that fails verification is discarded;
// anything else that fails keeps the partial download for the next attempt.
//
// With unpack set, the uncompressed stream is also unpacked while it downloads: unpack is given an open function
// whose reader ends with the verification's verdict (its Read and Close return the error when the content is
// wrong), so a layer store that checks them never commits unverified content.
func (s *Store) download(ctx context.Context, t *txn, f Fetcher, l ocispec.Descriptor, diffID digest.Digest, prog ProgressFunc,
	unpack func(open func() (io.ReadCloser, error)) error) (int64, error) {
	id := shortID(l.Digest.String())
	unlock, err := s.dl.lock(ctx, l.Digest)
	if err != nil {
		return 0, err
	}
	defer unlock()
	if info, err := s.cs.Info(ctx, diffID); err == nil {
		// A concurrent pull of the same layer finished it while this one waited.
		t.holdBlob(diffID)
		if unpack != nil {
			if err := unpack(func() (io.ReadCloser, error) { return s.cs.Open(ctx, diffID) }); err != nil {
				return 0, fmt.Errorf("failed to register layer: %w", err)
			}
		}
		prog.send(Progress{ID: id, Status: "Download complete"})
		return info.Size, nil
	}
	path := filepath.Join(s.downloadsDir(), l.Digest.Encoded())
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return 0, err
	}
	have := fi.Size()
	if l.Size >= 0 && have > l.Size {
		have = 0
	}
	var body io.ReadCloser = io.NopCloser(strings.NewReader(""))
	if have != l.Size {
		start := int64(0)
		if body, start, err = f.Fetch(ctx, l, have); err != nil {
			return 0, err
		}
		if start != have {
			have = start
		}
		if have > 0 {
			slog.DebugContext(ctx, "image: resuming download", "layer", l.Digest, "offset", have)
		}
	}
	defer body.Close()
	if err := file.Truncate(have); err != nil {
		return 0, err
	}
	if _, err := file.Seek(have, io.SeekStart); err != nil {
		return 0, err
	}
	pr := &progressReader{r: io.TeeReader(body, file), n: have, total: l.Size, id: id, status: "Downloading", report: prog}
	vr := newVerifier(io.MultiReader(io.NewSectionReader(file, 0, have), pr), l.Digest, l.Size)

	// Three stages, each on its own goroutine: receive, keep and verify the compressed bytes; decompress and
	// store (hashing again, for the diffID); unpack (the first layer only). Chunk pipes connect them.
	ab := newChunkPipe(4, 1<<20)
	received := make(chan error, 1)
	go func() {
		_, err := io.CopyBuffer(ab, vr, make([]byte, 1<<20))
		ab.CloseWithError(err)
		received <- err
	}()
	finishReceive := func() error {
		ab.CloseRead()
		body.Close()
		return <-received
	}
	rc, err := decompress(ctx, ab)
	if err != nil {
		transfer := pr.failed()
		finishReceive()
		return 0, s.downloadFailed(ctx, path, l.Digest, transfer, err)
	}
	var src io.Reader = rc
	var bc *chunkPipe
	unpacked := make(chan error, 1)
	if unpack != nil {
		bc = newChunkPipe(4, 1<<20)
		src = io.TeeReader(rc, bc)
		go func() {
			err := unpack(func() (io.ReadCloser, error) { return &verdictReader{bc}, nil })
			io.Copy(io.Discard, bc) // the layer existed, or the unpacker stopped early: let the download finish
			unpacked <- err
		}()
	}
	_, size, commit, err := t.ingest(ctx, src, diffID)
	rc.Close()
	if err == nil {
		// The decompressor may stop before the compressed stream's end: read the rest so it is verified too.
		_, err = io.Copy(io.Discard, ab)
	}
	// Whether the stream broke is decided before stopping the receiver, whose own failure would follow.
	transfer := pr.failed()
	if rerr := finishReceive(); err == nil && rerr != nil {
		err = rerr
	}
	if err == nil {
		// Verified: the compressed copy is no longer needed. Dropping it before the blob and the unpacked layer are
		// committed (which sync to disk) spares writing it to disk at all.
		file.Close()
		os.Remove(path)
	}
	if bc != nil {
		verdict := err
		if verdict != nil {
			verdict = fmt.Errorf("layer %s: %w", l.Digest, errVerify)
		}
		// The unpacked layer commits (syncing the filesystem) while the blob does.
		bc.CloseWithError(verdict)
	}
	if commit != nil {
		if cerr := commit(err == nil); err == nil {
			err = cerr
		}
	}
	if bc != nil {
		if uerr := <-unpacked; err == nil && uerr != nil {
			return 0, fmt.Errorf("failed to register layer: %w", uerr)
		}
	}
	if err != nil {
		return 0, s.downloadFailed(ctx, path, l.Digest, transfer, err)
	}
	prog.send(Progress{ID: id, Status: "Verifying Checksum"})
	prog.send(Progress{ID: id, Status: "Download complete"})
	os.Remove(path)
	return size, nil
}

// downloadFailed discards a download whose content is wrong and keeps one the transfer cut short (a network
// error, a short body, the pull cancelled) for resuming.
// keptSuffix names the marker of a layer blob kept after a failed pull: <downloads>/<diffID hex>.kept.
const keptSuffix = ".kept"

// keepLayers keeps the verified layer blobs of a failed pull in the content store, each marked in the downloads
// directory, so that the next pull finds them ("Already exists"). Marked blobs no image uses are deleted a day
// later (cleanKept).
func (s *Store) keepLayers(t *txn, diffIDs []digest.Digest) {
	for _, d := range diffIDs {
		if err := os.WriteFile(filepath.Join(s.downloadsDir(), d.Encoded()+keptSuffix), nil, 0o600); err != nil {
			continue
		}
		t.keepBlob(d)
	}
}

// cleanKept deletes the kept layer blobs of failed pulls older than a day that no image uses.
func (s *Store) cleanKept(ctx context.Context) {
	des, err := os.ReadDir(s.downloadsDir())
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	used, _ := s.referencedLocked()
	for _, de := range des {
		hex, isKept := strings.CutSuffix(de.Name(), keptSuffix)
		fi, err := de.Info()
		if !isKept || err != nil || time.Since(fi.ModTime()) < 24*time.Hour {
			continue
		}
		d := digest.NewDigestFromEncoded(digest.SHA256, hex)
		if content.ValidateDigest(d) == nil && !used[d] {
			if err := s.cs.Delete(ctx, d); err != nil && !errdefs.IsNotFound(err) {
				slog.WarnContext(ctx, "image: deleting a kept layer", "layer", d, "err", err)
			}
		}
		os.Remove(filepath.Join(s.downloadsDir(), de.Name()))
	}
}

// verdictReader is the unpacking side of a streamed download: reading to the end returns the download's
// verdict, and Close drains what the unpacker left unread (a tar's padding) and returns the verdict too.
type verdictReader struct{ pr io.Reader }

func (v *verdictReader) Read(p []byte) (int, error) { return v.pr.Read(p) }

func (v *verdictReader) Close() error {
	_, err := io.Copy(io.Discard, v.pr)
	return err
}

func (s *Store) downloadFailed(ctx context.Context, path string, d digest.Digest, transfer bool, err error) error {
	if localFailure(err) {
		// This host failed, not the content: say so (no space left on device...), and free what the download
		// holds.
		os.Remove(path)
		return fmt.Errorf("failed to register layer %s: %w", d, err)
	}
	// A body that ends early without an error is the registry's complete answer: wrong content.
	if ctx.Err() == nil && !transfer {
		os.Remove(path)
		slog.Warn("image: layer failed verification", "layer", d, "err", err)
		return verificationFailed(d)
	}
	return err
}

// localFailure reports whether err is this host's failure to store or unpack (a full or read-only disk, an I/O
// error, a quota), as opposed to content that does not verify.
func localFailure(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Package image owns Berth's local images and the references that name them: image records (config blob,
// manifest blob, parent) and repository references kept as files under <data-root>/image, the blobs themselves
// in internal/content, and the unpacked layers behind the LayerStore interface. It implements the Docker image
// operations that work on local images (import, commit, tag, delete, list, inspect, history, prune, save, load)
// and answers with its own records (Image, Summary, HistoryEntry, DeleteItem, PruneResult): the Docker API's
// shapes are internal/server's business.
//
// Images are Docker images: the image ID is the digest of the config blob; every image also has a schema2
// manifest blob whose layers are uncompressed tars (media type application/vnd.docker.image.rootfs.diff.tar), so
// a layer's blob digest is its diffID. Layers are unpacked once per chain ID.
//
// An image becomes visible only after its blobs are verified and committed and its layers are unpacked; deleting
// an image removes the blobs and layers no remaining image uses.
package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth/berth/internal/atomicfile"
	"github.com/berth/berth/internal/content"
)

// Media types of the manifests and blobs the store writes.
const (
	MediaTypeManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeConfig   = "application/vnd.docker.container.image.v1+json"
	MediaTypeLayer    = "application/vnd.docker.image.rootfs.diff.tar"
)

// emptyLayerDiffID is the diffID of a tar with no entries (two zero blocks): a commit of an unchanged container.
const emptyLayerDiffID = digest.Digest("sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")

// maxJSONBlob bounds how much of a manifest or config is read into memory.
const maxJSONBlob = 32 << 20

// LayerStore unpacks layer blobs; implemented by the daemon over internal/snapshot and internal/archive.
//
// A layer is named by its chain ID (see identity.ChainID) and sits on top of its parent's chain. The image store
// calls EnsureLayer bottom-up before an image becomes visible, and RemoveLayer top-down for chains no remaining
// image uses once an image is deleted:
//
//	ls.EnsureLayer(ctx, c0, "", open0) // c0 = diffID0
//	ls.EnsureLayer(ctx, c1, c0, open1) // c1 = sha256(c0 + " " + diffID1)
//	...
//	ls.RemoveLayer(ctx, c1)
//	ls.RemoveLayer(ctx, c0)
type LayerStore interface {
	// EnsureLayer makes the layer with chainID available, unpacking the tar from open() on top of parent if needed.
	EnsureLayer(ctx context.Context, chainID, parent digest.Digest, open func() (io.ReadCloser, error)) error
	// RemoveLayer removes the unpacked layer chainID and returns the bytes its files took. The implementation may
	// refuse (a container still uses it); the image store then logs and leaves the layer.
	RemoveLayer(ctx context.Context, chainID digest.Digest) (int64, error)
}

// ContentStore is the part of internal/content the image store needs; *content.Store implements it.
type ContentStore interface {
	content.Provider
	content.Ingester
	content.Manager
}

// ConfigFile is an image config blob as Docker writes it: the OCI image config with Docker's config extensions
// (healthcheck, onbuild, shell) and the few legacy top-level fields Docker still fills in.
type ConfigFile struct {
	dockerspec.DockerOCIImage
	// Comment is the commit message or import comment.
	Comment string `json:"comment,omitempty"`
	// Container is the ID of the container the image was committed from.
	Container string `json:"container,omitempty"`
}

// Image is a snapshot of one local image. Get returns a copy the caller may keep and modify.
type Image struct {
	// ID is "sha256:" + the config blob's hex digest, as Docker names images.
	ID digest.Digest
	// Config is the parsed config blob.
	Config ConfigFile
	// Manifest describes the image's schema2 manifest blob in the content store.
	Manifest ocispec.Descriptor
	// Layers describes the uncompressed layer blobs bottom-up; each Digest equals the layer's diffID.
	Layers []ocispec.Descriptor
	// Parent is the ID of the image this one was committed from, if that is known locally.
	Parent digest.Digest
	// RepoTags and RepoDigests are the familiar references naming the image, sorted.
	RepoTags    []string
	RepoDigests []string
	// LastTagTime is when a reference was last added to the image.
	LastTagTime time.Time
	// Size is the sum of the layers' sizes in bytes.
	Size int64
}

// ChainIDs returns the chain ID of each layer, bottom-up.
func (img *Image) ChainIDs() []digest.Digest { return ChainIDs(&img.Config.Image) }

// TopChainID returns the chain ID a container's snapshot is created on, or "" for an image with no layers.
func (img *Image) TopChainID() digest.Digest {
	ids := img.ChainIDs()
	if len(ids) == 0 {
		return ""
	}
	return ids[len(ids)-1]
}

// ChainIDs returns the chain ID of each of img's layers, bottom-up: chainID(L0) = diffID(L0) and
// chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)).
func ChainIDs(img *ocispec.Image) []digest.Digest {
	ids := append([]digest.Digest(nil), img.RootFS.DiffIDs...)
	return identity.ChainIDs(ids)
}

// Option configures a Store.
type Option func(*Store)

// EventHook is told about image events. action is one of "tag", "untag", "delete", "import", "load", "save";
// ref is the familiar reference for "tag" and the image ID otherwise, like the "name" attribute of Docker's
// image events.
type EventHook func(action, id, ref string)

// WithEventHook reports image events to fn. fn is called without the store's lock held.
func WithEventHook(fn EventHook) Option {
	return func(s *Store) { s.hook = fn }
}

// WithClock sets the clock used for creation and tag times (for tests).
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// Store holds the local images. It is safe for concurrent use: slow work (writing blobs, unpacking layers,
// streaming a save) happens outside the lock, protected from concurrent deletes by holds on the blobs and
// chains in use (see txn).
type Store struct {
	root   string
	cs     ContentStore
	layers LayerStore
	hook   EventHook
	now    func() time.Time

	mu     sync.RWMutex
	images map[digest.Digest]*entry
	refs   map[string]refEntry // by reference.String()
	// held counts in-flight operations using a blob or a chain; such blobs and chains are never collected.
	heldBlobs  map[digest.Digest]int
	heldChains map[digest.Digest]int

	srcMu sync.Mutex // layer sources (see LayerSource)
	dl    keyedMutex // partial downloads, by blob digest
}

// entry is an image in memory.
type entry struct {
	rec      record
	raw      []byte // the config blob
	config   ConfigFile
	manifest ocispec.Descriptor
	layers   []ocispec.Descriptor
	chainIDs []digest.Digest
}

func (e *entry) size() int64 {
	var n int64
	for _, l := range e.layers {
		n += l.Size
	}
	return n
}

// layerSizes pairs each layer's chain ID with its size.
func (e *entry) layerSizes() []Layer {
	out := make([]Layer, 0, len(e.layers))
	for i, l := range e.layers {
		if i < len(e.chainIDs) {
			out = append(out, Layer{ChainID: e.chainIDs[i], Size: l.Size})
		}
	}
	return out
}

func (e *entry) created() time.Time {
	if e.config.Created == nil {
		return time.Time{}
	}
	return *e.config.Created
}

// blobs lists every blob the image references.
func (e *entry) blobs() []digest.Digest {
	out := []digest.Digest{e.manifest.Digest, e.rec.ID}
	for _, l := range e.layers {
		out = append(out, l.Digest)
	}
	return out
}

// record is the file <root>/images/<hex>.json.
type record struct {
	ID          digest.Digest `json:"id"`
	Manifest    digest.Digest `json:"manifest"`
	Parent      digest.Digest `json:"parent,omitempty"`
	LastTagTime time.Time     `json:"lastTagTime,omitzero"`
}

type refEntry struct {
	ref reference.Named
	id  digest.Digest
}

// New opens the image store whose files live in root (normally <data-root>/image): image records in
// root/images/<id-hex>.json and references in root/repositories.json. Records whose blobs are missing are
// skipped with a warning.
func New(ctx context.Context, root string, cs ContentStore, layers LayerStore, opts ...Option) (*Store, error) {
	s := &Store{
		root:       root,
		cs:         cs,
		layers:     layers,
		now:        time.Now,
		images:     map[digest.Digest]*entry{},
		refs:       map[string]refEntry{},
		heldBlobs:  map[digest.Digest]int{},
		heldChains: map[digest.Digest]int{},
	}
	for _, o := range opts {
		o(s)
	}
	for _, d := range []string{s.imagesDir(), s.tmpDir(), s.downloadsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	if err := cleanDir(s.tmpDir()); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	s.cleanDownloads()
	if err := s.loadRecords(ctx); err != nil {
		return nil, err
	}
	if err := s.loadRefs(); err != nil {
		return nil, err
	}
	s.cleanKept(ctx)
	return s, nil
}

func (s *Store) imagesDir() string { return filepath.Join(s.root, "images") }
func (s *Store) tmpDir() string    { return filepath.Join(s.root, "tmp") }
func (s *Store) refsFile() string  { return filepath.Join(s.root, "repositories.json") }

func (s *Store) loadRecords(ctx context.Context) error {
	des, err := os.ReadDir(s.imagesDir())
	if err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.imagesDir(), name))
		if err != nil {
			return fmt.Errorf("image store: %w", err)
		}
		var rec record
		if err := json.Unmarshal(b, &rec); err != nil {
			slog.WarnContext(ctx, "image: skipping unreadable record", "file", name, "err", err)
			continue
		}
		e, err := s.readEntry(ctx, rec)
		if err != nil {
			slog.WarnContext(ctx, "image: skipping record", "image", rec.ID, "err", err)
			continue
		}
		s.images[rec.ID] = e
	}
	return nil
}

// readEntry rebuilds an image from its record and blobs.
func (s *Store) readEntry(ctx context.Context, rec record) (*entry, error) {
	if err := content.ValidateDigest(rec.ID); err != nil {
		return nil, err
	}
	mb, err := content.ReadBlob(ctx, s.cs, rec.Manifest, maxJSONBlob)
	if err != nil {
		return nil, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", rec.Manifest, err)
	}
	raw, err := content.ReadBlob(ctx, s.cs, rec.ID, maxJSONBlob)
	if err != nil {
		return nil, err
	}
	e, err := newEntry(rec, raw, m.Layers)
	if err != nil {
		return nil, err
	}
	e.manifest = ocispec.Descriptor{MediaType: MediaTypeManifest, Digest: rec.Manifest, Size: int64(len(mb))}
	return e, nil
}

func newEntry(rec record, raw []byte, layers []ocispec.Descriptor) (*entry, error) {
	var cfg ConfigFile
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("image config %s: %v: %w", rec.ID, err, errdefs.ErrInvalidArgument)
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image %s: %d layers for %d diff_ids: %w", rec.ID, len(layers), len(cfg.RootFS.DiffIDs),
			errdefs.ErrInvalidArgument)
	}
	return &entry{rec: rec, raw: raw, config: cfg, layers: layers, chainIDs: ChainIDs(&cfg.Image)}, nil
}

// repositoriesFile is the on-disk shape of repositories.json, like Docker's: repository -> reference -> image ID.
type repositoriesFile struct {
	Repositories map[string]map[string]digest.Digest
}

func (s *Store) loadRefs() error {
	b, err := os.ReadFile(s.refsFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("image store: %w", err)
	}
	var rf repositoriesFile
	if err := json.Unmarshal(b, &rf); err != nil {
		return fmt.Errorf("image store: %s: %w", s.refsFile(), err)
	}
	for _, refs := range rf.Repositories {
		for r, id := range refs {
			named, err := reference.ParseNormalizedNamed(r)
			if err != nil {
				slog.Warn("image: skipping bad reference", "ref", r, "err", err)
				continue
			}
			if _, ok := s.images[id]; !ok {
				slog.Warn("image: skipping reference to missing image", "ref", r, "image", id)
				continue
			}
			s.refs[named.String()] = refEntry{ref: named, id: id}
		}
	}
	return nil
}

// saveRefsLocked persists the references; s.mu is held for writing.
func (s *Store) saveRefsLocked() error {
	rf := repositoriesFile{Repositories: map[string]map[string]digest.Digest{}}
	for k, r := range s.refs {
		name := r.ref.Name()
		if rf.Repositories[name] == nil {
			rf.Repositories[name] = map[string]digest.Digest{}
		}
		rf.Repositories[name][k] = r.id
	}
	b, err := json.Marshal(rf)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.refsFile(), b, 0o600)
}

func (s *Store) recordPath(id digest.Digest) string {
	return filepath.Join(s.imagesDir(), id.Encoded()+".json")
}

func (s *Store) saveRecordLocked(rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.recordPath(rec.ID), b, 0o600)
}

func cleanDir(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if err := os.RemoveAll(filepath.Join(dir, de.Name())); err != nil {
			return err
		}
	}
	return nil
}

// event is an image event to report once the lock is released.
type event struct{ action, id, ref string }

func (s *Store) emit(evs ...event) {
	if s.hook == nil {
		return
	}
	for _, e := range evs {
		s.hook(e.action, e.id, e.ref)
	}
}

// snapshotLocked copies an entry into an Image; s.mu is held.
func (s *Store) snapshotLocked(e *entry) (*Image, error) {
	var cfg ConfigFile
	if err := json.Unmarshal(e.raw, &cfg); err != nil {
		return nil, fmt.Errorf("image config %s: %w", e.rec.ID, err)
	}
	tags, digests := s.familiarRefsLocked(e.rec.ID)
	return &Image{
		ID:          e.rec.ID,
		Config:      cfg,
		Manifest:    e.manifest,
		Layers:      append([]ocispec.Descriptor(nil), e.layers...),
		Parent:      e.rec.Parent,
		RepoTags:    tags,
		RepoDigests: digests,
		LastTagTime: e.rec.LastTagTime,
		Size:        e.size(),
	}, nil
}

// Get returns the image named by refOrID: a name[:tag], a name@digest, a full ID "sha256:<hex>", a bare full hex
// or an unambiguous ID prefix. An unknown image is an error wrapping errdefs.ErrNotFound whose text is Docker's
// "No such image: <ref>".
func (s *Store) Get(ctx context.Context, refOrID string) (*Image, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, err := s.resolveLocked(refOrID)
	if err != nil {
		return nil, err
	}
	return s.snapshotLocked(e)
}

// Config returns the OCI config of the image named by refOrID (see Get).
func (s *Store) Config(ctx context.Context, refOrID string) (*ocispec.Image, error) {
	img, err := s.Get(ctx, refOrID)
	if err != nil {
		return nil, err
	}
	cfg := img.Config.Image
	// The Docker extensions live in the shadowing field; mirror the OCI part so the returned config is complete.
	cfg.Config = img.Config.Config.ImageConfig
	return &cfg, nil
}

// Size returns the sum of the layer sizes of the image named by refOrID (see Get), for `system df`.
func (s *Store) Size(ctx context.Context, refOrID string) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, err := s.resolveLocked(refOrID)
	if err != nil {
		return 0, err
	}
	return e.size(), nil
}

// LayerReferenced reports whether any image uses the layer chainID, so the daemon can release a layer a deleted
// image left behind once the last container on it is gone.
func (s *Store) LayerReferenced(chainID digest.Digest) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, chains := s.referencedLocked()
	return chains[chainID] || s.heldChains[chainID] > 0
}

// referencedLocked returns the blobs and chains used by the images in the store.
func (s *Store) referencedLocked() (blobs, chains map[digest.Digest]bool) {
	blobs, chains = map[digest.Digest]bool{}, map[digest.Digest]bool{}
	for _, e := range s.images {
		for _, b := range e.blobs() {
			blobs[b] = true
		}
		for _, c := range e.chainIDs {
			chains[c] = true
		}
	}
	return blobs, chains
}

// shortID is Docker's 12-hex-digit form of an ID.
func shortID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

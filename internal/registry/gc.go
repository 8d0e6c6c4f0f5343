package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/berth/berth/internal/content"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
)

// DefaultGCGracePeriod is how long a freshly linked or written blob is kept
// even when no manifest references it yet: a client pushes layers first and
// the manifest last.
const DefaultGCGracePeriod = time.Hour

// GCOptions tunes one garbage collection.
type GCOptions struct {
	// DryRun marks and reports what would be deleted without deleting it.
	DryRun bool
	// DeleteUntagged also deletes manifest revisions that no tag, kept index
	// or kept subject (for referrers) reaches.
	DeleteUntagged bool
	// GracePeriod protects blobs linked or written less than this long ago;
	// zero means DefaultGCGracePeriod.
	GracePeriod time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// GCReport says what a garbage collection deleted (or, in a dry run, would delete).
type GCReport struct {
	BlobsDeleted     []digest.Digest
	BytesFreed       int64
	ManifestsDeleted []digest.Digest
}

// gcState coordinates the collector with writers while the registry serves.
//
// The argument that a blob in use is never deleted:
//
//  1. Every write that makes a blob or manifest reachable (upload commit,
//     cross-repository mount, manifest put) holds lock.RLock from checking
//     what it depends on until its link files are written, and, while a GC
//     runs, records the digests it linked or referenced in touched.
//  2. GC starts by installing touched under lock.Lock, so each write either
//     finished before the mark phase (its links are on disk for the mark to
//     see) or is recorded in touched.
//  3. The sweep holds lock.Lock for its whole duration, so no write is half
//     done while it runs. Before deleting it adds everything touched (and,
//     for touched manifests, everything they reference, recursively) to the
//     live set, and re-checks each candidate blob's repository links: one
//     linked within the grace period is kept.
//  4. Writes that start after the sweep see the sweep's result: a deleted
//     blob has no links, so a manifest referencing it is refused
//     (MANIFEST_BLOB_UNKNOWN) and an upload of it recreates it.
//
// Uploads in progress are content ingests, which GC never touches; whatever
// digest they finally commit to is protected by (1)-(4). Pulls take no lock:
// the content store makes a blob visible only whole and verified.
type gcState struct {
	lock sync.RWMutex
	run  sync.Mutex // one GC at a time

	mu      sync.Mutex
	touched *touchSet // non-nil while a GC runs
}

type touchSet struct {
	blobs     map[digest.Digest]bool
	manifests map[digest.Digest]bool
}

// holdWrites takes the read side of the GC lock for a write that links
// content; call the returned func when the links are on disk.
func (r *Registry) holdWrites() func() {
	r.gc.lock.RLock()
	return r.gc.lock.RUnlock
}

// touchBlobs records blobs a write linked, for a GC that is running.
func (r *Registry) touchBlobs(ds ...digest.Digest) {
	r.gc.mu.Lock()
	defer r.gc.mu.Unlock()
	if t := r.gc.touched; t != nil {
		for _, d := range ds {
			t.blobs[d] = true
		}
	}
}

// touchManifest records a manifest a write stored, for a GC that is running.
func (r *Registry) touchManifest(d digest.Digest) {
	r.gc.mu.Lock()
	defer r.gc.mu.Unlock()
	if t := r.gc.touched; t != nil {
		t.manifests[d] = true
	}
}

// RunGC collects garbage every interval until ctx is done, logging each report.
func (r *Registry) RunGC(ctx context.Context, interval time.Duration, opts GCOptions) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep, err := r.GC(ctx, opts)
		if err != nil {
			if ctx.Err() == nil {
				r.log.ErrorContext(ctx, "registry garbage collection failed", "error", err)
			}
			continue
		}
		r.log.InfoContext(ctx, "registry garbage collection",
			"blobsDeleted", len(rep.BlobsDeleted), "bytesFreed", rep.BytesFreed,
			"manifestsDeleted", len(rep.ManifestsDeleted), "dryRun", opts.DryRun)
	}
}

// revisionRef names a manifest revision in one repository.
type revisionRef struct {
	repo string
	d    digest.Digest
}

// GC deletes blobs no kept manifest references and that were not linked
// within the grace period and, with DeleteUntagged, unreachable manifest
// revisions. It runs while the registry serves; see gcState for why that is safe.
func (r *Registry) GC(ctx context.Context, opts GCOptions) (GCReport, error) {
	if opts.GracePeriod == 0 {
		opts.GracePeriod = DefaultGCGracePeriod
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r.gc.run.Lock()
	defer r.gc.run.Unlock()

	r.gc.lock.Lock()
	r.gc.mu.Lock()
	r.gc.touched = &touchSet{blobs: map[digest.Digest]bool{}, manifests: map[digest.Digest]bool{}}
	r.gc.mu.Unlock()
	r.gc.lock.Unlock()
	defer func() {
		r.gc.mu.Lock()
		r.gc.touched = nil
		r.gc.mu.Unlock()
	}()

	cutoff := opts.Now().Add(-opts.GracePeriod)
	live, dead, err := r.mark(ctx, opts.DeleteUntagged, cutoff)
	if err != nil {
		return GCReport{}, err
	}
	blobs, err := r.listBlobs(ctx)
	if err != nil {
		return GCReport{}, err
	}

	r.gc.lock.Lock()
	defer r.gc.lock.Unlock()
	r.gc.mu.Lock()
	touched := r.gc.touched
	r.gc.mu.Unlock()
	for d := range touched.blobs {
		live[d] = true
	}
	for d := range touched.manifests {
		r.markClosure(ctx, live, d)
	}

	var rep GCReport
	deletedManifest := map[digest.Digest]bool{}
	for _, rv := range dead {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if live[rv.d] {
			continue
		}
		if !opts.DryRun {
			if err := os.Remove(r.store.revisionPath(rv.repo, rv.d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return rep, err
			}
		}
		if !deletedManifest[rv.d] {
			deletedManifest[rv.d] = true
			rep.ManifestsDeleted = append(rep.ManifestsDeleted, rv.d)
		}
	}
	repos, err := r.store.listRepos()
	if err != nil {
		return rep, err
	}
	for _, d := range blobs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if live[d] {
			continue
		}
		info, err := r.store.blobs.Info(ctx, d)
		if err != nil || info.CreatedAt.After(cutoff) {
			continue // gone already, or written within the grace period
		}
		if r.linkedSince(repos, d, cutoff) {
			continue
		}
		if !opts.DryRun {
			for _, repo := range repos {
				if err := os.Remove(r.store.layerLink(repo, d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return rep, err
				}
			}
			if err := r.store.blobs.Delete(ctx, d); err != nil && !errdefs.IsNotFound(err) {
				return rep, err
			}
		}
		rep.BlobsDeleted = append(rep.BlobsDeleted, d)
		rep.BytesFreed += info.Size
	}
	return rep, nil
}

// linkedSince re-checks, under the sweep lock, whether any repository linked
// the blob after the cutoff.
func (r *Registry) linkedSince(repos []string, d digest.Digest, cutoff time.Time) bool {
	for _, repo := range repos {
		if fi, err := os.Stat(r.store.layerLink(repo, d)); err == nil && fi.ModTime().After(cutoff) {
			return true
		}
	}
	return false
}

// mark returns the live digests (blobs and manifests) and the manifest
// revisions that nothing keeps (only when deleteUntagged).
func (r *Registry) mark(ctx context.Context, deleteUntagged bool, cutoff time.Time) (map[digest.Digest]bool, []revisionRef, error) {
	repos, err := r.store.listRepos()
	if err != nil {
		return nil, nil, err
	}
	live := map[digest.Digest]bool{}
	var dead []revisionRef
	for _, repo := range repos {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		d, err := r.markRepo(ctx, repo, deleteUntagged, cutoff, live)
		if err != nil {
			return nil, nil, fmt.Errorf("repository %s: %w", repo, err)
		}
		dead = append(dead, d...)
	}
	return live, dead, nil
}

func (r *Registry) markRepo(ctx context.Context, repo string, deleteUntagged bool, cutoff time.Time, live map[digest.Digest]bool) ([]revisionRef, error) {
	links, err := r.store.listLinks(repo)
	if err != nil {
		return nil, err
	}
	for d, mtime := range links {
		if mtime.After(cutoff) {
			live[d] = true
		}
	}
	revs, err := r.store.listRevisions(repo)
	if err != nil {
		return nil, err
	}
	docs := map[digest.Digest]*manifestDoc{}
	kept := map[digest.Digest]bool{}
	for _, d := range revs {
		data, mt, err := r.store.getManifest(ctx, repo, d)
		if err == nil {
			if doc, _, perr := parseManifest(mt, data); perr == nil {
				docs[d] = doc
				continue
			}
		}
		kept[d] = true // unreadable: never delete what we cannot understand
	}
	if !deleteUntagged {
		for _, d := range revs {
			kept[d] = true
		}
	} else {
		tags, err := r.store.listTags(repo)
		if err != nil {
			return nil, err
		}
		for _, t := range tags {
			if d, err := r.store.resolveTag(repo, t); err == nil {
				kept[d] = true
			}
		}
	}
	// Index children and referrers of kept manifests are kept, to a fixpoint.
	for changed := true; changed; {
		changed = false
		for _, d := range revs {
			doc := docs[d]
			if doc == nil {
				continue
			}
			if kept[d] {
				for _, c := range doc.Manifests {
					if !kept[c.Digest] {
						kept[c.Digest], changed = true, true
					}
				}
			} else if doc.Subject != nil && kept[doc.Subject.Digest] {
				kept[d], changed = true, true
			}
		}
	}
	var dead []revisionRef
	for _, d := range revs {
		if !kept[d] {
			dead = append(dead, revisionRef{repo: repo, d: d})
			continue
		}
		live[d] = true
		if doc := docs[d]; doc != nil {
			markRefs(live, doc)
		}
	}
	return dead, nil
}

// markRefs marks what a manifest owns; its subject is not ownership.
func markRefs(live map[digest.Digest]bool, doc *manifestDoc) {
	if doc.Config != nil {
		live[doc.Config.Digest] = true
	}
	for _, l := range doc.Layers {
		live[l.Digest] = true
	}
	for _, m := range doc.Manifests {
		live[m.Digest] = true
	}
}

// markClosure marks a manifest and, reading the global blobs, everything it
// references recursively.
func (r *Registry) markClosure(ctx context.Context, live map[digest.Digest]bool, d digest.Digest) {
	seen := map[digest.Digest]bool{}
	var walk func(d digest.Digest)
	walk = func(d digest.Digest) {
		if seen[d] {
			return
		}
		seen[d] = true
		live[d] = true
		data, err := content.ReadBlob(ctx, r.store.blobs, d, maxManifestSize)
		if err != nil {
			return // a layer, or gone
		}
		doc, _, err := parseManifest("", data)
		if err != nil {
			return
		}
		markRefs(live, doc)
		for _, m := range doc.Manifests {
			walk(m.Digest)
		}
	}
	walk(d)
}

// listBlobs returns every global blob's digest.
func (r *Registry) listBlobs(ctx context.Context) ([]digest.Digest, error) {
	var out []digest.Digest
	err := r.store.blobs.Walk(ctx, func(i content.Info) error {
		out = append(out, i.Digest)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, err
}

// listLinks returns the repository's blob links and when each was written.
func (s *store) listLinks(name string) (map[digest.Digest]time.Time, error) {
	out := map[digest.Digest]time.Time{}
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		entries, err := os.ReadDir(s.repoPath(name, "_layers", alg.String()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			d := digest.NewDigestFromEncoded(alg, e.Name())
			if d.Validate() != nil {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed concurrently
			}
			out[d] = fi.ModTime()
		}
	}
	return out, nil
}

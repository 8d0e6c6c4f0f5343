package image

import (
	"context"
	"fmt"
	"maps"
	"path"
	"sort"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/berth/berth/internal/filters"
)

// Summary is one image as a listing shows it.
type Summary struct {
	// ID is the image ID ("sha256:<hex>"); ParentID the image it was built or committed from, "" if none.
	ID       digest.Digest
	ParentID digest.Digest
	// RepoTags and RepoDigests are the familiar references naming the image that the listing's filters kept;
	// both empty for a dangling image.
	RepoTags    []string
	RepoDigests []string
	// Created is the config's creation time, zero when the config has none.
	Created time.Time
	// Size is the sum of the layers' sizes in bytes.
	Size   int64
	Labels map[string]string
	// Layers are the image's layers, bottom-up, by chain ID with their own sizes: what disk usage shares.
	Layers []Layer
}

// Layer is one layer of an image as a listing reports it.
type Layer struct {
	ChainID digest.Digest
	Size    int64
}

// List returns the images as `docker images` shows them, newest first. Without all, intermediate images
// (untagged parents of other images) are hidden. Filters, as Docker's: dangling=true|false, reference=<glob>
// (against name:tag, name, and their canonical forms), label=<key>[=<value>], before=<image>, since=<image>,
// until=<timestamp>. Several before/until values mean the earliest, several since the latest. A dangling
// image has empty RepoTags (the CLI shows <none>:<none>).
func (s *Store) List(ctx context.Context, all bool, f filters.Args) ([]Summary, error) {
	if err := f.Validate("dangling", "reference", "label", "before", "since", "until"); err != nil {
		return nil, err
	}
	danglingOnly, err := f.GetBoolOrDefault("dangling", false)
	if err != nil {
		return nil, err
	}
	var before, since time.Time
	for _, v := range f.Get("until") {
		t, err := filters.ParseTimestamp(v, s.now())
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid value for 'until' filter: %v", err))
		}
		if before.IsZero() || t.Before(before) {
			before = t
		}
	}
	for _, p := range f.Get("reference") {
		if _, err := path.Match(p, ""); err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter 'reference=%s': %v", p, err))
		}
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, b := range f.Get("before") {
		e, err := s.resolveLocked(b)
		if err != nil {
			return nil, err
		}
		if c := e.created(); before.IsZero() || c.Before(before) {
			before = c
		}
	}
	for _, b := range f.Get("since") {
		e, err := s.resolveLocked(b)
		if err != nil {
			return nil, err
		}
		if c := e.created(); c.After(since) {
			since = c
		}
	}

	out := []Summary{}
	for id, e := range s.images {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hasChildren := s.hasChildrenLocked(id)
		if danglingOnly && hasChildren {
			continue
		}
		created := e.created()
		if !before.IsZero() && !created.Before(before) {
			continue
		}
		if !since.IsZero() && !created.After(since) {
			continue
		}
		if !f.MatchKVList("label", e.config.Config.Labels) {
			continue
		}
		tags, digests := []string{}, []string{}
		for _, r := range s.refsOfLocked(id) {
			if ps := f.Get("reference"); len(ps) > 0 && !matchReference(ps, r) {
				continue
			}
			if _, ok := r.(reference.Canonical); ok {
				digests = append(digests, reference.FamiliarString(r))
			} else if _, ok := r.(reference.NamedTagged); ok {
				tags = append(tags, reference.FamiliarString(r))
			}
		}
		if len(tags) == 0 && len(digests) == 0 {
			if !all && hasChildren {
				continue
			}
			if f.Contains("dangling") && !danglingOnly {
				continue
			}
			if f.Contains("reference") {
				continue
			}
		} else if danglingOnly && len(tags) > 0 {
			continue
		}
		out = append(out, Summary{
			ID:          id,
			ParentID:    e.rec.Parent,
			RepoTags:    tags,
			RepoDigests: digests,
			Created:     created,
			Size:        e.size(),
			Labels:      maps.Clone(e.config.Config.Labels),
			Layers:      e.layerSizes(),
		})
	}
	// Newest first; Docker compares seconds, so images created in the same second are ordered by ID.
	sort.Slice(out, func(i, j int) bool {
		if ci, cj := out[i].Created.Unix(), out[j].Created.Unix(); ci != cj {
			return ci > cj
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// matchReference reports whether one of the glob patterns matches r as Docker matches it: its familiar form
// with and without the tag ("app:1", "app") or its full name with and without it ("docker.io/library/app:1").
func matchReference(patterns []string, r reference.Named) bool {
	targets := []string{reference.FamiliarString(r), reference.FamiliarName(r), reference.TagNameOnly(r).String(), r.Name()}
	for _, p := range patterns {
		for _, t := range targets {
			if ok, _ := path.Match(p, t); ok {
				return true
			}
		}
	}
	return false
}

// HistoryEntry is one step of an image's history.
type HistoryEntry struct {
	// ID is the image this step produced, when that image is known locally (the image itself and its parent
	// chain); "" otherwise.
	ID digest.Digest
	// Created is when the step ran, zero when the config does not say.
	Created   time.Time
	CreatedBy string
	Comment   string
	// Size is the size of the layer the step added, 0 for a step that added none.
	Size int64
	// Tags are the familiar tags of ID, if any.
	Tags []string
}

// History returns the history of the image refOrID names, newest entry first: the top entry carries the
// image's ID and tags, the next ones its parent's and so on up the parent chain, the rest no ID, as Docker.
func (s *Store) History(ctx context.Context, refOrID string) ([]HistoryEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, err := s.resolveLocked(refOrID)
	if err != nil {
		return nil, err
	}
	out := []HistoryEntry{}
	layer := 0
	for _, h := range e.config.History {
		var size int64
		if !h.EmptyLayer {
			if layer >= len(e.layers) {
				return nil, errdefs.ErrInvalidArgument.WithMessage("too many non-empty layers in History section")
			}
			size = e.layers[layer].Size
			layer++
		}
		var created time.Time
		if h.Created != nil {
			created = *h.Created
		}
		out = append(out, HistoryEntry{Created: created, CreatedBy: h.CreatedBy, Comment: h.Comment, Size: size})
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	cur := e
	for i := range out {
		out[i].ID = cur.rec.ID
		tags, _ := s.familiarRefsLocked(cur.rec.ID)
		if len(tags) > 0 {
			out[i].Tags = tags
		}
		if cur.rec.Parent == "" {
			break
		}
		if cur = s.images[cur.rec.Parent]; cur == nil {
			break
		}
	}
	return out, nil
}

package image

import (
	"context"
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	imagetypes "github.com/moby/moby/api/types/image"

	"github.com/berth/berth/internal/filters"
)

// List returns the images as `docker images` shows them, newest first. Without all, intermediate images
// (untagged parents of other images) are hidden. Filters, as Docker's: dangling=true|false, reference=<glob>
// (against name:tag, name, and their canonical forms), label=<key>[=<value>], before=<image>, since=<image>,
// until=<timestamp>. Several before/until values mean the earliest, several since the latest. A dangling
// image has empty RepoTags (the CLI shows <none>:<none>).
func (s *Store) List(ctx context.Context, all bool, f filters.Args) ([]imagetypes.Summary, error) {
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

	out := []imagetypes.Summary{}
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
		out = append(out, imagetypes.Summary{
			Containers:  -1,
			Created:     created.Unix(),
			ID:          id.String(),
			Labels:      e.config.Config.Labels,
			ParentID:    e.rec.Parent.String(),
			RepoDigests: digests,
			RepoTags:    tags,
			SharedSize:  -1,
			Size:        e.size(),
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Created != out[j].Created {
			return out[i].Created > out[j].Created
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

// Inspect returns `docker image inspect` for the image refOrID names (see Get).
func (s *Store) Inspect(ctx context.Context, refOrID string) (imagetypes.InspectResponse, error) {
	img, err := s.Get(ctx, refOrID)
	if err != nil {
		return imagetypes.InspectResponse{}, err
	}
	cfg := img.Config
	comment := cfg.Comment
	if comment == "" && len(cfg.History) > 0 {
		comment = cfg.History[len(cfg.History)-1].Comment
	}
	var created string
	if cfg.Created != nil {
		created = cfg.Created.Format(time.RFC3339Nano)
	}
	layers := make([]string, 0, len(cfg.RootFS.DiffIDs))
	for _, d := range cfg.RootFS.DiffIDs {
		layers = append(layers, d.String())
	}
	imgCfg := cloneConfig(cfg.Config)
	resp := imagetypes.InspectResponse{
		ID:           img.ID.String(),
		RepoTags:     img.RepoTags,
		RepoDigests:  img.RepoDigests,
		Comment:      comment,
		Created:      created,
		Author:       cfg.Author,
		Config:       &imgCfg,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Os:           cfg.OS,
		OsVersion:    cfg.OSVersion,
		Size:         img.Size,
		GraphDriver:  s.graphDriver(img.ChainIDs()),
		RootFS:       imagetypes.RootFS{Type: cfg.RootFS.Type, Layers: layers},
		Metadata:     imagetypes.Metadata{LastTagTime: img.LastTagTime},
	}
	return resp, nil
}

// History returns `docker history` for the image refOrID names: newest entry first; the top entry carries the
// image's ID and tags, the next ones its parent's and so on up the parent chain, the rest "<missing>", as Docker.
func (s *Store) History(ctx context.Context, refOrID string) ([]imagetypes.HistoryResponseItem, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, err := s.resolveLocked(refOrID)
	if err != nil {
		return nil, err
	}
	var out []imagetypes.HistoryResponseItem
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
		var created int64
		if h.Created != nil {
			created = h.Created.Unix()
		}
		out = append(out, imagetypes.HistoryResponseItem{
			ID:        "<missing>",
			Created:   created,
			CreatedBy: h.CreatedBy,
			Comment:   h.Comment,
			Size:      size,
		})
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	cur := e
	for i := range out {
		out[i].ID = cur.rec.ID.String()
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
	if out == nil {
		out = []imagetypes.HistoryResponseItem{}
	}
	return out, nil
}

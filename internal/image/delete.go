package image

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/berth/berth/internal/filters"
)

// ContainerUse is a container that uses an image.
type ContainerUse struct {
	// ID is the container's full ID.
	ID string
	// Running is whether the container is running (or paused or restarting): such a use cannot be forced.
	Running bool
}

// UsageFunc reports the containers using the image imageID ("sha256:<hex>"); nil reports none. The store calls
// it with its lock held, so it must not call back into the store.
type UsageFunc func(imageID string) []ContainerUse

// DeleteItem is one thing a delete or prune removed: a reference (Untagged, in its familiar form) or an image
// or unpacked layer (Deleted, the image ID or the layer's chain ID). Exactly one of the two is set.
type DeleteItem struct {
	Untagged string
	Deleted  digest.Digest
}

// PruneResult is what a prune removed, in order, and the bytes that freed on disk.
type PruneResult struct {
	Deleted []DeleteItem
	// Reclaimed counts the blobs (configs, manifests, layer tars) deleted from the content store and the files
	// of the unpacked layers removed.
	Reclaimed int64
}

// delOp accumulates what one delete did.
type delOp struct {
	records     []DeleteItem
	events      []event
	reclaimed   int64
	refsChanged bool
}

func (op *delOp) untag(id digest.Digest, ref reference.Named) {
	op.records = append(op.records, DeleteItem{Untagged: reference.FamiliarString(ref)})
	op.events = append(op.events, event{"untag", id.String(), id.String()})
	op.refsChanged = true
}

// Delete removes the image refOrID names, with Docker's `docker rmi` semantics:
//   - by reference, the reference is untagged; the image itself is deleted only if that was its last reference;
//   - by ID, the image and all its references are deleted, unless it is referenced from several repositories
//     (a conflict unless force);
//   - an image used by a stopped container is a conflict unless force; by a running container, or one with
//     dependent child images, always.
//
// Deleting an image removes the blobs and layers no remaining image uses and, unless noPrune, its untagged
// parents. It returns what went, in Docker's order: references untagged, then images and layers deleted.
// Conflicts wrap errdefs.ErrConflict.
func (s *Store) Delete(ctx context.Context, refOrID string, force, noPrune bool, usedBy UsageFunc) ([]DeleteItem, error) {
	op := &delOp{}
	s.mu.Lock()
	err := s.deleteLocked(ctx, op, refOrID, force, !noPrune, usedBy)
	if op.refsChanged {
		if serr := s.saveRefsLocked(); serr != nil && err == nil {
			err = fmt.Errorf("delete %s: %w", refOrID, serr)
		}
	}
	s.mu.Unlock()
	s.emit(op.events...)
	if err != nil {
		return nil, err
	}
	return op.records, nil
}

func (s *Store) deleteLocked(ctx context.Context, op *delOp, refOrID string, force, prune bool, usedBy UsageFunc) error {
	e, err := s.resolveLocked(refOrID)
	if err != nil {
		return err
	}
	id := e.rec.ID
	repoRefs := s.refsOfLocked(id)
	var users []ContainerUse
	if usedBy != nil {
		users = usedBy(id.String())
	}

	removedRepositoryRef := false
	parsed, perr := reference.ParseNormalizedNamed(refOrID)
	byRef := !isIDPrefix(id, refOrID) && perr == nil
	if byRef {
		parsed = reference.TagNameOnly(parsed)
		if _, ok := s.refs[parsed.String()]; !ok {
			byRef = false // found some other way (an ID prefix, a manifest digest): delete as by ID
		}
	}
	if byRef {
		// Untagging the last reference of an image a container uses would leave it dangling under the container:
		// that must be forced.
		if !force && isSingleReference(repoRefs) && len(users) > 0 {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf(
				"conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s",
				refOrID, shortID(users[0].ID), shortID(id.String())))
		}
		delete(s.refs, parsed.String())
		op.untag(id, parsed)
		repoRefs = s.refsOfLocked(id)

		// Removing a repository's last tag also removes its digest references.
		if _, isCanonical := parsed.(reference.Canonical); !isCanonical {
			foundTag := false
			for _, r := range repoRefs {
				if _, c := r.(reference.Canonical); !c && r.Name() == parsed.Name() {
					foundTag = true
					break
				}
			}
			if !foundTag {
				var remaining []reference.Named
				for _, r := range repoRefs {
					if _, c := r.(reference.Canonical); c && r.Name() == parsed.Name() {
						delete(s.refs, r.String())
						op.untag(id, r)
					} else {
						remaining = append(remaining, r)
					}
				}
				repoRefs = remaining
			}
		}
		if len(repoRefs) > 0 {
			return nil
		}
		removedRepositoryRef = true
	} else if isSingleReference(repoRefs) {
		// By ID, with all references in one repository: they go too, unless something else conflicts.
		mask := conflictHard
		if !force {
			mask |= conflictSoft &^ conflictActiveReference
		}
		if c := s.checkConflictLocked(e, mask, users); c != nil {
			return c.err()
		}
		for _, r := range repoRefs {
			delete(s.refs, r.String())
			op.untag(id, r)
		}
	}
	return s.deleteImageLocked(ctx, op, e, force, prune, removedRepositoryRef, usedBy)
}

// deleteImageLocked deletes e itself and, with prune, its untagged parents. quiet (the image just lost its last
// reference) ignores conflicts unless the image is dangling and unused, as Docker does.
func (s *Store) deleteImageLocked(ctx context.Context, op *delOp, e *entry, force, prune, quiet bool, usedBy UsageFunc) error {
	id := e.rec.ID
	var users []ContainerUse
	if usedBy != nil {
		users = usedBy(id.String())
	}
	mask := conflictHard
	if !force {
		mask |= conflictSoft
	}
	if c := s.checkConflictLocked(e, mask, users); c != nil {
		if quiet && (!s.isDanglingLocked(id) || c.used) {
			return nil
		}
		return c.err()
	}
	for _, r := range s.refsOfLocked(id) {
		delete(s.refs, r.String())
		op.untag(id, r)
	}
	removed, reclaimed, err := s.removeImageLocked(ctx, e)
	if err != nil {
		return err
	}
	op.reclaimed += reclaimed
	op.events = append(op.events, event{"delete", id.String(), id.String()})
	op.records = append(op.records, DeleteItem{Deleted: id})
	for _, c := range removed {
		op.records = append(op.records, DeleteItem{Deleted: c})
	}
	if !prune || e.rec.Parent == "" {
		return nil
	}
	parent := s.images[e.rec.Parent]
	if parent == nil {
		return nil
	}
	return s.deleteImageLocked(ctx, op, parent, false, true, true, usedBy)
}

type conflictType int

const (
	conflictDependentChild conflictType = 1 << iota
	conflictRunningContainer
	conflictActiveReference
	conflictStoppedContainer
	conflictHard = conflictDependentChild | conflictRunningContainer
	conflictSoft = conflictActiveReference | conflictStoppedContainer
)

type deleteConflict struct {
	id   digest.Digest
	hard bool
	used bool
	msg  string
}

func (c *deleteConflict) err() error {
	force := "must be forced"
	if c.hard {
		force = "cannot be forced"
	}
	return errdefs.ErrConflict.WithMessage(fmt.Sprintf("conflict: unable to delete %s (%s) - %s", shortID(c.id.String()), force, c.msg))
}

// checkConflictLocked returns the first conflict in mask that deleting e would cause; s.mu is held.
func (s *Store) checkConflictLocked(e *entry, mask conflictType, users []ContainerUse) *deleteConflict {
	id := e.rec.ID
	if mask&conflictDependentChild != 0 && s.hasChildrenLocked(id) {
		return &deleteConflict{id: id, hard: true, msg: "image has dependent child images"}
	}
	if mask&conflictRunningContainer != 0 {
		for _, u := range users {
			if u.Running {
				return &deleteConflict{id: id, hard: true, used: true, msg: "image is being used by running container " + shortID(u.ID)}
			}
		}
	}
	if mask&conflictActiveReference != 0 && len(s.refsOfLocked(id)) > 0 {
		return &deleteConflict{id: id, msg: "image is referenced in multiple repositories"}
	}
	if mask&conflictStoppedContainer != 0 {
		for _, u := range users {
			if !u.Running {
				return &deleteConflict{id: id, used: true, msg: "image is being used by stopped container " + shortID(u.ID)}
			}
		}
	}
	return nil
}

func (s *Store) hasChildrenLocked(id digest.Digest) bool {
	for _, e := range s.images {
		if e.rec.Parent == id {
			return true
		}
	}
	return false
}

// Descendants returns the ID of the image refOrID names and of every image built on it (whose parent chain
// reaches it): what `docker ps --filter ancestor=<image>` matches. Only images built or committed here have a
// parent; a pulled image built FROM another is not its descendant, as in Docker.
func (s *Store) Descendants(ctx context.Context, refOrID string) ([]digest.Digest, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, err := s.resolveLocked(refOrID)
	if err != nil {
		return nil, err
	}
	out := []digest.Digest{e.rec.ID}
	for i := 0; i < len(out); i++ {
		for id, c := range s.images {
			if c.rec.Parent == out[i] {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

func (s *Store) isDanglingLocked(id digest.Digest) bool {
	return len(s.refsOfLocked(id)) == 0 && !s.hasChildrenLocked(id)
}

// isSingleReference reports whether refs hold at most one tag and all of them are in one repository.
func isSingleReference(refs []reference.Named) bool {
	if len(refs) <= 1 {
		return len(refs) == 1
	}
	var single reference.Named
	canonical := map[string]bool{}
	for _, r := range refs {
		if _, ok := r.(reference.Canonical); ok {
			canonical[r.Name()] = true
		} else if single == nil {
			single = r
		} else {
			return false
		}
	}
	if single == nil {
		single = refs[0]
	}
	return len(canonical) == 1 && canonical[single.Name()]
}

// Prune deletes unused images like `docker image prune`: dangling ones (no tags, no children), or with all (or
// filter dangling=false) every image no container uses. Filters: dangling, until, label, label!.
func (s *Store) Prune(ctx context.Context, all bool, f filters.Args, usedBy UsageFunc) (PruneResult, error) {
	if err := f.Validate("dangling", "until", "label", "label!"); err != nil {
		return PruneResult{}, err
	}
	d, err := f.GetBoolOrDefault("dangling", true)
	if err != nil {
		return PruneResult{}, err
	}
	danglingOnly := !all && d
	until, err := f.Until(s.now())
	if err != nil {
		return PruneResult{}, err
	}

	op := &delOp{}
	s.mu.Lock()
	var candidates []digest.Digest
	for id, e := range s.images {
		hasChildren := s.hasChildrenLocked(id)
		if danglingOnly && hasChildren {
			continue
		}
		if len(s.refsOfLocked(id)) == 0 && hasChildren {
			continue // an intermediate image; pruning its child prunes it
		}
		if !until.IsZero() && (e.config.Created == nil || e.created().After(until)) {
			continue
		}
		if !f.MatchLabels(e.config.Config.Labels) {
			continue
		}
		if usedBy != nil && len(usedBy(id.String())) > 0 {
			continue
		}
		candidates = append(candidates, id)
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i] < candidates[j] })

	for _, id := range candidates {
		if err := ctx.Err(); err != nil {
			break
		}
		if s.images[id] == nil {
			continue // pruned as a parent already
		}
		refs := s.refsOfLocked(id)
		if len(refs) == 0 {
			s.pruneOneLocked(ctx, op, id.Encoded(), usedBy)
			continue
		}
		shouldDelete := !danglingOnly
		if !shouldDelete {
			hasTag := false
			for _, r := range refs {
				if _, ok := r.(reference.NamedTagged); ok {
					hasTag = true
					break
				}
			}
			shouldDelete = !hasTag
		}
		if shouldDelete {
			for _, r := range refs {
				// Untagging a repository's last tag takes its digest references along: skip those.
				if _, ok := s.refs[r.String()]; ok {
					s.pruneOneLocked(ctx, op, r.String(), usedBy)
				}
			}
		}
	}
	var err2 error
	if op.refsChanged {
		err2 = s.saveRefsLocked()
	}
	s.mu.Unlock()
	s.emit(op.events...)
	report := PruneResult{Deleted: op.records, Reclaimed: op.reclaimed}
	if err2 != nil {
		return report, fmt.Errorf("prune: %w", err2)
	}
	return report, ctx.Err()
}

// pruneOneLocked deletes one image or reference without force; failures (conflicts) skip it, as in Docker.
func (s *Store) pruneOneLocked(ctx context.Context, op *delOp, refOrID string, usedBy UsageFunc) {
	sub := &delOp{}
	if err := s.deleteLocked(ctx, sub, refOrID, false, true, usedBy); err != nil {
		if !errdefs.IsConflict(err) {
			slog.WarnContext(ctx, "image: prune", "image", refOrID, "err", err)
		}
	}
	op.records = append(op.records, sub.records...)
	op.events = append(op.events, sub.events...)
	op.reclaimed += sub.reclaimed
	op.refsChanged = op.refsChanged || sub.refsChanged
}

package image

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// noSuchImage is Docker's not-found error for a reference or ID, e.g. "No such image: busybox:latest".
func noSuchImage(ref reference.Reference) error {
	if named, ok := ref.(reference.Named); ok {
		ref = reference.TagNameOnly(named)
	}
	return errdefs.ErrNotFound.WithMessage("No such image: " + reference.FamiliarString(ref))
}

func noSuchImageString(s string) error {
	return errdefs.ErrNotFound.WithMessage("No such image: " + s)
}

// parseTag parses a reference that names a tag, defaulting to ":latest"; digest references are refused.
func parseTag(s string) (reference.NamedTagged, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	if _, ok := named.(reference.Canonical); ok {
		return nil, errdefs.ErrInvalidArgument.WithMessage("refusing to create a tag with a digest reference")
	}
	tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
	if !ok {
		return nil, fmt.Errorf("invalid tag %q: %w", s, errdefs.ErrInvalidArgument)
	}
	return tagged, nil
}

// resolveLocked finds the image refOrID names, the way Docker's GetImage does: a reference first, then an ID or
// ID prefix. s.mu is held.
func (s *Store) resolveLocked(refOrID string) (*entry, error) {
	ref, err := reference.ParseAnyReference(refOrID)
	if err != nil {
		// Not a reference, but maybe still an ID prefix such as "sha256:abc".
		if e := s.searchIDLocked(refOrID); e != nil {
			return e, nil
		}
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	named, ok := ref.(reference.Named)
	if !ok {
		// A full ID, "sha256:<hex>" or bare hex.
		d, ok := ref.(reference.Digested)
		if ok {
			if e := s.images[d.Digest()]; e != nil {
				return e, nil
			}
		}
		return nil, noSuchImage(ref)
	}
	if e := s.lookupRefLocked(named); e != nil {
		return e, nil
	}
	if e := s.searchIDLocked(refOrID); e != nil {
		return e, nil
	}
	return nil, noSuchImage(ref)
}

// lookupRefLocked finds the image a reference points at; s.mu is held.
func (s *Store) lookupRefLocked(named reference.Named) *entry {
	named = reference.TagNameOnly(named)
	if r, ok := s.refs[named.String()]; ok {
		return s.images[r.id]
	}
	// name@digest also finds an image by its manifest digest, when the image is in that repository.
	if c, ok := named.(reference.Canonical); ok {
		for _, r := range s.refs {
			if r.ref.Name() != c.Name() {
				continue
			}
			if e := s.images[r.id]; e != nil && e.manifest.Digest == c.Digest() {
				return e
			}
		}
	}
	return nil
}

// searchIDLocked finds the one image whose ID starts with prefix ("sha256:" optional); nil when none or
// ambiguous (Docker reports both as "No such image"). s.mu is held.
func (s *Store) searchIDLocked(prefix string) *entry {
	p := strings.TrimPrefix(prefix, digest.SHA256.String()+":")
	if p == "" || len(p) > 64 {
		return nil
	}
	for _, c := range p {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return nil
		}
	}
	var found *entry
	for id, e := range s.images {
		if strings.HasPrefix(id.Encoded(), p) {
			if found != nil {
				return nil
			}
			found = e
		}
	}
	return found
}

// isIDPrefix reports whether refOrID names id by (a prefix of) its ID rather than by a reference.
func isIDPrefix(id digest.Digest, refOrID string) bool {
	return strings.HasPrefix(id.String(), refOrID) || strings.HasPrefix(id.Encoded(), refOrID)
}

// refsOfLocked returns the references to id, sorted; s.mu is held.
func (s *Store) refsOfLocked(id digest.Digest) []reference.Named {
	var out []reference.Named
	for _, r := range s.refs {
		if r.id == id {
			out = append(out, r.ref)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// familiarRefsLocked returns the familiar tags and digests of id, never nil; s.mu is held.
func (s *Store) familiarRefsLocked(id digest.Digest) (tags, digests []string) {
	tags, digests = []string{}, []string{}
	for _, r := range s.refsOfLocked(id) {
		if _, ok := r.(reference.Canonical); ok {
			digests = append(digests, reference.FamiliarString(r))
		} else if _, ok := r.(reference.NamedTagged); ok {
			tags = append(tags, reference.FamiliarString(r))
		}
	}
	return tags, digests
}

// setRefLocked points ref at id and returns the image it pointed at before ("" if none); the caller persists
// the references. s.mu is held for writing.
func (s *Store) setRefLocked(ref reference.Named, id digest.Digest) digest.Digest {
	old := s.refs[ref.String()].id
	s.refs[ref.String()] = refEntry{ref: ref, id: id}
	if e := s.images[id]; e != nil {
		e.rec.LastTagTime = s.now().UTC()
		if err := s.saveRecordLocked(e.rec); err != nil {
			// LastTagTime is informational; the reference itself is what must persist.
			slog.Warn("image: saving tag time", "image", id, "err", err)
		}
	}
	return old
}

// Tag makes target (a name, ":latest" by default) point at the image source names (see Get).
func (s *Store) Tag(ctx context.Context, source, target string) error {
	tagged, err := parseTag(target)
	if err != nil {
		return err
	}
	s.mu.Lock()
	e, err := s.resolveLocked(source)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	old := s.setRefLocked(tagged, e.rec.ID)
	if err := s.saveRefsLocked(); err != nil {
		if old == "" {
			delete(s.refs, tagged.String())
		} else {
			s.refs[tagged.String()] = refEntry{ref: tagged, id: old}
		}
		s.mu.Unlock()
		return fmt.Errorf("tag %s: %w", reference.FamiliarString(tagged), err)
	}
	s.mu.Unlock()
	s.emit(event{"tag", e.rec.ID.String(), reference.FamiliarString(tagged)})
	return nil
}

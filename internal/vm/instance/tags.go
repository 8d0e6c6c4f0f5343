package instance

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Tags are set and removed on any resource by its ID: an instance (i-…, or an instance's name), a security
// group (sg-…), a key pair (key-…) or an image (ami-…). An image is the engine's, shared by every account; its
// tags are each account's own (as an EC2 account's tags on an AMI shared with it are), kept in a small store
// beside the key pairs. A removed image's tags stay there unseen: its AMI ID names no other image.

// imageTagsFile keeps the images' tags: a list of {owner, ami, tags}.
func (s *Service) imageTagsFile() string { return filepath.Join(s.cfg.Root, "imagetags.json") }

type imageTagRecord struct {
	Owner string            `json:"owner,omitempty"`
	AMI   string            `json:"ami"`
	Tags  map[string]string `json:"tags"`
}

func (s *Service) loadImageTags() error {
	var list []imageTagRecord
	if err := readJSON(s.imageTagsFile(), &list); err != nil {
		return err
	}
	for _, r := range list {
		if len(r.Tags) == 0 {
			continue
		}
		if s.imageTags[r.Owner] == nil {
			s.imageTags[r.Owner] = map[string]map[string]string{}
		}
		s.imageTags[r.Owner][r.AMI] = r.Tags
	}
	return nil
}

// saveImageTags writes the images' tags; the caller holds s.mu.
func (s *Service) saveImageTags() error {
	list := []imageTagRecord{}
	for owner, byAMI := range s.imageTags {
		for ami, tags := range byAMI {
			if len(tags) > 0 {
				list = append(list, imageTagRecord{Owner: owner, AMI: ami, Tags: tags})
			}
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Owner != list[j].Owner {
			return list[i].Owner < list[j].Owner
		}
		return list[i].AMI < list[j].AMI
	})
	return writeJSON(s.imageTagsFile(), list)
}

// Images lists the engine's images (every account sees them all: they are the AMIs), with the caller's tags.
func (s *Service) Images(ctx context.Context) ([]Image, error) {
	if s.images == nil {
		return nil, nil
	}
	list, err := s.images.List(ctx)
	if err != nil {
		return nil, err
	}
	tags := s.ImageTags(ctx)
	for i := range list {
		list[i].Tags = tags[AMIID(list[i].ID)]
	}
	return list, nil
}

// ImageTags returns the caller's tags on images, by AMI ID (Berth's own API: those of no account).
func (s *Service) ImageTags(ctx context.Context) map[string]map[string]string {
	sc := scopeOf(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]string{}
	for ami, tags := range s.imageTags[sc.owner] {
		out[ami] = copyTags(tags)
	}
	return out
}

// CreateTags sets tags on the resource id (a key with an empty value is a tag too, as in EC2); a key it has
// already gets the new value.
func (s *Service) CreateTags(ctx context.Context, id string, tags map[string]string) error {
	return s.updateTags(ctx, id, func(have map[string]string) map[string]string {
		if have == nil {
			have = map[string]string{}
		}
		for k, v := range tags {
			have[k] = v
		}
		return have
	})
}

// DeleteTags removes the keys from the resource id's tags; a key it does not have is not an error.
func (s *Service) DeleteTags(ctx context.Context, id string, keys []string) error {
	return s.updateTags(ctx, id, func(have map[string]string) map[string]string {
		for _, k := range keys {
			delete(have, k)
		}
		if len(have) == 0 {
			return nil
		}
		return have
	})
}

// updateTags applies change to a copy of the resource's tags and records the result; on a failed write the
// resource keeps its tags.
func (s *Service) updateTags(ctx context.Context, id string, change func(map[string]string) map[string]string) error {
	sc := scopeOf(ctx)
	var image Image
	if strings.HasPrefix(id, "ami-") {
		img, err := s.resolveImage(ctx, id)
		if err != nil {
			return err
		}
		image = img
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case image.ID != "":
		ami := AMIID(image.ID)
		byAMI := s.imageTags[sc.owner]
		if byAMI == nil {
			byAMI = map[string]map[string]string{}
			s.imageTags[sc.owner] = byAMI
		}
		old := byAMI[ami]
		if tags := change(copyTags(old)); tags != nil {
			byAMI[ami] = tags
		} else {
			delete(byAMI, ami)
		}
		if err := s.saveImageTags(); err != nil {
			byAMI[ami] = old
			return err
		}
	case IsID("sg", id):
		g, err := s.groupRef(sc, id)
		if err != nil {
			return err
		}
		old := g.Tags
		g.Tags = change(copyTags(old))
		if err := s.saveGroups(); err != nil {
			g.Tags = old
			return err
		}
	case IsID("key", id):
		k, err := s.keyRef(sc, id)
		if err != nil {
			return err
		}
		old := k.Tags
		k.Tags = change(copyTags(old))
		if err := s.saveKeys(); err != nil {
			k.Tags = old
			return err
		}
	case strings.HasPrefix(id, "sg-"):
		return newError(CodeInvalidGroupNotFound, fmt.Sprintf("The security group '%s' does not exist", id), errNotFound)
	case strings.HasPrefix(id, "key-"):
		return newError(CodeInvalidKeyPairNotFound, fmt.Sprintf("The key pair '%s' does not exist", id), errNotFound)
	default:
		inst, err := s.ref(sc, id)
		if err != nil {
			return err
		}
		old := inst.Tags
		inst.Tags = change(copyTags(old))
		if err := s.saveInstance(inst); err != nil {
			inst.Tags = old
			return err
		}
	}
	return nil
}

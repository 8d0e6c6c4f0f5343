package ec2api

import (
	"sort"
	"strings"
)

// taggable is a resource tags are put on: its ID, EC2's name of its type and its tags.
type taggable struct {
	ID, Type string
	Tags     map[string]string
}

// resources lists every taggable resource (instances, security groups, key pairs, images).
func (s *Service) resources(c *call) ([]taggable, error) {
	var out []taggable
	insts, err := s.b.Instances(c.ctx)
	if err != nil {
		return nil, err
	}
	for _, i := range insts {
		out = append(out, taggable{ID: i.ID, Type: "instance", Tags: i.Tags})
	}
	groups, err := s.b.SecurityGroups(c.ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		out = append(out, taggable{ID: g.ID, Type: "security-group", Tags: g.Tags})
	}
	keys, err := s.b.KeyPairs(c.ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		out = append(out, taggable{ID: k.ID, Type: "key-pair", Tags: k.Tags})
	}
	imgs, err := s.b.Images(c.ctx)
	if err != nil {
		return nil, err
	}
	for _, img := range imgs {
		out = append(out, taggable{ID: AMIID(img.ID), Type: "image", Tags: img.Tags})
	}
	return out, nil
}

// taggedResources resolves ResourceId.N, with each kind's EC2 error for an ID that is malformed or unknown.
func (s *Service) taggedResources(c *call) ([]taggable, error) {
	ids := c.f.list("ResourceId")
	if len(ids) == 0 {
		return nil, errMissing("resourceIdSet")
	}
	all, err := s.resources(c)
	if err != nil {
		return nil, err
	}
	byID := map[string]taggable{}
	for _, r := range all {
		byID[r.ID] = r
	}
	var out []taggable
	for _, id := range ids {
		r, ok := byID[id]
		if ok {
			out = append(out, r)
			continue
		}
		kind, _, _ := strings.Cut(id, "-")
		switch {
		case kind == "i" && instanceIDPattern.MatchString(id):
			return nil, errInstancesNotFound([]string{id})
		case kind == "sg" && groupIDPattern.MatchString(id):
			return nil, errGroupNotFound(id)
		case kind == "ami" && amiPattern.MatchString(id):
			return nil, errAMINotFound([]string{id})
		case kind == "key" && keyIDPattern.MatchString(id):
			return nil, errKeyPairIDNotFound(id)
		}
		return nil, Errorf(CodeInvalidID, "The ID '%s' is not valid", id)
	}
	return out, nil
}

func (s *Service) createTags(c *call) (response, error) {
	tags := c.f.tagList("Tag")
	if len(tags) == 0 {
		return nil, errMissing("tagSet")
	}
	set := map[string]string{}
	for _, t := range tags {
		if err := checkTag(t.Key, t.Value); err != nil {
			return nil, err
		}
		set[t.Key] = t.Value
	}
	res, err := s.taggedResources(c)
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		n := len(r.Tags)
		for k := range set {
			if _, ok := r.Tags[k]; !ok {
				n++
			}
		}
		if n > maxTagsPerResource {
			return nil, Errorf(CodeTagLimitExceeded, "The maximum number of Tags for a resource has been reached.")
		}
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	for _, r := range res {
		if err := s.b.CreateTags(c.ctx, r.ID, set); err != nil {
			return nil, err
		}
	}
	return &returnResponse{Return: true}, nil
}

// deleteTags removes tags: a Tag.N with a key only removes the key whatever its value, with a value (an empty
// one too) only when the value is that; no Tag.N at all removes every tag of the resources.
func (s *Service) deleteTags(c *call) (response, error) {
	tags := c.f.tagList("Tag")
	for _, t := range tags {
		if t.Key == "" {
			return nil, errInvalidValue("Tag key cannot be empty")
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return nil, errInvalidValue("Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	res, err := s.taggedResources(c)
	if err != nil {
		return nil, err
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	for _, r := range res {
		var keys []string
		for k, v := range r.Tags {
			del := len(tags) == 0
			for _, t := range tags {
				if t.Key == k && (!t.HasValue || t.Value == v) {
					del = true
				}
			}
			if del {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			continue
		}
		sort.Strings(keys)
		if err := s.b.DeleteTags(c.ctx, r.ID, keys); err != nil {
			return nil, err
		}
	}
	return &returnResponse{Return: true}, nil
}

// tagRow is one tag of one resource, as DescribeTags lists it.
type tagRow struct{ id, typ, key, value string }

var tagFilters = filterSpec[tagRow]{
	fields: map[string]func(tagRow) []string{
		"key":           one(func(t tagRow) string { return t.key }),
		"value":         one(func(t tagRow) string { return t.value }),
		"resource-id":   one(func(t tagRow) string { return t.id }),
		"resource-type": one(func(t tagRow) string { return t.typ }),
	},
	tags: func(t tagRow) map[string]string { return map[string]string{t.key: t.value} },
}

func (s *Service) describeTags(c *call) (response, error) {
	filters, err := c.f.filters()
	if err != nil {
		return nil, err
	}
	match, err := tagFilters.compile(filters)
	if err != nil {
		return nil, err
	}
	pg, err := c.f.paging(5, 1000)
	if err != nil {
		return nil, err
	}
	res, err := s.resources(c)
	if err != nil {
		return nil, err
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	var rows []tagRow
	for _, r := range res {
		for k, v := range r.Tags {
			if row := (tagRow{id: r.ID, typ: r.Type, key: k, value: v}); match(row) {
				rows = append(rows, row)
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].id != rows[j].id {
			return rows[i].id < rows[j].id
		}
		return rows[i].key < rows[j].key
	})
	lo, hi, next := pg.bounds(len(rows))
	resp := &describeTagsResponse{TagSet: items[wireTagDescription]{}, NextToken: next}
	for _, r := range rows[lo:hi] {
		resp.TagSet = append(resp.TagSet, wireTagDescription{ResourceID: r.id, ResourceType: r.typ, Key: r.key, Value: r.value})
	}
	return resp, nil
}

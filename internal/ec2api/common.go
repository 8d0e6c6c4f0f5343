package ec2api

import (
	"encoding/base64"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// EC2's limits on tags.
const (
	maxTagsPerResource = 50
	maxTagKey          = 128
	maxTagValue        = 256
)

// checkTag validates one tag as EC2 does.
func checkTag(key, value string) error {
	switch {
	case key == "":
		return errInvalidValue("Tag key cannot be empty")
	case len([]rune(key)) > maxTagKey:
		return errInvalidValue("Tag key exceeds the maximum length of %d characters", maxTagKey)
	case len([]rune(value)) > maxTagValue:
		return errInvalidValue("Tag value exceeds the maximum length of %d characters", maxTagValue)
	case strings.HasPrefix(strings.ToLower(key), "aws:"):
		return errInvalidValue("Tag keys starting with 'aws:' are reserved for internal use")
	case !printable(key):
		return errInvalidValue("Tag key '%s' contains characters that are not allowed (control characters or invalid UTF-8)", strings.ToValidUTF8(key, "?"))
	case !printable(value):
		return errInvalidValue("The value of tag '%s' contains characters that are not allowed (control characters or invalid UTF-8)", key)
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters (which XML 1.0 cannot carry back).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// groupText checks a security group's name or description against the characters EC2 allows in a VPC: a-z,
// A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*.
func groupText(param, v string) error {
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" ._-:/()#,@[]+=&;{}!$*", r)) {
			return errInvalidValue("Value (%s) for parameter %s is invalid. Character sets beyond a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$* are not supported.",
				strings.ToValidUTF8(v, "?"), param)
		}
	}
	return nil
}

// tagSpecs reads TagSpecification.N: the tags for each resource type. take lists the types the action tags;
// ignore the types it accepts and has nothing to put them on (RunInstances' volume and network-interface: a
// Berth instance's disk and interface are not resources of their own).
func (f form) tagSpecs(take []string, ignore ...string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, p := range f.indices("TagSpecification") {
		rt := f.get(p + ".ResourceType")
		if rt == "" {
			return nil, errMissing("TagSpecification.ResourceType")
		}
		if contains(ignore, rt) {
			continue
		}
		if !contains(take, rt) {
			return nil, errInvalidValue("'%s' is not a valid taggable resource type for this operation.", rt)
		}
		if _, dup := out[rt]; dup {
			return nil, errInvalidValue("The same resource type may not be specified more than once in tag specifications")
		}
		tags := map[string]string{}
		list := f.tagList(p + ".Tag")
		if len(list) == 0 {
			return nil, errInvalidValue("Tag specification must have at least one tag")
		}
		for _, t := range list {
			if err := checkTag(t.Key, t.Value); err != nil {
				return nil, err
			}
			tags[t.Key] = t.Value
		}
		if len(tags) > maxTagsPerResource {
			return nil, Errorf(CodeTagLimitExceeded, "The maximum number of Tags for a resource has been reached.")
		}
		out[rt] = tags
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// wireTags is a tag map as EC2 lists it, sorted by key.
func wireTags(tags map[string]string) items[wireTag] {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(items[wireTag], 0, len(keys))
	for _, k := range keys {
		out = append(out, wireTag{Key: k, Value: tags[k]})
	}
	return out
}

// paging reads MaxResults and NextToken: the slice of n sorted items to answer, and the token of the rest.
// Without MaxResults everything from the token on is answered.
type paging struct{ lo, max int }

func (f form) paging(minResults, maxResults int) (paging, error) {
	p := paging{}
	if n, ok, err := f.integer("MaxResults"); err != nil {
		return p, err
	} else if ok {
		if n < minResults {
			return p, errInvalidValue("Value ( %d ) for parameter maxResults is invalid. Expecting a value greater than %d.", n, minResults)
		}
		if n > maxResults {
			return p, errInvalidValue("Value ( %d ) for parameter maxResults is invalid. Expecting a value less than %d.", n, maxResults)
		}
		p.max = n
	}
	if tok := f.get("NextToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		n, ok := strings.CutPrefix(string(raw), "ec2api/")
		lo, aerr := strconv.Atoi(n)
		if err != nil || !ok || aerr != nil || lo < 0 {
			return p, Errorf(CodeInvalidNextToken, "The token '%s' is invalid", tok)
		}
		p.lo = lo
	}
	return p, nil
}

// bounds applies the paging to n items.
func (p paging) bounds(n int) (lo, hi int, next string) {
	lo = min(p.lo, n)
	hi = n
	if p.max > 0 && lo+p.max < n {
		hi = lo + p.max
		next = base64.RawURLEncoding.EncodeToString([]byte("ec2api/" + strconv.Itoa(hi)))
	}
	return lo, hi, next
}

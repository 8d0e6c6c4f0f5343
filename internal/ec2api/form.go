package ec2api

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// form is a Query request's parameters, read with EC2's conventions: lists flattened as Name.1, Name.2 …,
// structures as Name.N.Member, booleans "true"/"false", integers in decimal.
type form url.Values

// authParams are parameters of the signature, not of the action (SigV4 in the query, SigV2).
var authParams = map[string]bool{
	"Action": true, "Version": true,
	"X-Amz-Algorithm": true, "X-Amz-Credential": true, "X-Amz-Date": true, "X-Amz-SignedHeaders": true,
	"X-Amz-Signature": true, "X-Amz-Expires": true, "X-Amz-Security-Token": true,
	"AWSAccessKeyId": true, "SignatureMethod": true, "SignatureVersion": true, "Signature": true,
	"Timestamp": true, "Expires": true, "SecurityToken": true,
}

// shape is the pattern of a parameter name: every all-digit segment becomes "N" ("Filter.1.Value.2" →
// "Filter.N.Value.N").
func shape(name string) string {
	segs := strings.Split(name, ".")
	for i, s := range segs {
		if s != "" && strings.Trim(s, "0123456789") == "" {
			segs[i] = "N"
		}
	}
	return strings.Join(segs, ".")
}

// check refuses a parameter the action does not take, as EC2 does (UnknownParameter), and a list index that is
// not a positive number.
func (f form) check(known map[string]bool) error {
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if authParams[name] {
			continue
		}
		if !known[shape(name)] {
			return Errorf(CodeUnknownParameter, "The parameter %s is not recognized", name)
		}
		for _, seg := range strings.Split(name, ".") {
			if seg != "" && strings.Trim(seg, "0") == "" {
				return errInvalidValue("Invalid list index in parameter %s: indexes start at 1", name)
			}
		}
	}
	return nil
}

// unsupported refuses a parameter EC2 takes and Berth does not (prefixes: "SubnetId", "NetworkInterface" …).
func (f form) unsupported(prefixes []string) error {
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, p := range prefixes {
			if name == p || strings.HasPrefix(name, p+".") {
				return errUnsupported("Berth's EC2 does not support the parameter %s.", name)
			}
		}
	}
	return nil
}

func (f form) get(name string) string { return url.Values(f).Get(name) }

func (f form) has(name string) bool {
	_, ok := f[name]
	return ok
}

// boolean reads a boolean parameter (absent: false).
func (f form) boolean(name string) (bool, error) {
	v, ok := f[name]
	if !ok || len(v) == 0 {
		return false, nil
	}
	switch strings.ToLower(v[0]) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errInvalidValue("Value (%s) for parameter %s is invalid. Expected: 'true' or 'false'.", v[0], lowerFirst(name))
}

// integer reads an integer parameter; ok is false when it is absent.
func (f form) integer(name string) (n int, ok bool, err error) {
	v, present := f[name]
	if !present || len(v) == 0 {
		return 0, false, nil
	}
	n, perr := strconv.Atoi(strings.TrimSpace(v[0]))
	if perr != nil {
		return 0, false, errInvalidValue("Value (%s) for parameter %s is invalid. Expected: integer.", v[0], lowerFirst(name))
	}
	return n, true, nil
}

// indices returns the list elements under prefix ("Filter" → "Filter.1", "Filter.2" …) in index order, each
// once, whether the element is a value (Name.N) or a structure (Name.N.Member).
func (f form) indices(prefix string) []string {
	seen := map[int]bool{}
	var idx []int
	for name := range f {
		rest, ok := strings.CutPrefix(name, prefix+".")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || seen[n] {
			continue
		}
		seen[n] = true
		idx = append(idx, n)
	}
	sort.Ints(idx)
	out := make([]string, len(idx))
	for i, n := range idx {
		out[i] = prefix + "." + strconv.Itoa(n)
	}
	return out
}

// list reads a flattened list of strings (Name.1, Name.2 …).
func (f form) list(prefix string) []string {
	var out []string
	for _, p := range f.indices(prefix) {
		if f.has(p) {
			out = append(out, f.get(p))
		}
	}
	return out
}

// Filter is one of a Describe action's filters: Name and the values any of which matches.
type Filter struct {
	Name   string
	Values []string
}

// filters reads Filter.N.Name and Filter.N.Value.M.
func (f form) filters() ([]Filter, error) {
	var out []Filter
	for _, p := range f.indices("Filter") {
		name := f.get(p + ".Name")
		if name == "" {
			return nil, errInvalidValue("The filter 'null' is invalid")
		}
		flt := Filter{Name: name, Values: f.list(p + ".Value")}
		if len(flt.Values) == 0 {
			return nil, errInvalidValue("The filter '%s' must have at least one value", name)
		}
		for _, v := range flt.Values {
			if len(v) > 255 {
				return nil, Errorf("FilterLimitExceeded", "The maximum length for a filter value is 255 characters")
			}
		}
		if len(flt.Values) > 200 {
			return nil, Errorf("FilterLimitExceeded", "The maximum number of filter values specified on a single call is 200")
		}
		out = append(out, flt)
	}
	return out, nil
}

// tagParam is a Tag.N in CreateTags and DeleteTags: a key, and a value that may be absent (DeleteTags: remove
// whatever the value) or empty.
type tagParam struct {
	Key      string
	Value    string
	HasValue bool
}

// tagList reads prefix.N.Key and prefix.N.Value.
func (f form) tagList(prefix string) []tagParam {
	var out []tagParam
	for _, p := range f.indices(prefix) {
		out = append(out, tagParam{Key: f.get(p + ".Key"), Value: f.get(p + ".Value"), HasValue: f.has(p + ".Value")})
	}
	return out
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

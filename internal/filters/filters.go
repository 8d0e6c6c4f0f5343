// Package filters owns the Docker API's `filters` query parameter: parsing both of its JSON shapes, refusing
// keys an endpoint does not know, and the ways Docker matches a value against an object (exact, unique,
// prefix, regular expression, labels, booleans, timestamps). It decides nothing about any endpoint: each list
// or prune says which keys it accepts and which matcher each key uses, as Docker's daemon does per endpoint.
//
// Values of one key are alternatives (any may match); different keys must all match. For example, what
// `docker ps --filter name=^/web --filter label=env=prod --filter label=tier` sends:
//
//	f, err := filters.FromJSON(`{"name":{"^/web":true},"label":{"env=prod":true,"tier":true}}`)
//	err = f.Validate("name", "label", "status")   // errdefs.ErrInvalidArgument: "invalid filter 'x'"
//	f.Match("name", "/web-1")                     // true: a regular expression, as Docker's
//	f.MatchKVList("label", labels)                // every label filter must be present (and equal)
package filters

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
)

// Args are parsed filters: each key with its set of values. The zero Args is empty (it matches everything) and
// read-only; NewArgs or FromJSON make one to Add to.
type Args struct {
	fields map[string]map[string]bool
}

// KeyValuePair is one key=value filter, for NewArgs.
type KeyValuePair struct {
	Key   string
	Value string
}

// Arg is a KeyValuePair.
func Arg(key, value string) KeyValuePair { return KeyValuePair{Key: key, Value: value} }

// NewArgs returns Args holding pairs.
func NewArgs(pairs ...KeyValuePair) Args {
	a := Args{fields: map[string]map[string]bool{}}
	for _, p := range pairs {
		a.Add(p.Key, p.Value)
	}
	return a
}

// FromJSON parses the `filters` query parameter. Clients send {"key":{"value":true}} (Docker ≥ 1.10's
// shape) or the older {"key":["value"]}; both mean the same. A value mapped to false counts as absent, though
// its key is still present. An empty string is no filters; anything else that is not one of the shapes is
// errdefs.ErrInvalidArgument "invalid filter".
func FromJSON(s string) (Args, error) {
	a := NewArgs()
	if s == "" {
		return a, nil
	}
	var sets map[string]map[string]bool
	if err := json.Unmarshal([]byte(s), &sets); err == nil {
		for k, vs := range sets {
			a.fields[k] = map[string]bool{}
			for v, on := range vs {
				if on {
					a.fields[k][v] = true
				}
			}
		}
		return a, nil
	}
	var lists map[string][]string
	if err := json.Unmarshal([]byte(s), &lists); err != nil {
		return a, errdefs.ErrInvalidArgument.WithMessage("invalid filter")
	}
	return FromMap(lists), nil
}

// FromMap returns Args holding m, the legacy shape in memory (as client.Filters holds it).
func FromMap(m map[string][]string) Args {
	a := NewArgs()
	for k, vs := range m {
		a.fields[k] = map[string]bool{}
		for _, v := range vs {
			a.fields[k][v] = true
		}
	}
	return a
}

// Add adds value to key's values.
func (a Args) Add(key, value string) {
	if a.fields[key] == nil {
		a.fields[key] = map[string]bool{}
	}
	a.fields[key][value] = true
}

// Get returns key's values, sorted (Docker's order is random; a sorted one makes errors and results stable).
func (a Args) Get(key string) []string {
	out := make([]string, 0, len(a.fields[key]))
	for v := range a.fields[key] {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// String renders a as Go prints the legacy shape, map[key:[values]], keys and values sorted: for logs and tests.
func (a Args) String() string {
	m := make(map[string][]string, len(a.fields))
	for k := range a.fields {
		m[k] = a.Get(k)
	}
	return fmt.Sprint(m)
}

// Contains reports whether key was given, even with no values.
func (a Args) Contains(key string) bool {
	_, ok := a.fields[key]
	return ok
}

// Len is the number of keys.
func (a Args) Len() int { return len(a.fields) }

// Validate refuses a key not in accepted, with Docker's error "invalid filter 'key'"
// (errdefs.ErrInvalidArgument). With several unknown keys it names the first in sorted order.
func (a Args) Validate(accepted ...string) error {
	keys := make([]string, 0, len(a.fields))
	for k := range a.fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(accepted, k) {
			return Invalid(k)
		}
	}
	return nil
}

// Invalid is Docker's error for a bad filter: "invalid filter 'key'", or "invalid filter 'key=value'" when
// values are given (one value as is, several as Docker prints a list: [a b]).
func Invalid(key string, values ...string) error {
	msg := "invalid filter '" + key
	switch len(values) {
	case 0:
	case 1:
		msg += "=" + values[0]
	default:
		msg += fmt.Sprintf("=%v", values)
	}
	return errdefs.ErrInvalidArgument.WithMessage(msg + "'")
}

// ExactMatch reports whether source equals one of key's values; true when key has no values.
func (a Args) ExactMatch(key, source string) bool {
	vs := a.fields[key]
	return len(vs) == 0 || vs[source]
}

// UniqueExactMatch is ExactMatch for a key that takes one value: two values never match.
func (a Args) UniqueExactMatch(key, source string) bool {
	vs := a.fields[key]
	if len(vs) == 0 {
		return true
	}
	return len(vs) == 1 && vs[source]
}

// FuzzyMatch reports whether source equals or starts with one of key's values (an ID or name prefix); true
// when key has no values.
func (a Args) FuzzyMatch(key, source string) bool {
	if a.ExactMatch(key, source) {
		return true
	}
	for v := range a.fields[key] {
		if strings.HasPrefix(source, v) {
			return true
		}
	}
	return false
}

// Match reports whether source equals one of key's values or one of them, read as an unanchored regular
// expression, matches it (Docker's `name` filters: "web" matches "my-web-1", "^/web$" only "/web"); true when
// key has no values. A value that is not a valid expression matches only exactly.
func (a Args) Match(key, source string) bool {
	if a.ExactMatch(key, source) {
		return true
	}
	for v := range a.fields[key] {
		if ok, err := regexp.MatchString(v, source); err == nil && ok {
			return true
		}
	}
	return false
}

// MatchKVList reports whether labels satisfy every one of key's values, each "name" (the label is set) or
// "name=value" (set to exactly value); true when key has no values.
func (a Args) MatchKVList(key string, labels map[string]string) bool {
	for v := range a.fields[key] {
		name, want, withValue := strings.Cut(v, "=")
		got, ok := labels[name]
		if !ok || (withValue && got != want) {
			return false
		}
	}
	return true
}

// MatchLabels is Docker's label filtering for prune: every "label" value matches (see MatchKVList) and, when
// "label!" is given, not every "label!" value does (`label!=tmp` keeps what carries the label tmp).
func (a Args) MatchLabels(labels map[string]string) bool {
	if !a.MatchKVList("label", labels) {
		return false
	}
	return len(a.fields["label!"]) == 0 || !a.MatchKVList("label!", labels)
}

// GetBoolOrDefault reads a boolean key ("true"/"1" or "false"/"0"); def when key is absent. Docker's error
// "invalid filter 'key=[values]'" (errdefs.ErrInvalidArgument) for other values, conflicting ones, or none.
func (a Args) GetBoolOrDefault(key string, def bool) (bool, error) {
	vs, ok := a.fields[key]
	if !ok {
		return def, nil
	}
	if len(vs) == 0 {
		return def, Invalid(key)
	}
	isTrue := vs["true"] || vs["1"]
	isFalse := vs["false"] || vs["0"]
	if isTrue == isFalse {
		return def, Invalid(key, fmt.Sprint(a.Get(key)))
	}
	return isTrue, nil
}

package volume

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
)

// filterSet is a parsed Docker filter argument for List and Prune.
type filterSet struct {
	names     []string
	labels    []string
	notLabels []string
	drivers   []string
	dangling  *bool
	all       bool
}

func invalidFilter(s string) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter '%s'", s))
}

// parseBoolFilter accepts Docker's spellings of a boolean filter value.
func parseBoolFilter(key string, values []string) (bool, error) {
	var v *bool
	for _, s := range values {
		var b bool
		switch strings.ToLower(s) {
		case "true", "1":
			b = true
		case "false", "0":
			b = false
		default:
			return false, invalidFilter(key + "=" + s)
		}
		if v != nil && *v != b {
			return false, invalidFilter(key + "=" + strings.Join(values, ","))
		}
		v = &b
	}
	return v != nil && *v, nil
}

// parseFilters validates filters against the accepted keys and parses them.
func parseFilters(filters map[string][]string, accepted ...string) (filterSet, error) {
	var f filterSet
	for key, values := range filters {
		if !slices.Contains(accepted, key) {
			return f, invalidFilter(key)
		}
		if len(values) == 0 {
			continue
		}
		switch key {
		case "name":
			f.names = values
		case "label":
			f.labels = values
		case "label!":
			f.notLabels = values
		case "driver":
			f.drivers = values
		case "dangling":
			b, err := parseBoolFilter(key, values)
			if err != nil {
				return f, err
			}
			f.dangling = &b
		case "all":
			b, err := parseBoolFilter(key, values)
			if err != nil {
				return f, err
			}
			f.all = b
		}
	}
	return f, nil
}

// matchName is Docker's Args.Match: any value equal to the name, or a regular expression matching it.
func (f filterSet) matchName(name string) bool {
	if len(f.names) == 0 {
		return true
	}
	for _, v := range f.names {
		if v == name {
			return true
		}
		if ok, err := regexp.MatchString(v, name); err == nil && ok {
			return true
		}
	}
	return false
}

func (f filterSet) matchDriver(driver string) bool {
	return len(f.drivers) == 0 || slices.Contains(f.drivers, driver)
}

// labelMatches reports whether labels satisfy one "key" or "key=value" filter.
func labelMatches(labels map[string]string, filter string) bool {
	k, v, hasValue := strings.Cut(filter, "=")
	got, ok := labels[k]
	return ok && (!hasValue || got == v)
}

// matchLabels requires every label filter to match.
func (f filterSet) matchLabels(labels map[string]string) bool {
	for _, l := range f.labels {
		if !labelMatches(labels, l) {
			return false
		}
	}
	return true
}

// matchNotLabels requires no label! filter to match.
func (f filterSet) matchNotLabels(labels map[string]string) bool {
	for _, l := range f.notLabels {
		if labelMatches(labels, l) {
			return false
		}
	}
	return true
}

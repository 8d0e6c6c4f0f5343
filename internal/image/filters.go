package image

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

func invalidFilter(format string, args ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, args...))
}

// validateFilters refuses filter keys other than allowed, with Docker's message.
func validateFilters(filters map[string][]string, allowed ...string) error {
	keys := make([]string, 0, len(filters))
	for k := range filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			return invalidFilter("invalid filter '%s'", k)
		}
	}
	return nil
}

// parseBoolFilter reads a boolean filter; all values must agree.
func parseBoolFilter(key string, values []string) (bool, error) {
	var result *bool
	for _, v := range values {
		var b bool
		switch strings.ToLower(v) {
		case "true", "1":
			b = true
		case "false", "0":
			b = false
		default:
			return false, invalidFilter("invalid filter '%s=%s'", key, v)
		}
		if result != nil && *result != b {
			return false, invalidFilter("invalid filter '%s': conflicting values", key)
		}
		result = &b
	}
	return result != nil && *result, nil
}

// matchKVList reports whether labels satisfy every "key" or "key=value" filter.
func matchKVList(filters []string, labels map[string]string) bool {
	for _, f := range filters {
		k, v, hasValue := strings.Cut(f, "=")
		got, ok := labels[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}

// untilFilter reads the "until" filter (the last value wins), zero when absent.
func untilFilter(filters map[string][]string, now time.Time) (time.Time, error) {
	vs := filters["until"]
	if len(vs) == 0 {
		return time.Time{}, nil
	}
	t, err := parseTimestamp(vs[len(vs)-1], now)
	if err != nil {
		return time.Time{}, invalidFilter("invalid filter 'until=%s': %v", vs[len(vs)-1], err)
	}
	return t, nil
}

// parseTimestamp reads the timestamps Docker filters accept: a Go duration before now ("10m"), Unix seconds with
// optional fraction, or an RFC 3339 date or date-time (local time when no zone is given).
func parseTimestamp(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil && v != "" && !isNumber(v) {
		return now.Add(-d), nil
	}
	if isNumber(v) {
		sec, frac, _ := strings.Cut(v, ".")
		s, err := strconv.ParseInt(sec, 10, 64)
		if err != nil {
			return time.Time{}, err
		}
		var ns int64
		if frac != "" {
			f, err := strconv.ParseFloat("0."+frac, 64)
			if err != nil {
				return time.Time{}, err
			}
			ns = int64(math.Round(f * 1e9))
		}
		return time.Unix(s, ns), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05",
		"2006-01-02T15:04", "2006-01-02T15", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a timestamp", v)
}

func isNumber(v string) bool {
	if v == "" {
		return false
	}
	dot := false
	for _, c := range v {
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return true
}

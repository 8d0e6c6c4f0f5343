package filters

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// Dates and times in the forms Docker accepts, with and without a zone. Parsing also accepts fractional
// seconds after the seconds of a layout that has none.
var (
	localLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02T15", "2006-01-02"}
	zonedLayouts = []string{time.RFC3339, "2006-01-02T15:04Z07:00", "2006-01-02T15Z07:00", "2006-01-02Z07:00"}
)

// ParseTimestamp reads a time as Docker's `until` and `since` filters (and `--since` flags) do:
//   - a Go duration, counted back from now: "10m", "1h30m" ("-10m" is in the future);
//   - an RFC 3339 date or date-time, down to the hour or the day, with a zone ("2026-01-01T00:00:00Z",
//     "2026-01-01T10:00+02:00") or without one, then in now's location ("2026-01-01T00:00:00", "2026-01-01");
//   - Unix seconds with an optional fraction ("1700000000", "1700000000.5").
//
// The result is in UTC.
func ParseTimestamp(value string, now time.Time) (time.Time, error) {
	if strings.TrimSpace(value) == "" {
		return time.Time{}, errors.New("failed to parse value as time or duration: value is empty")
	}
	if d, err := time.ParseDuration(value); err == nil && value != "0" {
		return now.Add(-d).UTC(), nil
	}
	// A zone is a Z, a +hh:mm, or a -hh:mm after the date's two dashes.
	zoned := strings.ContainsAny(value, "zZ+") || strings.Count(value, "-") == 3
	layouts := localLayouts
	if zoned {
		layouts = zonedLayouts
	}
	var firstErr error
	for _, layout := range layouts {
		var t time.Time
		var err error
		if zoned {
			t, err = time.Parse(layout, value)
		} else {
			t, err = time.ParseInLocation(layout, value, now.Location())
		}
		if err == nil {
			return t.UTC(), nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if strings.Contains(value, "-") {
		return time.Time{}, firstErr // a date, but a bad one: say what is wrong with it
	}
	t, err := parseUnix(value)
	if err != nil {
		return time.Time{}, fmt.Errorf("failed to parse value as time or duration: %w", err)
	}
	return t, nil
}

// ParseUnixTimestamp reads the API's own timestamps, "seconds[.nanoseconds]" (what the docker CLI sends for
// `events --since` and `logs --since`); "" is the zero time. Errors are errdefs.ErrInvalidArgument.
func ParseUnixTimestamp(value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, nil
	}
	t, err := parseUnix(value)
	if err != nil {
		return time.Time{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid timestamp %q: %v", value, err))
	}
	return t, nil
}

// parseUnix reads "seconds[.fraction]": the fraction is padded or cut to nanoseconds.
func parseUnix(value string) (time.Time, error) {
	s, frac, _ := strings.Cut(value, ".")
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid seconds %q", s)
	}
	if len(frac) > 20 {
		return time.Time{}, fmt.Errorf("invalid nanoseconds: %d digits, at most 20", len(frac))
	}
	for _, c := range frac {
		if c < '0' || c > '9' {
			return time.Time{}, fmt.Errorf("invalid nanoseconds %q", frac)
		}
	}
	frac = (frac + "000000000")[:9]
	nsec, _ := strconv.ParseInt(frac, 10, 64)
	return time.Unix(sec, nsec).UTC(), nil
}

// Until reads a prune's "until" filter: the zero time when absent; errdefs.ErrInvalidArgument for more than
// one value or one ParseTimestamp refuses. Objects created after it are kept.
func (a Args) Until(now time.Time) (time.Time, error) {
	vs := a.Get("until")
	switch {
	case !a.Contains("until"):
		return time.Time{}, nil
	case len(vs) == 0:
		return time.Time{}, Invalid("until")
	case len(vs) > 1:
		return time.Time{}, errdefs.ErrInvalidArgument.WithMessage("more than one until filter specified")
	}
	t, err := ParseTimestamp(vs[0], now)
	if err != nil {
		return time.Time{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid value for 'until' filter: %v", err))
	}
	return t, nil
}

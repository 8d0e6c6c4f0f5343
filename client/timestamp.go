package client

import (
	"fmt"
	"strings"
	"time"
)

// GetTimestamp converts a user's --since/--until value into the API's "seconds[.nanoseconds]" form.
// It accepts a Go duration relative to now ("10m", "1h30m"), an RFC 3339 date or date-time (with or
// without zone, read as local time), or a Unix timestamp (passed through).
func GetTimestamp(value string, now time.Time) (string, error) {
	if value == "" {
		return "", nil
	}
	if d, err := time.ParseDuration(value); err == nil && !isNumeric(value) {
		return formatUnix(now.Add(-d)), nil
	}
	if isNumeric(value) {
		return value, nil
	}
	layouts := []string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04:05Z07:00",
		"2006-01-02T15:04:05",
		"2006-01-02T15:04Z07:00",
		"2006-01-02T15:04",
		"2006-01-02T15Z07:00",
		"2006-01-02T15",
		"2006-01-02Z07:00",
		"2006-01-02",
	}
	for _, layout := range layouts {
		var t time.Time
		var err error
		if strings.Contains(layout, "Z07:00") {
			t, err = time.Parse(layout, value)
		} else {
			t, err = time.ParseInLocation(layout, value, time.Local)
		}
		if err == nil {
			return formatUnix(t), nil
		}
	}
	return "", fmt.Errorf("failed to parse value as time or duration: %q", value)
}

func isNumeric(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || s == "." {
		return false
	}
	dots := 0
	for _, r := range s {
		switch {
		case r == '.':
			dots++
		case r < '0' || r > '9':
			return false
		}
	}
	return dots <= 1
}

func formatUnix(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

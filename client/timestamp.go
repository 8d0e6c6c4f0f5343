package client

import (
	"fmt"
	"strings"
	"time"

	"github.com/berth/berth/internal/filters"
)

// GetTimestamp converts a user's --since/--until value into the API's "seconds[.nanoseconds]" form.
// It accepts what the daemon's filters do (filters.ParseTimestamp): a Go duration relative to now ("10m",
// "1h30m"), an RFC 3339 date or date-time (with or without zone, read as now's local time), or a Unix
// timestamp (passed through).
func GetTimestamp(value string, now time.Time) (string, error) {
	if value == "" {
		return "", nil
	}
	if isNumeric(value) {
		return value, nil
	}
	t, err := filters.ParseTimestamp(value, now)
	if err != nil {
		return "", err
	}
	return formatUnix(t), nil
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

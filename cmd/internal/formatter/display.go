package formatter

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/docker/go-units"
)

// Now is the clock relative times ("2 minutes ago") are computed against; tests replace it.
var Now = time.Now

// TruncateID drops an algorithm prefix ("sha256:") and keeps the first 12 characters.
func TruncateID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// Ellipsis shortens s to max characters, the last one being "…".
func Ellipsis(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	if max == 1 {
		return string(r[0])
	}
	return string(r[:max-1]) + "…"
}

// Ago renders how long ago t was, as "3 seconds ago".
func Ago(t time.Time) string {
	return units.HumanDuration(Now().UTC().Sub(t)) + " ago"
}

// Size renders bytes with three significant digits, as docker's listings do ("4.26MB").
func Size(n int64) string {
	return units.HumanSizeWithPrecision(float64(n), 3)
}

// HumanSize renders bytes with four significant digits ("12.35MB"), as summaries do.
func HumanSize(n int64) string {
	return units.HumanSize(float64(n))
}

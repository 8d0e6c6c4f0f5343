package client

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Filters are the `filters` query parameter of list, prune and events calls: a key (e.g. "status",
// "label") and its accepted values. They travel as JSON map[string][]string, as the API describes.
type Filters map[string][]string

// Add appends values to key and returns f for chaining.
func (f Filters) Add(key string, values ...string) Filters {
	f[key] = append(f[key], values...)
	return f
}

// Clone returns a deep copy.
func (f Filters) Clone() Filters {
	out := make(Filters, len(f))
	for k, v := range f {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// ParseFilter parses one "key=value" flag value into f.
func (f Filters) ParseFilter(arg string) error {
	k, v, ok := strings.Cut(arg, "=")
	if !ok {
		return fmt.Errorf("bad format of filter (expected name=value)")
	}
	k = strings.ToLower(strings.TrimSpace(k))
	f.Add(k, strings.TrimSpace(v))
	return nil
}

// String renders f as "k=v" pairs, sorted, for messages.
func (f Filters) String() string {
	var parts []string
	for k, vs := range f {
		for _, v := range vs {
			parts = append(parts, k+"="+v)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// encode sets the filters query parameter when f is not empty.
func (f Filters) encode(q url.Values) error {
	if len(f) == 0 {
		return nil
	}
	b, err := json.Marshal(map[string][]string(f))
	if err != nil {
		return err
	}
	q.Set("filters", string(b))
	return nil
}

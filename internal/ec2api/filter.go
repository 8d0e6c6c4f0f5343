package ec2api

import "strings"

// filterSpec says which filters a Describe action takes for its objects of type T, and how to read an object's
// values for each. It is pure: compile checks the request's filters once, the matcher it returns is applied to
// each object.
//
// EC2's semantics: an object matches when it matches every filter; it matches a filter when any of its values
// for the filter's name matches any of the filter's values; values match exactly (case-sensitively), with * and
// ? as wildcards (\* \? \\ for the characters themselves). tag:KEY matches the value of the tag KEY, tag-key the
// tags' keys, tag-value their values.
type filterSpec[T any] struct {
	fields map[string]func(T) []string
	// tags, when set, enables tag:KEY, tag-key and tag-value.
	tags func(T) map[string]string
}

// compile returns a matcher for filters, or InvalidParameterValue for a filter the action does not take.
func (s filterSpec[T]) compile(filters []Filter) (func(T) bool, error) {
	type compiled struct {
		values func(T) []string
		want   []string
	}
	var cs []compiled
	for _, f := range filters {
		c := compiled{want: f.Values}
		switch key, isTag := strings.CutPrefix(f.Name, "tag:"); {
		case isTag && s.tags != nil && key != "":
			c.values = func(t T) []string {
				if v, ok := s.tags(t)[key]; ok {
					return []string{v}
				}
				return nil
			}
		case f.Name == "tag-key" && s.tags != nil:
			c.values = func(t T) []string {
				var out []string
				for k := range s.tags(t) {
					out = append(out, k)
				}
				return out
			}
		case f.Name == "tag-value" && s.tags != nil:
			c.values = func(t T) []string {
				var out []string
				for _, v := range s.tags(t) {
					out = append(out, v)
				}
				return out
			}
		default:
			fn, ok := s.fields[f.Name]
			if !ok {
				return nil, errInvalidValue("The filter '%s' is invalid", f.Name)
			}
			c.values = fn
		}
		cs = append(cs, c)
	}
	return func(t T) bool {
		for _, c := range cs {
			if !anyMatch(c.want, c.values(t)) {
				return false
			}
		}
		return true
	}, nil
}

func anyMatch(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if wildcardMatch(p, v) {
				return true
			}
		}
	}
	return false
}

// wildcardMatch reports whether s matches pattern: * is any run of characters, ? any one character, and a
// backslash makes the next character literal.
func wildcardMatch(pattern, s string) bool {
	p, str := []rune(pattern), []rune(s)
	// Iterative matching with backtracking to the last star: linear in practice, never exponential.
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(str) {
		if pi < len(p) {
			switch c := p[pi]; {
			case c == '*':
				star, mark = pi, si
				pi++
				continue
			case c == '?':
				pi++
				si++
				continue
			case c == '\\' && pi+1 < len(p):
				if p[pi+1] == str[si] {
					pi += 2
					si++
					continue
				}
			case c == str[si]:
				pi++
				si++
				continue
			}
		}
		if star < 0 {
			return false
		}
		pi = star + 1
		mark++
		si = mark
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// one is a filter field with a single value.
func one[T any](fn func(T) string) func(T) []string {
	return func(t T) []string { return []string{fn(t)} }
}

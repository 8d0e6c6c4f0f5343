package oci

import "strings"

// DefaultPathEnv is the PATH Docker gives a Linux container whose image sets none.
const DefaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// MergeEnv returns base with overrides applied by key, as Docker's ReplaceOrAppendEnvValues: "K=v" replaces K in
// place or is appended; a bare "K" removes K. Later overrides win, so image env followed by user env merges
// correctly. base is not modified.
func MergeEnv(base []string, overrides ...[]string) []string {
	out := make([]string, 0, len(base))
	index := make(map[string]int, len(base))
	set := func(kv string) {
		k, _, hasValue := strings.Cut(kv, "=")
		i, ok := index[k]
		switch {
		case !hasValue:
			if ok {
				out[i] = "" // removed below
				delete(index, k)
			}
		case ok:
			out[i] = kv
		default:
			index[k] = len(out)
			out = append(out, kv)
		}
	}
	for _, kv := range base {
		if strings.Contains(kv, "=") {
			set(kv)
		}
	}
	for _, o := range overrides {
		for _, kv := range o {
			set(kv)
		}
	}
	res := out[:0]
	for _, kv := range out {
		if kv != "" {
			res = append(res, kv)
		}
	}
	return res
}

// hasEnv reports whether env sets key.
func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

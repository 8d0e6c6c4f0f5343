package registry

import (
	"regexp"
	"sync"

	"github.com/opencontainers/go-digest"
)

// Compiled on first use: every berth command links this package, only the registry server uses them.
var (
	nameRE = lazyRegexp(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = lazyRegexp(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	uuidRE = lazyRegexp(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// maxNameLen bounds repository names, as common registries do.
const maxNameLen = 255

// validateName rejects anything that is not a spec repository name; since no
// component may be empty or start with '.', a valid name cannot escape the root.
func validateName(name string) error {
	if len(name) > maxNameLen || !nameRE().MatchString(name) {
		return newError("NAME_INVALID", "invalid repository name", map[string]string{"name": name})
	}
	return nil
}

// parseDigest accepts only sha256 and sha512 digests in canonical hex form.
func parseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil || (d.Algorithm() != digest.SHA256 && d.Algorithm() != digest.SHA512) {
		return "", newError("DIGEST_INVALID", "invalid digest", map[string]string{"digest": s})
	}
	return d, nil
}

func validTag(tag string) bool { return tagRE().MatchString(tag) }

func validUploadID(id string) bool { return uuidRE().MatchString(id) }

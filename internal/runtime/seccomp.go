package runtime

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// crun compiles a container's seccomp profile with libseccomp at every create: with docker's default profile
// (three architectures, ~370 system calls, ~1050 BPF instructions) that is 15–40 ms of each start here, more than
// the rest of crun's work. crun also accepts a filter already compiled, in annotation run.oci.seccomp_bpf_data, and
// leaves the filter it compiled in its state directory (seccomp.bpf, which its exec reads back). bpfCache keeps
// those filters by profile, so only the first task with a profile pays for its compilation.
//
// The cached filter is the one crun itself produced for a byte-identical profile, on this host, during this
// daemon's life: what the container gets is what crun would have compiled.
type bpfCache struct {
	mu sync.Mutex
	m  map[string]string // profile key → base64 of the filter
}

const (
	bpfAnnotation   = "run.oci.seccomp_bpf_data"
	bpfStateFile    = "seccomp.bpf"
	bpfCacheEntries = 64
	bpfMaxSize      = 4096 * 8 // the kernel's BPF_MAXINSNS instructions of 8 bytes
)

// seccompKey names spec's profile, or returns false when the filter must be compiled afresh: no profile, or an
// annotation of crun's that changes what it compiles (run.oci.seccomp_*, run.oci.seccomp.*).
func seccompKey(spec *specs.Spec) (string, bool) {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return "", false
	}
	for k := range spec.Annotations {
		if strings.HasPrefix(k, "run.oci.seccomp") {
			return "", false
		}
	}
	b, err := json.Marshal(spec.Linux.Seccomp)
	if err != nil {
		return "", false
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), true
}

// apply gives spec the compiled filter of its profile when the cache holds it (the spec's annotations are copied,
// not changed in place). It returns the profile's key when the runtime will compile the filter, for learn.
func (c *bpfCache) apply(spec *specs.Spec) (learnKey string) {
	key, ok := seccompKey(spec)
	if !ok {
		return ""
	}
	c.mu.Lock()
	bpf, hit := c.m[key]
	c.mu.Unlock()
	if !hit {
		return key
	}
	a := maps.Clone(spec.Annotations)
	if a == nil {
		a = map[string]string{}
	}
	a[bpfAnnotation] = bpf
	spec.Annotations = a
	return ""
}

// learn keeps the filter the runtime compiled for the profile named key, read from the task's state directory.
// A missing or implausible file is ignored: the next task compiles again.
func (c *bpfCache) learn(key, stateDir string) {
	if key == "" {
		return
	}
	b, err := os.ReadFile(filepath.Join(stateDir, bpfStateFile))
	if err != nil || len(b) == 0 || len(b)%8 != 0 || len(b) > bpfMaxSize {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]string{}
	}
	if len(c.m) < bpfCacheEntries {
		c.m[key] = base64.StdEncoding.EncodeToString(b)
	}
}

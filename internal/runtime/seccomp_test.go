package runtime

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func profileSpec(action specs.LinuxSeccompAction, annotations map[string]string) *specs.Spec {
	return &specs.Spec{
		Annotations: annotations,
		Linux: &specs.Linux{Seccomp: &specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"read", "write"}, Action: action}},
		}},
	}
}

// stateWith returns a runtime state directory holding b as its compiled filter (none when b is nil).
func stateWith(t *testing.T, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	if b != nil {
		if err := os.WriteFile(filepath.Join(dir, bpfStateFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBPFCacheReusesTheCompiledFilterOfTheSameProfile(t *testing.T) {
	var c bpfCache
	filter := make([]byte, 16)
	filter[0] = 0x20

	first := profileSpec(specs.ActAllow, map[string]string{"user": "kept"})
	key := c.apply(first)
	if key == "" || first.Annotations[bpfAnnotation] != "" {
		t.Fatalf("first task: key %q, annotations %v: want a key to learn and no filter", key, first.Annotations)
	}
	c.learn(key, stateWith(t, filter))

	second := profileSpec(specs.ActAllow, map[string]string{"user": "kept"})
	orig := second.Annotations
	if k := c.apply(second); k != "" {
		t.Errorf("second task: asked to learn %q again", k)
	}
	if got := second.Annotations[bpfAnnotation]; got != base64.StdEncoding.EncodeToString(filter) {
		t.Errorf("second task's filter annotation: %q", got)
	}
	if second.Annotations["user"] != "kept" {
		t.Errorf("the task's own annotations were lost: %v", second.Annotations)
	}
	if _, changed := orig[bpfAnnotation]; changed {
		t.Error("apply changed the caller's annotation map")
	}

	// A profile differing in one action is another profile.
	other := profileSpec(specs.ActLog, nil)
	if k := c.apply(other); k == "" || k == key || other.Annotations[bpfAnnotation] != "" {
		t.Errorf("other profile: key %q (first %q), annotations %v", k, key, other.Annotations)
	}
}

func TestBPFCacheCompilesAfresh(t *testing.T) {
	for _, tt := range []struct {
		name string
		spec *specs.Spec
	}{
		{name: "no profile (unconfined)", spec: &specs.Spec{Linux: &specs.Linux{}}},
		{name: "no linux section", spec: &specs.Spec{}},
		{name: "crun's fail-unknown-syscall annotation", spec: profileSpec(specs.ActAllow, map[string]string{"run.oci.seccomp_fail_unknown_syscall": "1"})},
		{name: "a filter of the user's", spec: profileSpec(specs.ActAllow, map[string]string{bpfAnnotation: "AAAA"})},
		{name: "seccomp plugins", spec: profileSpec(specs.ActAllow, map[string]string{"run.oci.seccomp.plugins": "x.so"})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := seccompKey(tt.spec); ok {
				t.Fatal("seccompKey: cacheable")
			}
			var c bpfCache
			before := fmt.Sprint(tt.spec.Annotations)
			if k := c.apply(tt.spec); k != "" {
				t.Errorf("apply: key %q", k)
			}
			if after := fmt.Sprint(tt.spec.Annotations); after != before {
				t.Errorf("annotations %s, were %s", after, before)
			}
		})
	}
}

func TestBPFCacheIgnoresImplausibleFilters(t *testing.T) {
	for _, tt := range []struct {
		name string
		file []byte
	}{
		{name: "missing", file: nil},
		{name: "empty", file: []byte{}},
		{name: "not whole instructions", file: make([]byte, 12)},
		{name: "longer than the kernel accepts", file: make([]byte, bpfMaxSize+8)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c bpfCache
			spec := profileSpec(specs.ActAllow, nil)
			c.learn(c.apply(spec), stateWith(t, tt.file))
			if k := c.apply(profileSpec(specs.ActAllow, nil)); k == "" {
				t.Error("a filter was cached")
			}
		})
	}
}

func TestBPFCacheIsBounded(t *testing.T) {
	var c bpfCache
	dir := stateWith(t, make([]byte, 8))
	for i := range bpfCacheEntries + 10 {
		spec := profileSpec(specs.ActAllow, nil)
		spec.Linux.Seccomp.Syscalls[0].Names = []string{fmt.Sprint("call", i)}
		c.learn(c.apply(spec), dir)
	}
	if len(c.m) != bpfCacheEntries {
		t.Errorf("%d entries, want %d", len(c.m), bpfCacheEntries)
	}
}

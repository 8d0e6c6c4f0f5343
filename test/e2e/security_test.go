package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSeccomp drives the containers' system-call filter through the real docker CLI, with runc and with crun: docker's
// default profile by default (a user namespace is refused), none with seccomp=unconfined or --privileged, a profile
// file of the user's (the CLI sends its content), and /info says which profile the daemon applies. With crun the
// daemon reuses the filter crun compiled for a profile: the runs repeat each profile and alternate between them, so
// a filter reused for the wrong profile shows.
func TestSeccomp(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	profile := filepath.Join(t.TempDir(), "no-mkdir.json")
	if err := os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, runtime := range []string{"runc", "crun"} {
		t.Run(runtime, func(t *testing.T) {
			run := func(args ...string) result {
				t.Helper()
				return d.dockerR(nil, append([]string{"run", "--rm", "--runtime", runtime}, args...)...)
			}
			mode := func(args ...string) string {
				t.Helper()
				r := run(append(args, "busybox", "grep", "^Seccomp:", "/proc/self/status")...)
				return strings.Join(strings.Fields(r.Stdout), " ")
			}
			for _, tt := range []struct {
				name string
				args []string
				want string
			}{
				{name: "default profile", want: "Seccomp: 2"},
				{name: "unconfined", args: []string{"--security-opt", "seccomp=unconfined"}, want: "Seccomp: 0"},
				{name: "default profile again", want: "Seccomp: 2"},
				{name: "privileged", args: []string{"--privileged"}, want: "Seccomp: 0"},
			} {
				if got := mode(tt.args...); got != tt.want {
					t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
				}
			}

			// Docker's default profile refuses a new user namespace to a container without CAP_SYS_ADMIN.
			for range 2 {
				if r := run("busybox", "unshare", "-U", "true"); r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "Operation not permitted") {
					t.Errorf("unshare -U under the default profile: %s", r)
				}
				if r := run("--security-opt", "seccomp=unconfined", "busybox", "unshare", "-U", "true"); r.Code != 0 {
					t.Errorf("unshare -U unconfined: %s", r)
				}
			}

			// A profile file of the user's: mkdir is refused, the rest allowed; the default profile, in between,
			// allows mkdir.
			for range 2 {
				if r := run("--security-opt", "seccomp="+profile, "busybox", "mkdir", "/x"); r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "Operation not permitted") {
					t.Errorf("mkdir under a profile denying it: %s", r)
				}
				if r := run("busybox", "mkdir", "/x"); r.Code != 0 {
					t.Errorf("mkdir under the default profile: %s", r)
				}
			}
			if r := run("--security-opt", "seccomp="+profile, "busybox", "echo", "fine"); strings.TrimSpace(r.Stdout) != "fine" {
				t.Errorf("echo under the profile: %s", r)
			}
		})
	}

	// A malformed profile is refused at create, with docker's words.
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{not json`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := d.dockerR(nil, "run", "--rm", "--security-opt", "seccomp="+bad, "busybox", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "seccomp") {
		t.Errorf("malformed profile: %s", r)
	}

	info := d.docker(t, "info", "--format", "{{json .SecurityOptions}}")
	if !strings.Contains(info, "name=seccomp,profile=builtin") {
		t.Errorf("info security options: %s", info)
	}
}

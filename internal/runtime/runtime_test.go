package runtime

import (
	"errors"
	"testing"

	"github.com/containerd/errdefs"
)

func TestCleanMessage(t *testing.T) {
	in := `time="2024-01-01T00:00:00Z" level=error msg="runc run failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH"`
	want := `runc run failed: unable to start container process: exec: "nosuch": executable file not found in $PATH`
	if got := cleanMessage(in); got != want {
		t.Fatalf("cleanMessage = %q", got)
	}
	if got := cleanMessage("plain crun error"); got != "plain crun error" {
		t.Fatalf("plain: %q", got)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		msg      string
		notFound bool
	}{
		{"container \"x\" does not exist", true},
		{"container not running", true},
		{"error opening file `/run/crun/x/status`: No such file or directory", true},
		{"crun kill: open pidfd: No such process", true},
		{"permission denied", false},
	}
	for _, tt := range tests {
		if got := errdefs.IsNotFound(classify(errors.New(tt.msg))); got != tt.notFound {
			t.Errorf("classify(%q) not-found = %v", tt.msg, got)
		}
	}
}

func TestGlobalArgsAndExists(t *testing.T) {
	r := &Runtime{Name: "runc", Path: "/usr/sbin/runc", Args: []string{"--systemd-cgroup"}, Root: t.TempDir()}
	args := r.GlobalArgs()
	if len(args) != 3 || args[0] != "--systemd-cgroup" || args[1] != "--root" || args[2] != r.Root {
		t.Fatalf("GlobalArgs = %v", args)
	}
	if r.Exists("nope") {
		t.Fatal("Exists without a record")
	}
}

package e2e

import (
	"strings"
	"testing"
)

// TestRuntimes runs a container's life through the docker CLI with each OCI runtime the test command installs:
// crun (the default when installed) and runc (docker's). Both must give the same answers: output and exit codes,
// 127 and 126 for a command that cannot start (in run and in exec), exec, top, pause, stop, kill and rm -f.
func TestRuntimes(t *testing.T) {
	d := startDaemon(t)
	d.importBusybox(t)
	// crun, runc and berth-vm (VM-isolated containers: the harness builds it next to berthd).
	if out := d.docker(t, "info", "--format", "{{.DefaultRuntime}}:{{range $name, $_ := .Runtimes}} {{$name}}{{end}}"); out != "crun: berth-vm crun runc\n" {
		t.Errorf("default runtime and runtimes: %q", out)
	}
	for _, runtime := range []string{"crun", "runc"} {
		t.Run(runtime, func(t *testing.T) {
			r := d.dockerR(nil, "run", "--rm", "--runtime", runtime, "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
			if r.Code != 3 || r.Stdout != "out\n" || r.Stderr != "err\n" {
				t.Errorf("run: %s", r)
			}
			for _, tt := range []struct {
				name, cmd, words string
				code             int
			}{
				{name: "missing command", cmd: "nosuchcommand", words: "executable file not found", code: 127},
				{name: "missing path", cmd: "/bin/nosuch", words: "no such file or directory", code: 127},
				{name: "a directory", cmd: "/etc", words: "permission denied", code: 126},
			} {
				r := d.dockerR(nil, "run", "--rm", "--runtime", runtime, "busybox", tt.cmd)
				if r.Code != tt.code || !strings.Contains(r.Stderr, tt.words) {
					t.Errorf("run %s: %s, want exit %d and %q", tt.name, r, tt.code, tt.words)
				}
			}

			name := "rt-" + runtime
			d.docker(t, "run", "-d", "--name", name, "--runtime", runtime, "busybox", "sleep", "300")
			if out := d.docker(t, "inspect", "-f", "{{.HostConfig.Runtime}} {{.State.Status}}", name); out != runtime+" running\n" {
				t.Errorf("inspect: %q", out)
			}
			if out := d.docker(t, "exec", name, "echo", "in"); out != "in\n" {
				t.Errorf("exec: %q", out)
			}
			if r := d.dockerR(nil, "exec", name, "nosuchcommand"); r.Code != 127 {
				t.Errorf("exec of a missing command: %s", r)
			}
			if out := d.docker(t, "top", name); !strings.Contains(out, "sleep 300") {
				t.Errorf("top: %q", out)
			}
			d.docker(t, "pause", name)
			if out := d.docker(t, "inspect", "-f", "{{.State.Status}}", name); out != "paused\n" {
				t.Errorf("after pause: %q", out)
			}
			d.docker(t, "unpause", name)
			d.docker(t, "kill", "-s", "TERM", name) // sleep as pid 1 ignores TERM: still running
			if out := d.docker(t, "inspect", "-f", "{{.State.Status}}", name); out != "running\n" {
				t.Errorf("after kill -s TERM: %q", out)
			}
			d.docker(t, "stop", "-t", "1", name)
			if out := d.docker(t, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name); out != "exited 137\n" {
				t.Errorf("after stop: %q", out)
			}
			d.docker(t, "start", name)
			d.docker(t, "rm", "-f", name)
			if r := d.dockerR(nil, "inspect", name); r.Code == 0 {
				t.Errorf("inspect after rm -f: %s", r)
			}
		})
	}
}

package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/spf13/cobra"
)

func TestExecuteExitStatus(t *testing.T) {
	sigCtx, cancel := context.WithCancelCause(context.Background())
	cancel(signalCause{syscall.SIGTERM})
	tests := []struct {
		name   string
		ctx    context.Context
		err    error
		code   int
		stderr string
	}{
		{name: "success", ctx: context.Background(), code: 0},
		{name: "status error", ctx: context.Background(), err: StatusError{Status: "berth: bad\n\nUsage", Code: 125}, code: 125, stderr: "berth: bad\n\nUsage\n"},
		{name: "status error without text", ctx: context.Background(), err: StatusError{Code: 3}, code: 3},
		{name: "status error without code", ctx: context.Background(), err: StatusError{Status: "x"}, code: 1, stderr: "x\n"},
		{name: "other error", ctx: context.Background(), err: errors.New("boom"), code: 1, stderr: "rendered: boom\n"},
		{name: "interrupted by a signal", ctx: sigCtx, err: context.Canceled, code: 128 + int(syscall.SIGTERM)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := NewRootCommand(&Options{}, &bytes.Buffer{})
			root.AddCommand(&cobra.Command{Use: "fail", RunE: func(*cobra.Command, []string) error { return tt.err }})
			SetupHelp(root)
			var stderr bytes.Buffer
			code := Execute(tt.ctx, root, []string{"fail"}, &stderr, func(err error) string { return "rendered: " + err.Error() })
			if code != tt.code || stderr.String() != tt.stderr {
				t.Errorf("exit %d stderr %q, want %d %q", code, stderr.String(), tt.code, tt.stderr)
			}
		})
	}
}

// The root parses the global options before the command name and rejects what docker rejects, in its words.
func TestRootCommand(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
		host   string
	}{
		{name: "globals before the command", args: []string{"-H", "tcp://h:2375", "-D", "cmd"}, host: "tcp://h:2375"},
		{name: "unknown command", args: []string{"nosuch"}, code: 1, stderr: "berth: unknown command: berth nosuch\n\nRun 'berth --help' for more information\n"},
		{name: "bad log level", args: []string{"-l", "loud", "cmd"}, code: 1, stderr: "Unable to parse logging level: loud\n"},
		{name: "argument to a command taking none", args: []string{"cmd", "x"}, code: 1, stderr: "berth: 'berth cmd' accepts no arguments\n\nUsage:  berth cmd\n\nRun 'berth cmd --help' for more information\n"},
		{name: "unknown flag", args: []string{"cmd", "--nope"}, code: 125, stderr: "unknown flag: --nope\n\nUsage:  berth cmd\n\nRun 'berth cmd --help' for more information\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Options
			var stderr bytes.Buffer
			root := NewRootCommand(&o, &stderr)
			root.AddCommand(&cobra.Command{Use: "cmd", Args: NoArgs, RunE: func(*cobra.Command, []string) error { return nil }})
			SetupHelp(root)
			code := Execute(context.Background(), root, tt.args, &stderr, nil)
			if code != tt.code || stderr.String() != tt.stderr || o.Host != tt.host {
				t.Errorf("exit %d stderr %q host %q, want %d %q %q", code, stderr.String(), o.Host, tt.code, tt.stderr, tt.host)
			}
		})
	}
}

// A stub marked as a group is listed with the management commands, as the group it stands for would be.
func TestHelpListsStubsAsGroups(t *testing.T) {
	var out bytes.Buffer
	root := NewRootCommand(&Options{}, &out)
	root.AddCommand(
		&cobra.Command{Use: "compose", Short: "Define apps", Annotations: map[string]string{ManagementAnnotation: "1"}, Run: func(*cobra.Command, []string) {}},
		&cobra.Command{Use: "daemon", Short: "Run the engine", Run: func(*cobra.Command, []string) {}},
	)
	SetupHelp(root)
	root.SetOut(&out)
	if code := Execute(context.Background(), root, []string{"--help"}, &out, nil); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"Management Commands:\n  compose     Define apps\n", "Commands:\n  daemon      Run the engine\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFindPlugin(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "berth-testplugin")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if p, err := FindPlugin("berth-testplugin"); err != nil || p != bin {
		t.Errorf("in $PATH: %q %v", p, err)
	}
	self, _ := os.Executable()
	_, err := FindPlugin("berth-nosuchplugin")
	want := "berth-nosuchplugin not found: looked next to " + self + " and in $PATH"
	if !errors.Is(err, errdefs.ErrNotFound) || err.Error() != want {
		t.Errorf("missing: %v, want %q", err, want)
	}
}

// ExecPlugin replaces the process: the test binary re-runs itself, and the plugin (a shell) answers in its place
// with the arguments and berth's argv[0] it was given.
func TestExecPlugin(t *testing.T) {
	if os.Getenv("BERTH_TEST_EXEC_PLUGIN") != "" {
		err := ExecPlugin("/bin/sh", []string{"-c", `printf '%s|%s' "$*" "$` + PluginEnv + `"`, "sh", "-H", "unix:///x", "compose", "up"})
		os.Stderr.WriteString(err.Error())
		os.Exit(3)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^TestExecPlugin$")
	cmd.Env = append(os.Environ(), "BERTH_TEST_EXEC_PLUGIN=1")
	out, err := cmd.Output()
	if want := "-H unix:///x compose up|" + self; err != nil || string(out) != want {
		t.Errorf("plugin printed %q (%v), want %q", out, err, want)
	}
}

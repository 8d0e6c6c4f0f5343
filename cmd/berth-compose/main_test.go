package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth/berth/cmd/internal/command"
)

// runCompose runs berth-compose's command line in-process, as `berth compose ...` execs it.
func runCompose(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := command.NewCLI(strings.NewReader(""), &out, &errOut)
	code := c.Execute(context.Background(), command.NewPluginRootCommand(c, newComposeCommand), args)
	return out.String(), errOut.String(), code
}

// berth-compose reads berth's command line: the global options, then compose; usage and errors read as berth's.
func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte("services:\n  web:\n    image: busybox\n  api:\n    image: alpine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "config of a project", args: []string{"-H", "unix:///nonexistent.sock", "compose", "-f", file, "config", "--services"}, stdout: "api\nweb\n"},
		{name: "unknown subcommand", args: []string{"compose", "bogus"}, code: 1,
			stderr: "berth: unknown command: berth compose bogus\n\nUsage:  berth compose [OPTIONS] COMMAND\n\nRun 'berth compose --help' for more information\n"},
		{name: "bad global option", args: []string{"-l", "loud", "compose", "ls"}, code: 1, stderr: "Unable to parse logging level: loud\n"},
		{name: "no daemon", args: []string{"-H", "unix:///nonexistent.sock", "compose", "ls"}, code: 1,
			stderr: "Cannot connect to the Berth daemon at unix:///nonexistent.sock. Is the daemon running?\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCompose(t, tt.args...)
			if code != tt.code || out != tt.stdout || errOut != tt.stderr {
				t.Errorf("exit %d\nout %q\nerr %q\nwant %d %q %q", code, out, errOut, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
	out, _, code := runCompose(t, "compose", "--help")
	if code != 0 || !strings.HasPrefix(out, "Usage:  berth compose [OPTIONS] COMMAND\n") || !strings.Contains(out, "  up          Create and start containers") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
}

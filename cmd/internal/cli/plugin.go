package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/containerd/errdefs"
)

// Berth runs some of its commands from other binaries, as docker runs docker-compose for `docker compose`:
// `berth compose ...` execs berth-compose, `berth daemon` and `berth registry serve` exec berthd. The other
// binary gets berth's whole command line unchanged (its global options included) and the environment with
// PluginEnv added; it parses the line with the same root command (NewRootCommand), so the globals, usage lines
// and error messages are berth's own. The exec replaces berth's process: no parent stays behind, the pid is
// the one the caller started, and signals reach the command directly.

// PluginEnv is set to berth's argv[0] in the environment of the binary berth runs in its place (docker's
// DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND). A binary that finds it set presents itself as berth.
const PluginEnv = "BERTH_CLI_PLUGIN_ORIGINAL_CLI_COMMAND"

// RunningAsPlugin reports whether berth ran this process in its place.
func RunningAsPlugin() bool { return os.Getenv(PluginEnv) != "" }

// FindPlugin returns the path of binary: next to the running executable (an installation's own copy), else
// in $PATH. When it is in neither, the error wraps errdefs.ErrNotFound and says where it looked.
func FindPlugin(binary string) (string, error) {
	self, selfErr := os.Executable()
	if selfErr == nil {
		p := filepath.Join(filepath.Dir(self), binary)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(binary); err == nil {
		return p, nil
	}
	if selfErr != nil {
		return "", fmt.Errorf("%s %w in $PATH", binary, errdefs.ErrNotFound)
	}
	return "", fmt.Errorf("%s %w: looked next to %s and in $PATH", binary, errdefs.ErrNotFound, self)
}

// ExecPlugin replaces this process with the binary at path, giving it args (berth's command line without
// argv[0]) and the environment with PluginEnv set. It returns only on failure.
func ExecPlugin(path string, args []string) error {
	argv := append([]string{path}, args...)
	env := append(os.Environ(), PluginEnv+"="+os.Args[0])
	if err := syscall.Exec(path, argv, env); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

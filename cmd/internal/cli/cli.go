// Package cli holds the command-line conventions every Berth binary shares, as docker/cli's cli package does
// for docker's: the global options and the root command they belong to, docker's usage layout, argument and
// flag errors with docker's words and exit statuses, and the protocol by which berth runs a command that
// another binary implements (berthd, berth-compose). It knows nothing of the API client or of any command.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Build information, set with -ldflags "-X github.com/berth/berth/cmd/internal/cli.version=...
// -X github.com/berth/berth/cmd/internal/cli.gitCommit=...".
var (
	version   = "dev"
	gitCommit = ""
)

// Version is the version of the Berth binaries, "dev" unless the build sets it.
func Version() string { return version }

// GitCommit is the commit the build set with -ldflags, or "".
func GitCommit() string { return gitCommit }

// BuildVersion is "X, build Y" for -v: the commit the build set, else Go's VCS stamp, else "unknown".
func BuildVersion() string {
	commit := gitCommit
	if commit == "" {
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 7 {
					commit = s.Value[:7]
				}
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	return version + ", build " + commit
}

// Options are the global options, given before the command name: `berth -H tcp://h:2375 ps`.
type Options struct {
	Host     string
	Debug    bool
	LogLevel string
}

// NewRootCommand returns the root command "berth" with the global options bound to o and logging set up from
// them (to stderr) before any command runs. The caller adds its commands, then calls SetupHelp.
func NewRootCommand(o *Options, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:              "berth [OPTIONS] COMMAND [ARG...]",
		Short:            "A self-sufficient runtime for containers",
		SilenceUsage:     true,
		SilenceErrors:    true,
		TraverseChildren: true,
		Version:          BuildVersion(),
		Args:             rootArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return SetupLogging(stderr, o.Debug, o.LogLevel)
		},
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetVersionTemplate("Berth version {{.Version}}\n")

	// Global options are the root's own flags, parsed before the command name (TraverseChildren), as
	// docker's are: `berth -H tcp://h:2375 ps`, while `ps -l` stays --latest.
	flags := root.Flags()
	flags.StringVarP(&o.Host, "host", "H", "", "Daemon socket to connect to")
	flags.BoolVarP(&o.Debug, "debug", "D", false, "Enable debug mode")
	flags.StringVarP(&o.LogLevel, "log-level", "l", "info", `Set the logging level ("debug", "info", "warn", "error", "fatal")`)
	flags.BoolP("version", "v", false, "Print version information and quit")
	return root
}

// rootArgs rejects unknown commands the way docker words it.
func rootArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return StatusError{
		Status: fmt.Sprintf("%s: unknown command: %s %s\n\nRun '%s --help' for more information", cmd.Root().Name(), cmd.CommandPath(), args[0], cmd.CommandPath()),
		Code:   1,
	}
}

// SetupLogging makes slog's default logger write text to w at the level of -D and -l.
func SetupLogging(w io.Writer, debug bool, logLevel string) error {
	level := slog.LevelInfo
	switch strings.ToLower(logLevel) {
	case "", "info":
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error", "fatal", "panic":
		level = slog.LevelError
	default:
		return StatusError{Status: fmt.Sprintf("Unable to parse logging level: %s", logLevel), Code: 1}
	}
	if debug {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})))
	return nil
}

// StatusError carries the exit status of a failed command and what to print (may be empty).
type StatusError struct {
	Status string
	Code   int
}

func (e StatusError) Error() string {
	if e.Status != "" {
		return e.Status
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// Execute runs root on args and returns the process exit status. A StatusError prints its Status and exits
// with its Code; a command interrupted by a signal (see SignalContext) exits as a process killed by it, without
// a message; any other error is printed with render (err.Error when nil) and exits 1.
func Execute(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer, render func(error) string) int {
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var se StatusError
	if errors.As(err, &se) {
		if se.Status != "" {
			fmt.Fprintln(stderr, se.Status)
		}
		if se.Code == 0 {
			return 1
		}
		return se.Code
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		if sig, ok := context.Cause(ctx).(signalCause); ok {
			return 128 + int(sig.Signal)
		}
		return 130
	}
	if render == nil {
		render = error.Error
	}
	fmt.Fprintln(stderr, render(err))
	return 1
}

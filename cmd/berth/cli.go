package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/berth/berth/client"
	"github.com/spf13/cobra"
)

// Build information, set with -ldflags "-X main.version=... -X main.gitCommit=...".
var (
	version   = "dev"
	gitCommit = ""
)

// daemonCmd builds `berth daemon`; it is set by the daemon's own file (cmd/berth/daemon.go) and may be nil.
var daemonCmd func() *cobra.Command

// cli carries what every command needs: the standard streams, the global options and the API client.
type cli struct {
	in  *inStream
	out *outStream
	err io.Writer

	host     string
	debug    bool
	logLevel string

	client *client.Client
}

func newCLI(in io.Reader, out, errOut io.Writer) *cli {
	return &cli{in: newInStream(in), out: newOutStream(out), err: errOut}
}

// Client returns the API client for the daemon chosen by -H, BERTH_HOST or the default socket.
func (c *cli) Client() (*client.Client, error) {
	if c.client != nil {
		return c.client, nil
	}
	host := c.host
	if host == "" {
		host = os.Getenv("BERTH_HOST")
	}
	if host == "" {
		host = client.DefaultHost
	}
	apiClient, err := client.New(host, client.WithUserAgent("berth-cli/"+version))
	if err != nil {
		return nil, err
	}
	c.client = apiClient
	return apiClient, nil
}

// buildVersion is "X, build Y" for -v and `version`.
func buildVersion() string {
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

// execute runs the command line and returns the process exit status; errors are printed on stderr.
func execute(ctx context.Context, c *cli, args []string) int {
	root := newRootCommand(c)
	root.SetArgs(args)
	root.SetIn(c.in)
	root.SetOut(c.out)
	root.SetErr(c.err)
	err := root.ExecuteContext(ctx)
	if c.client != nil {
		_ = c.client.Close()
	}
	if err == nil {
		return 0
	}
	var se statusError
	if errors.As(err, &se) {
		if se.Status != "" {
			fmt.Fprintln(c.err, se.Status)
		}
		if se.Code == 0 {
			return 1
		}
		return se.Code
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// Interrupted: exit like a process killed by the signal, without a message.
		if sig, ok := context.Cause(ctx).(signalCause); ok {
			return 128 + int(sig.Signal)
		}
		return 130
	}
	fmt.Fprintln(c.err, errorText(err))
	return 1
}

// signalContext returns a context cancelled by the first SIGINT or SIGTERM. Like docker, two more of them
// force the process out (restoring the terminal), for when a container ignores the proxied signal.
func (c *cli) signalContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for n := 0; ; n++ {
			select {
			case s := <-sigs:
				if n == 0 {
					cancel(signalCause{s.(syscall.Signal)})
					continue
				}
				if n == 2 {
					fmt.Fprint(c.err, "\ngot 3 SIGTERM/SIGINTs, forcefully exiting\n")
					c.in.RestoreTerminal()
					c.out.RestoreTerminal()
					os.Exit(1)
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// signalCause is the cancellation cause of the root context when a signal arrived.
type signalCause struct{ syscall.Signal }

func (s signalCause) Error() string { return "received " + s.Signal.String() }

// statusError carries the exit status of a failed command and what to print (may be empty).
type statusError struct {
	Status string
	Code   int
}

func (e statusError) Error() string {
	if e.Status != "" {
		return e.Status
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// errorText renders an error as docker does: daemon answers get "Error response from daemon: ",
// joined errors one per line.
func errorText(err error) string {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		if _, isConn := err.(*client.ConnectionError); !isConn {
			var lines []string
			for _, e := range joined.Unwrap() {
				lines = append(lines, errorText(e))
			}
			return strings.Join(lines, "\n")
		}
	}
	if apiErr, ok := err.(*client.Error); ok {
		return "Error response from daemon: " + apiErr.Message
	}
	return err.Error()
}

// setupLogging configures slog from -D and -l.
func (c *cli) setupLogging() error {
	level := slog.LevelInfo
	switch strings.ToLower(c.logLevel) {
	case "", "info":
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error", "fatal", "panic":
		level = slog.LevelError
	default:
		return statusError{Status: fmt.Sprintf("Unable to parse logging level: %s", c.logLevel), Code: 1}
	}
	if c.debug {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(c.err, &slog.HandlerOptions{Level: level})))
	return nil
}

// Command berthd runs Berth's servers: the engine (the daemon serving the Docker Engine API, dockerd's
// counterpart), `registry serve`, an OCI distribution registry, and `s3 serve`, S3-compatible object storage.
// Run as itself it is dockerd: `berthd [OPTIONS]` starts the daemon, `berthd registry serve` the registry and
// `berthd s3 serve` the object store. `berth daemon`, `berth registry` and `berth s3 serve` exec it with
// berth's command line (cmd/internal/cli's plugin protocol); it then parses that line with berth's root command
// and global options, so usage lines and errors are the ones `berth` has always printed.
package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/berth/berth/cmd/internal/cli"
)

func main() {
	ctx, stop := cli.SignalContext(context.Background(), os.Stderr, nil)
	// Until the root command's options say otherwise, servers log text at info level to stderr.
	_ = cli.SetupLogging(os.Stderr, false, "info")
	code := cli.Execute(ctx, newRootCommand(os.Stderr), os.Args[1:], os.Stderr, nil)
	stop()
	os.Exit(code)
}

// newRootCommand is berth's root with the servers' commands when berth runs this binary, else the daemon's
// command named berthd with the other servers below it.
func newRootCommand(stderr io.Writer) *cobra.Command {
	var root *cobra.Command
	if cli.RunningAsPlugin() {
		root = cli.NewRootCommand(&cli.Options{}, stderr)
		root.AddCommand(newDaemonCommand())
	} else {
		root = newDaemonCommand()
		root.Use = "berthd [OPTIONS]"
		root.Version = cli.BuildVersion()
		root.SetVersionTemplate("Berth version {{.Version}}\n")
		root.CompletionOptions.HiddenDefaultCmd = true
	}
	root.AddCommand(newRegistryCommand(stderr), newS3Command(stderr))
	root.SetOut(os.Stdout)
	root.SetErr(stderr)
	cli.SetupHelp(root)
	return root
}

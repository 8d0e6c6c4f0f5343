// Package command is the berth CLI: docker's command tree (one file per noun or verb) over the client package,
// its output through the formatter package. cmd/berth runs it; plugin binaries (berth-compose) build their own
// commands on the CLI type and the few exported helpers here.
package command

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

// CLI carries what every command needs: the standard streams, the global options and the API client.
type CLI struct {
	in  *InStream
	out *OutStream
	err io.Writer

	options cli.Options
	// args is the command line being run (without argv[0]), passed unchanged to a plugin's binary.
	args []string

	client *client.Client

	// findPlugin and execPlugin are cli.FindPlugin and cli.ExecPlugin; tests replace them.
	findPlugin func(binary string) (string, error)
	execPlugin func(path string, args []string) error
}

// NewCLI returns a CLI over the given streams.
func NewCLI(in io.Reader, out, errOut io.Writer) *CLI {
	return &CLI{in: newInStream(in), out: newOutStream(out), err: errOut,
		findPlugin: cli.FindPlugin, execPlugin: cli.ExecPlugin}
}

// In is the CLI's standard input.
func (c *CLI) In() *InStream { return c.in }

// Out is the CLI's standard output.
func (c *CLI) Out() *OutStream { return c.out }

// Err is the CLI's standard error.
func (c *CLI) Err() io.Writer { return c.err }

// Client returns the API client for the daemon chosen by -H, BERTH_HOST or the default socket.
func (c *CLI) Client() (*client.Client, error) {
	if c.client != nil {
		return c.client, nil
	}
	host := c.options.Host
	if host == "" {
		host = os.Getenv("BERTH_HOST")
	}
	if host == "" {
		host = client.DefaultHost
	}
	apiClient, err := client.New(host, client.WithUserAgent("berth-cli/"+cli.Version()))
	if err != nil {
		return nil, err
	}
	c.client = apiClient
	return apiClient, nil
}

// Main runs berth's command line (without argv[0]) and returns the process exit status.
func Main(args []string) int {
	c := NewCLI(os.Stdin, os.Stdout, os.Stderr)
	return c.main(args, newRootCommand(c))
}

// MainPlugin runs the command line of a binary that berth runs in its place for some of its commands
// (berth-compose): berth's root command with its global options and cmds as its only commands, so that usage
// lines and errors read as berth's.
func MainPlugin(args []string, cmds ...func(*CLI) *cobra.Command) int {
	c := NewCLI(os.Stdin, os.Stdout, os.Stderr)
	return c.main(args, NewPluginRootCommand(c, cmds...))
}

// NewPluginRootCommand is the root command of MainPlugin.
func NewPluginRootCommand(c *CLI, cmds ...func(*CLI) *cobra.Command) *cobra.Command {
	root := cli.NewRootCommand(&c.options, c.err)
	for _, newCmd := range cmds {
		root.AddCommand(newCmd(c))
	}
	cli.SetupHelp(root)
	return root
}

func (c *CLI) main(args []string, root *cobra.Command) int {
	ctx, stop := cli.SignalContext(context.Background(), c.err, func() {
		c.in.RestoreTerminal()
		c.out.RestoreTerminal()
	})
	code := c.Execute(ctx, root, args)
	stop()
	return code
}

// Execute runs the command line args with root (built for c) and returns the process exit status; errors are
// printed on stderr.
func (c *CLI) Execute(ctx context.Context, root *cobra.Command, args []string) int {
	c.args = args
	root.SetIn(c.in)
	root.SetOut(c.out)
	root.SetErr(c.err)
	code := cli.Execute(ctx, root, args, c.err, errorText)
	if c.client != nil {
		_ = c.client.Close()
	}
	return code
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

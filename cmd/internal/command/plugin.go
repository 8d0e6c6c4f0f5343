package command

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth/berth/cmd/internal/cli"
)

// A plugin is a berth command that another binary implements (cli's plugin protocol): berth keeps only a stub,
// so the CLI links neither the engine nor compose-go, as the docker CLI links neither dockerd nor
// docker-compose. The stubs carry their description, so `berth --help` lists them without running anything.
// A stub may sit in one of berth's own groups (`berth s3 serve` beside the CLI's `berth s3 user`): the other
// binary then has the same group, holding the real command.
type plugin struct {
	parent string // the berth group the stub sits in; "" for a top-level command
	name   string
	binary string
	short  string
	group  bool // a command group: listed under "Management Commands"
}

// plugins are the commands other binaries implement. The servers share berthd (each links the engine's
// storage packages); compose, a client of the API like the CLI, has berth-compose.
var plugins = []plugin{
	{name: "compose", binary: "berth-compose", short: "Define and run multi-container applications", group: true},
	{name: "daemon", binary: "berthd", short: "Run the Berth engine (the daemon serving the Docker Engine API)"},
	{name: "registry", binary: "berthd", short: "Run an OCI distribution registry", group: true},
	{parent: "s3", name: "serve", binary: "berthd", short: "Serve the S3 API (and IAM and STS) from a directory"},
}

// addPlugins adds the stubs to root, each in its parent group (which must exist by then).
func addPlugins(c *CLI, root *cobra.Command) {
	for _, p := range plugins {
		parent := root
		if p.parent != "" {
			parent = nil
			for _, cmd := range root.Commands() {
				if cmd.Name() == p.parent {
					parent = cmd
				}
			}
			if parent == nil {
				panic("plugin " + p.name + ": berth has no command " + p.parent)
			}
		}
		parent.AddCommand(newPluginCommand(c, p))
	}
}

// newPluginCommand is the stub of p: it takes its arguments unparsed and execs p's binary with berth's whole
// command line, `berth help NAME` included.
func newPluginCommand(c *CLI, p plugin) *cobra.Command {
	cmd := &cobra.Command{
		Use:                p.name,
		Short:              p.short,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.runPlugin(p)
		},
	}
	if p.group {
		cmd.Annotations = map[string]string{cli.ManagementAnnotation: "1"}
	}
	cmd.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		if err := c.runPlugin(p); err != nil {
			fmt.Fprintln(c.err, err)
		}
	})
	return cmd
}

// runPlugin execs p's binary in place of berth; it returns only when that fails.
func (c *CLI) runPlugin(p plugin) error {
	path, err := c.findPlugin(p.binary)
	if err != nil {
		return fmt.Errorf("berth %s: %w", strings.TrimSpace(p.parent+" "+p.name), err)
	}
	return c.execPlugin(path, c.args)
}

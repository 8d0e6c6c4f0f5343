package command

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth/berth/cmd/internal/cli"
)

// A plugin is a top-level berth command that another binary implements (cli's plugin protocol): berth keeps
// only a stub, so the CLI links neither the engine nor compose-go, as the docker CLI links neither dockerd nor
// docker-compose. The stubs carry their description, so `berth --help` lists them without running anything.
type plugin struct {
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
		return fmt.Errorf("berth %s: %w", p.name, err)
	}
	return c.execPlugin(path, c.args)
}

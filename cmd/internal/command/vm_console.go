package command

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/berth/berth/cmd/internal/cli"
)

func newVMConsoleCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "console VM",
		Short: "Attach to a virtual machine's serial console (detach with ctrl-p ctrl-q)",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			resp, err := apiClient.VMConsole(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer resp.Close()
			h := &hijackedStreamer{c: c, resp: resp, in: io.NopCloser(c.in), out: c.out, tty: true}
			if err := h.stream(cmd.Context()); err != nil && err != errDetached {
				return err
			}
			return nil
		},
	}
}

func newVMLogsCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "logs VM",
		Short: "Show a virtual machine's console output (its last 64 KiB, across boots)",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			out, err := apiClient.VMConsoleOutput(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			_, err = c.out.Write(out)
			return err
		},
	}
}

// removeAll removes a directory the CLI made, reporting nothing (a VM's local key is a convenience).
func removeAll(dir string) {
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "WARNING:", err)
	}
}

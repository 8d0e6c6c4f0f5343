package command

import (
	"errors"
	"io"
	"os"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newLoadCommand(c *CLI) *cobra.Command {
	var (
		input string
		quiet bool
	)
	cmd := &cobra.Command{
		Use:         "load [OPTIONS]",
		Short:       "Load an image from a tar archive or STDIN",
		Args:        cli.NoArgs,
		Annotations: map[string]string{"aliases": joinAliases("image load", "load")},
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = c.in
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			} else if c.in.IsTerminal() {
				return errors.New("requested load from stdin, but stdin is empty")
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			resp, err := apiClient.ImageLoad(cmd.Context(), in, quiet)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.JSON {
				return displayJSONMessages(resp.Body, c.out)
			}
			_, err = io.Copy(c.out, resp.Body)
			return err
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	flags.BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

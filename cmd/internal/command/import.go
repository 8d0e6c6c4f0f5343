package command

import (
	"io"
	"os"
	"strings"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newImportCommand(c *CLI) *cobra.Command {
	var (
		opts    client.ImageImportOptions
		changes = NewListOpts(nil)
	)
	cmd := &cobra.Command{
		Use:         "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short:       "Import the contents from a tarball to create a filesystem image",
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("image import", "import")},
		RunE: func(cmd *cobra.Command, args []string) error {
			source := args[0]
			ref := ""
			if len(args) > 1 {
				ref = args[1]
			}
			opts.Changes = changes.Values()
			var (
				body      io.Reader
				sourceURL string
			)
			switch {
			case source == "-":
				body = c.in
			case strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://"):
				sourceURL = source
			default:
				f, err := os.Open(source)
				if err != nil {
					return err
				}
				defer f.Close()
				body = f
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			resp, err := apiClient.ImageImport(cmd.Context(), body, sourceURL, ref, opts)
			if err != nil {
				return err
			}
			defer resp.Close()
			return displayJSONMessages(resp, c.out)
		},
	}
	flags := cmd.Flags()
	flags.SetInterspersed(false)
	flags.VarP(changes, "change", "c", "Apply Dockerfile instruction to the created image")
	flags.StringVarP(&opts.Message, "message", "m", "", "Set commit message for imported image")
	flags.StringVar(&opts.Platform, "platform", os.Getenv("BERTH_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	return cmd
}

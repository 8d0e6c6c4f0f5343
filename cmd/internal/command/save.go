package command

import (
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newSaveCommand(c *CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:         "save [OPTIONS] IMAGE [IMAGE...]",
		Short:       "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("image save", "save")},
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" && c.out.IsTerminal() {
				return errRefuseTerminal
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			body, err := apiClient.ImageSave(cmd.Context(), args)
			if err != nil {
				return err
			}
			defer body.Close()
			return c.writeArchive(output, body)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

package command

import (
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newExportCommand(c *CLI) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:         "export [OPTIONS] CONTAINER",
		Short:       "Export a container's filesystem as a tar archive",
		Args:        cli.ExactArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container export", "export")},
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" && c.out.IsTerminal() {
				return errRefuseTerminal
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			body, err := apiClient.ContainerExport(cmd.Context(), args[0])
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

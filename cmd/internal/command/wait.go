package command

import (
	"errors"
	"fmt"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/spf13/cobra"
)

func newWaitCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:         "wait CONTAINER [CONTAINER...]",
		Short:       "Block until one or more containers stop, then print their exit codes",
		Args:        cli.RequiresMinArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("container wait", "wait")},
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				results, errc := apiClient.ContainerWait(cmd.Context(), name, "")
				select {
				case r := <-results:
					if r.Error != nil {
						errs = append(errs, errors.New(r.Error.Message))
						continue
					}
					fmt.Fprintf(c.out, "%d\n", r.StatusCode)
				case err := <-errc:
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
}

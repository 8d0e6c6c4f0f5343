package command

import (
	"fmt"
	"io"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"

	"github.com/distribution/reference"
	"github.com/spf13/cobra"
)

func newPushCommand(c *CLI) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:         "push [OPTIONS] NAME[:TAG]",
		Short:       "Upload an image to a registry",
		Args:        cli.ExactArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("image push", "push")},
		RunE: func(cmd *cobra.Command, args []string) error {
			named, err := reference.ParseNormalizedNamed(args[0])
			if err != nil {
				return err
			}
			if _, ok := named.(reference.NamedTagged); !ok {
				if !quiet {
					fmt.Fprintln(c.out, "Using default tag: latest")
				}
				named = reference.TagNameOnly(named)
			}
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			ref := reference.FamiliarString(named)
			body, err := apiClient.ImagePush(cmd.Context(), ref, client.ImagePushOptions{RegistryAuth: c.RegistryAuthFor(ref)})
			if err != nil {
				return err
			}
			defer body.Close()
			var out io.Writer = c.out
			if quiet {
				out = io.Discard
			}
			if err := renderProgress(body, out, !quiet && c.out.IsTerminal(), nil); err != nil {
				return err
			}
			if quiet {
				fmt.Fprintln(c.out, named.String())
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

package command

import (
	"context"
	"fmt"
	"io"

	"github.com/distribution/reference"
	"github.com/spf13/cobra"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
)

func newPullCommand(c *CLI) *cobra.Command {
	var quiet bool
	var platform string
	cmd := &cobra.Command{
		Use:         "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short:       "Download an image from a registry",
		Args:        cli.ExactArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("image pull", "pull")},
		RunE: func(cmd *cobra.Command, args []string) error {
			named, err := reference.ParseNormalizedNamed(args[0])
			if err != nil {
				return err
			}
			if _, ok := named.(reference.Canonical); !ok {
				if _, ok := named.(reference.NamedTagged); !ok && !quiet {
					fmt.Fprintln(c.out, "Using default tag: latest")
				}
				named = reference.TagNameOnly(named)
			}
			var out io.Writer = c.out
			if quiet {
				out = io.Discard
			}
			if err := c.pull(cmd.Context(), reference.FamiliarString(named), platform, out, c.out.IsTerminal()); err != nil {
				return err
			}
			fmt.Fprintln(c.out, named.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	f.StringVar(&platform, "platform", "", "Set platform if server is multi-platform capable")
	f.BoolP("all-tags", "a", false, "Download all tagged images in the repository")
	f.MarkHidden("all-tags")
	return cmd
}

// pull asks the daemon to pull ref with the stored credentials for its registry and renders the progress.
func (c *CLI) pull(ctx context.Context, ref, platform string, out io.Writer, isTerm bool) error {
	apiClient, err := c.Client()
	if err != nil {
		return err
	}
	body, err := apiClient.ImagePullWithOptions(ctx, ref, client.PullOptions{Platform: platform, RegistryAuth: c.RegistryAuthFor(ref)})
	if err != nil {
		return err
	}
	defer body.Close()
	return renderProgress(body, out, isTerm, nil)
}

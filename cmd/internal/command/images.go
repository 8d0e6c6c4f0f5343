package command

import (
	"errors"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/spf13/cobra"
)

type imagesOptions struct {
	quiet    bool
	all      bool
	noTrunc  bool
	digests  bool
	format   string
	filter   *filterOpt
	matchRef string
}

func newImagesCommand(c *CLI) *cobra.Command {
	cmd := newListImagesCommand(c)
	cmd.Use = "images [OPTIONS] [REPOSITORY[:TAG]]"
	cmd.Aliases = nil
	return cmd
}

// newListImagesCommand is `image ls` (alias list) and, renamed, the top-level `images`.
func newListImagesCommand(c *CLI) *cobra.Command {
	opts := imagesOptions{filter: newFilterOpt()}
	cmd := &cobra.Command{
		Use:         "ls [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases:     []string{"list"},
		Short:       "List images",
		Args:        cli.RequiresMaxArgs(1),
		Annotations: map[string]string{"aliases": joinAliases("image ls", "image list", "images")},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.matchRef = args[0]
			}
			return runImages(cmd, c, &opts)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Only show image IDs")
	flags.BoolVarP(&opts.all, "all", "a", false, "Show all images (default hides intermediate images)")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVar(&opts.digests, "digests", false, "Show digests")
	flags.StringVar(&opts.format, "format", "", formatHelp)
	flags.VarP(opts.filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

func runImages(cmd *cobra.Command, c *CLI, opts *imagesOptions) error {
	filters := opts.filter.Value()
	if opts.matchRef != "" {
		if _, ok := filters["reference"]; ok {
			return errors.New("cannot combine a REPOSITORY[:TAG] argument with a reference filter")
		}
		filters = filters.Clone().Add("reference", opts.matchRef)
	}
	apiClient, err := c.Client()
	if err != nil {
		return err
	}
	format := formatter.NewImageFormat(opts.format, opts.quiet, opts.digests)
	list, err := apiClient.ImageList(cmd.Context(), client.ImageListOptions{
		All:        opts.all,
		Filters:    filters,
		SharedSize: format.Contains(".SharedSize") || format.Contains(".UniqueSize"),
	})
	if err != nil {
		return err
	}
	trunc := !opts.noTrunc
	rows := formatter.ImageRows(list, trunc, opts.digests || format.Contains("{{.Digest}}"))
	ctx := formatter.Context{Output: c.out, Format: format, Trunc: trunc}
	return ctx.Write(formatter.ImageHeader, rows)
}

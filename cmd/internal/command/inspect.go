package command

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/containerd/errdefs"
	"github.com/spf13/cobra"
)

// Object types `inspect --type` accepts.
const (
	typeContainer = "container"
	typeImage     = "image"
	typeVolume    = "volume"
	typeNetwork   = "network"
)

var inspectTypes = []string{typeContainer, typeImage, typeNetwork, typeVolume}

type inspectOptions struct {
	format     string
	objectType string
	size       bool
}

func newInspectCommand(c *CLI) *cobra.Command {
	var opts inspectOptions
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on Berth objects",
		Args:  cli.RequiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("type") && opts.objectType == "" {
				return fmt.Errorf(`type is empty: must be one of "%s"`, strings.Join(inspectTypes, `", "`))
			}
			switch opts.objectType {
			case "", typeContainer, typeImage, typeVolume, typeNetwork:
			default:
				return fmt.Errorf(`unknown type: %q: must be one of "%s"`, opts.objectType, strings.Join(inspectTypes, `", "`))
			}
			return c.inspect(cmd.Context(), args, opts.format, c.inspectAny(cmd.Context(), opts))
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&opts.format, "format", "f", "", inspectFormatHelp)
	flags.StringVar(&opts.objectType, "type", "", "Only inspect objects of the given type")
	flags.BoolVarP(&opts.size, "size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

// inspect prints objects through the formatter; a bad template exits with status 64, as docker's does.
func (c *CLI) inspect(_ context.Context, refs []string, format string, get formatter.InspectGetter) error {
	err := formatter.Inspect(c.out, refs, format, get)
	var tmplErr *formatter.TemplateError
	if errors.As(err, &tmplErr) && !isJoined(err) {
		return cli.StatusError{Status: err.Error(), Code: 64}
	}
	return err
}

func isJoined(err error) bool {
	_, ok := err.(interface{ Unwrap() []error })
	return ok
}

func (c *CLI) inspectContainer(ctx context.Context, size bool) formatter.InspectGetter {
	return func(ref string) (any, []byte, error) {
		apiClient, err := c.Client()
		if err != nil {
			return nil, nil, err
		}
		v, raw, err := apiClient.ContainerInspectWithRaw(ctx, ref, size)
		return v, raw, err
	}
}

func (c *CLI) inspectImage(ctx context.Context) formatter.InspectGetter {
	return func(ref string) (any, []byte, error) {
		apiClient, err := c.Client()
		if err != nil {
			return nil, nil, err
		}
		v, raw, err := apiClient.ImageInspectWithRaw(ctx, ref)
		return v, raw, err
	}
}

func (c *CLI) inspectVolume(ctx context.Context) formatter.InspectGetter {
	return func(ref string) (any, []byte, error) {
		apiClient, err := c.Client()
		if err != nil {
			return nil, nil, err
		}
		v, raw, err := apiClient.VolumeInspectWithRaw(ctx, ref)
		return v, raw, err
	}
}

// inspectAny looks a reference up as a container, then an image, then a volume (or only --type).
func (c *CLI) inspectAny(ctx context.Context, opts inspectOptions) formatter.InspectGetter {
	kinds := []struct {
		name string
		get  formatter.InspectGetter
	}{
		{typeContainer, c.inspectContainer(ctx, opts.size)},
		{typeImage, c.inspectImage(ctx)},
		{typeNetwork, c.inspectNetwork(ctx)},
		{typeVolume, c.inspectVolume(ctx)},
	}
	return func(ref string) (any, []byte, error) {
		for _, k := range kinds {
			if opts.objectType != "" && k.name != opts.objectType {
				continue
			}
			v, raw, err := k.get(ref)
			if err != nil {
				if opts.objectType == "" && isSkippable(err) {
					continue
				}
				return nil, nil, err
			}
			if opts.size && k.name != typeContainer {
				fmt.Fprintln(c.err, "WARNING: --size ignored for", k.name)
			}
			return v, raw, nil
		}
		return nil, nil, fmt.Errorf("Error: No such object: %s", ref)
	}
}

func isSkippable(err error) bool {
	return errdefs.IsNotFound(err) || errdefs.IsNotImplemented(err) ||
		strings.Contains(err.Error(), "not supported") || strings.Contains(err.Error(), "invalid reference format")
}

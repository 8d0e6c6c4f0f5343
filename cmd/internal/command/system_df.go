package command

import (
	"fmt"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
	"github.com/spf13/cobra"
)

func newSystemDfCommand(c *CLI) *cobra.Command {
	var (
		verbose bool
		format  string
	)
	cmd := &cobra.Command{
		Use:   "df [OPTIONS]",
		Short: "Show berth disk usage",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			apiClient, err := c.Client()
			if err != nil {
				return err
			}
			du, err := apiClient.DiskUsage(cmd.Context(), client.DiskUsageOptions{Verbose: verbose})
			if err != nil {
				return err
			}
			if verbose && (format == "" || format == formatter.TableFormatKey) {
				return c.writeDiskUsageVerbose(du)
			}
			if format == "" {
				format = formatter.DefaultDiskUsageTableFormat
			} else if format == formatter.TableFormatKey {
				format = formatter.DefaultDiskUsageTableFormat
			}
			ctx := formatter.Context{Output: c.out, Format: formatter.Format(format)}
			return ctx.Write(formatter.DiskUsageHeader, diskUsageRows(du))
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&verbose, "verbose", "v", false, "Show detailed information on space usage")
	flags.StringVar(&format, "format", "", formatHelp)
	return cmd
}

func diskUsageRows(du system.DiskUsage) []any {
	img := valueOr(du.ImageUsage, image.DiskUsage{})
	ctr := valueOr(du.ContainerUsage, container.DiskUsage{})
	vol := valueOr(du.VolumeUsage, volume.DiskUsage{})
	bc := valueOr(du.BuildCacheUsage, build.DiskUsage{})
	return []any{
		&formatter.DiskUsageRow{Kind: "Images", Total: img.TotalCount, ActiveCount: img.ActiveCount, TotalSize: img.TotalSize, ReclaimableSum: img.Reclaimable, ShowPercent: true},
		&formatter.DiskUsageRow{Kind: "Containers", Total: ctr.TotalCount, ActiveCount: ctr.ActiveCount, TotalSize: ctr.TotalSize, ReclaimableSum: ctr.Reclaimable, ShowPercent: true},
		&formatter.DiskUsageRow{Kind: "Local Volumes", Total: vol.TotalCount, ActiveCount: vol.ActiveCount, TotalSize: vol.TotalSize, ReclaimableSum: vol.Reclaimable, ShowPercent: true},
		&formatter.DiskUsageRow{Kind: "Build Cache", Total: bc.TotalCount, ActiveCount: bc.ActiveCount, TotalSize: bc.TotalSize, ReclaimableSum: bc.Reclaimable},
	}
}

func valueOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// writeDiskUsageVerbose prints `system df -v`: one table per object type.
func (c *CLI) writeDiskUsageVerbose(du system.DiskUsage) error {
	img := valueOr(du.ImageUsage, image.DiskUsage{})
	ctr := valueOr(du.ContainerUsage, container.DiskUsage{})
	vol := valueOr(du.VolumeUsage, volume.DiskUsage{})
	bc := valueOr(du.BuildCacheUsage, build.DiskUsage{})

	fmt.Fprint(c.out, "Images space usage:\n\n")
	ctx := formatter.Context{Output: c.out, Format: formatter.DiskUsageImageTableFormat, Trunc: true}
	if err := ctx.Write(formatter.ImageHeader, formatter.ImageRows(img.Items, true, false)); err != nil {
		return err
	}

	fmt.Fprint(c.out, "\nContainers space usage:\n\n")
	items := make([]container.Summary, len(ctr.Items))
	for i, s := range ctr.Items {
		s.SizeRootFs = 0
		items[i] = s
	}
	ctx.Format = formatter.DiskUsageContainerTableFormat
	if err := ctx.Write(formatter.ContainerHeader, formatter.ContainerRows(items, true)); err != nil {
		return err
	}

	fmt.Fprint(c.out, "\nLocal Volumes space usage:\n\n")
	ctx.Format = formatter.DiskUsageVolumeTableFormat
	if err := ctx.Write(formatter.VolumeHeader, formatter.VolumeRows(vol.Items)); err != nil {
		return err
	}

	fmt.Fprintf(c.out, "\nBuild cache usage: %s\n\n", formatter.HumanSize(bc.TotalSize))
	return nil
}

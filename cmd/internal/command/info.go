package command

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/system"
	"github.com/spf13/cobra"
)

// clientInfo is the client half of `info`.
type clientInfo struct {
	Version   string
	Context   string
	Debug     bool
	GoVersion string `json:",omitempty"`
}

// infoData is what `info --format` templates see: the daemon's Info plus ClientInfo, like docker's.
type infoData struct {
	*system.Info
	ClientInfo   *clientInfo
	ServerErrors []string `json:",omitempty"`
}

func newInfoCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:         "info [OPTIONS]",
		Short:       "Display system-wide information",
		Args:        cli.NoArgs,
		Annotations: map[string]string{"aliases": joinAliases("system info", "info")},
		RunE: func(cmd *cobra.Command, args []string) error {
			data := infoData{ClientInfo: &clientInfo{Version: cli.Version(), Context: "default", Debug: c.options.Debug}}
			apiClient, err := c.Client()
			if err == nil {
				var info system.Info
				if info, err = apiClient.Info(cmd.Context()); err == nil {
					data.Info = &info
				}
			}
			if err != nil {
				data.ServerErrors = append(data.ServerErrors, errorText(err))
			}
			if format != "" {
				if format == formatter.JSONFormatKey {
					format = formatter.JSONFormat
				}
				tmpl, perr := formatter.Parse(format)
				if perr != nil {
					return cli.StatusError{Status: "template parsing error: " + perr.Error(), Code: 64}
				}
				if data.Info == nil {
					data.Info = &system.Info{}
				}
				if xerr := tmpl.Execute(c.out, data); xerr != nil {
					return xerr
				}
				fmt.Fprintln(c.out)
				if err != nil {
					return cli.StatusError{Status: strings.Join(data.ServerErrors, "\n"), Code: 1}
				}
				return nil
			}
			printClientInfo(c.out, data.ClientInfo)
			fmt.Fprintln(c.out)
			fmt.Fprintln(c.out, "Server:")
			if data.Info != nil {
				printServerInfo(c.out, data.Info)
			}
			if len(data.ServerErrors) > 0 {
				fmt.Fprintln(c.out, "ERROR:", strings.Join(data.ServerErrors, "\n"))
				return cli.StatusError{Status: "errors pretty printing info", Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return cmd
}

func printClientInfo(w io.Writer, ci *clientInfo) {
	fmt.Fprintln(w, "Client:")
	fmt.Fprintln(w, " Version:   ", ci.Version)
	fmt.Fprintln(w, " Context:   ", ci.Context)
	fmt.Fprintln(w, " Debug Mode:", ci.Debug)
}

func printServerInfo(w io.Writer, info *system.Info) {
	p := func(label string, v any) { fmt.Fprintf(w, " %s: %v\n", label, v) }
	p("Containers", info.Containers)
	fmt.Fprintf(w, "  Running: %d\n  Paused: %d\n  Stopped: %d\n", info.ContainersRunning, info.ContainersPaused, info.ContainersStopped)
	p("Images", info.Images)
	p("Server Version", info.ServerVersion)
	if info.Driver != "" {
		p("Storage Driver", info.Driver)
		for _, kv := range info.DriverStatus {
			fmt.Fprintf(w, "  %s: %s\n", kv[0], kv[1])
		}
	}
	if info.LoggingDriver != "" {
		p("Logging Driver", info.LoggingDriver)
	}
	if info.CgroupDriver != "" {
		p("Cgroup Driver", info.CgroupDriver)
	}
	if info.CgroupVersion != "" {
		p("Cgroup Version", info.CgroupVersion)
	}
	fmt.Fprintln(w, " Plugins:")
	fmt.Fprintf(w, "  Volume: %s\n", strings.Join(info.Plugins.Volume, " "))
	fmt.Fprintf(w, "  Network: %s\n", strings.Join(info.Plugins.Network, " "))
	fmt.Fprintf(w, "  Log: %s\n", strings.Join(info.Plugins.Log, " "))
	if len(info.Runtimes) > 0 {
		names := make([]string, 0, len(info.Runtimes))
		for n := range info.Runtimes {
			names = append(names, n)
		}
		sort.Strings(names)
		p("Runtimes", strings.Join(names, " "))
	}
	if info.DefaultRuntime != "" {
		p("Default Runtime", info.DefaultRuntime)
	}
	if info.InitBinary != "" {
		p("Init Binary", info.InitBinary)
	}
	if info.RuncCommit.ID != "" {
		p("runc version", info.RuncCommit.ID)
	}
	if len(info.SecurityOptions) > 0 {
		fmt.Fprintln(w, " Security Options:")
		for _, o := range info.SecurityOptions {
			name := strings.TrimPrefix(o, "name=")
			name, rest, _ := strings.Cut(name, ",")
			fmt.Fprintf(w, "  %s\n", name)
			for _, kv := range strings.Split(rest, ",") {
				if k, v, ok := strings.Cut(kv, "="); ok {
					fmt.Fprintf(w, "   %s: %s\n", strings.ToUpper(k[:1])+k[1:], v)
				}
			}
		}
	}
	p("Kernel Version", info.KernelVersion)
	p("Operating System", info.OperatingSystem)
	p("OSType", info.OSType)
	p("Architecture", info.Architecture)
	p("CPUs", info.NCPU)
	p("Total Memory", units.BytesSize(float64(info.MemTotal)))
	p("Name", info.Name)
	p("ID", info.ID)
	p("Berth Root Dir", info.DockerRootDir)
	p("Debug Mode", info.Debug)
	if len(info.Labels) > 0 {
		fmt.Fprintln(w, " Labels:")
		for _, l := range info.Labels {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	p("Experimental", info.ExperimentalBuild)
	p("Live Restore Enabled", info.LiveRestoreEnabled)
	if len(info.Warnings) > 0 {
		fmt.Fprintln(w)
		for _, warning := range info.Warnings {
			fmt.Fprintln(w, warning)
		}
	}
}

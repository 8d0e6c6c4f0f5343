package command

import (
	"fmt"
	"runtime"
	"text/tabwriter"
	"text/template"

	"github.com/berth/berth/client"
	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/formatter"
	"github.com/moby/moby/api/types/system"
	"github.com/spf13/cobra"
)

const defaultVersionTemplate = `{{with .Client -}}
Client:
 Version:	{{.Version}}
 API version:	{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Go version:	{{.GoVersion}}
 Git commit:	{{.GitCommit}}
 OS/Arch:	{{.Os}}/{{.Arch}}
 Context:	{{.Context}}
{{- end}}

{{- if ne .Server nil}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:	{{.Version}}
  API version:	{{index .Details "ApiVersion"}}{{with index .Details "MinAPIVersion"}} (minimum version {{.}}){{end}}
  Go version:	{{index .Details "GoVersion"}}
  Git commit:	{{index .Details "GitCommit"}}
  Built:	{{index .Details "BuildTime"}}
  OS/Arch:	{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:	{{index .Details "Experimental"}}
  {{- else }}
  Version:	{{$component.Version}}
  {{- range $key, $value := $component.Details}}
  {{$key}}:	{{$value}}
  {{- end}}
  {{- end}}
 {{- end}}
{{- end}}{{- end}}
`

// clientVersion is the client half of `version`.
type clientVersion struct {
	Version           string
	APIVersion        string `json:"ApiVersion"`
	DefaultAPIVersion string `json:"DefaultAPIVersion,omitempty"`
	GitCommit         string
	GoVersion         string
	Os                string
	Arch              string
	Context           string
}

type versionInfo struct {
	Client clientVersion
	Server *system.VersionResponse
}

func newVersionCommand(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the Berth version information",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tmplText := format
			switch format {
			case "":
				tmplText = defaultVersionTemplate
			case formatter.JSONFormatKey:
				tmplText = formatter.JSONFormat
			}
			tmpl, err := formatter.Parse(tmplText)
			if err != nil {
				return cli.StatusError{Status: "template parsing error: " + err.Error(), Code: 64}
			}
			commit := cli.GitCommit()
			if commit == "" {
				commit = "unknown"
			}
			v := versionInfo{Client: clientVersion{
				Version:           cli.Version(),
				APIVersion:        client.DefaultVersion,
				DefaultAPIVersion: client.DefaultVersion,
				GitCommit:         commit,
				GoVersion:         runtime.Version(),
				Os:                runtime.GOOS,
				Arch:              runtime.GOARCH,
				Context:           "default",
			}}
			apiClient, serverErr := c.Client()
			if serverErr == nil {
				var sv system.VersionResponse
				if sv, serverErr = apiClient.ServerVersion(cmd.Context()); serverErr == nil {
					v.Server = &sv
					v.Client.APIVersion = apiClient.Version()
					if len(sv.Components) == 0 {
						sv.Components = []system.ComponentVersion{engineComponent(sv)}
					}
					if sv.Platform.Name == "" {
						sv.Platform.Name = "Berth Engine"
					}
				}
			}
			if err := prettyPrintVersion(c, tmpl, v, format == ""); err != nil {
				return err
			}
			return serverErr
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return cmd
}

// engineComponent describes the engine from the top-level fields when the daemon lists no components.
func engineComponent(sv system.VersionResponse) system.ComponentVersion {
	return system.ComponentVersion{Name: "Engine", Version: sv.Version, Details: map[string]string{
		"ApiVersion":    sv.APIVersion,
		"MinAPIVersion": sv.MinAPIVersion,
		"GoVersion":     sv.GoVersion,
		"GitCommit":     sv.GitCommit,
		"BuildTime":     sv.BuildTime,
		"Os":            sv.Os,
		"Arch":          sv.Arch,
		"Experimental":  fmt.Sprint(sv.Experimental),
		"KernelVersion": sv.KernelVersion,
	}}
}

func prettyPrintVersion(c *CLI, tmpl *template.Template, v versionInfo, aligned bool) error {
	if !aligned {
		if err := tmpl.Execute(c.out, v); err != nil {
			return err
		}
		fmt.Fprintln(c.out)
		return nil
	}
	tw := tabwriter.NewWriter(c.out, 20, 1, 1, ' ', 0)
	if err := tmpl.Execute(tw, v); err != nil {
		return err
	}
	return tw.Flush()
}

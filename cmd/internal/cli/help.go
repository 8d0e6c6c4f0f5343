package cli

import (
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// SetupHelp installs docker's usage layout on root and every command under it; call it once all commands
// are added.
func SetupHelp(root *cobra.Command) {
	cobra.AddTemplateFunc("hasAliases", func(cmd *cobra.Command) bool { return cmd.Annotations["aliases"] != "" })
	cobra.AddTemplateFunc("commandAliases", func(cmd *cobra.Command) string { return cmd.Annotations["aliases"] })
	cobra.AddTemplateFunc("topCommands", topCommands)
	cobra.AddTemplateFunc("hasTopCommands", func(cmd *cobra.Command) bool { return len(topCommands(cmd)) > 0 })
	cobra.AddTemplateFunc("managementSubCommands", managementSubCommands)
	cobra.AddTemplateFunc("hasManagementSubCommands", func(cmd *cobra.Command) bool { return len(managementSubCommands(cmd)) > 0 })
	cobra.AddTemplateFunc("operationSubCommands", operationSubCommands)
	cobra.AddTemplateFunc("hasSubCommands", func(cmd *cobra.Command) bool { return len(operationSubCommands(cmd)) > 0 })
	cobra.AddTemplateFunc("wrappedFlagUsages", func(cmd *cobra.Command) string { return wrappedFlagUsages(cmd.LocalFlags()) })
	cobra.AddTemplateFunc("add", func(a, b int) int { return a + b })

	root.SetUsageTemplate(usageTemplate)
	root.SetHelpTemplate(helpTemplate)
	root.SetFlagErrorFunc(FlagError)
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		// Hide cobra's own --help (docker lists it only where it is spelled out, as in run).
		cmd.InitDefaultHelpFlag()
		if f := cmd.Flags().Lookup("help"); f != nil && strings.HasPrefix(f.Usage, "help for") {
			f.Hidden = true
		}
		cmd.DisableFlagsInUseLine = true
		cmd.SilenceUsage = true
		cmd.SilenceErrors = true
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
	root.SetHelpCommand(&cobra.Command{Use: "help [command]", Hidden: true, Run: func(cmd *cobra.Command, args []string) {
		target, _, err := cmd.Root().Find(args)
		if err != nil || target == nil {
			target = cmd.Root()
		}
		_ = target.Help()
	}})
}

func topCommands(cmd *cobra.Command) []*cobra.Command {
	if cmd.HasParent() {
		return nil
	}
	var out []*cobra.Command
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() && sub.Annotations["category-top"] != "" {
			out = append(out, sub)
		}
	}
	// docker's order: run, exec, ps, build, pull, push, images, login, logout, search, version, info.
	order := map[string]int{"run": 0, "exec": 1, "ps": 2, "build": 3, "pull": 4, "push": 5, "images": 6, "login": 7, "logout": 8, "search": 9, "version": 10, "info": 11}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Name()] < order[out[j].Name()] })
	return out
}

func managementSubCommands(cmd *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() && isManagement(sub) {
			out = append(out, sub)
		}
	}
	return out
}

func isManagement(cmd *cobra.Command) bool {
	return cmd.HasSubCommands() || cmd.Annotations[ManagementAnnotation] != ""
}

func operationSubCommands(cmd *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, sub := range cmd.Commands() {
		if !sub.IsAvailableCommand() || isManagement(sub) {
			continue
		}
		if !cmd.HasParent() && sub.Annotations["category-top"] != "" {
			continue
		}
		out = append(out, sub)
	}
	return out
}

// wrappedFlagUsages lays flags out like docker (wrapped to 80 columns).
func wrappedFlagUsages(fs *pflag.FlagSet) string {
	return fs.FlagUsagesWrapped(80 - 1)
}

const usageTemplate = `Usage:
{{- if not .HasSubCommands}}  {{.UseLine}}{{end}}
{{- if .HasSubCommands}}  {{.CommandPath}}{{- if .HasAvailableFlags}} [OPTIONS]{{end}} COMMAND{{end}}

{{if ne .Long ""}}{{.Long | trim}}{{else}}{{.Short | trim}}{{end}}
{{- if hasAliases .}}

Aliases:
  {{commandAliases .}}
{{- end}}
{{- if .HasExample}}

Examples:
{{.Example}}
{{- end}}
{{- if .HasParent}}{{if .HasAvailableLocalFlags}}

Options:
{{wrappedFlagUsages . | trimTrailingWhitespaces}}
{{- end}}{{end}}
{{- if hasTopCommands .}}

Common Commands:
{{- range topCommands .}}
  {{rpad .Name (add .NamePadding 1)}}{{.Short}}
{{- end}}
{{- end}}
{{- if hasManagementSubCommands .}}

Management Commands:
{{- range managementSubCommands .}}
  {{rpad .Name (add .NamePadding 1)}}{{.Short}}
{{- end}}
{{- end}}
{{- if hasSubCommands .}}

Commands:
{{- range operationSubCommands .}}
  {{rpad .Name .NamePadding}} {{.Short}}
{{- end}}
{{- end}}
{{- if not .HasParent}}{{if .HasAvailableFlags}}

Global Options:
{{wrappedFlagUsages . | trimTrailingWhitespaces}}
{{- end}}{{end}}
{{- if .HasSubCommands}}

Run '{{.CommandPath}} COMMAND --help' for more information on a command.
{{- end}}
`

const helpTemplate = `{{if or .Runnable .HasSubCommands}}{{.UsageString}}{{end}}`

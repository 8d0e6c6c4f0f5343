package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newRootCommand builds the whole command tree: top-level shortcuts and the management groups.
func newRootCommand(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:              "berth [OPTIONS] COMMAND [ARG...]",
		Short:            "A self-sufficient runtime for containers",
		SilenceUsage:     true,
		SilenceErrors:    true,
		TraverseChildren: true,
		Version:          buildVersion(),
		Args:             rootArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return c.setupLogging()
		},
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetVersionTemplate("Berth version {{.Version}}\n")

	// Global options are the root's own flags, parsed before the command name (TraverseChildren), as
	// docker's are: `berth -H tcp://h:2375 ps`, while `ps -l` stays --latest.
	flags := root.Flags()
	flags.StringVarP(&c.host, "host", "H", "", "Daemon socket to connect to")
	flags.BoolVarP(&c.debug, "debug", "D", false, "Enable debug mode")
	flags.StringVarP(&c.logLevel, "log-level", "l", "info", `Set the logging level ("debug", "info", "warn", "error", "fatal")`)
	flags.BoolP("version", "v", false, "Print version information and quit")

	// Common commands first, as docker lists them.
	root.AddCommand(
		newRunCommand(c),
		newExecCommand(c),
		newPsCommand(c),
		newBuildCommand(c),
		newImagesCommand(c),
		newPullCommand(c),
		newPushCommand(c),
		newLoginCommand(c),
		newLogoutCommand(c),
		newSearchCommand(c),
		newVersionCommand(c),
		newInfoCommand(c),
	)
	for _, cmd := range root.Commands() {
		setTop(cmd)
	}
	root.AddCommand(
		newContainerCommand(c),
		newBuilderCommand(c),
		newImageCommand(c),
		newNetworkCommand(c),
		newVolumeCommand(c),
		newSystemCommand(c),

		newAttachCommand(c),
		newCommitCommand(c),
		newCopyCommand(c),
		newCreateCommand(c),
		newDiffCommand(c),
		newEventsCommand(c),
		newExportCommand(c),
		newHistoryCommand(c),
		newImportCommand(c),
		newInspectCommand(c),
		newKillCommand(c),
		newLoadCommand(c),
		newLogsCommand(c),
		newPauseCommand(c),
		newPortCommand(c),
		newRenameCommand(c),
		newRestartCommand(c),
		newRmCommand(c),
		newRmiCommand(c),
		newSaveCommand(c),
		newStartCommand(c),
		newStatsCommand(c),
		newStopCommand(c),
		newTagCommand(c),
		newTopCommand(c),
		newUnpauseCommand(c),
		newUpdateCommand(c),
		newWaitCommand(c),
		newRegistryCommand(c),
		newS3Command(c),
		newComposeCommand(c),
	)
	if daemonCmd != nil {
		if d := daemonCmd(); d != nil {
			root.AddCommand(d)
		}
	}

	setupHelp(root)
	return root
}

func setTop(cmd *cobra.Command) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations["category-top"] = "1"
}

// rootArgs rejects unknown commands the way docker words it.
func rootArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return statusError{
		Status: fmt.Sprintf("%s: unknown command: %s %s\n\nRun '%s --help' for more information", cmd.Root().Name(), cmd.CommandPath(), args[0], cmd.CommandPath()),
		Code:   1,
	}
}

// newGroupCommand makes a management command (container, image, volume, system) that prints its help
// when run alone and rejects unknown subcommands.
func newGroupCommand(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(cmd.OutOrStdout())
			return cmd.Help()
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}

// Argument validators with docker's messages (exit status 1).

func argsError(cmd *cobra.Command, format string, a ...any) error {
	return statusError{
		Status: fmt.Sprintf("%s: %s\n\nUsage:  %s\n\nRun '%s --help' for more information",
			cmd.Root().Name(), fmt.Sprintf(format, a...), cmd.UseLine(), cmd.CommandPath()),
		Code: 1,
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return argsError(cmd, "unknown command: %s %s", cmd.CommandPath(), args[0])
	}
	return argsError(cmd, "'%s' accepts no arguments", cmd.CommandPath())
}

func requiresMinArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		// docker says "See" here, and "Run" everywhere else.
		return statusError{
			Status: fmt.Sprintf("%s: '%s' requires at least %d %s\n\nUsage:  %s\n\nSee '%s --help' for more information",
				cmd.Root().Name(), cmd.CommandPath(), n, plural("argument", n), cmd.UseLine(), cmd.CommandPath()),
			Code: 1,
		}
	}
}

func requiresMaxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= n {
			return nil
		}
		return argsError(cmd, "'%s' requires at most %d %s", cmd.CommandPath(), n, plural("argument", n))
	}
}

func requiresRangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		return argsError(cmd, "'%s' requires at least %d and at most %d %s", cmd.CommandPath(), lo, hi, plural("argument", hi))
	}
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return argsError(cmd, "'%s' requires %d %s", cmd.CommandPath(), n, plural("argument", n))
	}
}

func plural(word string, n int) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// flagError reports a bad flag like docker: the error, the usage line, exit status 125.
func flagError(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	return statusError{
		Status: fmt.Sprintf("%s\n\nUsage:  %s\n\nRun '%s --help' for more information", err, cmd.UseLine(), cmd.CommandPath()),
		Code:   125,
	}
}

// setupHelp installs docker's usage layout on every command.
func setupHelp(root *cobra.Command) {
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
	root.SetFlagErrorFunc(flagError)
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
		if sub.IsAvailableCommand() && sub.HasSubCommands() {
			out = append(out, sub)
		}
	}
	return out
}

func operationSubCommands(cmd *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, sub := range cmd.Commands() {
		if !sub.IsAvailableCommand() || sub.HasSubCommands() {
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

// joinAliases renders the "Aliases:" line of a command available under several names.
func joinAliases(paths ...string) string {
	for i, p := range paths {
		paths[i] = "berth " + p
	}
	return strings.Join(paths, ", ")
}

package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// ManagementAnnotation marks a command listed under "Management Commands" although it has no subcommands of
// its own here: the stub of a command group another binary implements (`berth compose`).
const ManagementAnnotation = "category-management"

// NewGroupCommand makes a management command (container, image, volume, system) that prints its help
// when run alone and rejects unknown subcommands.
func NewGroupCommand(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  NoArgs,
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
	return StatusError{
		Status: fmt.Sprintf("%s: %s\n\nUsage:  %s\n\nRun '%s --help' for more information",
			cmd.Root().Name(), fmt.Sprintf(format, a...), cmd.UseLine(), cmd.CommandPath()),
		Code: 1,
	}
}

// NoArgs accepts no arguments; on a command with subcommands an argument is an unknown subcommand.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return argsError(cmd, "unknown command: %s %s", cmd.CommandPath(), args[0])
	}
	return argsError(cmd, "'%s' accepts no arguments", cmd.CommandPath())
}

// RequiresMinArgs accepts n arguments or more.
func RequiresMinArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		// docker says "See" here, and "Run" everywhere else.
		return StatusError{
			Status: fmt.Sprintf("%s: '%s' requires at least %d %s\n\nUsage:  %s\n\nSee '%s --help' for more information",
				cmd.Root().Name(), cmd.CommandPath(), n, plural("argument", n), cmd.UseLine(), cmd.CommandPath()),
			Code: 1,
		}
	}
}

// RequiresMaxArgs accepts n arguments or fewer.
func RequiresMaxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= n {
			return nil
		}
		return argsError(cmd, "'%s' requires at most %d %s", cmd.CommandPath(), n, plural("argument", n))
	}
}

// RequiresRangeArgs accepts lo to hi arguments.
func RequiresRangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		return argsError(cmd, "'%s' requires at least %d and at most %d %s", cmd.CommandPath(), lo, hi, plural("argument", hi))
	}
}

// ExactArgs accepts exactly n arguments.
func ExactArgs(n int) cobra.PositionalArgs {
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

// FlagError reports a bad flag like docker: the error, the usage line, exit status 125.
func FlagError(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	return StatusError{
		Status: fmt.Sprintf("%s\n\nUsage:  %s\n\nRun '%s --help' for more information", err, cmd.UseLine(), cmd.CommandPath()),
		Code:   125,
	}
}

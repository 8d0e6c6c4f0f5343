package main

import (
	"context"
	"os"
	"strings"

	"github.com/berth/berth/cmd/internal/cli"
	"github.com/berth/berth/cmd/internal/command"
	"github.com/berth/berth/internal/compose"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/term"
	"github.com/spf13/cobra"
)

// composeOptions are `compose`'s own flags, shared by every subcommand.
type composeOptions struct {
	files    []string
	project  string
	workDir  string
	profiles []string
	envFiles []string
	progress string
}

// newComposeCommand builds `berth compose` and its subcommands (one file each: compose_*.go).
func newComposeCommand(c *command.CLI) *cobra.Command {
	o := &composeOptions{}
	cmd := cli.NewGroupCommand("compose [OPTIONS] COMMAND", "Define and run multi-container applications",
		newComposeUpCommand(c, o),
		newComposeDownCommand(c, o),
		newComposePsCommand(c, o),
		newComposeLogsCommand(c, o),
		newComposeBuildCommand(c, o),
		newComposePullCommand(c, o),
		newComposePushCommand(c, o),
		newComposeExecCommand(c, o),
		newComposeRunCommand(c, o),
		newComposeConfigCommand(c, o),
		newComposeTopCommand(c, o),
		newComposeImagesCommand(c, o),
		newComposePortCommand(c, o),
		newComposeLsCommand(c),
		newComposeVersionCommand(c),
	)
	cmd.AddCommand(newComposeLifecycleCommands(c, o)...)
	flags := cmd.Flags() // before the subcommand (the root traverses), as in docker compose: -f is also logs --follow
	flags.StringArrayVarP(&o.files, "file", "f", nil, "Compose configuration files")
	flags.StringVarP(&o.project, "project-name", "p", "", "Project name")
	flags.StringVar(&o.workDir, "project-directory", "", "Specify an alternate working directory\n(default: the path of the, first specified, Compose file)")
	flags.StringArrayVar(&o.profiles, "profile", nil, "Specify a profile to enable")
	flags.StringArrayVar(&o.envFiles, "env-file", nil, "Specify an alternate environment file")
	flags.StringVar(&o.progress, "progress", "auto", `Set type of progress output ("auto", "tty", "plain", "quiet")`)
	return cmd
}

// load reads the project; services named on the command line (and their dependencies) are selected.
func (o *composeOptions) load(ctx context.Context, services ...string) (*types.Project, error) {
	profiles := o.profiles
	if env := os.Getenv("COMPOSE_PROFILES"); len(profiles) == 0 && env != "" {
		profiles = strings.Split(env, ",")
	}
	p, err := compose.Load(ctx, compose.LoadOptions{Files: o.files, ProjectName: o.project, WorkDir: o.workDir,
		Profiles: profiles, EnvFiles: o.envFiles})
	if err != nil {
		return nil, err
	}
	if len(services) > 0 {
		if p, err = p.WithSelectedServices(services); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// projectName is -p, COMPOSE_PROJECT_NAME, or the loaded project's name.
func (o *composeOptions) projectName(ctx context.Context) (string, *types.Project, error) {
	p, err := o.load(ctx)
	if err == nil {
		return p.Name, p, nil
	}
	if o.project != "" {
		return o.project, nil, nil
	}
	if n := os.Getenv("COMPOSE_PROJECT_NAME"); n != "" {
		return n, nil, nil
	}
	return "", nil, err
}

// projectContainers returns a compose.Service for the project and the project's service containers (one-off
// containers of `compose run` excluded).
func (o *composeOptions) projectContainers(ctx context.Context, c *command.CLI, title string) (*compose.Service, []container.Summary, error) {
	name, _, err := o.projectName(ctx)
	if err != nil {
		return nil, nil, err
	}
	svc, err := o.service(c, title)
	if err != nil {
		return nil, nil, err
	}
	list, _, err := svc.Containers(ctx, name, false)
	if err != nil {
		return nil, nil, err
	}
	return svc, list, nil
}

// service returns a compose.Service reporting progress to stderr as compose does.
func (o *composeOptions) service(c *command.CLI, title string) (*compose.Service, error) {
	apiClient, err := c.Client()
	if err != nil {
		return nil, err
	}
	var progress *compose.Progress
	switch o.progress {
	case "quiet":
	case "plain":
		progress = compose.NewProgress(c.Err(), false, title)
	case "tty":
		progress = compose.NewProgress(c.Err(), true, title)
	default:
		_, isTerm := term.GetFdInfo(c.Err())
		progress = compose.NewProgress(c.Err(), isTerm, title)
	}
	svc := compose.New(apiClient, progress)
	svc.RegistryAuth = c.RegistryAuthFor
	return svc, nil
}

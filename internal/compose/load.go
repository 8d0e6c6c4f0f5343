package compose

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// LoadOptions locate and shape a project, like compose's global flags.
type LoadOptions struct {
	Files       []string // -f; empty: COMPOSE_FILE, then compose.yaml & co. in WorkDir and its parents
	ProjectName string   // -p; empty: COMPOSE_PROJECT_NAME, the file's name:, then the directory name
	WorkDir     string   // --project-directory; empty: the first file's directory
	Profiles    []string // --profile; also COMPOSE_PROFILES
	EnvFiles    []string // --env-file; empty: .env in the project directory
}

// Load reads, merges (override files, extends), interpolates and validates a project.
func Load(ctx context.Context, o LoadOptions) (*types.Project, error) {
	opts, err := cli.NewProjectOptions(o.Files,
		cli.WithWorkingDirectory(o.WorkDir),
		cli.WithOsEnv,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(o.Profiles...),
		cli.WithName(o.ProjectName),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, err
	}
	p, err := cli.ProjectFromOptions(ctx, opts)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ApplyScale sets services' replica counts from --scale svc=N arguments.
func ApplyScale(p *types.Project, scales []string) error {
	for _, sc := range scales {
		name, n, ok := strings.Cut(sc, "=")
		if !ok {
			return fmt.Errorf("invalid --scale option %q. Should be SERVICE=NUM", sc)
		}
		count, err := strconv.Atoi(n)
		if err != nil || count < 0 {
			return fmt.Errorf("invalid --scale option %q. Should be SERVICE=NUM", sc)
		}
		s, ok := p.Services[name]
		if !ok {
			return fmt.Errorf("no such service: %s", name)
		}
		s.SetScale(count)
		p.Services[name] = s
	}
	return nil
}

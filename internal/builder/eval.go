package builder

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// defaultShell is the shell of RUN, CMD and ENTRYPOINT's shell form when no SHELL was given.
var defaultShell = []string{"/bin/sh", "-c"}

// state is one stage's build state between steps: the image so far and the ARGs in scope. Its methods are pure.
type state struct {
	imageID string
	config  dockerspec.DockerOCIImageConfig
	author  string
	// args are the ARGs declared in this stage that have a value, in declaration order.
	args   []arg
	cmdSet bool
	escape rune
	// buildArgs are --build-arg values; meta the values of the ARGs before the first FROM.
	buildArgs map[string]*string
	meta      map[string]string
	used      map[string]bool
}

type arg struct{ key, value string }

func newState(escape rune, buildArgs map[string]*string, meta map[string]string, used map[string]bool) *state {
	return &state{escape: escape, buildArgs: buildArgs, meta: meta, used: used}
}

// shell returns the shell for shell-form commands.
func (s *state) shell() []string {
	if len(s.config.Shell) > 0 {
		return s.config.Shell
	}
	return defaultShell
}

// env is the environment words expand in: ARGs, overridden by ENV.
func (s *state) env() envList {
	var out envList
	for _, a := range s.args {
		out = append(out, a.key+"="+a.value)
	}
	return append(out, s.config.Env...)
}

// expander expands $VAR words with the shell lexer, as the Dockerfile reference specifies.
func (s *state) expander() instructions.SingleWordExpander {
	lex := shell.NewLex(s.escape)
	env := s.env()
	return func(word string) (string, error) {
		v, _, err := lex.ProcessWord(word, env)
		return v, err
	}
}

// rawExpander expands $VAR in heredoc contents as buildkit does: quotes and unset variables are left as they are.
func (s *state) rawExpander() instructions.SingleWordExpander {
	lex := shell.NewLex(s.escape)
	lex.SkipProcessQuotes, lex.SkipUnsetEnv = true, true
	env := s.env()
	return func(word string) (string, error) {
		v, _, err := lex.ProcessWord(word, env)
		return v, err
	}
}

// expand expands the instruction's words in place, if it supports expansion.
func (s *state) expand(cmd instructions.Command) error {
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(s.expander()); err != nil {
			return errdefs.ErrInvalidArgument.WithMessage(err.Error())
		}
	}
	return nil
}

// nop is the history created_by of a step that runs nothing: the shell and `#(nop) ` and the instruction.
func (s *state) nop(msg string) string {
	return strings.Join(append(slices.Clone(s.shell()), "#(nop) "+msg), " ")
}

// runArgs are the ARGs a RUN sees in its environment (those ENV doesn't override), as KEY=VALUE.
func (s *state) runArgs() []string {
	var out []string
	for _, a := range s.args {
		if _, ok := envList(s.config.Env).Get(a.key); ok {
			continue
		}
		out = append(out, a.key+"="+a.value)
	}
	return out
}

// runCommand returns the command line of a RUN, the extra environment (ARGs) and its created_by.
func (s *state) runCommand(c *instructions.RunCommand) (cmd, env []string, createdBy string, err error) {
	if len(c.FlagsUsed) > 0 {
		// The classic builder's wording: RUN --mount, --network and --security are BuildKit's.
		return nil, nil, "", errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("the --%s option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled", c.FlagsUsed[0]))
	}
	switch {
	case len(c.Files) > 0:
		if len(c.Files) != 1 || !c.PrependShell {
			return nil, nil, "", errdefs.ErrNotImplemented.WithMessage("RUN with more than one heredoc is not supported")
		}
		cmd = append(slices.Clone(s.shell()), c.Files[0].Data)
	case c.PrependShell:
		cmd = append(slices.Clone(s.shell()), strings.Join(c.CmdLine, " "))
	default:
		cmd = slices.Clone(c.CmdLine)
	}
	env = s.runArgs()
	createdBy = strings.Join(cmd, " ")
	if len(env) > 0 {
		createdBy = fmt.Sprintf("|%d %s %s", len(env), strings.Join(env, " "), createdBy)
	}
	return cmd, env, createdBy, nil
}

// evalConfig applies an instruction that only changes the image config and returns its created_by. Words must
// already be expanded (see expand).
func (s *state) evalConfig(cmd instructions.Command) (string, error) {
	cfg := &s.config
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		var parts []string
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		return s.nop(" ENV " + strings.Join(parts, " ")), nil
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		var parts []string
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		return s.nop(" LABEL " + strings.Join(parts, " ")), nil
	case *instructions.MaintainerCommand:
		s.author = c.Maintainer
		return s.nop(" MAINTAINER " + c.Maintainer), nil
	case *instructions.CmdCommand:
		cfg.Cmd = s.cmdLine(c.ShellDependantCmdLine)
		s.cmdSet = true
		return s.nop(fmt.Sprintf(" CMD %q", cfg.Cmd)), nil
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = s.cmdLine(c.ShellDependantCmdLine)
		if !s.cmdSet {
			cfg.Cmd = nil
		}
		return s.nop(fmt.Sprintf(" ENTRYPOINT %q", cfg.Entrypoint)), nil
	case *instructions.ExposeCommand:
		var ports []string
		for _, p := range c.Ports {
			ps, err := exposedPorts(p)
			if err != nil {
				return "", err
			}
			ports = append(ports, ps...)
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			cfg.ExposedPorts[p] = struct{}{}
		}
		return s.nop(" EXPOSE " + strings.Join(ports, " ")), nil
	case *instructions.UserCommand:
		cfg.User = c.User
		return s.nop(" USER " + c.User), nil
	case *instructions.WorkdirCommand:
		p := c.Path
		if !path.IsAbs(p) {
			p = path.Join("/", cfg.WorkingDir, p)
		}
		cfg.WorkingDir = path.Clean(p)
		return s.nop(" WORKDIR " + cfg.WorkingDir), nil
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if strings.TrimSpace(v) == "" {
				return "", errdefs.ErrInvalidArgument.WithMessage("VOLUME specified can not be an empty string")
			}
			cfg.Volumes[v] = struct{}{}
		}
		return s.nop(fmt.Sprintf(" VOLUME %v", c.Volumes)), nil
	case *instructions.StopSignalCommand:
		if !validSignal(c.Signal) {
			return "", errdefs.ErrInvalidArgument.WithMessage("Invalid signal: " + c.Signal)
		}
		cfg.StopSignal = c.Signal
		return s.nop(" STOPSIGNAL " + c.Signal), nil
	case *instructions.HealthCheckCommand:
		hc := *c.Health
		hc.Test = slices.Clone(hc.Test)
		if cfg.Healthcheck != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE" {
			// Unset options inherit the base image's, as docker does.
			old := cfg.Healthcheck
			if hc.Interval == 0 {
				hc.Interval = old.Interval
			}
			if hc.Timeout == 0 {
				hc.Timeout = old.Timeout
			}
			if hc.StartPeriod == 0 {
				hc.StartPeriod = old.StartPeriod
			}
			if hc.Retries == 0 {
				hc.Retries = old.Retries
			}
		}
		cfg.Healthcheck = &hc
		return s.nop(fmt.Sprintf(" HEALTHCHECK &{%q %q %q %q %q %d}", hc.Test, hc.Interval, hc.Timeout, hc.StartPeriod, hc.StartInterval, hc.Retries)), nil
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
		return s.nop(" ONBUILD " + c.Expression), nil
	case *instructions.ShellCommand:
		cfg.Shell = slices.Clone(c.Shell)
		return s.nop(fmt.Sprintf(" SHELL %v", c.Shell)), nil
	case *instructions.ArgCommand:
		var parts []string
		for _, kv := range c.Args {
			part := kv.Key
			if kv.Value != nil {
				part += "=" + *kv.Value
			}
			parts = append(parts, part)
			s.declareArg(kv)
		}
		return s.nop(" ARG " + strings.Join(parts, " ")), nil
	}
	return "", errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("instruction %T is not supported", cmd))
}

// declareArg brings an ARG into the stage's scope: the --build-arg value, else its default, else the value of
// the meta ARG of the same name.
func (s *state) declareArg(kv instructions.KeyValuePairOptional) {
	var val *string
	if v, ok := s.buildArgs[kv.Key]; ok && v != nil {
		val = v
	} else if kv.Value != nil {
		val = kv.Value
	} else if v, ok := s.meta[kv.Key]; ok {
		val = &v
	}
	if s.used != nil {
		s.used[kv.Key] = true
	}
	s.args = slices.DeleteFunc(s.args, func(a arg) bool { return a.key == kv.Key })
	if val != nil {
		s.args = append(s.args, arg{kv.Key, *val})
	}
}

// cmdLine turns CMD/ENTRYPOINT arguments into the config's form: exec form as is, shell form through the shell.
func (s *state) cmdLine(c instructions.ShellDependantCmdLine) []string {
	if c.PrependShell {
		return append(slices.Clone(s.shell()), strings.Join(c.CmdLine, " "))
	}
	return slices.Clone(c.CmdLine)
}

// setEnv sets key=value in env, replacing an existing entry in place.
func setEnv(env []string, key, value string) []string {
	env = slices.Clone(env)
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// exposedPorts parses an EXPOSE argument: "80", "80/udp", "8000-8002/tcp".
func exposedPorts(spec string) ([]string, error) {
	p, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid proto: %s", proto))
	}
	lo, hi, isRange := strings.Cut(p, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid containerPort: %s", p))
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid containerPort: %s", p))
		}
	}
	var out []string
	for n := start; n <= end; n++ {
		out = append(out, fmt.Sprintf("%d/%s", n, proto))
	}
	return out, nil
}

// validSignal accepts a signal number or a name with or without SIG (SIGRTMIN+N included).
func validSignal(sig string) bool {
	if n, err := strconv.Atoi(sig); err == nil {
		return n > 0
	}
	name := "SIG" + strings.TrimPrefix(strings.ToUpper(sig), "SIG")
	return unix.SignalNum(name) != 0 || strings.HasPrefix(name, "SIGRTMIN") || strings.HasPrefix(name, "SIGRTMAX")
}

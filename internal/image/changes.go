package image

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// validChangeCommands are the Dockerfile instructions `docker import --change` and `docker commit --change`
// accept, as in Docker.
var validChangeCommands = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "healthcheck": true, "label": true,
	"onbuild": true, "stopsignal": true, "user": true, "volume": true, "workdir": true,
}

// defaultShell prefixes shell-form CMD and ENTRYPOINT when the image sets no SHELL.
var defaultShell = []string{"/bin/sh", "-c"}

func invalidChange(format string, args ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(format, args...))
}

// applyChanges applies Dockerfile instructions (one per element, e.g. `CMD ["sh"]`, `ENV A=B`) to cfg, the way
// the classic builder dispatches them: variables expand against cfg's environment, shell-form commands get the
// image's shell. An invalid change is an error wrapping errdefs.ErrInvalidArgument with Docker's wording.
func applyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	if len(changes) == 0 {
		return nil
	}
	res, err := parser.Parse(strings.NewReader(strings.Join(changes, "\n")))
	if err != nil {
		return invalidChange("dockerfile parse error: %v", err)
	}
	lex := shell.NewLex(res.EscapeToken)
	cmdSet := false
	for _, n := range res.AST.Children {
		inst, err := instructions.ParseInstruction(n)
		if err != nil {
			// Report an unknown instruction without buildkit's "did you mean" suggestion, as Docker's text does.
			var unknown *instructions.UnknownInstructionError
			if errors.As(err, &unknown) {
				err = unknown
			}
			return invalidChange("dockerfile parse error on line %d: %v", n.StartLine, err)
		}
		if !validChangeCommands[strings.ToLower(n.Value)] {
			return invalidChange("%s is not a valid change command", strings.ToUpper(n.Value))
		}
		env := envGetter(cfg.Env)
		if ex, ok := inst.(instructions.SupportsSingleWordExpansion); ok {
			err := ex.Expand(func(word string) (string, error) {
				r, _, err := lex.ProcessWord(word, env)
				return r, err
			})
			if err != nil {
				return invalidChange("%s: %v", strings.ToUpper(n.Value), err)
			}
		}
		switch c := inst.(type) {
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
			}
		case *instructions.LabelCommand:
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range c.Labels {
				cfg.Labels[kv.Key] = kv.Value
			}
		case *instructions.CmdCommand:
			cfg.Cmd = shellCmdLine(cfg, c.ShellDependantCmdLine)
			cfg.ArgsEscaped = false
			if len(c.CmdLine) != 0 {
				cmdSet = true
			}
		case *instructions.EntrypointCommand:
			cfg.Entrypoint = shellCmdLine(cfg, c.ShellDependantCmdLine)
			cfg.ArgsEscaped = false
			// A new entrypoint drops the inherited command unless this change set one.
			if !cmdSet {
				cfg.Cmd = nil
			}
		case *instructions.ExposeCommand:
			for _, p := range c.Ports {
				words, err := lex.ProcessWords(p, env)
				if err != nil {
					return invalidChange("EXPOSE: %v", err)
				}
				for _, w := range words {
					if err := exposePort(cfg, w); err != nil {
						return err
					}
				}
			}
		case *instructions.UserCommand:
			cfg.User = c.User
		case *instructions.WorkdirCommand:
			if c.Path == "" {
				return invalidChange("WORKDIR requires exactly one argument")
			}
			if path.IsAbs(c.Path) {
				cfg.WorkingDir = c.Path
			} else {
				cfg.WorkingDir = path.Join("/", cfg.WorkingDir, c.Path)
			}
		case *instructions.VolumeCommand:
			for _, v := range c.Volumes {
				v = strings.TrimSpace(v)
				if v == "" {
					return invalidChange("VOLUME specified can not be an empty string")
				}
				if cfg.Volumes == nil {
					cfg.Volumes = map[string]struct{}{}
				}
				cfg.Volumes[v] = struct{}{}
			}
		case *instructions.StopSignalCommand:
			if !validSignal(c.Signal) {
				return invalidChange("Invalid signal: %s", c.Signal)
			}
			cfg.StopSignal = c.Signal
		case *instructions.OnbuildCommand:
			cfg.OnBuild = append(cfg.OnBuild, c.Expression)
		case *instructions.HealthCheckCommand:
			cfg.Healthcheck = c.Health
		default:
			return invalidChange("%s is not a valid change command", strings.ToUpper(n.Value))
		}
	}
	return nil
}

// shellCmdLine resolves a CMD or ENTRYPOINT: exec form as is, shell form prefixed with the image's shell.
func shellCmdLine(cfg *dockerspec.DockerOCIImageConfig, c instructions.ShellDependantCmdLine) []string {
	if len(c.CmdLine) == 0 {
		return nil
	}
	if !c.PrependShell {
		return append([]string(nil), c.CmdLine...)
	}
	sh := cfg.Shell
	if len(sh) == 0 {
		sh = defaultShell
	}
	return append(append([]string(nil), sh...), c.CmdLine...)
}

func exposePort(cfg *dockerspec.DockerOCIImageConfig, spec string) error {
	// "ip:hostPort:containerPort" publishes; only the container port is exposed, as Docker does.
	if i := strings.LastIndexByte(spec, ':'); i >= 0 {
		spec = spec[i+1:]
	}
	ports, err := parsePortRange(spec)
	if err != nil {
		return invalidChange("invalid containerPort: %s", spec)
	}
	if cfg.ExposedPorts == nil {
		cfg.ExposedPorts = map[string]struct{}{}
	}
	for _, p := range ports {
		cfg.ExposedPorts[p] = struct{}{}
	}
	return nil
}

// parsePortRange expands "port[-port][/proto]" into "port/proto" keys, as Docker's port ranges parse: the
// protocol defaults to tcp and is lower-cased, and a range may not run backwards.
func parsePortRange(spec string) ([]string, error) {
	rng, proto, _ := strings.Cut(spec, "/")
	proto = strings.ToLower(proto)
	if proto == "" {
		proto = "tcp"
	}
	first, last, isRange := strings.Cut(rng, "-")
	start, err := strconv.ParseUint(first, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid start port %q", first)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(last, 10, 16); err != nil {
			return nil, fmt.Errorf("invalid end port %q", last)
		}
		if end < start {
			return nil, fmt.Errorf("invalid port range: %s", spec)
		}
	}
	out := make([]string, 0, end-start+1)
	for p := start; p <= end; p++ {
		out = append(out, strconv.FormatUint(p, 10)+"/"+proto)
	}
	return out, nil
}

var rtSignal = regexp.MustCompile(`^RT(MIN(\+[0-9]+)?|MAX(-[0-9]+)?)$`)

// validSignal accepts what Docker's signal.ParseSignal does: a non-zero number or a name, "SIG" optional.
func validSignal(s string) bool {
	if n, err := strconv.Atoi(s); err == nil {
		return n > 0
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	return unix.SignalNum("SIG"+name) != 0 || rtSignal.MatchString(name)
}

// envGetter looks variables up in a KEY=value list for word expansion.
type envGetter []string

func (e envGetter) Get(key string) (string, bool) {
	for i := len(e) - 1; i >= 0; i-- {
		k, v, _ := strings.Cut(e[i], "=")
		if k == key {
			return v, true
		}
	}
	return "", false
}

func (e envGetter) Keys() []string {
	var keys []string
	for _, kv := range e {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	return keys
}

var _ shell.EnvGetter = envGetter(nil)

// setEnv sets key in a KEY=value list, replacing an existing entry in place.
func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			out := append([]string(nil), env...)
			out[i] = key + "=" + value
			return out
		}
	}
	return append(append([]string(nil), env...), key+"="+value)
}

// mergeContainerConfig returns the config of an image committed from a container: c's non-empty fields over
// base (the parent image's config), with Docker's merge rules — environment and labels and ports and volumes
// are unions with c winning, and an image Cmd is inherited only when c sets no Entrypoint and no Cmd.
func mergeContainerConfig(base dockerspec.DockerOCIImageConfig, c *dockerspec.DockerOCIImageConfig) dockerspec.DockerOCIImageConfig {
	out := cloneConfig(base)
	if c == nil {
		return out
	}
	if c.User != "" {
		out.User = c.User
	}
	for p := range c.ExposedPorts {
		if out.ExposedPorts == nil {
			out.ExposedPorts = map[string]struct{}{}
		}
		out.ExposedPorts[p] = struct{}{}
	}
	if len(c.Env) > 0 {
		env := slices.Clone(c.Env)
		have := map[string]bool{}
		for _, kv := range c.Env {
			k, _, _ := strings.Cut(kv, "=")
			have[k] = true
		}
		for _, kv := range base.Env {
			if k, _, _ := strings.Cut(kv, "="); !have[k] {
				env = append(env, kv)
			}
		}
		out.Env = env
	}
	for k, v := range c.Labels {
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
		out.Labels[k] = v
	}
	if len(c.Entrypoint) > 0 {
		out.Entrypoint = slices.Clone(c.Entrypoint)
		out.Cmd = slices.Clone(c.Cmd)
		out.ArgsEscaped = c.ArgsEscaped
	} else {
		if len(c.Cmd) > 0 {
			out.Cmd = slices.Clone(c.Cmd)
			out.ArgsEscaped = c.ArgsEscaped
		}
		if c.Entrypoint != nil {
			// An explicitly empty entrypoint (--entrypoint "") clears the image's.
			out.Entrypoint = nil
		}
	}
	if c.Healthcheck != nil {
		hc := *c.Healthcheck
		if base.Healthcheck != nil {
			if len(hc.Test) == 0 {
				hc.Test = base.Healthcheck.Test
			}
			if hc.Interval == 0 {
				hc.Interval = base.Healthcheck.Interval
			}
			if hc.Timeout == 0 {
				hc.Timeout = base.Healthcheck.Timeout
			}
			if hc.StartPeriod == 0 {
				hc.StartPeriod = base.Healthcheck.StartPeriod
			}
			if hc.StartInterval == 0 {
				hc.StartInterval = base.Healthcheck.StartInterval
			}
			if hc.Retries == 0 {
				hc.Retries = base.Healthcheck.Retries
			}
		}
		out.Healthcheck = &hc
	}
	if c.WorkingDir != "" {
		out.WorkingDir = c.WorkingDir
	}
	for v := range c.Volumes {
		if out.Volumes == nil {
			out.Volumes = map[string]struct{}{}
		}
		out.Volumes[v] = struct{}{}
	}
	if c.StopSignal != "" {
		out.StopSignal = c.StopSignal
	}
	if len(c.OnBuild) > 0 {
		out.OnBuild = slices.Clone(c.OnBuild)
	}
	if len(c.Shell) > 0 {
		out.Shell = slices.Clone(c.Shell)
	}
	return out
}

// cloneConfig deep-copies an image config so edits never reach a stored image.
func cloneConfig(c dockerspec.DockerOCIImageConfig) dockerspec.DockerOCIImageConfig {
	out := c
	out.Env = slices.Clone(c.Env)
	out.Cmd = slices.Clone(c.Cmd)
	out.Entrypoint = slices.Clone(c.Entrypoint)
	out.OnBuild = slices.Clone(c.OnBuild)
	out.Shell = slices.Clone(c.Shell)
	out.ExposedPorts = maps.Clone(c.ExposedPorts)
	out.Volumes = maps.Clone(c.Volumes)
	out.Labels = maps.Clone(c.Labels)
	if c.Healthcheck != nil {
		hc := *c.Healthcheck
		hc.Test = slices.Clone(c.Healthcheck.Test)
		out.Healthcheck = &hc
	}
	return out
}

// Package builder builds images from a Dockerfile and a build context, as Docker's classic builder does: the
// Dockerfile is parsed (buildkit's parser and instructions packages) into stages, each instruction is evaluated
// purely against the stage's image config (this file and eval.go), and an executor (build.go) turns the
// filesystem-changing ones (RUN, COPY, ADD) into layers through a Backend the daemon implements: one image per
// step, looked up first in a build cache keyed by parent image, instruction and the checksum of copied files.
package builder

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Plan is a parsed Dockerfile: the stages to build (up to the target) and the ARGs before the first FROM.
type Plan struct {
	Stages []instructions.Stage
	// MetaArgs are the ARGs before the first FROM, with --build-arg values applied.
	MetaArgs []instructions.KeyValuePairOptional
	// Steps is the number of steps the classic builder announces ("Step 3/7"): meta ARGs, FROMs and instructions.
	Steps int
	// Escape is the escape token (`# escape=` directive).
	Escape rune
}

// ParseDockerfile parses a Dockerfile and keeps the stages needed for target ("" = the last stage). Errors name
// the line, in docker's wording: `Dockerfile parse error line 3: unknown instruction: FOO`.
func ParseDockerfile(dockerfile []byte, buildArgs map[string]*string, target string) (*Plan, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(strings.Replace(err.Error(), "dockerfile parse error on line", "Dockerfile parse error line", 1))
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, parseError(err)
	}
	if len(stages) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage("No build stages in current context")
	}
	p := &Plan{Escape: res.EscapeToken}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if v, ok := buildArgs[kv.Key]; ok && v != nil {
				kv.Value = v
			}
			p.MetaArgs = append(p.MetaArgs, kv)
		}
		p.Steps++
	}
	if target != "" {
		i, ok := instructions.HasStage(stages, target)
		if !ok {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("failed to reach build target %s in Dockerfile", target))
		}
		stages = stages[:i+1]
	}
	p.Stages = stages
	for _, s := range stages {
		p.Steps += 1 + len(s.Commands)
	}
	return p, nil
}

// parseError rewrites buildkit's instruction errors into the classic builder's wording with the line.
func parseError(err error) error {
	var unknown *instructions.UnknownInstructionError
	if errors.As(err, &unknown) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Dockerfile parse error line %d: unknown instruction: %s", unknown.Line, strings.ToUpper(unknown.Instruction)))
	}
	msg := err.Error()
	if loc, ok := lineOf(err); ok {
		// buildkit's parse errors carry the location; the message itself starts with "dockerfile parse error on line N: ".
		if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "dockerfile parse error") {
			msg = msg[i+2:]
		}
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Dockerfile parse error line %d: %s", loc, msg))
	}
	return errdefs.ErrInvalidArgument.WithMessage(msg)
}

func lineOf(err error) (int, bool) {
	var loc interface{ Location() []parser.Range }
	if errors.As(err, &loc) {
		if r := loc.Location(); len(r) > 0 {
			return r[0].Start.Line, true
		}
	}
	var n int
	if _, e := fmt.Sscanf(err.Error(), "dockerfile parse error on line %d", &n); e == nil {
		return n, true
	}
	return 0, false
}

// metaArgValues resolves the meta ARGs in order (a default may use an earlier one) for expanding FROM.
func (p *Plan) metaArgValues() (map[string]string, error) {
	lex := shell.NewLex(p.Escape)
	vals := map[string]string{}
	for _, kv := range p.MetaArgs {
		if kv.Value == nil {
			continue
		}
		v, _, err := lex.ProcessWord(*kv.Value, envMap(vals))
		if err != nil {
			return nil, err
		}
		vals[kv.Key] = v
	}
	return vals, nil
}

// envMap is a shell.EnvGetter over a map.
type envMap map[string]string

func (e envMap) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }
func (e envMap) Keys() []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// envList is a shell.EnvGetter over KEY=VALUE pairs, later ones winning.
type envList []string

func (e envList) Get(k string) (string, bool) {
	for i := len(e) - 1; i >= 0; i-- {
		if key, v, _ := strings.Cut(e[i], "="); key == k {
			return v, true
		}
	}
	return "", false
}

func (e envList) Keys() []string {
	var keys []string
	for _, kv := range e {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

package api

import (
	"bytes"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"text/template"
)

// TaskName is a task's name, and its container's: service.slot.taskID, the node's ID in place of the slot for
// a global service's task (swarmkit's naming.Task).
func TaskName(t *Task) string {
	return t.ServiceAnnotations.Name + "." + TaskSlot(t) + "." + t.ID
}

// TaskSlot is a task's slot as names and templates show it: its number, or its node's ID for a global task.
func TaskSlot(t *Task) string {
	if t.Slot != 0 {
		return strconv.FormatUint(t.Slot, 10)
	}
	return t.NodeID
}

// TemplateContext is what a service's templates (`--hostname '{{.Node.Hostname}}-{{.Task.Slot}}'`, env values,
// mount sources and targets) may read, as swarmkit's template.Context.
type TemplateContext struct {
	Service struct {
		ID     string
		Name   string
		Labels map[string]string
	}
	Node struct {
		ID       string
		Hostname string
		Platform struct {
			Architecture string
			OS           string
		}
	}
	Task struct {
		ID   string
		Name string
		Slot string
	}
}

// NewTemplateContext is a task's template context on a node.
func NewTemplateContext(t *Task, node NodeDescription) TemplateContext {
	var c TemplateContext
	c.Service.ID, c.Service.Name, c.Service.Labels = t.ServiceID, t.ServiceAnnotations.Name, t.ServiceAnnotations.Labels
	c.Node.ID, c.Node.Hostname = t.NodeID, node.Hostname
	c.Node.Platform.Architecture, c.Node.Platform.OS = node.Platform.Architecture, node.Platform.OS
	c.Task.ID, c.Task.Name, c.Task.Slot = t.ID, TaskName(t), TaskSlot(t)
	return c
}

var templateFuncs = template.FuncMap{
	"join": func(s ...string) string { return strings.Join(s[1:], s[0]) },
}

// Expand executes s as a template over the context.
func (c *TemplateContext) Expand(s string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	tmpl, err := template.New("expansion").Option("missingkey=error").Funcs(templateFuncs).Parse(s)
	if err != nil {
		return s, err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, c); err != nil {
		return s, err
	}
	return buf.String(), nil
}

// ExpandContainerSpec is c with its templates executed (hostname, env values, mount sources, targets and
// volume options), as swarmkit's template.ExpandContainerSpec; c is not changed.
func ExpandContainerSpec(c *ContainerSpec, ctx TemplateContext) (*ContainerSpec, error) {
	out := *c
	var err error
	out.Env = nil
	for _, e := range c.Env {
		k, v, ok := strings.Cut(e, "=")
		if ok {
			ev, err := ctx.Expand(v)
			if err != nil {
				return nil, fmt.Errorf("expanding env failed: expanding env %q: %w", e, err)
			}
			e = k + "=" + ev
		}
		out.Env = append(out.Env, e)
	}
	out.Mounts = nil
	for _, m := range c.Mounts {
		if m.Source, err = ctx.Expand(m.Source); err != nil {
			return nil, fmt.Errorf("expanding mounts failed: expanding mount source %q: %w", m.Source, err)
		}
		if m.Target, err = ctx.Expand(m.Target); err != nil {
			return nil, fmt.Errorf("expanding mounts failed: expanding mount target %q: %w", m.Target, err)
		}
		if vo := m.VolumeOptions; vo != nil {
			v := *vo
			if v.Labels, err = expandMap(ctx, vo.Labels); err != nil {
				return nil, fmt.Errorf("expanding mounts failed: expanding volume labels: %w", err)
			}
			if vo.DriverConfig != nil {
				dc := *vo.DriverConfig
				if dc.Options, err = expandMap(ctx, vo.DriverConfig.Options); err != nil {
					return nil, fmt.Errorf("expanding mounts failed: expanding volume driver config: %w", err)
				}
				v.DriverConfig = &dc
			}
			m.VolumeOptions = &v
		}
		out.Mounts = append(out.Mounts, m)
	}
	if out.Hostname, err = ctx.Expand(c.Hostname); err != nil {
		return nil, fmt.Errorf("expanding hostname failed: %w", err)
	}
	return &out, nil
}

func expandMap(ctx TemplateContext, m map[string]string) (map[string]string, error) {
	if m == nil {
		return nil, nil
	}
	out := maps.Clone(m)
	for k, v := range m {
		ev, err := ctx.Expand(v)
		if err != nil {
			return nil, fmt.Errorf("expanding map entry %q=%q: %w", k, v, err)
		}
		out[k] = ev
	}
	return out, nil
}

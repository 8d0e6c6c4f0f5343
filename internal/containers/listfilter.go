package containers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/berth/berth/internal/filters"
)

// psFilterKeys are the filters GET /containers/json accepts, Docker's list (isolation is accepted and, on
// Linux, matches everything).
var psFilterKeys = []string{"ancestor", "before", "exited", "expose", "health", "id", "is-task", "isolation", "label",
	"name", "network", "publish", "since", "status", "volume"}

// psRow is what the container list's filters look at in one container.
type psRow struct {
	ID       string
	Name     string // with its leading slash
	ImageID  string
	State    container.ContainerState
	Started  bool // has run at least once: only then does its exit code count
	ExitCode int
	Created  time.Time
	Labels   map[string]string
	Health   container.HealthStatus
	Mounts   []container.MountPoint
}

// running reports whether a container in state st shows without --all, as Docker's Running flag (set while
// paused or restarting too).
func running(st container.ContainerState) bool {
	return st == container.StateRunning || st == container.StatePaused || st == container.StateRestarting
}

// psLookup resolves filter values that name other objects.
type psLookup struct {
	ids     []string                            // every container's ID
	created func(ref string) (time.Time, error) // a container's creation time, by ID, ID prefix or name
	lineage func(ref string) ([]string, error)  // an image's ID and those of the images built on it
}

// psFilter is one GET /containers/json request's filters, resolved once, with Docker's semantics per key:
// name a regular expression against the name with and without its slash, id a unique ID prefix, label
// MatchKVList, status and health exact, exited an exit code of a container that has run, ancestor the image and
// its descendants, before/since relative to another container's creation, volume a mount's name, source or
// destination, network a network name or ID prefix, publish/expose a port or range with an optional protocol.
type psFilter struct {
	args          filters.Args
	all           bool
	ids           map[string]bool // nil: no id filter
	exited        map[int]bool
	isTask        *bool
	ancestors     map[string]bool // nil: no ancestor filter
	publish       map[string]bool
	expose        map[string]bool
	before, since time.Time
}

func newPsFilter(f filters.Args, all bool, limit int, look psLookup) (*psFilter, error) {
	if err := f.Validate(psFilterKeys...); err != nil {
		return nil, err
	}
	p := &psFilter{args: f, all: all || limit > 0, exited: map[int]bool{}, publish: map[string]bool{}, expose: map[string]bool{}}
	for _, v := range f.Get("exited") {
		code, err := strconv.Atoi(v)
		if err != nil {
			return nil, filters.Invalid("exited", v)
		}
		p.exited[code] = true
	}
	for _, v := range f.Get("status") {
		if err := container.ValidateContainerState(container.ContainerState(v)); err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter 'status=%s': %v", v, err))
		}
		p.all = true // asking for a status shows it whether it runs or not
	}
	for _, v := range f.Get("health") {
		if err := container.ValidateHealthStatus(container.HealthStatus(v)); err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter 'health=%s': %v", v, err))
		}
	}
	if f.Contains("is-task") {
		b, err := f.GetBoolOrDefault("is-task", false)
		if err != nil {
			return nil, err
		}
		p.isTask = &b
	}
	if vs := f.Get("id"); len(vs) > 0 {
		// Each value names the one container it is a unique prefix of, as Docker resolves it in its ID index;
		// an ambiguous or unknown prefix names none.
		p.ids = map[string]bool{}
		for _, v := range vs {
			var found []string
			for _, id := range look.ids {
				if strings.HasPrefix(id, v) {
					found = append(found, id)
				}
			}
			if len(found) == 1 {
				p.ids[found[0]] = true
			}
		}
	}
	for _, key := range []string{"before", "since"} {
		for _, v := range f.Get(key) {
			t, err := look.created(v)
			if err != nil {
				return nil, err
			}
			if key == "before" {
				p.before = t
			} else {
				p.since = t
			}
		}
	}
	if f.Contains("ancestor") {
		p.ancestors = map[string]bool{}
		for _, v := range f.Get("ancestor") {
			ids, err := look.lineage(v)
			if err != nil {
				continue // an unknown image is no ancestor of anything, as in Docker
			}
			for _, id := range ids {
				p.ancestors[id] = true
			}
		}
	}
	for key, set := range map[string]map[string]bool{"publish": p.publish, "expose": p.expose} {
		for _, v := range f.Get(key) {
			if strings.Contains(v, ":") {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("filter for '%s' should not contain ':': %s", key, v))
			}
			pr, err := network.ParsePortRange(v)
			if err != nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("error while looking up for %s %s: %v", key, v, err))
			}
			for port := range pr.All() {
				set[port.String()] = true
			}
		}
	}
	return p, nil
}

// include reports whether r passes every filter.
func (p *psFilter) include(r psRow) bool {
	f := p.args
	switch {
	case !running(r.State) && !p.all:
		return false
	case !f.Match("name", r.Name) && !f.Match("name", strings.TrimPrefix(r.Name, "/")):
		return false
	case p.ids != nil && !p.ids[r.ID]:
		return false
	case p.isTask != nil && *p.isTask: // Berth runs no swarm tasks yet
		return false
	case !f.MatchKVList("label", r.Labels):
		return false
	case len(p.exited) > 0 && (running(r.State) || !r.Started || !p.exited[r.ExitCode]):
		return false
	case !f.ExactMatch("status", string(r.State)):
		return false
	case !f.ExactMatch("health", string(r.Health)):
		return false
	case p.ancestors != nil && !p.ancestors[r.ImageID]:
		return false
	case !p.before.IsZero() && !r.Created.Before(p.before):
		return false
	case !p.since.IsZero() && !r.Created.After(p.since):
		return false
	}
	if vs := f.Get("volume"); len(vs) > 0 && !anyMount(r.Mounts, vs) {
		return false
	}
	return true
}

// includeSummary applies the filters that look at a container's built list row (its networks and ports),
// after include passed it: only rows that can be listed are built.
func (p *psFilter) includeSummary(s container.Summary) bool {
	if vs := p.args.Get("network"); len(vs) > 0 && (s.NetworkSettings == nil || !anyNetwork(s.NetworkSettings.Networks, vs)) {
		return false
	}
	if len(p.publish) > 0 || len(p.expose) > 0 {
		for _, pt := range s.Ports {
			if p.publish[fmt.Sprintf("%d/%s", pt.PublicPort, pt.Type)] || p.expose[fmt.Sprintf("%d/%s", pt.PrivatePort, pt.Type)] {
				return true
			}
		}
		return false
	}
	return true
}

// anyMount reports whether one of values is a mount's destination, or its volume name (its source for a bind).
func anyMount(mounts []container.MountPoint, values []string) bool {
	for _, m := range mounts {
		name := m.Name
		if name == "" {
			name = m.Source
		}
		for _, v := range values {
			if v == m.Destination || v == name {
				return true
			}
		}
	}
	return false
}

// anyNetwork reports whether one of values is the name of one of the networks, or a prefix of its ID.
func anyNetwork(networks map[string]*network.EndpointSettings, values []string) bool {
	for _, v := range values {
		if _, ok := networks[v]; ok {
			return true
		}
		for _, es := range networks {
			if es != nil && es.NetworkID != "" && strings.HasPrefix(es.NetworkID, v) {
				return true
			}
		}
	}
	return false
}

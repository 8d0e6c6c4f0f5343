package compose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Observed is an existing container of the project, as read from its labels and state.
type Observed struct {
	ID      string
	Name    string
	Service string
	Number  int
	Hash    string
	ImageID string
	State   string // running, exited, created, paused, ...
	Oneoff  bool
}

// ActionKind is what converging a replica takes.
type ActionKind int

const (
	// Keep leaves a running, up-to-date container alone.
	Keep ActionKind = iota
	// Start starts an up-to-date container that is not running.
	Start
	// Create makes and starts a new replica.
	Create
	// Recreate replaces a container whose configuration or image changed.
	Recreate
	// Remove removes a replica beyond the service's scale.
	Remove
)

func (k ActionKind) String() string {
	return [...]string{"keep", "start", "create", "recreate", "remove"}[k]
}

// Action converges one replica of a service.
type Action struct {
	Kind      ActionKind
	Service   string
	Number    int
	Container *Observed // the existing container, except for Create
}

// PlanOptions are up's recreate flags.
type PlanOptions struct {
	ForceRecreate bool
	NoRecreate    bool
}

// Plan decides, per service, what to do with each replica (pure). hashes holds each service's
// ServiceHash; images the ID of the image each service should run now (empty: unknown, not compared).
// Replicas are numbered from 1; surplus replicas (highest numbers first) are removed; one-off
// containers are ignored.
func Plan(p *types.Project, observed []Observed, hashes, images map[string]string, o PlanOptions) map[string][]Action {
	byService := map[string][]Observed{}
	for _, c := range observed {
		if !c.Oneoff {
			byService[c.Service] = append(byService[c.Service], c)
		}
	}
	plan := map[string][]Action{}
	for name, s := range p.Services {
		existing := byService[name]
		sort.Slice(existing, func(i, j int) bool { return existing[i].Number < existing[j].Number })
		scale := s.GetScale()
		var actions []Action
		used := map[int]bool{}
		for i := range existing {
			c := &existing[i]
			if i >= scale {
				actions = append(actions, Action{Kind: Remove, Service: name, Number: c.Number, Container: c})
				continue
			}
			used[c.Number] = true
			kind := Keep
			diverged := c.Hash != hashes[name] || (images[name] != "" && c.ImageID != "" && c.ImageID != images[name])
			switch {
			case o.ForceRecreate || (diverged && !o.NoRecreate):
				kind = Recreate
			case c.State != "running":
				kind = Start
			}
			actions = append(actions, Action{Kind: kind, Service: name, Number: c.Number, Container: c})
		}
		next := 1
		for n := len(existing); n < scale; n++ {
			for used[next] {
				next++
			}
			used[next] = true
			actions = append(actions, Action{Kind: Create, Service: name, Number: next})
		}
		plan[name] = actions
	}
	return plan
}

// Orphans returns the containers of services the project no longer has (one-off containers excluded).
func Orphans(p *types.Project, observed []Observed) []Observed {
	var out []Observed
	for _, c := range observed {
		if _, ok := p.Services[c.Service]; !ok && !c.Oneoff {
			if _, disabled := p.DisabledServices[c.Service]; !disabled {
				out = append(out, c)
			}
		}
	}
	return out
}

// Order sorts services into levels: each level depends only on earlier ones. It reports a cycle as
// compose words it. Within a level, names are sorted.
func Order(p *types.Project) ([][]string, error) {
	deps := map[string][]string{}
	for name, s := range p.Services {
		for d := range s.DependsOn {
			if _, ok := p.Services[d]; ok {
				deps[name] = append(deps[name], d)
			}
		}
	}
	level := map[string]int{}
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var visit func(string, []string) error
	visit = func(n string, path []string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("dependency cycle detected: %s", strings.Join(append(path, n), " -> "))
		case 2:
			return nil
		}
		state[n] = 1
		l := 0
		for _, d := range deps[n] {
			if err := visit(d, append(path, n)); err != nil {
				return err
			}
			l = max(l, level[d]+1)
		}
		level[n] = l
		state[n] = 2
		return nil
	}
	names := p.ServiceNames()
	sort.Strings(names)
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	var out [][]string
	for _, n := range names {
		for len(out) <= level[n] {
			out = append(out, nil)
		}
		out[level[n]] = append(out[level[n]], n)
	}
	return out, nil
}

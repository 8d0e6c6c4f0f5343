package network

import (
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/filters"
)

// The filters GET /networks and POST /networks/prune accept, Docker's.
var (
	listFilterKeys  = []string{"dangling", "driver", "id", "label", "name", "scope", "type"}
	pruneFilterKeys = []string{"label", "label!", "until"}
)

// filter is a network list's or prune's filters, parsed once, with Docker's semantics: name and id regular
// expressions (or exact), driver and scope exact, label MatchKVList, label! excluding, type builtin|custom,
// dangling by use, until by creation time.
type filter struct {
	args filters.Args
	// byUse filters on whether containers are attached; danglingOnly keeps the unused user-defined ones, else
	// the used or predefined ones.
	byUse, danglingOnly bool
	until               time.Time
}

func newListFilter(f filters.Args) (filter, error) {
	if err := f.Validate(listFilterKeys...); err != nil {
		return filter{}, err
	}
	return parseFilter(f)
}

// newPruneFilter is the filter of a prune: always unused user-defined networks, narrowed by f.
func newPruneFilter(f filters.Args, now time.Time) (filter, error) {
	if err := f.Validate(pruneFilterKeys...); err != nil {
		return filter{}, err
	}
	nf, err := parseFilter(f)
	if err != nil {
		return filter{}, err
	}
	if nf.until, err = f.Until(now); err != nil {
		return filter{}, err
	}
	nf.byUse, nf.danglingOnly = true, true
	return nf, nil
}

func parseFilter(f filters.Args) (filter, error) {
	nf := filter{args: f}
	if vs := f.Get("dangling"); len(vs) > 0 {
		if len(vs) > 1 {
			return filter{}, errdefs.ErrInvalidArgument.WithMessage(`got more than one value for filter key "dangling"`)
		}
		nf.byUse = true
		switch vs[0] {
		case "1", "true":
			nf.danglingOnly = true
		case "0", "false":
		default:
			return filter{}, errdefs.ErrInvalidArgument.WithMessage(`invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`)
		}
	}
	for _, v := range f.Get("type") {
		if v != "builtin" && v != "custom" {
			return filter{}, errdefs.ErrInvalidArgument.WithMessage("invalid filter: 'type'='" + v + "'")
		}
	}
	return nf, nil
}

func (nf filter) matches(n Network) bool {
	f := nf.args
	switch {
	case !f.ExactMatch("driver", n.Driver),
		!f.Match("name", n.Name),
		!f.Match("id", n.ID),
		!f.MatchLabels(n.Labels),
		!f.ExactMatch("scope", n.Scope):
		return false
	case nf.byUse && nf.danglingOnly && (predefined(n.Name) || len(n.Endpoints) > 0):
		return false
	case nf.byUse && !nf.danglingOnly && !predefined(n.Name) && len(n.Endpoints) == 0:
		return false
	case !nf.until.IsZero() && n.Created.After(nf.until):
		return false
	}
	// With both types given, Docker goes by the first it finds; sorted, that is "builtin".
	if vs := f.Get("type"); len(vs) > 0 && (vs[0] == "builtin") != predefined(n.Name) {
		return false
	}
	return true
}

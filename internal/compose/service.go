package compose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/berth/berth/client"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
)

// Service carries out compose operations against one daemon through the Engine API.
type Service struct {
	api      *client.Client
	progress *Progress
	// RegistryAuth returns the X-Registry-Auth value for an image reference's registry ("" for anonymous):
	// the credentials `berth login` stored, for pull and push.
	RegistryAuth func(ref string) string
}

// New returns a Service that reports progress to progress (nil: silent).
func New(api *client.Client, progress *Progress) *Service {
	return &Service{api: api, progress: progress, RegistryAuth: func(string) string { return "" }}
}

// projectFilter selects a project's objects by label.
func projectFilter(project string) client.Filters {
	return client.Filters{}.Add("label", LabelProject+"="+project)
}

// Containers lists the project's containers (all states), sorted by service then number.
func (s *Service) Containers(ctx context.Context, project string, oneoff bool) ([]container.Summary, []Observed, error) {
	list, err := s.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: projectFilter(project)})
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i].Labels, list[j].Labels
		if a[LabelService] != b[LabelService] {
			return a[LabelService] < b[LabelService]
		}
		na, _ := strconv.Atoi(a[LabelNumber])
		nb, _ := strconv.Atoi(b[LabelNumber])
		return na < nb
	})
	var kept []container.Summary
	var obs []Observed
	for _, c := range list {
		o := observe(c)
		if o.Oneoff && !oneoff {
			continue
		}
		kept = append(kept, c)
		obs = append(obs, o)
	}
	return kept, obs, nil
}

func observe(c container.Summary) Observed {
	n, _ := strconv.Atoi(c.Labels[LabelNumber])
	name := c.ID
	if len(c.Names) > 0 {
		name = strings.TrimPrefix(c.Names[0], "/")
	}
	return Observed{
		ID:      c.ID,
		Name:    name,
		Service: c.Labels[LabelService],
		Number:  n,
		Hash:    c.Labels[LabelConfigHash],
		ImageID: c.ImageID,
		State:   string(c.State),
		Oneoff:  strings.EqualFold(c.Labels[LabelOneoff], "true"),
	}
}

// readStream drains a JSON progress stream (pull, push, build) and returns the first error it carries.
func readStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

func containerRes(name string) string { return "Container " + name }

// ServiceNamesOrAll returns names, or every service of the project, sorted.
func ServiceNamesOrAll(p *types.Project, names []string) ([]string, error) {
	if len(names) == 0 {
		all := p.ServiceNames()
		sort.Strings(all)
		return all, nil
	}
	for _, n := range names {
		if _, ok := p.Services[n]; !ok {
			return nil, fmt.Errorf("no such service: %s", n)
		}
	}
	return names, nil
}

func isNotFound(err error) bool { return errdefs.IsNotFound(err) }

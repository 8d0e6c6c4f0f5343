package distribution

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/registry"
)

// Search finds repositories on host whose names contain text. Docker Hub is asked through its v1 search index,
// as dockerd does; other registries through their catalog (GET /v2/_catalog), which is what the distribution
// API offers.
func (s *Service) Search(ctx context.Context, host, text string, limit int, ac registry.AuthConfig) (*registry.SearchResults, error) {
	if host == DockerHubDomain {
		return s.searchHub(ctx, text, limit)
	}
	eps, err := s.Endpoints(host)
	if err != nil {
		return nil, err
	}
	ep := eps[len(eps)-1]
	reg, err := ep.registry()
	if err != nil {
		return nil, err
	}
	r := &Repository{ep: ep, reg: reg}
	ctx2, cancel := withTimeout(ctx)
	defer cancel()
	r.client, err = catalogClient(ctx2, ep, ac)
	if err != nil {
		return nil, err
	}
	names, err := r.Catalog(ctx, 10000)
	if err != nil {
		return nil, err
	}
	out := &registry.SearchResults{Query: text, Results: []registry.SearchResult{}}
	for _, n := range names {
		if strings.Contains(n, text) && len(out.Results) < limit {
			out.Results = append(out.Results, registry.SearchResult{Name: host + "/" + n})
		}
	}
	out.NumResults = len(out.Results)
	return out, nil
}

func catalogClient(ctx context.Context, ep Endpoint, ac registry.AuthConfig) (*http.Client, error) {
	reg, err := ep.registry()
	if err != nil {
		return nil, err
	}
	tr, err := transportFor(ctx, reg, ep, ac, []string{"registry:catalog:*"})
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: tr}, nil
}

func (s *Service) searchHub(ctx context.Context, text string, limit int) (*registry.SearchResults, error) {
	eps, err := s.Endpoints(DockerHubDomain)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	u := indexServer + "search?q=" + url.QueryEscape(text) + "&n=" + strconv.Itoa(limit)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: eps[len(eps)-1].Transport}).Do(req)
	if err != nil {
		return nil, errdefs.ErrUnavailable.WithMessage(err.Error())
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("Unexpected status code %d", resp.StatusCode))
	}
	var out registry.SearchResults
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, errdefs.ErrUnavailable.WithMessage(err.Error())
	}
	return &out, nil
}

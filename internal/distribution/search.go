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
)

// SearchResult is one repository a search found.
type SearchResult struct {
	// Name is the repository's name: host/path for a registry's catalog, Hub's own name ("nginx", "user/app")
	// for Docker Hub.
	Name        string
	Description string
	// Stars, Official and Automated are what Docker Hub says of the repository; a catalog says nothing.
	Stars     int
	Official  bool
	Automated bool
}

// hubResults is the answer of Docker Hub's v1 search index.
type hubResults struct {
	Results []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		StarCount   int    `json:"star_count"`
		IsOfficial  bool   `json:"is_official"`
		IsAutomated bool   `json:"is_automated"`
	} `json:"results"`
}

// Search finds at most limit repositories on host whose names contain text. Docker Hub is asked through its v1
// search index, as dockerd does; other registries through their catalog (GET /v2/_catalog), which is what the
// distribution API offers.
func (s *Service) Search(ctx context.Context, host, text string, limit int, ac Credentials) ([]SearchResult, error) {
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
	out := []SearchResult{}
	for _, n := range names {
		if strings.Contains(n, text) && len(out) < limit {
			out = append(out, SearchResult{Name: host + "/" + n})
		}
	}
	return out, nil
}

func catalogClient(ctx context.Context, ep Endpoint, ac Credentials) (*http.Client, error) {
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

func (s *Service) searchHub(ctx context.Context, text string, limit int) ([]SearchResult, error) {
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
	var hub hubResults
	if err := json.NewDecoder(resp.Body).Decode(&hub); err != nil {
		return nil, errdefs.ErrUnavailable.WithMessage(err.Error())
	}
	out := make([]SearchResult, 0, len(hub.Results))
	for _, r := range hub.Results {
		out = append(out, SearchResult{Name: r.Name, Description: r.Description, Stars: r.StarCount, Official: r.IsOfficial, Automated: r.IsAutomated})
	}
	return out, nil
}

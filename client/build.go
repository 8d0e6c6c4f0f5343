package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
)

// ImageBuildOptions are POST /build's parameters (the classic builder's), named as in docker's Go SDK.
type ImageBuildOptions struct {
	Tags        []string
	Dockerfile  string // path inside the context; empty: Dockerfile
	BuildArgs   map[string]*string
	Labels      map[string]string
	Target      string
	NoCache     bool
	PullParent  bool
	Quiet       bool
	NetworkMode string
	Platform    string
	ExtraHosts  []string
	// Manifest sends to Berth's extension endpoint, where large files may be references to content the daemon
	// kept from an earlier build; an answer wrapping errdefs.ErrFailedPrecondition asks for the full context.
	Manifest bool
}

// ImageBuild sends a build context tar to the daemon and returns the JSON message stream of the build.
func (c *Client) ImageBuild(ctx context.Context, buildContext io.Reader, opts ImageBuildOptions) (io.ReadCloser, error) {
	q := url.Values{}
	for _, t := range opts.Tags {
		q.Add("t", t)
	}
	if opts.Dockerfile != "" {
		q.Set("dockerfile", opts.Dockerfile)
	}
	if len(opts.BuildArgs) > 0 {
		b, err := json.Marshal(opts.BuildArgs)
		if err != nil {
			return nil, err
		}
		q.Set("buildargs", string(b))
	}
	if len(opts.Labels) > 0 {
		b, err := json.Marshal(opts.Labels)
		if err != nil {
			return nil, err
		}
		q.Set("labels", string(b))
	}
	if opts.Target != "" {
		q.Set("target", opts.Target)
	}
	if opts.NetworkMode != "" {
		q.Set("networkmode", opts.NetworkMode)
	}
	if opts.Platform != "" {
		q.Set("platform", opts.Platform)
	}
	boolQuery(q, "nocache", opts.NoCache)
	boolQuery(q, "pull", opts.PullParent)
	for _, h := range opts.ExtraHosts {
		q.Add("extrahosts", h)
	}
	boolQuery(q, "q", opts.Quiet)
	q.Set("rm", "1")
	p := "/build"
	if opts.Manifest {
		p = "/berth/build"
	}
	resp, err := c.do(ctx, &request{
		method:  http.MethodPost,
		path:    p,
		query:   q,
		body:    buildContext,
		headers: http.Header{"Content-Type": {"application/x-tar"}},
	})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// BuildCachePrune empties the daemon's build cache (POST /build/prune) and returns the bytes reclaimed.
func (c *Client) BuildCachePrune(ctx context.Context) (int64, error) {
	var resp struct {
		SpaceReclaimed int64
	}
	if err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/build/prune"}, &resp); err != nil {
		return 0, err
	}
	return resp.SpaceReclaimed, nil
}

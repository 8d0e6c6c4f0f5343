package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// ImageBuildOptions are the parameters of POST /build, named as in docker's Go SDK.
type ImageBuildOptions struct {
	Tags        []string
	Dockerfile  string // path inside the context; empty: Dockerfile
	Target      string
	BuildArgs   map[string]*string
	Labels      map[string]string
	NoCache     bool
	PullParent  bool
	Remove      bool
	ForceRemove bool
	Platform    string
	NetworkMode string
	ExtraHosts  []string
}

// ImageBuildResponse carries the daemon's JSON progress stream; the caller closes Body.
type ImageBuildResponse struct {
	Body   io.ReadCloser
	OSType string
}

// ImageBuild sends a tar build context to POST /build and returns its progress stream.
func (c *Client) ImageBuild(ctx context.Context, buildContext io.Reader, opts ImageBuildOptions) (ImageBuildResponse, error) {
	q := url.Values{}
	for _, t := range opts.Tags {
		q.Add("t", t)
	}
	if opts.Dockerfile != "" {
		q.Set("dockerfile", opts.Dockerfile)
	}
	if opts.Target != "" {
		q.Set("target", opts.Target)
	}
	if opts.Platform != "" {
		q.Set("platform", opts.Platform)
	}
	if opts.NetworkMode != "" {
		q.Set("networkmode", opts.NetworkMode)
	}
	boolQuery(q, "nocache", opts.NoCache)
	boolQuery(q, "pull", opts.PullParent)
	q.Set("rm", strconv.FormatBool(opts.Remove))
	boolQuery(q, "forcerm", opts.ForceRemove)
	for _, pair := range []struct {
		key string
		v   any
		n   int
	}{{"buildargs", opts.BuildArgs, len(opts.BuildArgs)}, {"labels", opts.Labels, len(opts.Labels)}} {
		if pair.n == 0 {
			continue
		}
		b, err := json.Marshal(pair.v)
		if err != nil {
			return ImageBuildResponse{}, err
		}
		q.Set(pair.key, string(b))
	}
	for _, h := range opts.ExtraHosts {
		q.Add("extrahosts", h)
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, path: "/build", query: q, body: buildContext,
		headers: http.Header{"Content-Type": {"application/x-tar"}}})
	if err != nil {
		return ImageBuildResponse{}, err
	}
	return ImageBuildResponse{Body: resp.Body, OSType: resp.Header.Get("Ostype")}, nil
}

// ImagePushOptions are the parameters of POST /images/{name}/push.
type ImagePushOptions struct {
	RegistryAuth string // base64url JSON of registry credentials; empty sends "{}"
	Platform     string
}

// ImagePush asks the daemon to push ref (POST /images/{name}/push?tag=...) and returns its JSON progress
// stream; the caller closes it.
func (c *Client) ImagePush(ctx context.Context, ref string, opts ImagePushOptions) (io.ReadCloser, error) {
	repo, tag := splitRepoTag(ref)
	q := url.Values{}
	if tag != "" {
		q.Set("tag", tag)
	}
	if opts.Platform != "" {
		q.Set("platform", opts.Platform)
	}
	auth := opts.RegistryAuth
	if auth == "" {
		auth = base64.URLEncoding.EncodeToString([]byte("{}"))
	}
	resp, err := c.do(ctx, &request{method: http.MethodPost, path: "/images/" + repo + "/push", query: q,
		headers: http.Header{"X-Registry-Auth": {auth}}})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

package client

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/registry"
)

// PullOptions configures ImagePullWithOptions.
type PullOptions struct {
	// Platform is os/arch[/variant], for multi-platform images.
	Platform string
	// RegistryAuth is the X-Registry-Auth header value (see EncodeAuth).
	RegistryAuth string
}

// ImagePullWithOptions asks the daemon to pull ref (POST /images/create?fromImage=...) and returns its JSON
// progress stream; the caller closes it.
func (c *Client) ImagePullWithOptions(ctx context.Context, ref string, opts PullOptions) (io.ReadCloser, error) {
	repo, tag := splitRepoTag(ref)
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		repo, tag = ref[:i], ref[i+1:]
	}
	q := url.Values{"fromImage": {repo}}
	if tag != "" {
		q.Set("tag", tag)
	}
	if opts.Platform != "" {
		q.Set("platform", opts.Platform)
	}
	r := &request{method: http.MethodPost, path: "/images/create", query: q}
	if opts.RegistryAuth != "" {
		r.headers = http.Header{registry.AuthHeader: {opts.RegistryAuth}}
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ImagePushOptions are the parameters of POST /images/{name}/push.
type ImagePushOptions struct {
	// RegistryAuth is the X-Registry-Auth header value (see EncodeAuth); empty sends anonymous credentials.
	RegistryAuth string
	Platform     string
}

// ImagePush asks the daemon to push ref (name[:tag]) and returns its JSON progress stream; the caller closes it.
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
	r := &request{method: http.MethodPost, path: "/images/" + repo + "/push", query: q,
		headers: http.Header{registry.AuthHeader: {auth}}}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// RegistryLogin asks the daemon to check credentials against a registry (POST /auth).
func (c *Client) RegistryLogin(ctx context.Context, auth registry.AuthConfig) (registry.AuthResponse, error) {
	var out registry.AuthResponse
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/auth", json: auth}, &out)
	return out, err
}

// ImageSearch searches a registry (GET /images/search).
func (c *Client) ImageSearch(ctx context.Context, term string, limit int, registryAuth string) ([]registry.SearchResult, error) {
	q := url.Values{"term": {term}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []registry.SearchResult
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/images/search", query: q,
		headers: http.Header{registry.AuthHeader: {registryAuth}}}, &out)
	return out, err
}

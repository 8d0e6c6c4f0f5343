package client

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
)

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

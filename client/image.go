package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/image"
)

// ImageListOptions select images for GET /images/json.
type ImageListOptions struct {
	All        bool
	Digests    bool
	SharedSize bool
	Filters    Filters
}

// ImageList lists images.
func (c *Client) ImageList(ctx context.Context, opts ImageListOptions) ([]image.Summary, error) {
	q := url.Values{}
	boolQuery(q, "all", opts.All)
	boolQuery(q, "digests", opts.Digests)
	boolQuery(q, "shared-size", opts.SharedSize)
	if err := opts.Filters.encode(q); err != nil {
		return nil, err
	}
	var list []image.Summary
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/images/json", query: q}, &list)
	return list, err
}

// ImageInspect returns GET /images/{name}/json.
func (c *Client) ImageInspect(ctx context.Context, ref string) (image.InspectResponse, error) {
	v, _, err := c.ImageInspectWithRaw(ctx, ref)
	return v, err
}

// ImageInspectWithRaw returns the decoded inspect answer and its raw JSON.
func (c *Client) ImageInspectWithRaw(ctx context.Context, ref string) (image.InspectResponse, []byte, error) {
	if ref == "" {
		return image.InspectResponse{}, nil, emptyIDError("image")
	}
	raw, err := c.doRaw(ctx, &request{method: http.MethodGet, path: "/images/" + ref + "/json"})
	if err != nil {
		return image.InspectResponse{}, nil, err
	}
	var v image.InspectResponse
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, raw, fmt.Errorf("decoding image inspect: %w", err)
	}
	return v, raw, nil
}

// ImageHistory returns the layers' history of an image, newest first.
func (c *Client) ImageHistory(ctx context.Context, ref string) ([]image.HistoryResponseItem, error) {
	var h []image.HistoryResponseItem
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/images/" + ref + "/history"}, &h)
	return h, err
}

// ImageTag adds the reference target ("repo[:tag]") to the image source.
func (c *Client) ImageTag(ctx context.Context, source, target string) error {
	repo, tag := splitRepoTag(target)
	if repo == "" {
		return &Error{StatusCode: http.StatusBadRequest, Message: fmt.Sprintf("invalid reference format: %q", target), category: categoryFor(http.StatusBadRequest)}
	}
	q := url.Values{"repo": {repo}}
	if tag != "" {
		q.Set("tag", tag)
	}
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/images/" + source + "/tag", query: q}, nil)
}

// ImageRemoveOptions are the options of DELETE /images/{name}.
type ImageRemoveOptions struct {
	Force         bool
	PruneChildren bool
}

// ImageRemove untags and deletes an image.
func (c *Client) ImageRemove(ctx context.Context, ref string, opts ImageRemoveOptions) ([]image.DeleteResponse, error) {
	q := url.Values{}
	boolQuery(q, "force", opts.Force)
	if !opts.PruneChildren {
		q.Set("noprune", "1")
	}
	var resp []image.DeleteResponse
	err := c.doJSON(ctx, &request{method: http.MethodDelete, path: "/images/" + ref, query: q}, &resp)
	return resp, err
}

// ImagesPrune removes unused images; filters carry "dangling", "until" and "label".
func (c *Client) ImagesPrune(ctx context.Context, filters Filters) (image.PruneReport, error) {
	q := url.Values{}
	if err := filters.encode(q); err != nil {
		return image.PruneReport{}, err
	}
	var report image.PruneReport
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/images/prune", query: q}, &report)
	return report, err
}

// ImageImportOptions are the options of an import (POST /images/create?fromSrc=...).
type ImageImportOptions struct {
	Message  string
	Changes  []string
	Platform string
}

// ImageImport creates an image from a filesystem tarball: the body of source, or the URL sourceURL when
// source is nil. ref ("repo[:tag]") may be empty. It returns the daemon's JSON progress stream.
func (c *Client) ImageImport(ctx context.Context, source io.Reader, sourceURL, ref string, opts ImageImportOptions) (io.ReadCloser, error) {
	q := url.Values{}
	if source != nil {
		q.Set("fromSrc", "-")
	} else {
		q.Set("fromSrc", sourceURL)
	}
	if ref != "" {
		repo, tag := splitRepoTag(ref)
		q.Set("repo", repo)
		if tag != "" {
			q.Set("tag", tag)
		}
	}
	if opts.Message != "" {
		q.Set("message", opts.Message)
	}
	for _, ch := range opts.Changes {
		q.Add("changes", ch)
	}
	if opts.Platform != "" {
		q.Set("platform", opts.Platform)
	}
	r := &request{method: http.MethodPost, path: "/images/create", query: q}
	if source != nil {
		r.body = source
		r.headers = http.Header{"Content-Type": {"application/x-tar"}}
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ImagePull asks the daemon to pull ref anonymously and returns its JSON progress stream (see
// ImagePullWithOptions).
func (c *Client) ImagePull(ctx context.Context, ref, platform string) (io.ReadCloser, error) {
	return c.ImagePullWithOptions(ctx, ref, PullOptions{Platform: platform})
}

// ImageSave streams a tar archive of the named images (GET /images/get?names=...). The caller closes it.
func (c *Client) ImageSave(ctx context.Context, refs []string) (io.ReadCloser, error) {
	q := url.Values{"names": refs}
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: "/images/get", query: q})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ImageLoadResponse is the answer of POST /images/load: a JSON message stream when JSON is set.
type ImageLoadResponse struct {
	Body io.ReadCloser
	JSON bool
}

// ImageLoad sends an image tarball (as made by ImageSave) to the daemon.
func (c *Client) ImageLoad(ctx context.Context, input io.Reader, quiet bool) (ImageLoadResponse, error) {
	q := url.Values{}
	boolQuery(q, "quiet", quiet)
	resp, err := c.do(ctx, &request{
		method:  http.MethodPost,
		path:    "/images/load",
		query:   q,
		body:    input,
		headers: http.Header{"Content-Type": {"application/x-tar"}},
	})
	if err != nil {
		return ImageLoadResponse{}, err
	}
	ct := resp.Header.Get("Content-Type")
	return ImageLoadResponse{Body: resp.Body, JSON: ct == "application/json" || ct == "application/x-ndjson" || ct == ""}, nil
}

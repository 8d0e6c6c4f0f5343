package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/volume"
)

// VolumeCreate creates a named (or, with an empty name, anonymous) volume.
func (c *Client) VolumeCreate(ctx context.Context, req volume.CreateRequest) (volume.Volume, error) {
	var v volume.Volume
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/volumes/create", json: req}, &v)
	return v, err
}

// VolumeList lists volumes.
func (c *Client) VolumeList(ctx context.Context, filters Filters) (volume.ListResponse, error) {
	q := url.Values{}
	if err := filters.encode(q); err != nil {
		return volume.ListResponse{}, err
	}
	var resp volume.ListResponse
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/volumes", query: q}, &resp)
	return resp, err
}

// VolumeInspect returns GET /volumes/{name}.
func (c *Client) VolumeInspect(ctx context.Context, name string) (volume.Volume, error) {
	v, _, err := c.VolumeInspectWithRaw(ctx, name)
	return v, err
}

// VolumeInspectWithRaw returns the decoded volume and its raw JSON.
func (c *Client) VolumeInspectWithRaw(ctx context.Context, name string) (volume.Volume, []byte, error) {
	if name == "" {
		return volume.Volume{}, nil, emptyIDError("volume")
	}
	raw, err := c.doRaw(ctx, &request{method: http.MethodGet, path: "/volumes/" + pathEscape(name)})
	if err != nil {
		return volume.Volume{}, nil, err
	}
	var v volume.Volume
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, raw, fmt.Errorf("decoding volume inspect: %w", err)
	}
	return v, raw, nil
}

// VolumeRemove removes a volume; force also ignores a missing volume.
func (c *Client) VolumeRemove(ctx context.Context, name string, force bool) error {
	q := url.Values{}
	boolQuery(q, "force", force)
	return c.doJSON(ctx, &request{method: http.MethodDelete, path: "/volumes/" + pathEscape(name), query: q}, nil)
}

// VolumesPrune removes unused volumes ("all=true" in filters includes named ones).
func (c *Client) VolumesPrune(ctx context.Context, filters Filters) (volume.PruneReport, error) {
	q := url.Values{}
	if err := filters.encode(q); err != nil {
		return volume.PruneReport{}, err
	}
	var report volume.PruneReport
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/volumes/prune", query: q}, &report)
	return report, err
}

package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/network"
)

// NetworkCreateOptions are the settings of a new network; its name is NetworkCreate's own argument.
type NetworkCreateOptions struct {
	Driver     string
	Scope      string
	EnableIPv4 *bool // nil leaves the daemon's default
	EnableIPv6 *bool
	IPAM       *network.IPAM
	Internal   bool
	Attachable bool
	Ingress    bool
	ConfigOnly bool
	ConfigFrom *network.ConfigReference
	Options    map[string]string // driver options
	Labels     map[string]string
}

// NetworkCreate creates a network: POST /networks/create.
func (c *Client) NetworkCreate(ctx context.Context, name string, opts NetworkCreateOptions) (network.CreateResponse, error) {
	body := network.CreateRequest{
		Name:       name,
		Driver:     opts.Driver,
		Scope:      opts.Scope,
		EnableIPv4: opts.EnableIPv4,
		EnableIPv6: opts.EnableIPv6,
		IPAM:       opts.IPAM,
		Internal:   opts.Internal,
		Attachable: opts.Attachable,
		Ingress:    opts.Ingress,
		ConfigOnly: opts.ConfigOnly,
		ConfigFrom: opts.ConfigFrom,
		Options:    opts.Options,
		Labels:     opts.Labels,
	}
	var resp network.CreateResponse
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/networks/create", json: body}, &resp)
	return resp, err
}

// NetworkList lists networks: GET /networks. The daemon understands the filters driver, id, name, label,
// scope, type (custom or builtin) and dangling.
func (c *Client) NetworkList(ctx context.Context, filters Filters) ([]network.Summary, error) {
	q := url.Values{}
	if err := filters.encode(q); err != nil {
		return nil, err
	}
	var list []network.Summary
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/networks", query: q}, &list)
	return list, err
}

// NetworkInspect returns GET /networks/{id}; id may be a name, a full ID or an ID prefix.
func (c *Client) NetworkInspect(ctx context.Context, id string) (network.Inspect, error) {
	n, _, err := c.NetworkInspectWithRaw(ctx, id)
	return n, err
}

// NetworkInspectWithRaw returns the decoded network and its raw JSON (for `inspect` output).
func (c *Client) NetworkInspectWithRaw(ctx context.Context, id string) (network.Inspect, []byte, error) {
	if id == "" {
		return network.Inspect{}, nil, emptyIDError("network")
	}
	raw, err := c.doRaw(ctx, &request{method: http.MethodGet, path: "/networks/" + pathEscape(id)})
	if err != nil {
		return network.Inspect{}, nil, err
	}
	var n network.Inspect
	if err := json.Unmarshal(raw, &n); err != nil {
		return n, raw, fmt.Errorf("decoding network inspect: %w", err)
	}
	return n, raw, nil
}

// NetworkRemove removes a network: DELETE /networks/{id}.
func (c *Client) NetworkRemove(ctx context.Context, id string) error {
	if id == "" {
		return emptyIDError("network")
	}
	return c.doJSON(ctx, &request{method: http.MethodDelete, path: "/networks/" + pathEscape(id)}, nil)
}

// NetworkConnect attaches a container to a network; config (may be nil) asks for addresses and aliases.
func (c *Client) NetworkConnect(ctx context.Context, networkID, containerID string, config *network.EndpointSettings) error {
	if networkID == "" {
		return emptyIDError("network")
	}
	if containerID == "" {
		return emptyIDError("container")
	}
	body := network.ConnectRequest{Container: containerID, EndpointConfig: config}
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/networks/" + pathEscape(networkID) + "/connect", json: body}, nil)
}

// NetworkDisconnect detaches a container from a network; force asks the daemon to drop the endpoint even when
// it cannot be detached cleanly.
func (c *Client) NetworkDisconnect(ctx context.Context, networkID, containerID string, force bool) error {
	if networkID == "" {
		return emptyIDError("network")
	}
	if containerID == "" {
		return emptyIDError("container")
	}
	body := network.DisconnectRequest{Container: containerID, Force: force}
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/networks/" + pathEscape(networkID) + "/disconnect", json: body}, nil)
}

// NetworksPrune removes the user-defined networks no container uses (filters: until, label, label!).
func (c *Client) NetworksPrune(ctx context.Context, filters Filters) (network.PruneReport, error) {
	q := url.Values{}
	if err := filters.encode(q); err != nil {
		return network.PruneReport{}, err
	}
	var report network.PruneReport
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/networks/prune", query: q}, &report)
	return report, err
}

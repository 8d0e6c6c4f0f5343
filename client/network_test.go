package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"reflect"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
)

func TestNetworkRequests(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		status int
		answer string
		call   func(t *testing.T, c *Client) error
		method string
		path   string
		query  string
		body   any // when set, the request body must decode to exactly this
	}{
		{
			name: "create", status: http.StatusCreated, answer: `{"Id":"n1id","Warning":""}`,
			call: func(t *testing.T, c *Client) error {
				resp, err := c.NetworkCreate(ctx, "backend", NetworkCreateOptions{
					Driver:   "bridge",
					Internal: true,
					IPAM: &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{
						Subnet:  netip.MustParsePrefix("10.5.0.0/16"),
						IPRange: netip.MustParsePrefix("10.5.1.0/24"),
						Gateway: netip.MustParseAddr("10.5.0.1"),
					}}},
					Options: map[string]string{"com.docker.network.bridge.name": "br5"},
					Labels:  map[string]string{"tier": "db"},
				})
				if err == nil && resp.ID != "n1id" {
					t.Errorf("ID = %q", resp.ID)
				}
				return err
			},
			method: "POST", path: "/networks/create",
			body: map[string]any{
				"Name": "backend", "Driver": "bridge", "Scope": "", "Internal": true, "Attachable": false, "Ingress": false,
				"ConfigOnly": false, "ConfigFrom": nil,
				"IPAM": map[string]any{"Driver": "default", "Options": nil, "Config": []any{
					map[string]any{"Subnet": "10.5.0.0/16", "IPRange": "10.5.1.0/24", "Gateway": "10.5.0.1"},
				}},
				"Options": map[string]any{"com.docker.network.bridge.name": "br5"},
				"Labels":  map[string]any{"tier": "db"},
			},
		},
		{
			name: "create with ipv6 off", status: http.StatusCreated, answer: `{"Id":"n2id"}`,
			call: func(t *testing.T, c *Client) error {
				off := false
				_, err := c.NetworkCreate(ctx, "v4only", NetworkCreateOptions{Driver: "bridge", EnableIPv6: &off})
				return err
			},
			method: "POST", path: "/networks/create",
			body: map[string]any{
				"Name": "v4only", "Driver": "bridge", "Scope": "", "EnableIPv6": false, "IPAM": nil, "Internal": false,
				"Attachable": false, "Ingress": false, "ConfigOnly": false, "ConfigFrom": nil, "Options": nil, "Labels": nil,
			},
		},
		{
			name: "list with filters", status: http.StatusOK,
			answer: `[{"Name":"bridge","Id":"f2de39df4171","Driver":"bridge","Scope":"local","IPAM":{"Config":[{"Subnet":"172.17.0.0/16"}]}}]`,
			call: func(t *testing.T, c *Client) error {
				list, err := c.NetworkList(ctx, Filters{"driver": {"bridge"}})
				if err == nil && (len(list) != 1 || list[0].Name != "bridge" || list[0].IPAM.Config[0].Subnet != netip.MustParsePrefix("172.17.0.0/16")) {
					t.Errorf("list = %+v", list)
				}
				return err
			},
			method: "GET", path: "/networks", query: "filters=%7B%22driver%22%3A%5B%22bridge%22%5D%7D",
		},
		{
			name: "list without filters", status: http.StatusOK, answer: `[]`,
			call: func(t *testing.T, c *Client) error {
				_, err := c.NetworkList(ctx, nil)
				return err
			},
			method: "GET", path: "/networks",
		},
		{
			name: "inspect", status: http.StatusOK,
			answer: `{"Name":"backend","Id":"abc","Containers":{"c1":{"Name":"web","IPv4Address":"10.5.0.9/16"}},"Extra":1}`,
			call: func(t *testing.T, c *Client) error {
				n, raw, err := c.NetworkInspectWithRaw(ctx, "backend")
				if err == nil && (n.Name != "backend" || n.Containers["c1"].Name != "web" || !json.Valid(raw) || len(raw) == 0) {
					t.Errorf("inspect = %+v raw %q", n, raw)
				}
				return err
			},
			method: "GET", path: "/networks/backend",
		},
		{
			name: "remove", status: http.StatusNoContent,
			call:   func(t *testing.T, c *Client) error { return c.NetworkRemove(ctx, "backend") },
			method: "DELETE", path: "/networks/backend",
		},
		{
			name: "connect", status: http.StatusOK,
			call: func(t *testing.T, c *Client) error {
				return c.NetworkConnect(ctx, "backend", "web", &network.EndpointSettings{
					IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.5.0.9")},
					Aliases:    []string{"api"},
				})
			},
			method: "POST", path: "/networks/backend/connect",
		},
		{
			name: "connect without settings", status: http.StatusOK,
			call:   func(t *testing.T, c *Client) error { return c.NetworkConnect(ctx, "backend", "web", nil) },
			method: "POST", path: "/networks/backend/connect",
			body: map[string]any{"Container": "web"},
		},
		{
			name: "disconnect", status: http.StatusOK,
			call:   func(t *testing.T, c *Client) error { return c.NetworkDisconnect(ctx, "backend", "web", true) },
			method: "POST", path: "/networks/backend/disconnect",
			body: map[string]any{"Container": "web", "Force": true},
		},
		{
			name: "prune", status: http.StatusOK, answer: `{"NetworksDeleted":["n1","n2"]}`,
			call: func(t *testing.T, c *Client) error {
				report, err := c.NetworksPrune(ctx, Filters{"until": {"24h"}})
				if err == nil && !reflect.DeepEqual(report.NetworksDeleted, []string{"n1", "n2"}) {
					t.Errorf("report = %+v", report)
				}
				return err
			},
			method: "POST", path: "/networks/prune", query: "filters=%7B%22until%22%3A%5B%2224h%22%5D%7D",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := recordingServer(t, tt.status, tt.answer, "application/json")
			if err := tt.call(t, c); err != nil {
				t.Fatal(err)
			}
			if rec.method != tt.method || rec.path != "/v1.47"+tt.path || rec.query != tt.query {
				t.Errorf("got %s %s?%s, want %s %s?%s", rec.method, rec.path, rec.query, tt.method, tt.path, tt.query)
			}
			if tt.body != nil {
				var got any
				if err := json.Unmarshal([]byte(rec.body), &got); err != nil {
					t.Fatalf("body %q: %v", rec.body, err)
				}
				if !reflect.DeepEqual(got, tt.body) {
					t.Errorf("body\n got %s", rec.body)
				}
			}
		})
	}
}

func TestNetworkConnectBody(t *testing.T) {
	c, rec := recordingServer(t, http.StatusOK, "", "")
	err := c.NetworkConnect(context.Background(), "backend", "web", &network.EndpointSettings{
		IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: netip.MustParseAddr("10.5.0.9")},
		Aliases:    []string{"api", "www"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var req network.ConnectRequest
	if err := json.Unmarshal([]byte(rec.body), &req); err != nil {
		t.Fatal(err)
	}
	ep := req.EndpointConfig
	if req.Container != "web" || ep == nil || ep.IPAMConfig == nil || ep.IPAMConfig.IPv4Address != netip.MustParseAddr("10.5.0.9") ||
		!reflect.DeepEqual(ep.Aliases, []string{"api", "www"}) {
		t.Errorf("connect body %s", rec.body)
	}
	if ct := rec.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestNetworkErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		status   int
		message  string
		call     func(c *Client) error
		category error
	}{
		{name: "inspect missing", status: 404, message: "network nope not found", category: errdefs.ErrNotFound,
			call: func(c *Client) error { _, err := c.NetworkInspect(ctx, "nope"); return err }},
		{name: "remove predefined", status: 403, message: "bridge is a pre-defined network and cannot be removed", category: errdefs.ErrPermissionDenied,
			call: func(c *Client) error { return c.NetworkRemove(ctx, "bridge") }},
		{name: "remove in use", status: 409, message: "error while removing network: network backend has active endpoints", category: errdefs.ErrConflict,
			call: func(c *Client) error { return c.NetworkRemove(ctx, "backend") }},
		{name: "create duplicate", status: 409, message: "network with name backend already exists", category: errdefs.ErrConflict,
			call: func(c *Client) error { _, err := c.NetworkCreate(ctx, "backend", NetworkCreateOptions{}); return err }},
		{name: "create unsupported", status: 501, message: "network driver overlay is not supported", category: errdefs.ErrNotImplemented,
			call: func(c *Client) error {
				_, err := c.NetworkCreate(ctx, "o", NetworkCreateOptions{Driver: "overlay"})
				return err
			}},
		{name: "connect bad address", status: 400, message: "invalid IPv4 address", category: errdefs.ErrInvalidArgument,
			call: func(c *Client) error { return c.NetworkConnect(ctx, "backend", "web", nil) }},
		{name: "disconnect missing container", status: 404, message: "No such container: web", category: errdefs.ErrNotFound,
			call: func(c *Client) error { return c.NetworkDisconnect(ctx, "backend", "web", false) }},
		{name: "prune failure", status: 500, message: "boom", category: errdefs.ErrInternal,
			call: func(c *Client) error { _, err := c.NetworksPrune(ctx, nil); return err }},
		{name: "list failure", status: 500, message: "boom", category: errdefs.ErrInternal,
			call: func(c *Client) error { _, err := c.NetworkList(ctx, nil); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"message": tt.message})
			c, _ := recordingServer(t, tt.status, string(body), "application/json")
			err := tt.call(c)
			if err == nil || err.Error() != tt.message || !errors.Is(err, tt.category) {
				t.Errorf("err = %v, want %q in category %v", err, tt.message, tt.category)
			}
		})
	}
}

func TestNetworkEmptyIDs(t *testing.T) {
	ctx := context.Background()
	c, rec := recordingServer(t, http.StatusOK, "{}", "application/json")
	calls := map[string]func() error{
		"inspect":              func() error { _, err := c.NetworkInspect(ctx, ""); return err },
		"remove":               func() error { return c.NetworkRemove(ctx, "") },
		"connect network":      func() error { return c.NetworkConnect(ctx, "", "web", nil) },
		"connect container":    func() error { return c.NetworkConnect(ctx, "n", "", nil) },
		"disconnect network":   func() error { return c.NetworkDisconnect(ctx, "", "web", false) },
		"disconnect container": func() error { return c.NetworkDisconnect(ctx, "n", "", false) },
	}
	for name, call := range calls {
		if err := call(); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: err = %v, want invalid argument", name, err)
		}
	}
	if rec.method != "" {
		t.Errorf("a request was sent: %s %s", rec.method, rec.path)
	}
}

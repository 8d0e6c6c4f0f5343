package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/moby/moby/api/types/container"
)

// ExecCreate sets up a process to run in a running container: POST /containers/{id}/exec.
func (c *Client) ExecCreate(ctx context.Context, containerID string, config container.ExecCreateRequest) (container.ExecCreateResponse, error) {
	var resp container.ExecCreateResponse
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/containers/" + pathEscape(containerID) + "/exec", json: config}, &resp)
	return resp, err
}

// ExecStartOptions are the options of POST /exec/{id}/start; ExecStart always detaches, ExecAttach never.
type ExecStartOptions struct {
	Tty         bool
	ConsoleSize *[2]uint // height, width
}

// ExecStart starts an exec detached: the daemon answers once the process runs and nothing is streamed.
func (c *Client) ExecStart(ctx context.Context, execID string, opts ExecStartOptions) error {
	body := container.ExecStartRequest{Detach: true, Tty: opts.Tty, ConsoleSize: opts.ConsoleSize}
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/exec/" + pathEscape(execID) + "/start", json: body}, nil)
}

// ExecAttach starts an exec and hijacks the connection to its stdio.
func (c *Client) ExecAttach(ctx context.Context, execID string, opts ExecStartOptions) (*HijackedResponse, error) {
	body := container.ExecStartRequest{Detach: false, Tty: opts.Tty, ConsoleSize: opts.ConsoleSize}
	return c.hijack(ctx, &request{method: http.MethodPost, path: "/exec/" + pathEscape(execID) + "/start", json: body})
}

// ExecInspect returns GET /exec/{id}/json (ExitCode is set once the process has exited).
func (c *Client) ExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error) {
	var resp container.ExecInspectResponse
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/exec/" + pathEscape(execID) + "/json"}, &resp)
	return resp, err
}

// ExecResize sets the size of an exec's tty.
func (c *Client) ExecResize(ctx context.Context, execID string, height, width uint) error {
	q := url.Values{"h": {strconv.FormatUint(uint64(height), 10)}, "w": {strconv.FormatUint(uint64(width), 10)}}
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/exec/" + pathEscape(execID) + "/resize", query: q}, nil)
}

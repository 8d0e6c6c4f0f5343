package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// ContainerCreateOptions name the new container and pick the image's platform.
type ContainerCreateOptions struct {
	Name     string
	Platform string // os[/arch[/variant]]
}

// ContainerCreate creates a container: POST /containers/create.
func (c *Client) ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig,
	networking *network.NetworkingConfig, opts ContainerCreateOptions,
) (container.CreateResponse, error) {
	if config == nil {
		config = &container.Config{}
	}
	q := url.Values{}
	if opts.Name != "" {
		q.Set("name", opts.Name)
	}
	if opts.Platform != "" {
		q.Set("platform", opts.Platform)
	}
	body := container.CreateRequest{Config: config, HostConfig: hostConfig, NetworkingConfig: networking}
	var resp container.CreateResponse
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/containers/create", query: q, json: body}, &resp)
	return resp, err
}

// ContainerListOptions select containers for GET /containers/json.
type ContainerListOptions struct {
	All     bool
	Limit   int
	Size    bool
	Filters Filters
}

// ContainerList lists containers.
func (c *Client) ContainerList(ctx context.Context, opts ContainerListOptions) ([]container.Summary, error) {
	q := url.Values{}
	boolQuery(q, "all", opts.All)
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	boolQuery(q, "size", opts.Size)
	if err := opts.Filters.encode(q); err != nil {
		return nil, err
	}
	var list []container.Summary
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/containers/json", query: q}, &list)
	return list, err
}

// ContainerInspect returns GET /containers/{id}/json.
func (c *Client) ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error) {
	v, _, err := c.ContainerInspectWithRaw(ctx, id, false)
	return v, err
}

// ContainerInspectWithRaw returns the decoded inspect answer and its raw JSON (for `inspect` output).
func (c *Client) ContainerInspectWithRaw(ctx context.Context, id string, size bool) (container.InspectResponse, []byte, error) {
	if id == "" {
		return container.InspectResponse{}, nil, emptyIDError("container")
	}
	q := url.Values{}
	boolQuery(q, "size", size)
	raw, err := c.doRaw(ctx, &request{method: http.MethodGet, path: "/containers/" + pathEscape(id) + "/json", query: q})
	if err != nil {
		return container.InspectResponse{}, nil, err
	}
	var v container.InspectResponse
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, raw, fmt.Errorf("decoding container inspect: %w", err)
	}
	return v, raw, nil
}

// ContainerStartOptions are the options of POST /containers/{id}/start.
type ContainerStartOptions struct {
	DetachKeys string
}

// ContainerStart starts a container. Starting a running container is not an error (the daemon answers 304).
func (c *Client) ContainerStart(ctx context.Context, id string, opts ContainerStartOptions) error {
	q := url.Values{}
	if opts.DetachKeys != "" {
		q.Set("detachKeys", opts.DetachKeys)
	}
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/containers/" + pathEscape(id) + "/start", query: q}, nil)
}

// ContainerStopOptions carry the signal and the grace period (seconds; nil uses the container's default).
type ContainerStopOptions struct {
	Signal  string
	Timeout *int
}

func (o ContainerStopOptions) query() url.Values {
	q := url.Values{}
	if o.Signal != "" {
		q.Set("signal", o.Signal)
	}
	if o.Timeout != nil {
		q.Set("t", strconv.Itoa(*o.Timeout))
	}
	return q
}

// ContainerStop stops a container: POST /containers/{id}/stop.
func (c *Client) ContainerStop(ctx context.Context, id string, opts ContainerStopOptions) error {
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/containers/" + pathEscape(id) + "/stop", query: opts.query()}, nil)
}

// ContainerRestart restarts a container: POST /containers/{id}/restart.
func (c *Client) ContainerRestart(ctx context.Context, id string, opts ContainerStopOptions) error {
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/containers/" + pathEscape(id) + "/restart", query: opts.query()}, nil)
}

// ContainerKill sends a signal (name or number; empty means SIGKILL) to a container.
func (c *Client) ContainerKill(ctx context.Context, id, signal string) error {
	q := url.Values{}
	if signal != "" {
		q.Set("signal", signal)
	}
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/containers/" + pathEscape(id) + "/kill", query: q}, nil)
}

// ContainerRemoveOptions are the options of DELETE /containers/{id}.
type ContainerRemoveOptions struct {
	Force         bool
	RemoveVolumes bool
	RemoveLinks   bool
}

// ContainerRemove removes a container.
func (c *Client) ContainerRemove(ctx context.Context, id string, opts ContainerRemoveOptions) error {
	q := url.Values{}
	boolQuery(q, "force", opts.Force)
	boolQuery(q, "v", opts.RemoveVolumes)
	boolQuery(q, "link", opts.RemoveLinks)
	return c.doJSON(ctx, &request{method: http.MethodDelete, path: "/containers/" + pathEscape(id), query: q}, nil)
}

// waitRegistered bounds how long ContainerWait blocks for the daemon's response headers. The daemon flushes
// them once the waiter is registered, which is what makes `run` race-free (wait before start); a daemon
// that holds them back until exit still works, just without that guarantee.
const waitRegistered = 2 * time.Second

// ContainerWait waits for a container to reach condition (empty means "not-running"). The request is
// sent before it returns; exactly one value arrives on one of the channels.
func (c *Client) ContainerWait(ctx context.Context, id string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error) {
	results := make(chan container.WaitResponse, 1)
	errs := make(chan error, 1)
	q := url.Values{}
	if condition != "" {
		q.Set("condition", string(condition))
	}
	headers := make(chan struct{})
	go func() {
		resp, err := c.do(ctx, &request{method: http.MethodPost, path: "/containers/" + pathEscape(id) + "/wait", query: q})
		close(headers)
		if err != nil {
			errs <- err
			return
		}
		defer drainClose(resp.Body)
		stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
		defer stop()
		body, err := io.ReadAll(resp.Body)
		if ctx.Err() != nil {
			errs <- ctx.Err()
			return
		}
		if err != nil {
			errs <- err
			return
		}
		var w container.WaitResponse
		if err := json.Unmarshal(body, &w); err != nil {
			errs <- fmt.Errorf("decoding wait response %q: %w", strings.TrimSpace(string(body)), err)
			return
		}
		results <- w
	}()
	select {
	case <-headers:
	case <-time.After(waitRegistered):
	case <-ctx.Done():
	}
	return results, errs
}

// ContainerPause freezes a container.
func (c *Client) ContainerPause(ctx context.Context, id string) error {
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/containers/" + pathEscape(id) + "/pause"}, nil)
}

// ContainerUnpause thaws a container.
func (c *Client) ContainerUnpause(ctx context.Context, id string) error {
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/containers/" + pathEscape(id) + "/unpause"}, nil)
}

// ContainerRename renames a container.
func (c *Client) ContainerRename(ctx context.Context, id, newName string) error {
	q := url.Values{"name": {newName}}
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/containers/" + pathEscape(id) + "/rename", query: q}, nil)
}

// ContainerUpdate changes resources and the restart policy of a container.
func (c *Client) ContainerUpdate(ctx context.Context, id string, update container.UpdateConfig) (container.UpdateResponse, error) {
	var resp container.UpdateResponse
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/containers/" + pathEscape(id) + "/update", json: update}, &resp)
	return resp, err
}

// ContainerTop lists the processes of a container; psArgs are passed to ps (default "-ef").
func (c *Client) ContainerTop(ctx context.Context, id string, psArgs []string) (container.TopResponse, error) {
	q := url.Values{}
	if len(psArgs) > 0 {
		q.Set("ps_args", strings.Join(psArgs, " "))
	}
	var resp container.TopResponse
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/containers/" + pathEscape(id) + "/top", query: q}, &resp)
	return resp, err
}

// ContainerDiff lists the changes of a container's filesystem against its image.
func (c *Client) ContainerDiff(ctx context.Context, id string) ([]container.FilesystemChange, error) {
	var changes []container.FilesystemChange
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/containers/" + pathEscape(id) + "/changes"}, &changes)
	return changes, err
}

// ContainerExport streams the container's filesystem as a tar archive. The caller closes it.
func (c *Client) ContainerExport(ctx context.Context, id string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: "/containers/" + pathEscape(id) + "/export"})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ContainerCommitOptions are the options of POST /commit.
type ContainerCommitOptions struct {
	Reference string // repo[:tag]; empty for an untagged image
	Comment   string
	Author    string
	Changes   []string
	Pause     bool
	Config    *container.Config
}

// ContainerCommit creates an image from a container.
func (c *Client) ContainerCommit(ctx context.Context, id string, opts ContainerCommitOptions) (container.CommitResponse, error) {
	q := url.Values{"container": {id}}
	if opts.Reference != "" {
		repo, tag := splitRepoTag(opts.Reference)
		q.Set("repo", repo)
		if tag != "" {
			q.Set("tag", tag)
		}
	}
	if opts.Comment != "" {
		q.Set("comment", opts.Comment)
	}
	if opts.Author != "" {
		q.Set("author", opts.Author)
	}
	for _, ch := range opts.Changes {
		q.Add("changes", ch)
	}
	if !opts.Pause {
		q.Set("pause", "0")
	}
	var body any
	if opts.Config != nil {
		body = opts.Config
	}
	var resp container.CommitResponse
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/commit", query: q, json: body}, &resp)
	return resp, err
}

// ContainersPrune removes stopped containers.
func (c *Client) ContainersPrune(ctx context.Context, filters Filters) (container.PruneReport, error) {
	q := url.Values{}
	if err := filters.encode(q); err != nil {
		return container.PruneReport{}, err
	}
	var report container.PruneReport
	err := c.doJSON(ctx, &request{method: http.MethodPost, path: "/containers/prune", query: q}, &report)
	return report, err
}

// ContainerResize sets the size of a container's tty.
func (c *Client) ContainerResize(ctx context.Context, id string, height, width uint) error {
	q := url.Values{"h": {strconv.FormatUint(uint64(height), 10)}, "w": {strconv.FormatUint(uint64(width), 10)}}
	return c.doJSON(ctx, &request{method: http.MethodPost, path: "/containers/" + pathEscape(id) + "/resize", query: q}, nil)
}

// ContainerLogsOptions are the options of GET /containers/{id}/logs. Since and Until take anything
// GetTimestamp accepts; Tail is a number of lines or "all".
type ContainerLogsOptions struct {
	ShowStdout bool
	ShowStderr bool
	Since      string
	Until      string
	Timestamps bool
	Follow     bool
	Tail       string
	Details    bool
}

// ContainerLogs returns the raw log stream: stdcopy frames unless the container has a tty. The caller
// demultiplexes (stdcopy.StdCopy) and closes it.
func (c *Client) ContainerLogs(ctx context.Context, id string, opts ContainerLogsOptions) (io.ReadCloser, error) {
	q := url.Values{}
	boolQuery(q, "stdout", opts.ShowStdout)
	boolQuery(q, "stderr", opts.ShowStderr)
	now := time.Now()
	if opts.Since != "" {
		ts, err := GetTimestamp(opts.Since, now)
		if err != nil {
			return nil, fmt.Errorf(`invalid value for "since": %w`, err)
		}
		q.Set("since", ts)
	}
	if opts.Until != "" {
		ts, err := GetTimestamp(opts.Until, now)
		if err != nil {
			return nil, fmt.Errorf(`invalid value for "until": %w`, err)
		}
		q.Set("until", ts)
	}
	boolQuery(q, "timestamps", opts.Timestamps)
	boolQuery(q, "details", opts.Details)
	boolQuery(q, "follow", opts.Follow)
	if opts.Tail != "" {
		q.Set("tail", opts.Tail)
	}
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: "/containers/" + pathEscape(id) + "/logs", query: q})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// ContainerAttachOptions are the options of POST /containers/{id}/attach.
type ContainerAttachOptions struct {
	Stream     bool
	Stdin      bool
	Stdout     bool
	Stderr     bool
	Logs       bool
	DetachKeys string
}

// ContainerAttach hijacks a connection to the container's stdio.
func (c *Client) ContainerAttach(ctx context.Context, id string, opts ContainerAttachOptions) (*HijackedResponse, error) {
	q := url.Values{}
	boolQuery(q, "stream", opts.Stream)
	boolQuery(q, "stdin", opts.Stdin)
	boolQuery(q, "stdout", opts.Stdout)
	boolQuery(q, "stderr", opts.Stderr)
	boolQuery(q, "logs", opts.Logs)
	if opts.DetachKeys != "" {
		q.Set("detachKeys", opts.DetachKeys)
	}
	return c.hijack(ctx, &request{
		method:  http.MethodPost,
		path:    "/containers/" + pathEscape(id) + "/attach",
		query:   q,
		headers: http.Header{"Content-Type": {"text/plain"}},
	})
}

// StatsResponse is a stream (or one) of container.StatsResponse JSON documents. The caller closes Body.
type StatsResponse struct {
	Body   io.ReadCloser
	OSType string
}

// ContainerStats returns resource usage: a stream of samples, or one sample when stream is false.
// oneShot skips the daemon's wait for a second sample (so precpu is empty); it needs stream false.
func (c *Client) ContainerStats(ctx context.Context, id string, stream, oneShot bool) (StatsResponse, error) {
	q := url.Values{}
	if !stream {
		q.Set("stream", "0")
		boolQuery(q, "one-shot", oneShot)
	}
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: "/containers/" + pathEscape(id) + "/stats", query: q})
	if err != nil {
		return StatsResponse{}, err
	}
	return StatsResponse{Body: resp.Body, OSType: resp.Header.Get("Ostype")}, nil
}

func emptyIDError(kind string) error {
	return &Error{StatusCode: http.StatusBadRequest, Message: "value is empty: " + kind + " ID or name", category: categoryFor(http.StatusBadRequest)}
}

// splitRepoTag splits "repo:tag" without mistaking a registry port for a tag; digests stay in repo.
func splitRepoTag(ref string) (repo, tag string) {
	if strings.Contains(ref, "@") {
		return ref, ""
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i+1:], "/") {
		return ref, ""
	}
	return ref[:i], ref[i+1:]
}

package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/moby/moby/api/types/container"
)

// pathStatHeader carries the base64 JSON container.PathStat of an archive request's path.
const pathStatHeader = "X-Docker-Container-Path-Stat"

// ContainerStatPath stats a path inside a container: HEAD /containers/{id}/archive.
func (c *Client) ContainerStatPath(ctx context.Context, id, path string) (container.PathStat, error) {
	q := url.Values{"path": {path}}
	resp, err := c.do(ctx, &request{method: http.MethodHead, path: "/containers/" + pathEscape(id) + "/archive", query: q})
	if err != nil {
		return container.PathStat{}, err
	}
	defer drainClose(resp.Body)
	return decodePathStat(resp.Header.Get(pathStatHeader))
}

// CopyFromContainer streams a tar archive of path (a file or a directory, as one top-level entry) out of a
// container, with the stat of path. The caller closes the reader.
func (c *Client) CopyFromContainer(ctx context.Context, id, path string) (io.ReadCloser, container.PathStat, error) {
	q := url.Values{"path": {path}}
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: "/containers/" + pathEscape(id) + "/archive", query: q})
	if err != nil {
		return nil, container.PathStat{}, err
	}
	stat, err := decodePathStat(resp.Header.Get(pathStatHeader))
	if err != nil {
		resp.Body.Close()
		return nil, stat, err
	}
	return resp.Body, stat, nil
}

// CopyToContainerOptions are the options of PUT /containers/{id}/archive.
type CopyToContainerOptions struct {
	AllowOverwriteDirWithFile bool
	CopyUIDGID                bool
}

// CopyToContainer extracts the tar archive content into the directory dstPath of a container.
func (c *Client) CopyToContainer(ctx context.Context, id, dstPath string, content io.Reader, opts CopyToContainerOptions) error {
	q := url.Values{"path": {dstPath}}
	if !opts.AllowOverwriteDirWithFile {
		q.Set("noOverwriteDirNonDir", "true")
	}
	if opts.CopyUIDGID {
		q.Set("copyUIDGID", "true")
	}
	return c.doJSON(ctx, &request{
		method:  http.MethodPut,
		path:    "/containers/" + pathEscape(id) + "/archive",
		query:   q,
		body:    content,
		headers: http.Header{"Content-Type": {"application/x-tar"}},
	}, nil)
}

func decodePathStat(header string) (container.PathStat, error) {
	var stat container.PathStat
	if header == "" {
		return stat, nil
	}
	b, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		if b, err = base64.URLEncoding.DecodeString(header); err != nil {
			return stat, fmt.Errorf("decoding %s header: %w", pathStatHeader, err)
		}
	}
	if err := json.Unmarshal(b, &stat); err != nil {
		return stat, fmt.Errorf("decoding %s header: %w", pathStatHeader, err)
	}
	return stat, nil
}

package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
)

// Ping is what GET /_ping reports in its headers.
type Ping struct {
	APIVersion     string
	OSType         string
	Experimental   bool
	BuilderVersion string
}

// Ping checks that the daemon answers and reads the API version it supports. The version headers are
// returned even when the status is an error, so negotiation still works against a daemon in trouble.
func (c *Client) Ping(ctx context.Context) (Ping, error) {
	req, err := c.newHTTPRequest(ctx, &request{method: http.MethodGet, path: "/_ping", unversioned: true})
	if err != nil {
		return Ping{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Ping{}, c.transportError(ctx, err)
	}
	defer drainClose(resp.Body)
	p := Ping{
		APIVersion:     resp.Header.Get("Api-Version"),
		OSType:         resp.Header.Get("Ostype"),
		Experimental:   resp.Header.Get("Docker-Experimental") == "true",
		BuilderVersion: resp.Header.Get("Builder-Version"),
	}
	if resp.StatusCode >= 400 {
		return p, errorFromResponse(resp)
	}
	return p, nil
}

// ServerVersion returns GET /version.
func (c *Client) ServerVersion(ctx context.Context) (system.VersionResponse, error) {
	var v system.VersionResponse
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/version"}, &v)
	return v, err
}

// Info returns GET /info.
func (c *Client) Info(ctx context.Context) (system.Info, error) {
	var info system.Info
	err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/info"}, &info)
	return info, err
}

// EventsOptions select the events to stream. Since and Until take anything GetTimestamp accepts.
type EventsOptions struct {
	Since   string
	Until   string
	Filters Filters
}

// Events streams events. The message channel is closed when the stream ends; the error channel then
// carries io.EOF (stream ended normally, e.g. after Until) or the failure, and nothing else; a stream the
// daemon ended because the client fell behind is a failure saying what was lost and where to resume.
func (c *Client) Events(ctx context.Context, opts EventsOptions) (<-chan events.Message, <-chan error) {
	msgs := make(chan events.Message)
	errs := make(chan error, 1)
	q := url.Values{}
	now := time.Now()
	fail := func(err error) (<-chan events.Message, <-chan error) {
		errs <- err
		close(msgs)
		return msgs, errs
	}
	if opts.Since != "" {
		ts, err := GetTimestamp(opts.Since, now)
		if err != nil {
			return fail(err)
		}
		q.Set("since", ts)
	}
	if opts.Until != "" {
		ts, err := GetTimestamp(opts.Until, now)
		if err != nil {
			return fail(err)
		}
		q.Set("until", ts)
	}
	if err := opts.Filters.encode(q); err != nil {
		return fail(err)
	}
	resp, err := c.do(ctx, &request{method: http.MethodGet, path: "/events", query: q})
	if err != nil {
		return fail(err)
	}
	go func() {
		defer close(msgs)
		defer resp.Body.Close()
		stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
		defer stop()
		dec := json.NewDecoder(resp.Body)
		for {
			// A Berth daemon ends the stream of a client that fell behind with a message carrying an error.
			var m struct {
				events.Message
				Error string `json:"error"`
			}
			if err := dec.Decode(&m); err != nil {
				if ctx.Err() != nil {
					err = ctx.Err()
				} else if errors.Is(err, io.ErrUnexpectedEOF) {
					err = io.EOF
				}
				errs <- err
				return
			}
			if m.Error != "" {
				errs <- errors.New(m.Error)
				return
			}
			select {
			case msgs <- m.Message:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
	}()
	return msgs, errs
}

// DiskUsageOptions select what GET /system/df computes.
type DiskUsageOptions struct {
	Types   []system.DiskUsageObject
	Verbose bool
}

// legacyDiskUsage is the pre-1.52 /system/df shape (flat lists); DiskUsage converts it to the per-type form.
type legacyDiskUsage struct {
	system.DiskUsage
	LayersSize int64
	Images     []image.Summary
	Containers []container.Summary
	Volumes    []volume.Volume
	BuildCache []build.CacheRecord
}

// DiskUsage returns GET /system/df in the per-type form (ImageUsage, ContainerUsage, VolumeUsage,
// BuildCacheUsage), computing the totals itself when the daemon answers in the older flat form.
func (c *Client) DiskUsage(ctx context.Context, opts DiskUsageOptions) (system.DiskUsage, error) {
	q := url.Values{}
	for _, t := range opts.Types {
		q.Add("type", string(t))
	}
	boolQuery(q, "verbose", opts.Verbose)
	var raw legacyDiskUsage
	if err := c.doJSON(ctx, &request{method: http.MethodGet, path: "/system/df", query: q}, &raw); err != nil {
		return system.DiskUsage{}, err
	}
	du := raw.DiskUsage
	if du.ImageUsage == nil && (raw.Images != nil || raw.LayersSize != 0) {
		du.ImageUsage = legacyImageUsage(raw.Images, raw.LayersSize)
	}
	if du.ContainerUsage == nil && raw.Containers != nil {
		du.ContainerUsage = legacyContainerUsage(raw.Containers)
	}
	if du.VolumeUsage == nil && raw.Volumes != nil {
		du.VolumeUsage = legacyVolumeUsage(raw.Volumes)
	}
	if du.BuildCacheUsage == nil && raw.BuildCache != nil {
		du.BuildCacheUsage = legacyBuildCacheUsage(raw.BuildCache)
	}
	return du, nil
}

func legacyImageUsage(items []image.Summary, layersSize int64) *image.DiskUsage {
	u := &image.DiskUsage{TotalCount: int64(len(items)), TotalSize: layersSize, Items: items}
	var used int64
	for _, i := range items {
		if i.Containers > 0 {
			u.ActiveCount++
			if i.Size > i.SharedSize && i.SharedSize >= 0 {
				used += i.Size - i.SharedSize
			} else {
				used += i.Size
			}
		}
	}
	if layersSize == 0 {
		for _, i := range items {
			u.TotalSize += i.Size
		}
	}
	if u.TotalSize > used {
		u.Reclaimable = u.TotalSize - used
	}
	return u
}

func legacyContainerUsage(items []container.Summary) *container.DiskUsage {
	u := &container.DiskUsage{TotalCount: int64(len(items)), Items: items}
	for _, c := range items {
		u.TotalSize += c.SizeRw
		if c.State == container.StateRunning || c.State == container.StatePaused || c.State == container.StateRestarting {
			u.ActiveCount++
		} else {
			u.Reclaimable += c.SizeRw
		}
	}
	return u
}

func legacyVolumeUsage(items []volume.Volume) *volume.DiskUsage {
	u := &volume.DiskUsage{TotalCount: int64(len(items)), Items: items}
	for _, v := range items {
		if v.UsageData == nil {
			continue
		}
		if v.UsageData.Size > 0 {
			u.TotalSize += v.UsageData.Size
		}
		if v.UsageData.RefCount > 0 {
			u.ActiveCount++
		} else if v.UsageData.Size > 0 {
			u.Reclaimable += v.UsageData.Size
		}
	}
	return u
}

func legacyBuildCacheUsage(items []build.CacheRecord) *build.DiskUsage {
	u := &build.DiskUsage{TotalCount: int64(len(items)), Items: items}
	for _, r := range items {
		u.TotalSize += r.Size
		if r.InUse {
			u.ActiveCount++
		} else if !r.Shared {
			u.Reclaimable += r.Size
		}
	}
	return u
}

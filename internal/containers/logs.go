package containers

import (
	"context"
	"io"
	"strconv"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/logger/jsonfile"
)

// Logs writes the container's json-file log to out: stdcopy frames, or raw lines for a tty container. With
// Follow it keeps going until the container stops or ctx ends.
func (d *Service) Logs(ctx context.Context, ref string, opts LogsOptions, out io.Writer) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	if !opts.Stdout && !opts.Stderr {
		return errdefs.ErrInvalidArgument.WithMessage("Bad parameters: you must choose at least one stream")
	}
	c.mu.Lock()
	tty, path, logType := c.Config.Tty, c.LogPath, c.HostConfig.LogConfig.Type
	c.mu.Unlock()
	if logType == "none" {
		return errdefs.ErrInvalidArgument.WithMessage(`configured logging driver does not support reading`)
	}
	rc := jsonfile.ReadConfig{Tail: -1, Follow: opts.Follow, Stdout: opts.Stdout, Stderr: opts.Stderr}
	if opts.Tail != "" && opts.Tail != "all" {
		n, err := strconv.Atoi(opts.Tail)
		if err != nil || n < 0 {
			n = -1
		}
		rc.Tail = n
	}
	if rc.Since, err = parseUnixTime(opts.Since); err != nil {
		return err
	}
	if rc.Until, err = parseUnixTime(opts.Until); err != nil {
		return err
	}
	if opts.Follow {
		done := make(chan struct{})
		rc.Done = done
		go func() {
			d.waitStopped(ctx, c)
			close(done)
		}()
	}
	var stdout, stderr io.Writer = out, out
	if !tty {
		stdout = &frameWriter{w: out, stream: 1}
		stderr = &frameWriter{w: out, stream: 2}
	}
	flusher, _ := out.(interface{ Flush() })
	return jsonfile.Read(ctx, path, rc, func(m jsonfile.Message) error {
		w := stdout
		if m.Stream == "stderr" {
			w = stderr
		}
		line := m.Line
		if opts.Timestamps {
			line = append([]byte(m.Time.UTC().Format("2006-01-02T15:04:05.000000000Z")+" "), line...)
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
		if flusher != nil && opts.Follow {
			flusher.Flush()
		}
		return nil
	})
}

// parseUnixTime parses the docker CLI's "seconds.nanoseconds" timestamps; "0" is no bound, as in Docker.
func parseUnixTime(s string) (time.Time, error) {
	if s == "0" {
		return time.Time{}, nil
	}
	return filters.ParseUnixTimestamp(s)
}

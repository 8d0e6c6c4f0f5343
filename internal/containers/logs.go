package containers

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"strconv"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berth/berth/internal/filters"
	"github.com/berth/berth/internal/logger/jsonfile"
	"github.com/berth/berth/internal/logger/local"
	"github.com/berth/berth/internal/logger/logfile"
	"github.com/berth/berth/internal/logger/logread"
)

// Logs writes the container's log to out: stdcopy frames, or raw lines for a tty container. With Follow it keeps
// going until the container stops or ctx ends. Before anything is read it calls opts.Ready (the API answers
// there): a log that cannot be read is an error in the response's status, not in its body.
func (d *Service) Logs(ctx context.Context, ref string, opts LogsOptions, out io.Writer) error {
	c, err := d.containers.get(ref)
	if err != nil {
		return err
	}
	if !opts.Stdout && !opts.Stderr {
		return errdefs.ErrInvalidArgument.WithMessage("Bad parameters: you must choose at least one stream")
	}
	c.mu.Lock()
	tty, lc, path := c.Config.Tty, c.HostConfig.LogConfig, d.logFile(c)
	c.mu.Unlock()
	var dec logfile.Decoder
	switch lc.Type {
	case jsonfile.Name, "":
		dec, lc.Type = jsonfile.Decoder{}, jsonfile.Name
	case local.Name:
		dec = local.Decoder{}
	default:
		return errdefs.ErrNotImplemented.WithMessage("configured logging driver does not support reading")
	}
	rot, _ := logRotation(lc) // options a container could not start with leave one file to read
	rc := logread.ReadConfig{Tail: -1, Follow: opts.Follow, Stdout: opts.Stdout, Stderr: opts.Stderr, MaxFiles: rot.MaxFiles}
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
	if opts.Ready != nil {
		opts.Ready()
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
	var line []byte
	err = logread.Read(ctx, path, dec, rc, func(m *logfile.Message) error {
		w := stdout
		if m.Stream == "stderr" {
			w = stderr
		}
		line = line[:0]
		if opts.Timestamps {
			line = m.Time.UTC().AppendFormat(line, "2006-01-02T15:04:05.000000000Z")
			line = append(line, ' ')
		}
		if opts.Details {
			line = appendLogAttrs(line, m.Attrs)
			line = append(line, ' ')
		}
		line = append(line, m.Line...)
		if _, err := w.Write(line); err != nil {
			return err
		}
		if flusher != nil && opts.Follow {
			flusher.Flush()
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil // never started: nothing logged yet
	}
	return err
}

// appendLogAttrs appends a record's attributes as `docker logs --details` shows them: k=v pairs sorted by key,
// query-escaped, joined by commas.
func appendLogAttrs(dst []byte, attrs []logfile.Attr) []byte {
	for i, a := range attrs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, url.QueryEscape(a.Key)...)
		dst = append(dst, '=')
		dst = append(dst, url.QueryEscape(a.Value)...)
	}
	return dst
}

// parseUnixTime parses the docker CLI's "seconds.nanoseconds" timestamps; "0" is no bound, as in Docker.
func parseUnixTime(s string) (time.Time, error) {
	if s == "0" {
		return time.Time{}, nil
	}
	return filters.ParseUnixTimestamp(s)
}

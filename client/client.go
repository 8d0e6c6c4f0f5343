// Package client is a Go client for the Docker-compatible Engine HTTP API that the Berth daemon serves.
//
// It owns the wire: dialling the daemon (unix socket or TCP), negotiating the API version with a ping,
// turning non-2xx answers back into errdefs categories, streaming bodies (logs, events, stats, export,
// archives) and hijacking connections for attach and exec. It speaks the JSON shapes of
// github.com/moby/moby/api/types, so anything that talks to dockerd can talk to berthd through it.
//
// A typical use:
//
//	c, err := client.New("unix:///run/berth/berth.sock")
//	if err != nil { ... }
//	defer c.Close()
//	list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// DefaultHost is the address the Berth daemon listens on unless told otherwise.
	DefaultHost = "unix:///run/berth/berth.sock"
	// DefaultVersion is the newest API version this client speaks; Ping negotiation may lower it.
	DefaultVersion = "1.47"
	// defaultTCPPort is used for tcp:// hosts given without a port, as docker does.
	defaultTCPPort = "2375"
)

// Client talks to one daemon. It is safe for concurrent use.
type Client struct {
	host      string // as the user gave it, for messages
	proto     string // "unix" or "tcp"
	addr      string // socket path or host:port
	userAgent string
	http      *http.Client

	mu            sync.Mutex
	version       string
	negotiated    bool
	manualVersion bool
}

// Opt configures a Client in New.
type Opt func(*Client) error

// WithVersion pins the API version and disables negotiation.
func WithVersion(v string) Opt {
	return func(c *Client) error {
		if v == "" {
			return nil
		}
		if _, _, ok := parseVersion(v); !ok {
			return fmt.Errorf("invalid API version %q", v)
		}
		c.version = strings.TrimPrefix(v, "v")
		c.manualVersion = true
		return nil
	}
}

// WithUserAgent sets the User-Agent header sent with every request.
func WithUserAgent(ua string) Opt {
	return func(c *Client) error {
		c.userAgent = ua
		return nil
	}
}

// New returns a client for host ("unix:///path" or "tcp://host:port"). It does not connect: the first
// request dials, pings and negotiates the API version.
func New(host string, opts ...Opt) (*Client, error) {
	if host == "" {
		host = DefaultHost
	}
	proto, addr, err := ParseHost(host)
	if err != nil {
		return nil, err
	}
	c := &Client{
		host:      host,
		proto:     proto,
		addr:      addr,
		userAgent: "berth-client",
		version:   DefaultVersion,
	}
	transport := &http.Transport{
		DialContext:           c.dial,
		MaxIdleConns:          8,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 0,
		DisableCompression:    true,
	}
	c.http = &http.Client{Transport: transport}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// ParseHost splits a daemon address into a network and an address for net.Dial.
func ParseHost(host string) (proto, addr string, err error) {
	scheme, rest, ok := strings.Cut(host, "://")
	if !ok {
		return "", "", fmt.Errorf("invalid daemon host %q: must be unix:///path or tcp://host:port", host)
	}
	switch scheme {
	case "unix":
		if rest == "" {
			return "", "", fmt.Errorf("invalid daemon host %q: empty socket path", host)
		}
		return "unix", rest, nil
	case "tcp", "http":
		rest = strings.TrimSuffix(rest, "/")
		if rest == "" {
			return "", "", fmt.Errorf("invalid daemon host %q: empty address", host)
		}
		if _, _, err := net.SplitHostPort(rest); err != nil {
			rest = net.JoinHostPort(strings.Trim(rest, "[]"), defaultTCPPort)
		}
		return "tcp", rest, nil
	default:
		return "", "", fmt.Errorf("invalid daemon host %q: unsupported protocol %q", host, scheme)
	}
}

// Host returns the daemon address this client was created for.
func (c *Client) Host() string { return c.host }

// Version returns the API version requests use (after negotiation, if it has happened).
func (c *Client) Version() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

func (c *Client) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, c.proto, c.addr)
}

// NegotiateAPIVersion pings the daemon once and lowers the client's version to the daemon's if older.
// Requests call it implicitly; calling it directly is only useful to surface connection errors early.
func (c *Client) NegotiateAPIVersion(ctx context.Context) error {
	c.mu.Lock()
	done := c.negotiated || c.manualVersion
	c.mu.Unlock()
	if done {
		return nil
	}
	p, err := c.Ping(ctx)
	if err != nil && p.APIVersion == "" {
		var ce *ConnectionError
		if errors.As(err, &ce) || ctx.Err() != nil {
			return err
		}
		// A daemon that answers but not /_ping: keep our version.
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.negotiated && p.APIVersion != "" && versionLess(p.APIVersion, c.version) {
		c.version = p.APIVersion
	}
	c.negotiated = true
	return nil
}

// parseVersion splits "1.47" into 1 and 47.
func parseVersion(v string) (major, minor int, ok bool) {
	a, b, found := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	if !found {
		return 0, 0, false
	}
	maj, err1 := strconv.Atoi(a)
	mnr, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return maj, mnr, true
}

// versionLess reports whether API version a is older than b; unparsable versions are never less.
func versionLess(a, b string) bool {
	amaj, amin, ok1 := parseVersion(a)
	bmaj, bmin, ok2 := parseVersion(b)
	if !ok1 || !ok2 {
		return false
	}
	if amaj != bmaj {
		return amaj < bmaj
	}
	return amin < bmin
}

// request describes one API call.
type request struct {
	method  string
	path    string // without the version prefix, e.g. "/containers/json"
	query   url.Values
	body    io.Reader
	json    any // encoded as the body when body is nil
	headers http.Header
	// unversioned skips the /vX.Y prefix (only /_ping uses it).
	unversioned bool
}

func (c *Client) buildURL(r *request) string {
	u := url.URL{Scheme: "http", Host: "berth", Path: r.path}
	if c.proto == "tcp" {
		u.Host = c.addr
	}
	if !r.unversioned {
		u.Path = "/v" + c.Version() + r.path
	}
	// Paths carry escaped segments (pathEscape): keep them escaped once, not twice ("a%2Fb", not "a%252Fb").
	if p, err := url.PathUnescape(u.Path); err == nil && p != u.Path {
		u.RawPath, u.Path = u.Path, p
	}
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	return u.String()
}

func (c *Client) newHTTPRequest(ctx context.Context, r *request) (*http.Request, error) {
	body := r.body
	contentType := ""
	if body == nil && r.json != nil {
		b, err := json.Marshal(r.json)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
		contentType = "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.buildURL(r), body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.headers {
		req.Header[k] = v
	}
	if contentType != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", contentType)
	}
	if r.body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "text/plain")
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	return req, nil
}

// do sends r and returns the response when its status is below 400; otherwise the body becomes an *Error.
// The caller closes the body.
func (c *Client) do(ctx context.Context, r *request) (*http.Response, error) {
	if !r.unversioned {
		if err := c.NegotiateAPIVersion(ctx); err != nil {
			return nil, err
		}
	}
	req, err := c.newHTTPRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, errorFromResponse(resp)
	}
	return resp, nil
}

// transportError turns a failed round trip into a ConnectionError when the daemon could not be reached.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if isConnectFailure(err) {
		return &ConnectionError{Host: c.host, Err: err}
	}
	return err
}

func isConnectFailure(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// doJSON sends r and decodes a JSON answer into out (if out is not nil).
func (c *Client) doJSON(ctx context.Context, r *request, out any) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer drainClose(resp.Body)
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding %s %s response: %w", r.method, r.path, err)
	}
	return nil
}

// doRaw sends r and returns the whole body.
func (c *Client) doRaw(ctx context.Context, r *request) ([]byte, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	return io.ReadAll(resp.Body)
}

func drainClose(rc io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, rc, 64<<10)
	_ = rc.Close()
}

func boolQuery(q url.Values, key string, v bool) {
	if v {
		q.Set(key, "1")
	}
}

// pathEscape escapes an object name or ID for use as one path segment.
func pathEscape(s string) string { return url.PathEscape(s) }
